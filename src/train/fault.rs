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
    /// `--skip-threshold`: a finite step whose gradient norm is above it is skipped.
    skip_above: Option<f64>,
    /// The steps skipped so far for their norm: a count on the CPU, a `[]` double on CUDA.
    outliers: (usize, Option<Tensor>),
}

enum Record {
    /// `first`: `[3]` double: batch (0-based), loss, gradient norm of the first non-finite
    /// batch; batch -1 while there is none. `batch`: `[]` double, the batch in progress.
    Device { first: Tensor, batch: Tensor },
    /// The same, read at once: (batch, loss, norm) of the first non-finite batch.
    Host(Option<(usize, f64, f64)>),
}

impl FaultRecord {
    /// A clean record for a pass whose next batch is `batch`; steps whose gradient norm is
    /// above `skip_above` are skipped (and counted, [`FaultRecord::outliers`]).
    pub fn new(batch: usize, device: Device, skip_above: Option<f64>) -> Self {
        let record = if device.is_cuda() {
            Record::Device {
                first: Tensor::from_slice(&[-1.0f64, 0.0, 0.0]).to_device(device),
                batch: Tensor::full([], batch as f64, (Kind::Double, device)),
            }
        } else {
            Record::Host(None)
        };
        let device_count = device
            .is_cuda()
            .then(|| Tensor::zeros([], (Kind::Double, device)));
        FaultRecord {
            batch,
            record,
            skip_above,
            outliers: (0, device_count),
        }
    }

    /// The steps of this pass skipped for a gradient norm above `--skip-threshold` (on
    /// CUDA a host sync).
    pub fn outliers(&self) -> usize {
        match &self.outliers {
            (_, Some(count)) => count.double_value(&[]) as usize,
            (count, None) => *count,
        }
    }

    /// Records the step that just ran (`objective` and gradient `norm`: `[]`) and moves on
    /// to the next batch. Returns whether to apply the update, and the `skip` flag for
    /// Adam (`[1]` float, 1 where either value is not finite). On CUDA the update always
    /// runs and the flag makes the kernel leave everything unchanged; on the CPU the flag
    /// is None and the answer is false for a non-finite step. A finite step whose norm is
    /// above `--skip-threshold` is skipped the same way, and counted instead of recorded.
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
                let outlier = finite && self.skip_above.is_some_and(|t| norm > t);
                self.outliers.0 += outlier as usize;
                (finite && !outlier, None)
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
                let mut skip = ok.logical_not();
                if let (Some(t), Some(count)) = (self.skip_above, self.outliers.1.as_mut()) {
                    let outlier = ok.logical_and(&norm.gt(t));
                    *count += outlier.to_kind(Kind::Double);
                    skip = skip.logical_or(&outlier);
                }
                (true, Some(skip.to_kind(Kind::Float).view([1])))
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
            let mut record = FaultRecord::new(5, device, None);
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
            let mut record = FaultRecord::new(0, device, None);
            let (ok, _) = record.note(&v(1.0), &v(f64::INFINITY));
            assert_eq!(ok, device.is_cuda());
            let e = format!("{:#}", record.check(1, 3, 1e-3).unwrap_err());
            assert!(
                e.contains("batch 1 of 3: the loss was 1 and the gradient norm inf"),
                "{e}"
            );
        }
    }

    #[test]
    fn outlier_steps_are_skipped_and_counted_but_not_faults() {
        for device in devices() {
            let mut record = FaultRecord::new(0, device, Some(400.0));
            let v = |v: f64| Tensor::from(v).to_device(device);
            let skipped = |s: Option<Tensor>| s.is_some_and(|s| s.double_value(&[0]) == 1.0);
            let (ok, skip) = record.note(&v(1.0), &v(399.0));
            assert!(ok && !skipped(skip));
            let (ok, skip) = record.note(&v(1.0), &v(401.0)); // above: skipped
            assert_eq!(ok, device.is_cuda());
            assert_eq!(skipped(skip), device.is_cuda());
            record.note(&v(2.0), &v(1e6));
            assert_eq!(record.outliers(), 2);
            record.check(1, 3, 1e-3).unwrap(); // not a fault: training goes on
                                               // Without a threshold nothing finite is skipped.
            let mut record = FaultRecord::new(0, device, None);
            assert!(record.note(&v(1.0), &v(1e30)).0);
            assert_eq!(record.outliers(), 0);
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
