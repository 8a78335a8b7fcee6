//! `checkpoint.safetensors`: the file format of a trainer's state ([`TrainerState`]) and
//! the history so far, written atomically. Plain tensors, no pickles: loading it runs no
//! code. It depends on the trainer's plain state, never the other way round.
//!
//! | name                         | content                                              |
//! |------------------------------|------------------------------------------------------|
//! | `model.<param>`              | the weights (the names of `weights.safetensors`)     |
//! | `adam.exp_avg.<param>`, `adam.exp_avg_sq.<param>`, `adam.step` | Adam's state      |
//! | `position`                   | int64 `[4]`: format version, epoch in progress (1-based), next batch, images seen in it |
//! | `order`                      | int64 `[n]`: the epoch's data order (empty between epochs) |
//! | `sums`                       | float `[5]`: the epoch's running sums so far ([`PassSums`]) |
//! | `seconds`                    | double `[1]`: the epoch's training seconds so far      |
//! | `history`                    | double `[epochs done, 14]`: the rows of `metrics.csv` |
//!
//! Random draws are keyed by (seed, epoch, batch) (see `train.rs`), so there is no
//! generator state to store.
use crate::metrics::{EpochMetrics, PassSums};
use crate::train::{Position, TrainerState};
use crate::weights;
use anyhow::{ensure, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

const FORMAT_VERSION: i64 = 1;
/// The names of the position's tensors; every other tensor belongs to the trainer.
const POSITION: &str = "position";
const ORDER: &str = "order";
const SUMS: &str = "sums";
const SECONDS: &str = "seconds";
const HISTORY: &str = "history";

/// Writes `state` and the history so far to `path`, atomically.
pub fn write(path: &Path, state: &TrainerState, history: &[EpochMetrics]) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = state
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let pos = &state.position;
    named.push((
        POSITION.into(),
        Tensor::from_slice(&[
            FORMAT_VERSION,
            pos.epoch as i64,
            pos.batch as i64,
            pos.images as i64,
        ]),
    ));
    let order = pos.order.as_ref().map_or_else(
        || Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        |o| o.to_device(Device::Cpu),
    );
    named.push((ORDER.into(), order));
    named.push((SUMS.into(), pos.sums.tensor().to_device(Device::Cpu)));
    named.push((SECONDS.into(), Tensor::from_slice(&[pos.seconds])));
    let rows: Vec<f64> = history.iter().flat_map(|m| m.to_row()).collect();
    named.push((
        HISTORY.into(),
        Tensor::from_slice(&rows).view([history.len() as i64, EpochMetrics::COLUMNS as i64]),
    ));
    crate::atomic::write_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
}

/// A checkpoint read back: the trainer's state (on the CPU) and the finished epochs.
pub struct Checkpoint {
    pub state: TrainerState,
    pub history: Vec<EpochMetrics>,
}

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Self> {
        let mut tensors = weights::read_tensors(path)?;
        let mut take = |name: &str| {
            tensors.remove(name).with_context(|| {
                format!(
                    "{}: no tensor {name}; is it a tch-vae checkpoint?",
                    path.display()
                )
            })
        };
        let position = take(POSITION)?;
        let history_t = take(HISTORY)?;
        let (order, sums, seconds) = (take(ORDER)?, take(SUMS)?, take(SECONDS)?);
        ensure!(
            position.size() == [4] && position.kind() == Kind::Int64,
            "{}: position has shape {:?} ({:?}), expected [4] int64",
            path.display(),
            position.size(),
            position.kind()
        );
        let p = Vec::<i64>::try_from(&position)?;
        ensure!(
            p[0] == FORMAT_VERSION,
            "{}: checkpoint format {} (this tch-vae reads {FORMAT_VERSION})",
            path.display(),
            p[0]
        );
        ensure!(
            p[1] >= 1 && p[2] >= 0 && p[3] >= 0,
            "{}: invalid position {p:?}",
            path.display()
        );
        let columns = EpochMetrics::COLUMNS;
        ensure!(
            history_t.dim() == 2 && history_t.size()[1] == columns as i64,
            "{}: history has shape {:?}, expected [epochs, {columns}]",
            path.display(),
            history_t.size()
        );
        let flat = Vec::<f64>::try_from(history_t.to_kind(Kind::Double).contiguous().view([-1]))?;
        let history = flat
            .chunks_exact(columns)
            .map(EpochMetrics::from_row)
            .collect();
        ensure!(
            order.dim() == 1 && order.kind() == Kind::Int64,
            "{}: order: expected a 1-D int64 tensor",
            path.display()
        );
        ensure!(
            seconds.numel() == 1,
            "{}: seconds: expected one value, found {}",
            path.display(),
            seconds.numel()
        );
        let sums = PassSums::from_tensor(&sums, Device::Cpu)
            .with_context(|| format!("{}", path.display()))?;
        let position = Position {
            epoch: p[1] as usize,
            batch: p[2] as usize,
            order: (order.size()[0] > 0).then_some(order),
            sums,
            images: p[3] as usize,
            seconds: seconds.to_kind(Kind::Double).double_value(&[0]),
        };
        Ok(Checkpoint {
            state: TrainerState { tensors, position },
            history,
        })
    }
}
