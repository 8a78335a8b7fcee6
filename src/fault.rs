//! The fault check of a training pass: the first batch whose loss or gradient norm was not
//! finite, recorded on the device without a host sync (so that a CUDA graph's replays
//! record it too) and read back every few batches.
use anyhow::Result;
use tch::{Device, Kind, Tensor};

pub struct FaultRecord {
    /// `[3]` double: batch (0-based), loss, gradient norm of the first non-finite batch;
    /// batch -1 while there is none.
    first: Tensor,
    /// `[]` double: the 0-based number of the batch in progress.
    batch: Tensor,
}

impl FaultRecord {
    /// A clean record for a pass whose next batch is `batch`.
    pub fn new(batch: usize, device: Device) -> Self {
        FaultRecord {
            first: Tensor::from_slice(&[-1.0f64, 0.0, 0.0]).to_device(device),
            batch: Tensor::full([], batch as f64, (Kind::Double, device)),
        }
    }

    /// Records the step that just ran (`ok`: `[]` bool, whether both were finite;
    /// `objective` and `norm`: `[]`), in place, and moves on to the next batch.
    pub fn note(&mut self, ok: &Tensor, objective: &Tensor, norm: &Tensor) {
        tch::no_grad(|| {
            let record = Tensor::stack(
                &[
                    self.batch.shallow_clone(),
                    objective.to_kind(Kind::Double),
                    norm.to_kind(Kind::Double),
                ],
                0,
            );
            let is_first = ok.logical_not().logical_and(&self.first.get(0).lt(0.0));
            self.first.copy_(&record.where_self(&is_first, &self.first));
            self.batch += 1.0;
        });
    }

    /// Reads the record back (a host sync): an error naming the first non-finite batch of
    /// `epoch` (of `batches`), with what to try (`lr`: the run's learning rate).
    pub fn check(&self, epoch: usize, batches: usize, lr: f64) -> Result<()> {
        let f = Vec::<f64>::try_from(&self.first)?;
        if f[0] < 0.0 {
            return Ok(());
        }
        anyhow::bail!(
            "epoch {epoch}, batch {} of {batches}: the loss was {} and the gradient norm {} \
             (not finite); the update was not applied, and no checkpoint written before it \
             was touched. Try a lower --lr (now {lr:e}) or --clip-grad (e.g. --clip-grad 100)",
            f[0] as usize + 1,
            f[1],
            f[2],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_finite_batch_is_kept_and_named() {
        let mut record = FaultRecord::new(5, Device::Cpu);
        let finite = |v: f64| Tensor::from(v);
        let yes = Tensor::from(true);
        let no = Tensor::from(false);
        record.note(&yes, &finite(1.0), &finite(2.0)); // batch 5 (0-based): fine
        record.check(1, 10, 1e-3).unwrap();
        record.note(&no, &finite(f64::NAN), &finite(3.0)); // batch 6: the first fault
        record.note(&no, &finite(f64::INFINITY), &finite(4.0)); // batch 7: not reported
        let e = format!("{:#}", record.check(2, 10, 1e-3).unwrap_err());
        assert!(
            e.starts_with("epoch 2, batch 7 of 10: the loss was NaN"),
            "{e}"
        );
        assert!(
            e.contains("gradient norm 3") && e.contains("--lr (now 1e-3)"),
            "{e}"
        );
    }
}
