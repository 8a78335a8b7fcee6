//! Plain, typed configuration: what `config.json` holds and what the library runs on,
//! and the defaults of every flag. The command line (clap) lives in the binary, reads
//! [`defaults`], and converts into these structs; `run/files.rs` reads and writes the file.
pub use crate::native::numerics::{NumericsRecord, Reproducible};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub mod defaults;
mod hierarchical;

pub use defaults::default_conv_channels;
pub use model::{
    Activation, Arch, Likelihood, ModelConfig, Objective, Prior, MAX_DEPTH, MAX_MIXTURES, MAX_WIDTH,
};
pub use preset::{Preset, PresetFlags};
pub use resolve::{DataShape, ModelFlags, TrainRequest};

mod model;
mod preset;
mod resolve;

/// The seed of fixed binarisations (static training sets, and every binarised test set),
/// the same for all runs so that their numbers compare (on one kind of device: the CPU's
/// and CUDA's generators draw different numbers from one seed).
pub const BINARIZE_SEED: i64 = 1234;

/// `--binarize`: how grey levels become binary pixels for a Bernoulli likelihood.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Binarize {
    /// Grey levels in [0, 1] as they are.
    #[default]
    None,
    /// Each pixel drawn once, as Bernoulli(grey level), with a fixed seed (1234,
    /// `BINARIZE_SEED`): every run on the same kind of device sees the same binary dataset.
    Static,
    /// Training pixels redrawn at every pass (Burda et al. 2015); the test set is drawn
    /// once with the fixed seed, so test numbers are comparable across runs.
    Dynamic,
}

impl Binarize {
    pub fn name(self) -> &'static str {
        match self {
            Binarize::None => "none",
            Binarize::Static => "static",
            Binarize::Dynamic => "dynamic",
        }
    }
}

/// `--lr-schedule`: the learning rate of each epoch (`schedule.rs`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `--lr` throughout.
    #[default]
    Constant,
    /// Burda et al. (2015): passes i = 0..7 of 3^i epochs at `--lr` * 10^(-i/7).
    Burda,
    /// Cosine annealing over the run's epochs (Loshchilov & Hutter 2017, without restarts;
    /// PyTorch's `CosineAnnealingLR` with `T_max` = `--epochs`, stepped once an epoch).
    Cosine,
}

/// The largest `--beta`: a KL weight beyond it makes any loss overflow float32, which would
/// stop training with a fault that points at the learning rate instead.
pub const MAX_BETA: f64 = 1e6;
/// The largest `--batch-size`: far above what any memory holds at once, and small enough
/// that every count derived from it fits libtorch's 64-bit sizes.
pub const MAX_BATCH_SIZE: usize = 1 << 24;
/// The largest `--epochs`: 300 times Burda et al.'s 3,280 (each epoch adds a row to
/// `metrics.csv`, which `plot` and `compare` read whole).
pub const MAX_EPOCHS: usize = 1_000_000;
/// The largest `--k`: importance samples per image in training.
pub const MAX_K: usize = 10_000;
/// The largest side `--image-size` accepts.
pub const MAX_IMAGE_SIDE: usize = 4096;
/// The largest `--free-bits`: far above any KL a latent dimension carries.
pub const MAX_FREE_BITS: f64 = 1e6;

/// How to train. Field names follow the command-line flags.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub beta: f64,
    pub seed: u64,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    /// The device the run used, as resolved ("cpu", "cuda:0").
    pub device: String,
    #[serde(default)]
    pub binarize: Binarize,
    /// KL warm-up: beta ramps linearly from 0 to `beta` over this many epochs, batch by
    /// batch (Bowman et al. 2016; Sønderby et al. 2016). 0 = no warm-up.
    #[serde(default)]
    pub kl_warmup: f64,
    /// Free bits (Kingma et al. 2016, "Improved variational inference with inverse
    /// autoregressive flow", eq. 15): each latent dimension's batch-mean KL counts as at
    /// least this many nats in the loss. 0 = off.
    #[serde(default)]
    pub free_bits: f64,
    /// Rescale the gradients to this joint L2 norm when it is larger (Pascanu et al. 2013).
    #[serde(default)]
    pub clip_grad: Option<f64>,
    /// Skip an update whose gradient norm (before clipping) is above this: VDVAE's guard
    /// against the rare huge gradients of deep hierarchical models (Child 2021). The skipped
    /// batches are counted and reported; nothing of the model or Adam changes.
    #[serde(default)]
    pub skip_threshold: Option<f64>,
    /// The `--preset` that filled the flags the user left out (recorded, not re-applied).
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Also checkpoint every N batches within an epoch (checkpoints always follow each
    /// epoch).
    #[serde(default)]
    pub checkpoint_every: Option<usize>,
    /// cuDNN's deterministic convolution algorithms (`--deterministic`; CUDA only).
    #[serde(default)]
    pub deterministic: bool,
    /// For a source without a test split: the share held out for testing, drawn with
    /// `seed` (`--test-fraction`).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// `--objective`: the ELBO or the importance-weighted bound.
    #[serde(default)]
    pub objective: Objective,
    /// `--k`: importance samples per image of the IWAE objective.
    #[serde(default = "model::one")]
    pub k: usize,
    /// `--channels`: every image converted to 1 (grey) or 3 (RGB) channels.
    #[serde(default)]
    pub channels: Option<usize>,
    /// `--image-size`: every image resized to fill [height, width], then centre-cropped.
    #[serde(default)]
    pub image_size: Option<[usize; 2]>,
    /// `--lr-schedule` (configs written before it: constant).
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// `--reproducible`: which CPUs give the same bits (configs written before it: machine,
    /// although those runs ran without MKL's reproducible mode; `RunConfig::numerics` says
    /// what was in force).
    #[serde(default)]
    pub reproducible: Reproducible,
    /// The processes the run last trained on (torchrun's WORLD_SIZE; 1 when alone):
    /// `batch_size` is their batch together.
    #[serde(default = "model::one")]
    pub processes: usize,
}

fn default_test_fraction() -> f64 {
    defaults::TEST_FRACTION
}

impl TrainConfig {
    /// The defaults of every flag (see [`defaults`]), on the CPU.
    pub fn defaults() -> Self {
        TrainConfig {
            data: defaults::DATA_DIR.into(),
            epochs: defaults::EPOCHS,
            batch_size: defaults::BATCH_SIZE,
            lr: defaults::LR,
            beta: defaults::BETA,
            seed: defaults::SEED,
            limit: None,
            device: "cpu".into(),
            binarize: Binarize::None,
            kl_warmup: defaults::KL_WARMUP,
            free_bits: defaults::FREE_BITS,
            clip_grad: None,
            skip_threshold: None,
            preset: None,
            checkpoint_every: None,
            deterministic: false,
            test_fraction: defaults::TEST_FRACTION,
            channels: None,
            image_size: None,
            objective: Objective::Elbo,
            k: 1,
            lr_schedule: LrSchedule::Constant,
            reproducible: Reproducible::Machine,
            processes: 1,
        }
    }

    /// Rejects out-of-range values before any work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_EPOCHS).contains(&self.epochs),
            "--epochs must be from 1 to {MAX_EPOCHS} (got {})",
            self.epochs
        );
        ensure!(
            (1..=MAX_BATCH_SIZE).contains(&self.batch_size),
            "--batch-size must be from 1 to {MAX_BATCH_SIZE} (got {})",
            self.batch_size
        );
        // The scalars reach float32 kernels: beyond float32's range libtorch refuses them.
        let f32_max = f64::from(f32::MAX);
        ensure!(
            self.lr.is_finite() && self.lr > 0.0 && self.lr <= f32_max,
            "--lr must be a positive number of at most {f32_max:e} (got {})",
            self.lr
        );
        ensure!(
            self.beta.is_finite() && (0.0..=MAX_BETA).contains(&self.beta),
            "--beta must be a number from 0 to {MAX_BETA:e} (got {})",
            self.beta
        );
        ensure!(self.limit != Some(0), "--limit must be at least 1 (got 0)");
        ensure!(
            self.kl_warmup.is_finite() && self.kl_warmup >= 0.0,
            "--kl-warmup must be a number of epochs >= 0 (got {})",
            self.kl_warmup
        );
        ensure!(
            self.clip_grad
                .is_none_or(|c| c.is_finite() && c >= 0.0 && c <= f32_max),
            "--clip-grad must be 0 (no clipping) or a positive number of at most {f32_max:e} \
             (got {})",
            self.clip_grad.unwrap_or_default()
        );
        ensure!(
            self.skip_threshold
                .is_none_or(|c| c.is_finite() && c > 0.0 && c <= f32_max),
            "--skip-threshold must be a positive number of at most {f32_max:e} (got {})",
            self.skip_threshold.unwrap_or_default()
        );
        ensure!(
            self.test_fraction > 0.0 && self.test_fraction < 1.0,
            "--test-fraction must be between 0 and 1 (got {})",
            self.test_fraction
        );
        ensure!(
            (1..=MAX_K).contains(&self.k),
            "--k must be from 1 to {MAX_K} (got {})",
            self.k
        );
        ensure!(
            self.objective == Objective::Iwae || self.k == 1,
            "--k {} counts importance samples of --objective iwae; give --objective iwae",
            self.k
        );
        ensure!(
            self.objective == Objective::Elbo
                || (self.beta == 1.0 && self.kl_warmup == 0.0 && self.free_bits == 0.0),
            "--objective iwae is a bound on log p(x) and takes no --beta, --kl-warmup or \
             --free-bits (they reshape the ELBO's KL term)"
        );
        ensure!(
            self.channels.is_none_or(|c| c == 1 || c == 3),
            "--channels must be 1 (grey) or 3 (RGB) (got {})",
            self.channels.unwrap_or_default()
        );
        ensure!(
            self.image_size
                .is_none_or(|s| s.iter().all(|&v| (1..=MAX_IMAGE_SIDE).contains(&v))),
            "--image-size sides must be from 1 to {MAX_IMAGE_SIDE} (got {:?})",
            self.image_size.unwrap_or_default()
        );
        ensure!(
            self.checkpoint_every != Some(0),
            "--checkpoint-every must be at least 1 batch (got 0)"
        );
        ensure!(
            self.free_bits.is_finite() && (0.0..=MAX_FREE_BITS).contains(&self.free_bits),
            "--free-bits must be a number of nats from 0 to {MAX_FREE_BITS:e} (got {})",
            self.free_bits
        );
        Ok(())
    }
}

/// Checks the flags that go together or not, across the model and its training.
pub fn check_combination(prior: Prior, train: &TrainConfig) -> Result<()> {
    ensure!(
        prior == Prior::Normal || train.free_bits == 0.0,
        "--free-bits acts on the closed-form KL of each latent dimension against N(0, I); \
         --prior vamp has no such split. Leave out one of them"
    );
    Ok(())
}

/// What the training data were: recorded in `config.json` for figures and readers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct DataInfo {
    /// "idx", "cifar" or "numpy" ("" in configs written before it was recorded).
    pub source: String,
    /// Whether the test split was drawn with `--test-fraction` and the seed.
    pub drawn_test_split: bool,
    /// The names of the classes by label, where the source has them.
    pub class_names: Vec<String>,
}

/// The content of a run folder's `config.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The tch-vae version that wrote the run.
    pub version: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
    #[serde(default)]
    pub data: DataInfo,
    /// What decided the CPU numbers of the process that started the run (None in configs
    /// written before it was recorded).
    #[serde(default)]
    pub numerics: Option<NumericsRecord>,
}

impl RunConfig {
    /// Parses `config.json`'s text; the config is then checked ([`RunConfig::validate`])
    /// by the caller, who names the file.
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(serde_json::from_str(text)?)
    }

    /// Every rule on a run's config: the one validator of a config read from disk. A new
    /// run's config is built by [`TrainRequest::resolve`], which runs the same rules.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        self.model.validate()?;
        check_combination(self.model.prior, &self.train)
    }

    /// `config.json`'s text.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_configs_without_the_newer_fields_still_read() {
        let json = r#"{"version":"0.1.0","model":{"image_height":28,"image_width":28,"hidden":[400],
            "latent":20,"likelihood":"bernoulli"},"train":{"data":"/d","epochs":1,"batch_size":8,
            "lr":0.001,"beta":1.0,"seed":1,"limit":null,"device":"cpu"}}"#;
        let c: RunConfig = serde_json::from_str(json).unwrap();
        assert_eq!(
            (c.model.arch, c.train.binarize, c.train.kl_warmup),
            (Arch::Mlp, Binarize::None, 0.0)
        );
    }

    #[test]
    fn conv_needs_sides_divisible_by_four() {
        let mut m = ModelConfig {
            conv_channels: vec![32, 64],
            arch: Arch::Conv,
            ..ModelConfig::mlp(30, 28, vec![400], 2)
        };
        assert!(format!("{:#}", m.validate().unwrap_err()).contains("divisible by 4"));
        assert_eq!(default_conv_channels(28, 28), vec![32, 64]);
        assert_eq!(default_conv_channels(32, 32), vec![32, 64]);
        assert_eq!(default_conv_channels(64, 64), vec![32, 64, 128]);
        assert_eq!(default_conv_channels(256, 256), vec![32, 64, 128, 256, 256]);
        assert_eq!(default_conv_channels(7, 7), vec![32]);
        m.image_height = 28;
        m.validate().unwrap();
        assert_eq!(m.describe(), "conv 784-400-2");
    }

    #[test]
    fn the_defaults_are_a_valid_configuration() {
        TrainConfig::defaults().validate().unwrap();
        assert_eq!(
            TrainConfig::defaults().data,
            PathBuf::from(defaults::DATA_DIR)
        );
    }
}
