//! The run folder: its files' names, preparing, locking and checking it, `config.json`
//! (`files`; below the model and the data), loading a trained run and its data
//! (`load`; above them), and `metrics.csv` (`metrics`).
pub mod files;
mod load;
pub mod metrics;

pub use files::*;
pub use load::{load, load_data, LoadedRun};
