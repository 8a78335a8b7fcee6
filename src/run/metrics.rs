//! Per-epoch metrics and `metrics.csv`: one row per epoch, per-sample averages in nats
//! (sums over pixels and latent dimensions). Also the running sums of a pass on the device,
//! whose order of quantities is defined here and nowhere else.
use crate::model::loss::ElboTerms;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
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
        // One stack and one reduction rather than five sums and a stack: on the CPU each
        // operation costs microseconds whatever its size.
        let rows = [loss, &terms.recon, &terms.kl, &terms.kl_mu, &terms.kl_var];
        let batch = Tensor::stack(&rows, 0).sum_dim_intlist(&[1i64][..], false, Kind::Float); // [5]
        self.0 += batch;
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

impl PassMetrics {
    /// The same averages with L_mu and L_sigma^2 as NaN: the VampPrior's KL is an estimate
    /// with no such split (its sums of them are zeros).
    pub fn without_kl_split(self) -> Self {
        PassMetrics {
            kl_mu: f64::NAN,
            kl_var: f64::NAN,
            ..self
        }
    }
}

/// Averages over one pass of a split. `loss` = recon + beta * kl (the negative ELBO when
/// beta = 1); `kl` = `kl_mu` + `kl_var` (L_mu and L_sigma^2 of the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassMetrics {
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
    pub kl_mu: f64,
    pub kl_var: f64,
}

/// One row of `metrics.csv`; the field order is the column order (README, "The run folder").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_recon: f64,
    pub train_kl: f64,
    pub train_kl_mu: f64,
    pub train_kl_var: f64,
    pub test_loss: f64,
    pub test_recon: f64,
    pub test_kl: f64,
    pub test_kl_mu: f64,
    pub test_kl_var: f64,
    /// Mean of sigma^2 over test samples and latent dimensions.
    pub mean_var: f64,
    /// Wall time of the epoch's training pass alone (no test pass, no file writing).
    pub epoch_seconds: f64,
    /// The KL weight at the end of the epoch (it ramps during a KL warm-up); the test
    /// loss uses it.
    pub beta: f64,
}

impl EpochMetrics {
    pub fn new(
        epoch: usize,
        train: PassMetrics,
        test: PassMetrics,
        mean_var: f64,
        secs: f64,
        beta: f64,
    ) -> Self {
        EpochMetrics {
            epoch,
            train_loss: train.loss,
            train_recon: train.recon,
            train_kl: train.kl,
            train_kl_mu: train.kl_mu,
            train_kl_var: train.kl_var,
            test_loss: test.loss,
            test_recon: test.recon,
            test_kl: test.kl,
            test_kl_mu: test.kl_mu,
            test_kl_var: test.kl_var,
            mean_var,
            epoch_seconds: secs,
            beta,
        }
    }
}

impl EpochMetrics {
    /// The number of columns of `metrics.csv`, and of a row as numbers.
    pub const COLUMNS: usize = 14;

    /// The fields in column order, as numbers (checkpoints store the history this way).
    pub fn to_row(&self) -> [f64; Self::COLUMNS] {
        [
            self.epoch as f64,
            self.train_loss,
            self.train_recon,
            self.train_kl,
            self.train_kl_mu,
            self.train_kl_var,
            self.test_loss,
            self.test_recon,
            self.test_kl,
            self.test_kl_mu,
            self.test_kl_var,
            self.mean_var,
            self.epoch_seconds,
            self.beta,
        ]
    }

    /// "epoch  3/10 | train 270.12 (recon 250.01 + KL 20.11) | test 268.90 | ...": the
    /// line printed after each epoch.
    pub fn summary(&self, epochs: usize, train_images: usize) -> String {
        let width = epochs.to_string().len();
        let split = if self.test_kl_mu.is_nan() {
            String::new() // the VampPrior's KL has no split
        } else {
            format!(
                ": L_mu {:.2}, L_var {:.2}",
                self.test_kl_mu, self.test_kl_var
            )
        };
        format!(
            "epoch {:>width$}/{epochs} | train {:.2} (recon {:.2} + KL {:.2}) | test {:.2} \
             (recon {:.2} + KL {:.2}{split}) | mean var {:.4} | {:.2} s, {:.0} img/s",
            self.epoch,
            self.train_loss,
            self.train_recon,
            self.train_kl,
            self.test_loss,
            self.test_recon,
            self.test_kl,
            self.mean_var,
            self.epoch_seconds,
            train_images as f64 / self.epoch_seconds.max(1e-9),
        )
    }

    pub fn from_row(r: &[f64]) -> Self {
        EpochMetrics {
            epoch: r[0] as usize,
            train_loss: r[1],
            train_recon: r[2],
            train_kl: r[3],
            train_kl_mu: r[4],
            train_kl_var: r[5],
            test_loss: r[6],
            test_recon: r[7],
            test_kl: r[8],
            test_kl_mu: r[9],
            test_kl_var: r[10],
            mean_var: r[11],
            epoch_seconds: r[12],
            beta: r[13],
        }
    }
}

/// Writes the whole history (atomically: a reader never sees half a row).
pub fn write(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    crate::native::atomic::write_csv(path, history)
}

pub fn read(path: &Path) -> Result<Vec<EpochMetrics>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows = r
        .deserialize()
        .collect::<Result<Vec<EpochMetrics>, _>>()
        .with_context(|| format!("{} is not a tch-vae metrics file", path.display()))?;
    ensure!(!rows.is_empty(), "{} holds no epoch", path.display());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_the_documented_columns_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::run::METRICS);
        let p = PassMetrics {
            loss: 3.0,
            recon: 2.0,
            kl: 1.0,
            kl_mu: 0.4,
            kl_var: 0.6,
        };
        let rows = vec![EpochMetrics::new(1, p, p, 0.5, 1.25, 1.0)];
        write(&path, &rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "epoch,train_loss,train_recon,train_kl,train_kl_mu,train_kl_var,test_loss,\
             test_recon,test_kl,test_kl_mu,test_kl_var,mean_var,epoch_seconds,beta"
        );
        assert_eq!(read(&path).unwrap(), rows);
        assert_eq!(rows[0].train_loss, 3.0);
    }

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
