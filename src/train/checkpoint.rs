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
//! | `sums`                       | float `[5]`: the epoch's running sums so far (`PassSums`) |
//! | `seconds`                    | double `[1]`: the epoch's training seconds so far      |
//! | `history`                    | double `[epochs done, 14]`: the rows of `metrics.csv` |
//!
//! Random draws are keyed by (seed, epoch, batch) (see `train.rs`), so there is no
//! generator state to store.
use crate::model::weights;
use crate::run::metrics::EpochMetrics;
use crate::train::sums::PassSums;
use crate::train::{Position, TrainerState};
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
    crate::native::atomic::write_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
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

    /// Checks the saved position against the run's own sizes (`train_images`, cut into
    /// batches of `batch_size`): the epoch follows the history, the batch lies inside the
    /// epoch, the data order is a permutation, and every saved number is finite.
    pub fn check_fits(&self, path: &Path, train_images: usize, batch_size: usize) -> Result<()> {
        let pos = &self.state.position;
        let bad =
            |what: String| anyhow::anyhow!("{}: {what}; the checkpoint is damaged", path.display());
        let done = self.history.len();
        if pos.epoch != done + 1 {
            return Err(bad(format!(
                "its position is epoch {}, but its history holds {done} finished epochs",
                pos.epoch
            )));
        }
        for (i, row) in self.history.iter().enumerate() {
            // NaN only where a column does not apply: the VampPrior's L_mu and L_sigma^2.
            let split = [
                row.train_kl_mu,
                row.train_kl_var,
                row.test_kl_mu,
                row.test_kl_var,
            ];
            let fits = |v: &f64| v.is_finite() || (v.is_nan() && split.iter().all(|s| s.is_nan()));
            let finite =
                row.to_row().iter().all(|v| v.is_finite()) || row.to_row().iter().all(fits);
            if row.epoch != i + 1 || !finite {
                return Err(bad(format!("history row {} is {:?}", i + 1, row.to_row())));
            }
        }
        let batches = train_images.div_ceil(batch_size);
        if pos.batch >= batches.max(1) {
            return Err(bad(format!(
                "its position is batch {} of an epoch of {batches} batches",
                pos.batch
            )));
        }
        if pos.images != pos.batch * batch_size {
            return Err(bad(format!(
                "it counts {} images seen after {} batches of {batch_size}",
                pos.images, pos.batch
            )));
        }
        let sums_finite = bool::try_from(pos.sums.tensor().isfinite().all())?;
        if !sums_finite || !pos.seconds.is_finite() || pos.seconds < 0.0 {
            return Err(bad("its running sums or seconds are not finite".into()));
        }
        match &pos.order {
            None if pos.batch > 0 => Err(bad(
                "it stopped inside an epoch but holds no data order".into()
            )),
            None => Ok(()),
            Some(order) => {
                let n = train_images as i64;
                let sorted = order.sort(0, false).0;
                let identity = Tensor::arange(n, (Kind::Int64, Device::Cpu));
                if order.size() != [n] || !sorted.equal(&identity) {
                    return Err(bad(format!(
                        "its data order is not a permutation of the {train_images} training images"
                    )));
                }
                Ok(())
            }
        }
    }
}
