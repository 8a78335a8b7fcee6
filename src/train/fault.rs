//! The fault check of a training pass: the first batch whose loss or gradient norm was not
//! finite. On CUDA it is recorded on the device without a host sync (so that a CUDA graph's
//! replays record it too) and read back every few batches; on the CPU, where reading a
//! scalar costs no sync, the two values are read at once, which saves a dozen small
//! operations a step.
use anyhow::Result;
use tch::{Device, Kind, Tensor};

pub struct FaultRecord {
    /// The 0-based number of the batch in progress.
    batch: usize,
    record: Record,
}

enum Record {
    /// `first`: `[3]` double: batch (0-based), loss, gradient norm of the first non-finite
    /// batch; batch -1 while there is none. `batch`: `[]` double, the batch in progress.
    Device { first: Tensor, batch: Tensor },
    /// The same, read at once: (batch, loss, norm) of the first non-finite batch.
    Host(Option<(usize, f64, f64)>),
}

impl FaultRecord {
    /// A clean record for a pass whose next batch is `batch`.
    pub fn new(batch: usize, device: Device) -> Self {
        let record = if device.is_cuda() {
            Record::Device {
                first: Tensor::from_slice(&[-1.0f64, 0.0, 0.0]).to_device(device),
                batch: Tensor::full([], batch as f64, (Kind::Double, device)),
            }
        } else {
            Record::Host(None)
        };
        FaultRecord { batch, record }
    }

    /// Records the step that just ran (`objective` and gradient `norm`: `[]`) and moves on
    /// to the next batch. Returns whether to apply the update, and the `skip` flag for
    /// Adam (`[1]` float, 1 where either value is not finite). On CUDA the update always
    /// runs and the flag makes the kernel leave everything unchanged; on the CPU the flag
    /// is None and the answer is false for a non-finite step.
    pub fn note(&mut self, objective: &Tensor, norm: &Tensor) -> (bool, Option<Tensor>) {
        let batch = self.batch;
        self.batch += 1;
        match &mut self.record {
            Record::Host(first) => {
                let (loss, norm) = (objective.double_value(&[]), norm.double_value(&[]));
                let finite = loss.is_finite() && norm.is_finite();
                if !finite && first.is_none() {
                    *first = Some((batch, loss, norm));
                }
                (finite, None)
            }
            Record::Device { first, batch } => tch::no_grad(|| {
                let ok = objective.isfinite().logical_and(&norm.isfinite());
                let record = Tensor::stack(
                    &[
                        batch.shallow_clone(),
                        objective.to_kind(Kind::Double),
                        norm.to_kind(Kind::Double),
                    ],
                    0,
                );
                let is_first = ok.logical_not().logical_and(&first.get(0).lt(0.0));
                first.copy_(&record.where_self(&is_first, first));
                *batch += 1.0;
                (true, Some(ok.logical_not().to_kind(Kind::Float).view([1])))
            }),
        }
    }

    /// Reads the record back (on CUDA a host sync): an error naming the first non-finite
    /// batch of `epoch` (of `batches`), with what to try (`lr`: the run's learning rate).
    pub fn check(&self, epoch: usize, batches: usize, lr: f64) -> Result<()> {
        let (batch, loss, norm) = match &self.record {
            Record::Host(None) => return Ok(()),
            Record::Host(Some(first)) => *first,
            Record::Device { first, .. } => {
                let f = Vec::<f64>::try_from(first)?;
                if f[0] < 0.0 {
                    return Ok(());
                }
                (f[0] as usize, f[1], f[2])
            }
        };
        anyhow::bail!(
            "epoch {epoch}, batch {} of {batches}: the loss was {loss} and the gradient norm \
             {norm} (not finite); the update was not applied, and no checkpoint written \
             before it was touched. Try a lower --lr (now {lr:e}) or --clip-grad (e.g. \
             --clip-grad 100)",
            batch + 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host record (the CPU's); the device one is the same on CUDA (`devices()`).
    #[test]
    fn the_first_non_finite_batch_is_kept_and_named() {
        for device in devices() {
            let mut record = FaultRecord::new(5, device);
            let v = |v: f64| Tensor::from(v).to_device(device);
            let (ok, skip) = record.note(&v(1.0), &v(2.0)); // batch 5 (0-based): fine
            assert!(ok);
            assert_eq!(skip.is_some(), device.is_cuda(), "a flag on CUDA only");
            assert!(skip.is_none_or(|s| s.double_value(&[0]) == 0.0));
            record.check(1, 10, 1e-3).unwrap();
            let (ok, skip) = record.note(&v(f64::NAN), &v(3.0)); // batch 6: the first fault
            assert_eq!(ok, device.is_cuda(), "the CPU says so at once");
            assert!(skip.is_none_or(|s| s.double_value(&[0]) == 1.0));
            record.note(&v(f64::INFINITY), &v(4.0)); // batch 7: not reported
            record.note(&v(1.0), &v(f64::NAN)); // a non-finite norm alone: not reported
            let e = format!("{:#}", record.check(2, 10, 1e-3).unwrap_err());
            assert!(
                e.starts_with("epoch 2, batch 7 of 10: the loss was NaN"),
                "{e}"
            );
            assert!(
                e.contains("gradient norm 3") && e.contains("--lr (now 1e-3)"),
                "{e}"
            );
            // A finite loss with a non-finite gradient is a fault too.
            let mut record = FaultRecord::new(0, device);
            let (ok, _) = record.note(&v(1.0), &v(f64::INFINITY));
            assert_eq!(ok, device.is_cuda());
            let e = format!("{:#}", record.check(1, 3, 1e-3).unwrap_err());
            assert!(
                e.contains("batch 1 of 3: the loss was 1 and the gradient norm inf"),
                "{e}"
            );
        }
    }

    /// The CPU, and the first GPU where there is one.
    fn devices() -> Vec<Device> {
        let mut out = vec![Device::Cpu];
        if tch::Cuda::is_available() {
            out.push(Device::Cuda(0));
        }
        out
    }
}
