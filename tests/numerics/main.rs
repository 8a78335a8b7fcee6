//! Same seed, same numbers, the whole matrix (src/numerics.rs), in a test binary of its
//! own: cargo runs test binaries one after another, so the only other load during these
//! runs is the busy core the tests make themselves. Beside the slow tier's concurrent
//! trainings, runs at 2 and 3 threads were seen to give other bits a few times
//! (notebooks-export/reproducibility/README.md, "Seen and not explained").
#[path = "../common/mod.rs"]
mod common;

mod matrix;
