//! The run folder: its files' names, preparing and locking it, `config.json`
//! ([`folder`]), loading a trained run ([`folder`]), and `metrics.csv` ([`metrics`]).
mod folder;
pub mod metrics;

pub use folder::*;
