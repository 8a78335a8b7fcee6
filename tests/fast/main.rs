//! The fast tier: every check that needs no real dataset and no training longer than a
//! second or two, on small fixtures the tests write. `bash scripts/test.sh --fast` runs it
//! with the unit tests; the README's test command runs it with the slow tier.
#[path = "../common/mod.rs"]
mod common;

mod bad_files;
mod cli_errors;
mod compare;
mod data;
mod export;
mod fit_prior_command;
mod fitted_prior;
mod folders;
mod hierarchy;
mod hostile;
mod idx_properties;
mod loader_properties;
mod mixture_fused;
mod sources;
mod threads;
mod variants;
