//! The running sums of one pass over a split, kept on the device, whose order of quantities
//! is defined here and nowhere else; read back once per pass as [`PassMetrics`].
use crate::model::loss::ElboTerms;
use crate::run::metrics::PassMetrics;
use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

/// The running sums of one pass over a split, kept on the device (`[5]` float: loss,
/// recon, kl, kl_mu, kl_var, the fields of [`PassMetrics`] in order) so that an epoch's
/// totals are read back once.
pub struct PassSums(Tensor);

impl PassSums {
    const LEN: i64 = 5;

    pub fn zeros(device: Device) -> Self {
        PassSums(Tensor::zeros([Self::LEN], (Kind::Float, device)))
    }

    /// Adopts a saved sums tensor, checking its shape.
    pub fn from_tensor(t: &Tensor, device: Device) -> Result<Self> {
        ensure!(
            t.size() == [Self::LEN],
            "sums: expected shape [{}], found {:?}",
            Self::LEN,
            t.size()
        );
        Ok(PassSums(t.to_kind(Kind::Float).to_device(device)))
    }

    /// The sums tensor itself (checkpoints store it).
    pub fn tensor(&self) -> &Tensor {
        &self.0
    }

    /// Adds a batch's per-sample terms, with `loss` = recon + beta * KL.
    pub fn add(&mut self, terms: &ElboTerms, beta: f64) {
        self.add_with_loss(&terms.loss(beta), terms);
    }

    /// Adds a batch's per-sample `loss` (`[b]`) and terms.
    pub fn add_with_loss(&mut self, loss: &Tensor, terms: &ElboTerms) {
        self.add_batch(&Self::of_batch(loss, terms));
    }

    /// A batch's sums (`[5]`, this type's order) of its per-sample `loss` and terms.
    pub fn of_batch(loss: &Tensor, terms: &ElboTerms) -> Tensor {
        // One stack and one reduction rather than five sums and a stack: on the CPU each
        // operation costs microseconds whatever its size.
        let rows = [loss, &terms.recon, &terms.kl, &terms.kl_mu, &terms.kl_var];
        Tensor::stack(&rows, 0).sum_dim_intlist(&[1i64][..], false, Kind::Float)
        // [5]
    }

    /// Adds a batch's sums from [`PassSums::of_batch`] (added up over processes).
    pub fn add_batch(&mut self, batch: &Tensor) {
        self.0 += batch.to_device(self.0.device());
    }

    /// The mean loss per sample of `count` samples so far (a host read).
    pub fn mean_loss(&self, count: usize) -> f64 {
        self.0.double_value(&[0]) / count.max(1) as f64
    }

    /// Per-sample averages over `count` samples (a host read).
    pub fn to_metrics(&self, count: usize) -> Result<PassMetrics> {
        let s = Vec::<f64>::try_from(&self.0.to_kind(Kind::Double))?;
        let n = count.max(1) as f64;
        Ok(PassMetrics {
            loss: s[0] / n,
            recon: s[1] / n,
            kl: s[2] / n,
            kl_mu: s[3] / n,
            kl_var: s[4] / n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_sums_average_each_quantity_over_the_samples() {
        // Two batches of per-sample terms; the oracle sums them one by one in f64.
        let batches = [
            ([3.0f32, 5.0], [0.5f32, 1.0], [0.25f32, 0.75]),
            ([7.0f32, 1.0], [2.0f32, 0.0], [1.0f32, 0.5]),
        ];
        let beta = 0.5;
        let mut sums = PassSums::zeros(Device::Cpu);
        let mut oracle = [0.0f64; 5];
        for (recon, kl_mu, kl_var) in batches {
            let kl: Vec<f32> = kl_mu.iter().zip(&kl_var).map(|(m, v)| m + v).collect();
            let terms = ElboTerms {
                recon: Tensor::from_slice(&recon),
                kl: Tensor::from_slice(&kl),
                kl_mu: Tensor::from_slice(&kl_mu),
                kl_var: Tensor::from_slice(&kl_var),
            };
            sums.add(&terms, beta);
            for j in 0..2 {
                let (r, m, v) = (recon[j] as f64, kl_mu[j] as f64, kl_var[j] as f64);
                let add = [r + beta * (m + v), r, m + v, m, v];
                oracle.iter_mut().zip(add).for_each(|(o, a)| *o += a);
            }
        }
        let got = sums.to_metrics(4).unwrap();
        let want = [got.loss, got.recon, got.kl, got.kl_mu, got.kl_var];
        for (g, o) in want.iter().zip(oracle) {
            assert!((g - o / 4.0).abs() < 1e-6, "{want:?} vs {oracle:?}");
        }
        assert!((sums.mean_loss(4) - oracle[0] / 4.0).abs() < 1e-6);
        let e = PassSums::from_tensor(&Tensor::zeros([4], (Kind::Float, Device::Cpu)), Device::Cpu);
        assert!(format!("{:#}", e.err().unwrap()).contains("expected shape [5]"));
    }
}
