//! Same seed, same numbers, the whole matrix (src/numerics.rs), in a test binary of its
//! own: cargo runs test binaries one after another, so the only other load during these
//! runs is the busy core the tests make themselves. Run with its tests together
//! (`--test-threads=2`), this tier found issue 23's last cause, MKL's vector math on its
//! first call (notebooks-export/reproducibility/README.md, "Found").
#[path = "../common/mod.rs"]
mod common;

mod matrix;
