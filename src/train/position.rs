//! Where training stands (`Position`), what a checkpoint holds of a trainer
//! (`TrainerState`), and the keyed seeds of its random draws.
use crate::data::split::{splitmix64, GOLDEN};
use crate::train::sums::PassSums;
use std::collections::HashMap;
use tch::{Device, Tensor};

/// A seed for draw `key` of `epoch`: SplitMix64 over the three values, so neighbouring
/// keys give unrelated streams.
pub fn keyed_seed(seed: u64, epoch: usize, key: u64) -> i64 {
    let z = seed ^ (epoch as u64).wrapping_mul(GOLDEN) ^ key.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (splitmix64(z) >> 1) as i64
}

/// Where training stands: enough to continue bit for bit.
pub struct Position {
    /// The epoch in progress (1-based) and the next batch of it (0 = not started).
    pub epoch: usize,
    pub batch: usize,
    /// This epoch's data order (`[n]` int64), once drawn.
    pub order: Option<Tensor>,
    /// This epoch's running sums so far.
    pub sums: PassSums,
    pub images: usize,
    /// Training-pass seconds spent on this epoch so far.
    pub seconds: f64,
}

/// Everything a checkpoint holds of a trainer: its tensors by name (`model.<param>`,
/// and Adam's `adam.*`), on the CPU, and its position.
pub struct TrainerState {
    pub tensors: HashMap<String, Tensor>,
    pub position: Position,
}

/// The prefix of the weights among a [`TrainerState`]'s tensors.
pub const WEIGHTS_PREFIX: &str = "model.";

impl Position {
    pub(super) fn start_of(epoch: usize, device: Device) -> Self {
        Position {
            epoch,
            batch: 0,
            order: None,
            sums: PassSums::zeros(device),
            images: 0,
            seconds: 0.0,
        }
    }
}
