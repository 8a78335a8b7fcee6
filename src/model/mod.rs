//! The model: its network (`vae`, built from `arch`'s one layer list), what it is
//! trained on (`loss`, `free_bits`, `logistic` (the discretized logistic), `mixture` (PixelCNN++'s
//! likelihood), `prior`, `objective`, with `invariant`'s thread-count
//! invariant functions), its weights' file (`weights`) and the memory it needs
//! (`memory`).
pub mod arch;
pub mod fitted;
pub mod free_bits;
pub mod hierarchy;
pub(crate) mod invariant;
mod layers;
pub mod logistic;
pub mod loss;
pub(crate) mod memory;
pub mod mixture;
pub mod noise;
pub(crate) mod objective;
pub mod prior;
mod vae;
pub mod weights;

pub use vae::*;
