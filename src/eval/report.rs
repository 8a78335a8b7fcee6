//! `eval.json`: the report of `tch-vae eval`, how it is reduced from the estimates of
//! `eval/mod.rs`, and how it reads on a console.
use super::{encode_all, likelihoods, AggregatePosterior, ACTIVE_UNIT_THRESHOLD};
use crate::config::Binarize;
use crate::config::Prior;
use crate::data::Dataset;
use crate::native::device;
use crate::report::Reporter;
use crate::run::LoadedRun;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The largest k: 200 times the standard protocol's 5000.
pub const MAX_IW_SAMPLES: usize = 1_000_000;
/// The largest chunk of decoded samples (2^24 rows of logits: 53 GB for 784 pixels).
pub const MAX_BATCH_ROWS: usize = 1 << 24;

/// How to evaluate (`tch-vae eval`'s flags); `None` takes the default.
#[derive(Clone, Debug, Default)]
pub struct EvalSettings {
    /// k; default [`default_iw_samples`].
    pub iw_samples: Option<usize>,
    /// Decoded samples per chunk; default [`default_batch_rows`].
    pub batch_rows: Option<usize>,
    /// Default: the run's seed.
    pub seed: Option<u64>,
    /// Evaluate the first N test images only.
    pub limit: Option<usize>,
}

impl EvalSettings {
    /// Rejects out-of-range values before any work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let in_range = |v: Option<usize>, max: usize| v.is_none_or(|v| (1..=max).contains(&v));
        ensure!(
            in_range(self.iw_samples, MAX_IW_SAMPLES),
            "--iw-samples must be from 1 to {MAX_IW_SAMPLES} (got {})",
            self.iw_samples.unwrap_or_default()
        );
        ensure!(self.limit != Some(0), "--limit must be at least 1 (got 0)");
        ensure!(
            in_range(self.batch_rows, MAX_BATCH_ROWS),
            "--batch-rows must be from 1 to {MAX_BATCH_ROWS} (got {})",
            self.batch_rows.unwrap_or_default()
        );
        Ok(())
    }
}

/// k when `--iw-samples` is not given: 5000 on CUDA (the standard protocol of Burda et al.)
/// and 200 on the CPU, where 5000 samples of 10,000 images take minutes, not seconds.
pub fn default_iw_samples(device: Device) -> usize {
    if device.is_cuda() {
        5000
    } else {
        200
    }
}

/// Decoded samples per chunk: `model::memory::decoded_chunk_rows`, at most
/// `MAX_BATCH_ROWS`.
pub fn default_batch_rows(device: Device, model: &crate::config::ModelConfig) -> usize {
    crate::model::memory::decoded_chunk_rows(device, model).min(MAX_BATCH_ROWS)
}

/// Refuses a `--batch-rows` whose decoded samples (outputs and the likelihood's
/// intermediates, float32, twice over for the operations' temporaries) would not fit in the
/// memory `device` offers, before anything is decoded.
fn check_rows_fit(rows: usize, model: &crate::config::ModelConfig, device: Device) -> Result<()> {
    let per_row = crate::model::memory::decoded_values(model).unwrap_or(u128::MAX);
    let needed = per_row.saturating_mul(rows as u128).saturating_mul(8);
    if let Some(available) = crate::native::device::available_bytes(device) {
        ensure!(
            needed <= available as u128,
            "--batch-rows {rows}: {rows} decoded samples of this model need about {:.1} GiB, \
             more than the {:.1} GiB free; give a smaller --batch-rows",
            needed as f64 / (1u64 << 30) as f64,
            available as f64 / (1u64 << 30) as f64
        );
    }
    Ok(())
}

/// The content of `eval.json` (all per-image averages in nats unless named otherwise).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub model: String,
    pub data: PathBuf,
    pub binarize: Binarize,
    pub device: String,
    pub seed: u64,
    pub test_images: usize,
    pub iw_samples: usize,
    /// "x", or "x|y" for a conditional model: every likelihood here is given the labels.
    pub likelihood_of: String,
    /// The prior p(z): "normal" or "vamp".
    pub prior: crate::config::Prior,
    /// Test negative ELBO: reconstruction (mean over the k samples) + closed-form KL
    /// (VampPrior: + the k-sample mean of log q(z|x) - log p(z)).
    pub neg_elbo: f64,
    /// Importance-weighted estimate of -log p(x) with k samples (Burda et al. 2015).
    pub nll: f64,
    /// Standard error of `nll` over the test images (null for a single image, where it
    /// is undefined).
    pub nll_stderr: Option<f64>,
    /// `nll` / (pixels * ln 2).
    pub bits_per_dim: f64,
    pub recon: f64,
    pub kl: f64,
    pub latent: usize,
    /// Units with `Cov_x(E_q[z_u])` > 0.01 (Burda et al. 2015).
    pub active_units: usize,
    /// `Cov_x(E_q[z_u])` of each unit, in dimension order.
    pub unit_activity: Vec<f64>,
    /// The mean KL of each latent dimension to N(0, I), largest first (empty under the
    /// VampPrior, whose KL does not split by dimension).
    pub kl_per_dim: Vec<f64>,
    /// A hierarchical model's mean KL of each latent group against its prior, top-down, at
    /// one draw of the groups above each (empty for the flat models; for it the
    /// per-dimension fields above are empty and the aggregate posteriors null: its prior is
    /// learned, not N(0, I)).
    #[serde(default)]
    pub kl_per_group: Vec<f64>,
    pub aggregate_posterior_test: Option<AggregatePosterior>,
    pub aggregate_posterior_train: Option<AggregatePosterior>,
    /// Wall time of the importance-weighted pass.
    pub iw_seconds: f64,
}

/// What the posteriors say beside the likelihoods: per unit for a flat model, per group
/// for a hierarchical one.
#[derive(Default)]
struct Posteriors {
    activity: Vec<f64>,
    kl_per_dim: Vec<f64>,
    kl_per_group: Vec<f64>,
    test: Option<AggregatePosterior>,
    train: Option<AggregatePosterior>,
}

impl EvalReport {
    /// Evaluates `run` on `data`'s test split (`data_dir`: where it came from, when not
    /// the run's own folder), reporting the importance-weighted pass's progress.
    pub fn measure(
        run: &LoadedRun,
        data: &Dataset,
        settings: &EvalSettings,
        data_dir: Option<&Path>,
        report: &mut dyn Reporter,
    ) -> Result<Self> {
        settings.validate()?;
        let device = run.vae.device();
        let k = settings
            .iw_samples
            .unwrap_or_else(|| default_iw_samples(device));
        let rows = settings
            .batch_rows
            .unwrap_or_else(|| default_batch_rows(device, &run.config.model));
        check_rows_fit(rows, &run.config.model, device)?;
        let n = settings
            .limit
            .unwrap_or(data.test.len())
            .min(data.test.len());
        let x = data.test.head(n); // [n, values]
        let conditional = run.config.model.classes.is_some();
        let y = conditional.then(|| data.test.labels.narrow(0, 0, n as i64)); // [n]
        let train_y = conditional.then(|| data.train.labels.shallow_clone());
        // The training set's aggregate posterior: dynamic binarisation draws it once here.
        let train_x = match run.config.train.binarize {
            Binarize::Dynamic => data.train.all().bernoulli(),
            _ => data.train.all(),
        };
        let seed = settings.seed.unwrap_or(run.config.train.seed);
        tch::manual_seed(seed as i64);
        report.note(&format!(
            "evaluating {} on {n} test images with k = {k} importance samples on {}",
            run.config.model.describe(),
            device::name(device)
        ));
        report.work_started(n, "images");
        let start = Instant::now();
        let l = likelihoods(&run.vae, &x, y.as_ref(), k, rows, &mut |done| {
            report.work_advanced(done)
        })?;
        let iw_seconds = start.elapsed().as_secs_f64();
        report.work_finished();
        let mean = |t: &Tensor| t.mean(Kind::Double).double_value(&[]);
        let nll = mean(&l.nll);
        let nll_stderr = (n >= 2)
            .then(|| l.nll.to_kind(Kind::Double).std(true).double_value(&[]) / (n as f64).sqrt());
        let prior = run.config.model.prior;
        let encode_rows = crate::model::memory::encoded_chunk_rows(device, &run.config.model);
        let posterior = match run.vae.hierarchy() {
            Some(net) => Posteriors {
                kl_per_group: super::kl_per_group(net, &x, encode_rows)?,
                ..Posteriors::default()
            },
            None => {
                let test = encode_all(&run.vae, &x, y.as_ref(), encode_rows)?;
                let mut kl_sorted = match prior {
                    Prior::Normal => test.kl_per_dim()?,
                    Prior::Vamp => Vec::new(),
                };
                kl_sorted.sort_by(|a, b| b.total_cmp(a));
                let train = encode_all(&run.vae, &train_x, train_y.as_ref(), encode_rows)?;
                Posteriors {
                    activity: test.unit_activity()?,
                    kl_per_dim: kl_sorted,
                    kl_per_group: Vec::new(),
                    test: Some(test.aggregate_posterior()?),
                    train: Some(train.aggregate_posterior()?),
                }
            }
        };
        let (neg_elbo, recon) = (mean(&l.neg_elbo), mean(&l.recon));
        let activity = posterior.activity;
        let config = &run.config;
        Ok(EvalReport {
            model: config.model.describe(),
            data: data_dir.map_or_else(|| config.train.data.clone(), Path::to_path_buf),
            binarize: config.train.binarize,
            device: device::name(device),
            seed,
            test_images: n,
            iw_samples: k,
            likelihood_of: if conditional { "x|y" } else { "x" }.to_string(),
            prior,
            neg_elbo,
            nll,
            nll_stderr,
            bits_per_dim: nll / (config.model.input_dim() as f64 * std::f64::consts::LN_2),
            recon,
            kl: neg_elbo - recon,
            latent: config.model.latent,
            active_units: activity
                .iter()
                .filter(|&&v| v > ACTIVE_UNIT_THRESHOLD)
                .count(),
            unit_activity: activity,
            kl_per_dim: posterior.kl_per_dim,
            kl_per_group: posterior.kl_per_group,
            aggregate_posterior_test: posterior.test,
            aggregate_posterior_train: posterior.train,
            iw_seconds,
        })
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} on {} test images ({}, binarize {}):",
            self.model,
            self.test_images,
            self.device,
            self.binarize.name()
        )?;
        writeln!(
            f,
            "  negative ELBO {:.2} nats (recon {:.2} + KL {:.2})",
            self.neg_elbo, self.recon, self.kl
        )?;
        let stderr = self.nll_stderr.map_or_else(
            || "(one image: no standard error)".to_string(),
            |s| format!("+- {s:.2}"),
        );
        let given = if self.likelihood_of == "x|y" {
            " (given the labels)"
        } else {
            ""
        };
        writeln!(
            f,
            "  -log p({}) {:.2} {stderr} nats (k = {}, {:.1} s), {:.4} bits/dim{given}",
            self.likelihood_of, self.nll, self.iw_samples, self.iw_seconds, self.bits_per_dim
        )?;
        if !self.kl_per_group.is_empty() {
            let groups: Vec<String> = self
                .kl_per_group
                .iter()
                .map(|k| format!("{k:.1}"))
                .collect();
            return write!(
                f,
                "  KL per latent group, top-down (nats): {}",
                groups.join(", ")
            );
        }
        let largest = match self.kl_per_dim.first() {
            Some(kl) => format!("largest KL per dimension {kl:.2} nats"),
            None => "the VampPrior's KL does not split by dimension".to_string(),
        };
        writeln!(
            f,
            "  active units {}/{}; {largest}",
            self.active_units, self.latent
        )?;
        if let Some(agg) = &self.aggregate_posterior_train {
            let mean_norm = agg.mean.iter().map(|m| m * m).sum::<f64>().sqrt();
            let (lo, hi) = agg
                .cov_diag
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            write!(
                f,
                "  aggregate posterior (training set): |mean| {mean_norm:.3}, variances \
                 {lo:.3}..{hi:.3}, KL(moment-matched Gaussian || N(0, I)) {:.3} nats",
                agg.kl_moment_matched_to_prior
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, Likelihood, ModelConfig};

    #[test]
    fn chunks_hold_the_same_memory_whatever_the_model() {
        // MNIST's logits: the 16,384 rows measured fastest on the CPU.
        let mnist = ModelConfig::mlp(28, 28, vec![400], 20);
        assert_eq!(default_batch_rows(Device::Cpu, &mnist), 16_384);
        // 32x32 RGB with 10 components: 100 outputs and 600 intermediates a pixel, so
        // 16,384 * 784 / (700 * 1024) = 17 rows.
        let colour = ModelConfig {
            arch: Arch::Conv,
            channels: 3,
            conv_channels: vec![32, 64],
            likelihood: Likelihood::LogisticMixture,
            mixtures: 10,
            ..ModelConfig::mlp(32, 32, vec![400], 20)
        };
        assert_eq!(default_batch_rows(Device::Cpu, &colour), 17);
    }
}
