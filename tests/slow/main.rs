//! The slow tier: training runs on the real Fashion-MNIST (end to end, the beta = 0
//! experiment), exact resume, signals and SIGKILL. The README's test command and CI run it.
#[path = "../common/mod.rs"]
mod common;

mod end_to_end;
mod real_data;
mod reliability;
