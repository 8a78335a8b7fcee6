//! The model's configuration: the observation model, the objective, the network family
//! and every size that rebuilds the network (`arch.rs` turns it into layers).
use super::resolve::ModelFlags;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

/// The decoder's observation model p(x|z), which sets the reconstruction loss.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Pixels are Bernoulli with probability sigmoid(logits): binary cross-entropy from
    /// logits (the AEVB paper's choice for MNIST, and pytorch/examples').
    Bernoulli,
    /// Pixels are N(sigmoid(logits), 1/2): the squared error ||x - x_hat||^2, plus
    /// the constant (D/2) log(pi) that makes it a negative log-density in nats.
    Gaussian,
    /// 8-bit pixels under a discretized logistic (Kingma et al. 2016; Salimans et al.
    /// 2017) with mean sigmoid(logits) and a learned log-scale per pixel: the 256 bins'
    /// probabilities sum to 1, so -log p(x) and bits/dim are exact.
    Logistic,
    /// 8-bit pixels under PixelCNN++'s mixture of `--mixtures` discretized logistics
    /// (Salimans et al. 2017), colour channels coupled (green's mean follows red, blue's
    /// both): the likelihood of the best colour VAEs (NVAE, VDVAE); exact bits/dim.
    #[serde(rename = "logistic-mixture")]
    #[value(name = "logistic-mixture")]
    LogisticMixture,
}

impl Likelihood {
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bernoulli => "bernoulli",
            Likelihood::Gaussian => "gaussian",
            Likelihood::Logistic => "logistic",
            Likelihood::LogisticMixture => "logistic-mixture",
        }
    }
}

/// What training minimises (`--objective`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The negative ELBO: recon + beta * KL.
    #[default]
    Elbo,
    /// The negative k-sample importance-weighted bound (Burda et al. 2015), `--k` samples.
    Iwae,
}

/// The network family (`--arch`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Linear layers only (the AEVB paper's and pytorch/examples' model).
    #[default]
    Mlp,
    /// Stride-2 convolutions (`--conv-channels`) before the hidden layers, and transposed
    /// convolutions after them in the decoder (`model/arch.rs`).
    Conv,
    /// A top-down hierarchical VAE in the VDVAE style (`model/hierarchy/`): residual
    /// bottleneck blocks, `--depth` latent groups of `--latent` channels a pixel at each
    /// resolution (32x32: 1, 4, 8, 16, 32), `--width` channels.
    Hierarchical,
}

/// The largest `--pseudo-inputs`: each is an image the prior encodes at every step.
pub const MAX_PSEUDO_INPUTS: usize = 100_000;

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Conv => "conv",
            Arch::Hierarchical => "hierarchical",
        }
    }
}

/// The largest `--width` of `--arch hierarchical`.
pub const MAX_WIDTH: usize = 4096;

/// The largest `--depth` (latent groups per resolution) of `--arch hierarchical`.
pub const MAX_DEPTH: usize = 64;

/// The largest `--mixtures`: each component adds 1 + 2C + C(C-1)/2 decoder outputs a pixel.
pub const MAX_MIXTURES: usize = 64;

/// The prior p(z) (`--prior`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Prior {
    /// N(0, I): the KL has a closed form, split into L_mu and L_sigma^2.
    #[default]
    Normal,
    /// The VampPrior (Tomczak & Welling 2018): (1/K) sum_k q(z | u_k), the encoder's
    /// posterior at K learned pseudo-inputs u_k.
    Vamp,
}

/// The hidden layers' nonlinearity (`--activation`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x) after every hidden layer (pytorch/examples' VAE).
    #[default]
    Relu,
    /// tanh after every hidden layer (Burda et al. 2015; the AEVB paper's MLPs).
    Tanh,
}

/// Everything needed to rebuild the network; `arch.rs` turns it into layers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub image_height: usize,
    pub image_width: usize,
    /// Colour channels of an image (1: grey, 3: RGB); configs written before colour read as 1.
    #[serde(default = "one")]
    pub channels: usize,
    /// `--arch conv`: the channels of each stride-2 convolution, input side first (one
    /// stage per entry; configs written before the flag had two stages of 32 and 64).
    #[serde(default = "two_conv_stages")]
    pub conv_channels: Vec<usize>,
    /// Widths of the encoder's hidden layers, input side first; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub likelihood: Likelihood,
    #[serde(default)]
    pub arch: Arch,
    /// Configs written before `--activation` used ReLU.
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub prior: Prior,
    /// K, the pseudo-inputs of the VampPrior (0 with the normal prior).
    #[serde(default)]
    pub pseudo_inputs: usize,
    /// A conditional VAE on this many classes (one-hot labels). None: unconditional.
    #[serde(default)]
    pub classes: Option<usize>,
    /// K, the components of `--likelihood logistic-mixture` (0 with the other likelihoods).
    #[serde(default)]
    pub mixtures: usize,
    /// `--arch hierarchical`: channels of the residual stream (0 for the other families).
    #[serde(default)]
    pub width: usize,
    /// `--arch hierarchical`: latent groups (and bottom-up blocks) at each resolution,
    /// top-down (1x1 first): one number for every resolution, or one per resolution.
    #[serde(default, deserialize_with = "one_or_many")]
    pub depth: Vec<usize>,
}

pub(super) fn one() -> usize {
    1
}

/// `depth` as configs write it: a list, or (written by the first builds of the
/// hierarchical model) one number.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(usize),
        Many(Vec<usize>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(n) => vec![n],
        OneOrMany::Many(v) => v,
    })
}

fn two_conv_stages() -> Vec<usize> {
    vec![32, 64]
}

impl ModelConfig {
    /// A grey-image MLP with the Bernoulli likelihood: the default family, and the base
    /// from which other configurations are written with `..ModelConfig::mlp(..)`.
    pub fn mlp(image_height: usize, image_width: usize, hidden: Vec<usize>, latent: usize) -> Self {
        ModelConfig {
            image_height,
            image_width,
            channels: 1,
            conv_channels: Vec::new(),
            hidden,
            latent,
            likelihood: Likelihood::Bernoulli,
            arch: Arch::Mlp,
            activation: Activation::Relu,
            prior: Prior::Normal,
            pseudo_inputs: 0,
            classes: None,
            mixtures: 0,
            width: 0,
            depth: Vec::new(),
        }
    }

    /// Values per image: channels x height x width, the MLP's input width.
    pub fn input_dim(&self) -> usize {
        self.channels * self.image_height * self.image_width
    }

    /// "mlp 784-400-20": the usual way papers name a VAE.
    pub fn describe(&self) -> String {
        if self.arch == Arch::Hierarchical {
            let (c, h, w) = (self.channels, self.image_height, self.image_width);
            let depth: Vec<String> = self.depth.iter().map(usize::to_string).collect();
            let (width, z, depth) = (self.width, self.latent, depth.join(","));
            return format!("hierarchical {c}x{h}x{w} w{width} d{depth} z{z}");
        }
        let mut parts = vec![self.input_dim()];
        parts.extend(&self.hidden);
        parts.push(self.latent);
        let sizes: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        let arch = match self.arch {
            Arch::Mlp => "",
            Arch::Conv => "conv ",
            Arch::Hierarchical => "hierarchical ",
        };
        let act = match self.activation {
            Activation::Relu => "",
            Activation::Tanh => " tanh",
        };
        format!("{arch}{}{act}", sizes.join("-"))
    }

    /// Every rule on the model: those of its flags ([`ModelFlags::check`]), then those of
    /// its sizes ([`ModelConfig::check_sizes`]). A config read from disk goes through it.
    pub fn validate(&self) -> Result<()> {
        self.flags().check()?;
        self.check_sizes()
    }

    /// The flags that would give this config (the stages given, the classes asked for).
    pub fn flags(&self) -> ModelFlags {
        ModelFlags {
            hidden: self.hidden.clone(),
            latent: Some(self.latent),
            likelihood: self.likelihood,
            arch: self.arch,
            activation: self.activation,
            prior: self.prior,
            pseudo_inputs: Some(self.pseudo_inputs),
            mixtures: Some(self.mixtures),
            conv_channels: Some(self.conv_channels.clone()),
            conditional: self.classes.is_some(),
            width: Some(self.width),
            depth: Some(self.depth.clone()),
            colour_recipe: false,
        }
    }

    /// The rules that the data decide: the sizes against the network.
    pub fn check_sizes(&self) -> Result<()> {
        ensure!(
            self.channels >= 1 && self.image_height >= 1 && self.image_width >= 1,
            "images must have at least 1 channel and 1x1 pixels (got {}x{}x{})",
            self.channels,
            self.image_height,
            self.image_width
        );
        ensure!(
            self.classes != Some(0),
            "a conditional model needs at least 1 class (got 0)"
        );
        self.check_depth()?;
        if self.arch == Arch::Conv {
            ensure!(
                !self.conv_channels.is_empty(),
                "--conv-channels needs at least one stage (got none)"
            );
            let scale = 1usize
                .checked_shl(self.conv_channels.len() as u32)
                .unwrap_or(usize::MAX);
            let sides_fit = self.image_height.is_multiple_of(scale)
                && self.image_width.is_multiple_of(scale)
                && self.image_height >= scale
                && self.image_width >= scale;
            ensure!(
                sides_fit,
                "--arch conv needs image sides divisible by {scale} ({} stride-2 convolutions, \
                 --conv-channels {:?}); these images are {}x{}. Use fewer --conv-channels, \
                 --image-size, or --arch mlp",
                self.conv_channels.len(),
                self.conv_channels,
                self.image_height,
                self.image_width
            );
        }
        Ok(())
    }
}

impl ModelFlags {
    /// The rules that the flags alone decide, whatever the data.
    pub fn check(&self) -> Result<()> {
        ensure!(self.latent() >= 1, "--latent must be at least 1 (got 0)");
        let pseudo_inputs = self.pseudo_inputs();
        match self.prior {
            Prior::Vamp => ensure!(
                (1..=MAX_PSEUDO_INPUTS).contains(&pseudo_inputs),
                "--pseudo-inputs must be from 1 to {MAX_PSEUDO_INPUTS} (got {pseudo_inputs})"
            ),
            Prior::Normal => ensure!(
                pseudo_inputs == 0,
                "--pseudo-inputs {pseudo_inputs} is for --prior vamp; give --prior vamp, or \
                 leave it out"
            ),
        }
        let mixtures = self.mixtures();
        match self.likelihood {
            Likelihood::LogisticMixture => ensure!(
                (1..=MAX_MIXTURES).contains(&mixtures),
                "--mixtures must be from 1 to {MAX_MIXTURES} (got {mixtures})"
            ),
            _ => ensure!(
                mixtures == 0,
                "--mixtures {mixtures} is for --likelihood logistic-mixture; give that \
                 likelihood, or leave --mixtures out"
            ),
        }
        ensure!(
            self.hidden.iter().all(|&h| h >= 1),
            "--hidden widths must be at least 1 (got {:?})",
            self.hidden
        );
        self.check_hierarchy()?;
        if let (Arch::Conv, Some(stages)) = (self.arch, &self.conv_channels) {
            ensure!(
                !stages.is_empty() && stages.iter().all(|&c| c >= 1),
                "--conv-channels needs at least one stage, each of at least 1 channel (got \
                 {stages:?})"
            );
        }
        Ok(())
    }
}
