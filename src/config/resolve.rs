//! The one resolve step of `tch-vae train`: the flags as the user gave them
//! ([`TrainRequest`]) and what the loaded data are ([`DataShape`]) go in, one validated
//! [`RunConfig`] comes out. Like ripgrep's low-level flags and its typed config, nothing
//! downstream sees a half-filled config: the image size, the channels, the classes and the
//! default convolution stages are decided here, once.
//!
//! The rules themselves are [`RunConfig::validate`]'s (and, for a config read from disk,
//! run by [`RunConfig::from_json`]); a request runs each rule once, in two gates: what the
//! flags alone decide before the data are read ([`TrainRequest::check`], so that a typo
//! does not wait for a dataset to load), what the data decide after ([`resolve`]).
use super::{
    check_combination, default_conv_channels, defaults, Activation, Arch, DataInfo, Likelihood,
    ModelConfig, Prior, RunConfig, TrainConfig,
};
use crate::native::{device, numerics};
use anyhow::{Context, Result};
use std::path::PathBuf;
use tch::Device;

/// What the flags say of the model; the data decide the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFlags {
    pub hidden: Vec<usize>,
    /// `--latent` [default: [`defaults::LATENT`], [`defaults::GROUP_LATENT`] a group with
    /// `--arch hierarchical`].
    pub latent: Option<usize>,
    pub likelihood: Likelihood,
    pub arch: Arch,
    pub activation: Activation,
    pub prior: Prior,
    /// `--pseudo-inputs` [default: [`defaults::PSEUDO_INPUTS`] with `--prior vamp`].
    pub pseudo_inputs: Option<usize>,
    /// `--mixtures` [default: [`defaults::MIXTURES`] with `--likelihood logistic-mixture`].
    pub mixtures: Option<usize>,
    /// `--conv-channels` [default: chosen for the image size, [`default_conv_channels`]].
    pub conv_channels: Option<Vec<usize>>,
    /// `--conditional`: the number of classes is read from the data.
    pub conditional: bool,
    /// `--width` [default: [`defaults::WIDTH`] with `--arch hierarchical`].
    pub width: Option<usize>,
    /// `--depth`, one number or one per resolution [default: [`defaults::DEPTH`] with
    /// `--arch hierarchical`].
    pub depth: Option<Vec<usize>>,
    /// Neither `--arch` nor `--likelihood` was given: colour images get the colour recipe
    /// ([`ModelFlags::for_data`]).
    pub colour_recipe: bool,
}

impl Default for ModelFlags {
    /// The defaults of every model flag.
    fn default() -> Self {
        ModelFlags {
            hidden: defaults::HIDDEN
                .split(',')
                .filter_map(|w| w.parse().ok())
                .collect(),
            latent: None,
            likelihood: Likelihood::Bernoulli,
            arch: Arch::Mlp,
            activation: Activation::Relu,
            prior: Prior::Normal,
            pseudo_inputs: None,
            mixtures: None,
            conv_channels: None,
            conditional: false,
            width: None,
            depth: None,
            colour_recipe: false,
        }
    }
}

impl ModelFlags {
    /// The pseudo-inputs the prior gets: the flag, or the default with `--prior vamp`.
    /// Given without it, the count is kept so that the check names the mistake.
    pub fn pseudo_inputs(&self) -> usize {
        match self.prior {
            Prior::Vamp => self.pseudo_inputs.unwrap_or(defaults::PSEUDO_INPUTS),
            Prior::Normal => self.pseudo_inputs.unwrap_or(0),
        }
    }

    /// The latent size: the flag, or the default of the architecture (per group for
    /// `--arch hierarchical`).
    pub fn latent(&self) -> usize {
        match self.arch {
            Arch::Hierarchical => self.latent.unwrap_or(defaults::GROUP_LATENT),
            _ => self.latent.unwrap_or(defaults::LATENT),
        }
    }

    /// Whether the colour recipe decides the model for data of `channels` channels: asked
    /// for (neither `--arch` nor `--likelihood` given), and RGB images.
    pub fn colour_recipe_applies(&self, channels: usize) -> bool {
        self.colour_recipe && channels == COLOUR_CHANNELS
    }

    /// The flags for data of `channels` channels: with `colour_recipe` and colour images,
    /// the colour recipe's architecture and likelihood: `--arch hierarchical --likelihood
    /// logistic-mixture`, or, where a flag of the flat models is given (`--conditional`,
    /// `--prior vamp`, `--conv-channels`), `--arch conv --likelihood logistic-mixture`.
    pub fn for_data(&self, channels: usize) -> ModelFlags {
        let mut flags = self.clone();
        if self.colour_recipe_applies(channels) {
            let flat =
                self.conditional || self.prior != Prior::Normal || self.conv_channels.is_some();
            flags.arch = if flat { Arch::Conv } else { Arch::Hierarchical };
            flags.likelihood = Likelihood::LogisticMixture;
        }
        flags
    }

    /// The hierarchical model's width: the flag, or the default with `--arch hierarchical`
    /// (kept when given with another architecture, for the check's message).
    pub fn width(&self) -> usize {
        match self.arch {
            Arch::Hierarchical => self.width.unwrap_or(defaults::WIDTH),
            _ => self.width.unwrap_or(0),
        }
    }

    /// The hierarchical model's groups per resolution, as [`ModelFlags::width`].
    pub fn depth(&self) -> Vec<usize> {
        match (self.arch, &self.depth) {
            (_, Some(given)) => given.clone(),
            (Arch::Hierarchical, None) => vec![defaults::DEPTH],
            (_, None) => Vec::new(),
        }
    }

    /// The mixture's components: the flag, or the default with `--likelihood
    /// logistic-mixture` (kept when given with another likelihood, for the check's message).
    pub fn mixtures(&self) -> usize {
        match self.likelihood {
            Likelihood::LogisticMixture => self.mixtures.unwrap_or(defaults::MIXTURES),
            _ => self.mixtures.unwrap_or(0),
        }
    }
}

/// The channels of the images the colour recipe is for (RGB).
const COLOUR_CHANNELS: usize = 3;

/// What the data are, as far as the configuration cares.
#[derive(Clone, Debug, PartialEq)]
pub struct DataShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The number of classes (labels 0 to classes - 1); asked for only by a conditional
    /// model.
    pub classes: Option<usize>,
    /// The training images (of all processes), which [`defaults::epochs`] counts batches of.
    pub train_images: usize,
    /// Recorded in `config.json`.
    pub info: DataInfo,
}

/// What `tch-vae train` was asked to do, before the data are seen.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub model: ModelFlags,
    /// How to train. Its `device` is `--device` as given ("auto", "cuda:1"); the resolved
    /// config records the device's own name ("cpu", "cuda:1"). Its `data` may be relative;
    /// the resolved config records it absolute, so that `--resume` works from anywhere.
    pub train: TrainConfig,
    /// `--epochs`, `--batch-size` (each process's share under torchrun), `--lr` and
    /// `--lr-schedule` as given (or set by `--preset`); None: the defaults of the
    /// architecture that [`TrainRequest::resolve`] settles ([`defaults::epochs`], which
    /// counts the data's batches, [`defaults::batch_size`], [`defaults::lr`],
    /// [`defaults::lr_schedule`]). These, not `train`'s fields, decide the run's.
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub lr_schedule: Option<super::LrSchedule>,
    /// `--clip-grad` as given (or set by `--preset`): 0 turns clipping off; None: the
    /// architecture's default, settled with the image's size ([`defaults::clip_grad`]).
    pub clip_grad: Option<f64>,
    /// The run folder (by default `models/<dataset>-<UTC time>`).
    pub out: Option<PathBuf>,
    /// `--threads` [default: the physical cores, following the load for MLPs].
    pub threads: Option<usize>,
    /// Record training steps into CUDA graphs on CUDA (`--no-cuda-graphs` turns it off).
    pub cuda_graphs: bool,
}

impl TrainRequest {
    /// The defaults of every flag, with `data` as the dataset.
    pub fn defaults(data: impl Into<PathBuf>) -> Self {
        TrainRequest {
            model: ModelFlags::default(),
            train: TrainConfig {
                data: data.into(),
                device: "auto".into(),
                ..TrainConfig::defaults()
            },
            epochs: None,
            batch_size: None,
            lr: None,
            lr_schedule: None,
            clip_grad: None,
            out: None,
            threads: None,
            cuda_graphs: true,
        }
    }

    /// The first gate: every rule that the flags alone decide, before the data are read.
    pub fn check(&self) -> Result<()> {
        self.train.validate()?;
        self.check_model()?;
        check_combination(self.model.prior, &self.train)
    }

    /// The model's flags as given, or as the colour recipe reads them: before the data say
    /// whether the recipe applies, flags that either reading takes pass (the second gate
    /// checks those the data chose); refused, the error is the recipe's where one of its
    /// own flags (`--width`, `--depth`, `--mixtures`) was given.
    fn check_model(&self) -> Result<()> {
        let plain = self.model.check();
        if plain.is_ok() || !self.model.colour_recipe {
            return plain;
        }
        let m = &self.model;
        let recipe_flags = m.width.is_some() || m.depth.is_some() || m.mixtures.is_some();
        match m.for_data(COLOUR_CHANNELS).check() {
            Ok(()) => Ok(()),
            Err(colour) if recipe_flags => Err(colour),
            Err(_) => plain,
        }
    }

    /// The second gate, and the only way to a new run's config: the flags (checked by
    /// [`TrainRequest::check`]) completed by the data and checked against them.
    pub fn resolve(&self, data: &DataShape, device: Device) -> Result<RunConfig> {
        let model = self.network(data);
        // The flags the data chose (the first gate let either reading of them pass).
        let flags = model.flags().check();
        if self.model.colour_recipe && !self.model.colour_recipe_applies(data.channels) {
            flags.with_context(|| {
                format!(
                    "the colour recipe (which takes --width, --depth and --mixtures) is for \
                     {COLOUR_CHANNELS}-channel images, and these have {}; give --arch \
                     hierarchical --likelihood logistic-mixture to use that model anyway",
                    data.channels
                )
            })?;
        } else {
            flags?;
        }
        match (model.check_sizes(), self.train.preset) {
            // The preset's sizes are CIFAR-10's: say so, not only the flag it filled.
            (Err(e), Some(preset)) => Err(e).with_context(|| {
                format!(
                    "--preset {} is a recipe for CIFAR-10's 32x32 colour images, and these \
                     are {}x{} with {} channel(s); give --depth (and the other sizes) \
                     yourself, or leave --preset out",
                    preset.name(),
                    data.height,
                    data.width,
                    data.channels
                )
            })?,
            (sizes, _) => sizes?,
        }
        let mut train = self.train.clone();
        let batch = self.batch_size.unwrap_or(defaults::batch_size(model.arch));
        train.batch_size = batch.saturating_mul(train.processes.max(1));
        train.epochs = self
            .epochs
            .unwrap_or_else(|| defaults::epochs(model.arch, data.train_images, train.batch_size));
        train.lr = self.lr.unwrap_or(defaults::lr(model.arch));
        train.lr_schedule = self
            .lr_schedule
            .unwrap_or(defaults::lr_schedule(model.arch));
        train.clip_grad = match self.clip_grad {
            Some(0.0) => None, // --clip-grad 0: off
            Some(given) => Some(given),
            None => defaults::clip_grad(model.arch, data.channels * data.height * data.width),
        };
        train.data = std::path::absolute(&train.data).unwrap_or(train.data);
        train.device = device::name(device);
        Ok(RunConfig {
            version: env!("CARGO_PKG_VERSION").to_string(),
            model,
            train,
            data: data.info.clone(),
            numerics: Some(numerics::record()),
        })
    }

    /// The model's config for images of `data`'s shape.
    fn network(&self, data: &DataShape) -> ModelConfig {
        let flags = &self.model.for_data(data.channels);
        let conv_channels = match (&flags.conv_channels, flags.arch) {
            (Some(given), _) => given.clone(),
            (None, Arch::Conv) => default_conv_channels(data.height, data.width),
            (None, Arch::Mlp | Arch::Hierarchical) => Vec::new(),
        };
        // The hierarchical model has no hidden layers: `--width` sizes it.
        let hidden = match flags.arch {
            Arch::Hierarchical => Vec::new(),
            _ => flags.hidden.clone(),
        };
        ModelConfig {
            image_height: data.height,
            image_width: data.width,
            channels: data.channels,
            conv_channels,
            hidden,
            latent: flags.latent(),
            likelihood: flags.likelihood,
            arch: flags.arch,
            activation: flags.activation,
            prior: flags.prior,
            pseudo_inputs: flags.pseudo_inputs(),
            mixtures: flags.mixtures(),
            // No classes known is refused by the size check, never made unconditional.
            classes: flags.conditional.then(|| data.classes.unwrap_or(0)),
            width: flags.width(),
            depth: flags.depth(),
        }
    }
}

#[cfg(test)]
mod tests;
