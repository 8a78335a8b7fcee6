//! Training: the loop (`trainer`) and what it runs on: a step, eager or replayed from a
//! CUDA graph (`step`), the optimiser (`optim`), the learning rate and KL weight along
//! training (`schedule`), the test pass (`evaluate`), the non-finite check (`fault`),
//! several processes over c10d (`parallel`), the position and state (`position`), the CPU thread count that
//! follows the machine's load (`threads`, recorded by `thread_record`), the state's
//! file (`checkpoint`) and TensorBoard's log (`tensorboard`).
pub mod checkpoint;
mod evaluate;
pub(crate) mod fault;
pub(crate) mod optim;
pub mod parallel;
mod position;
pub(crate) mod schedule;
pub(crate) mod step;
pub(crate) mod sums;
pub(crate) mod tensorboard;
pub mod thread_record;
pub(crate) mod threads;
mod trainer;

pub use evaluate::evaluate;
pub use trainer::*;
