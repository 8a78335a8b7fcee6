//! Per-epoch metrics and `metrics.csv`: one row per epoch, per-sample averages in nats
//! (sums over pixels and latent dimensions). The columns are listed once, in
//! `epoch_metrics!`'s call: the struct, the CSV header, a row as numbers (checkpoints)
//! and TensorBoard's tags all come from it.
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// Declares [`EpochMetrics`] from its list of columns (after `epoch`, all `f64`), each with
/// its TensorBoard tag, so that no other place lists them.
macro_rules! epoch_metrics {
    ($($(#[$doc:meta])* $field:ident => $tag:literal,)*) => {
        /// One row of `metrics.csv`; the field order is the column order (README, "The run
        /// folder").
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
        pub struct EpochMetrics {
            pub epoch: usize,
            $($(#[$doc])* pub $field: f64,)*
        }

        impl EpochMetrics {
            /// The number of columns of `metrics.csv`, and of a row as numbers.
            pub const COLUMNS: usize = 1 + [$($tag),*].len();
            /// TensorBoard's tag of each column but `epoch`, in column order.
            pub const TAGS: [&'static str; Self::COLUMNS - 1] = [$($tag),*];

            /// The fields in column order, as numbers (checkpoints store the history this
            /// way).
            pub fn to_row(&self) -> [f64; Self::COLUMNS] {
                [self.epoch as f64, $(self.$field),*]
            }

            /// The inverse of [`EpochMetrics::to_row`]; missing values read as NaN (callers
            /// check the row's length first).
            pub fn from_row(r: &[f64]) -> Self {
                let mut values = r.iter().skip(1).copied();
                EpochMetrics {
                    epoch: r.first().map_or(0, |&e| e as usize),
                    $($field: values.next().unwrap_or(f64::NAN),)*
                }
            }
        }
    };
}

epoch_metrics! {
    train_loss => "train/loss",
    train_recon => "train/recon",
    train_kl => "train/kl",
    train_kl_mu => "train/kl_mu",
    train_kl_var => "train/kl_var",
    test_loss => "test/loss",
    test_recon => "test/recon",
    test_kl => "test/kl",
    test_kl_mu => "test/kl_mu",
    test_kl_var => "test/kl_var",
    /// Mean of sigma^2 over test samples and latent dimensions.
    mean_var => "mean_var",
    /// Wall time of the epoch's training pass alone (no test pass, no file writing).
    epoch_seconds => "epoch_seconds",
    /// The KL weight at the end of the epoch (it ramps during a KL warm-up); the test
    /// loss uses it.
    beta => "beta",
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
}

/// Writes the whole history (atomically: a reader never sees half a row).
pub fn write(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    crate::native::atomic::write_csv(path, history)
}

/// The largest `metrics.csv` read (3,280 epochs take about 1 MiB): `plot` and `compare`
/// never hold more.
pub const MAX_METRICS_BYTES: u64 = 64 << 20;

pub fn read(path: &Path) -> Result<Vec<EpochMetrics>> {
    let bytes =
        crate::native::files::read_bounded(path, MAX_METRICS_BYTES, "a metrics.csv may hold")?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
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
        // TensorBoard's tags name the same columns: "train_kl_mu" is "train/kl_mu".
        let header: Vec<&str> = text.lines().next().unwrap().split(',').skip(1).collect();
        let tags: Vec<String> = EpochMetrics::TAGS
            .iter()
            .map(|t| t.replacen('/', "_", 1))
            .collect();
        assert_eq!(tags, header);
        assert_eq!(EpochMetrics::from_row(&rows[0].to_row()), rows[0]);
        assert_eq!(rows[0].train_loss, 3.0);
    }
}
