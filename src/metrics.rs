//! Per-epoch metrics and `metrics.csv`: one row per epoch, per-sample averages in nats
//! (sums over pixels and latent dimensions).
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Averages over one pass of a split. `loss` = recon + beta * kl (the negative ELBO when
/// beta = 1); `kl` = `kl_mu` + `kl_var` (the seed's L_mu and L_sigma^2).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassMetrics {
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
    pub kl_mu: f64,
    pub kl_var: f64,
}

impl PassMetrics {
    /// From the summed [loss, recon, kl, kl_mu, kl_var] of `count` samples.
    pub fn from_sums(sums: &[f64], count: usize) -> Self {
        let n = count.max(1) as f64;
        PassMetrics {
            loss: sums[0] / n,
            recon: sums[1] / n,
            kl: sums[2] / n,
            kl_mu: sums[3] / n,
            kl_var: sums[4] / n,
        }
    }
}

/// One row of `metrics.csv`; the field order is the column order (DESIGN.md).
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
    /// The fields in column order, as numbers (checkpoints store the history this way).
    pub fn to_row(&self) -> [f64; 14] {
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

pub const FILE: &str = "metrics.csv";

/// Writes the whole history (atomically: a reader never sees half a row).
pub fn write(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in history {
        w.serialize(row)?;
    }
    let bytes = w.into_inner().context("cannot encode metrics")?;
    crate::atomic::write_bytes(path, &bytes)
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
        let path = dir.path().join(FILE);
        let p = PassMetrics::from_sums(&[30.0, 20.0, 10.0, 4.0, 6.0], 10);
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
}
