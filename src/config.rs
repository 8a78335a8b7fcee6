//! Plain, typed configuration: what `config.json` holds and what the library runs on.
//! The command line (clap) lives in the binary and converts into these structs.
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The decoder's observation model p(x|z), which sets the reconstruction loss.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Pixels are Bernoulli with probability sigmoid(logits): binary cross-entropy from
    /// logits (the AEVB paper's choice for MNIST, and pytorch/examples').
    Bernoulli,
    /// Pixels are N(sigmoid(logits), 1/2): the seed's squared error ||x - x_hat||^2, plus
    /// the constant (D/2) log(pi) that makes it a negative log-density in nats.
    Gaussian,
}

impl Likelihood {
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bernoulli => "bernoulli",
            Likelihood::Gaussian => "gaussian",
        }
    }
}

/// Everything needed to rebuild the network: one description drives the tch modules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub image_height: usize,
    pub image_width: usize,
    /// Widths of the encoder's hidden layers, input side first; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub likelihood: Likelihood,
}

/// One linear layer of the architecture: its variable-store name and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
}

impl ModelConfig {
    pub fn input_dim(&self) -> usize {
        self.image_height * self.image_width
    }

    /// The encoder trunk: `encoder.0`, `encoder.2`, ... (odd indices are the ReLUs, as in
    /// PyTorch's `nn.Sequential(Linear, ReLU, Linear, ReLU, ...)`).
    pub fn encoder_layers(&self) -> Vec<LayerSpec> {
        let widths: Vec<usize> = std::iter::once(self.input_dim())
            .chain(self.hidden.iter().copied())
            .collect();
        chain("encoder", &widths)
    }

    /// The width the two heads (`fc_mu`, `fc_logvar`) read from.
    pub fn trunk_width(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.input_dim())
    }

    /// The two heads on the trunk: `fc_mu` (the seed's f1) and `fc_logvar` (f2).
    pub fn head_layers(&self) -> [LayerSpec; 2] {
        ["fc_mu", "fc_logvar"].map(|name| LayerSpec {
            name: name.to_string(),
            inputs: self.trunk_width(),
            outputs: self.latent,
        })
    }

    /// Every parameter name in module order (encoder, heads, decoder; weight then bias):
    /// the order of PyTorch's `state_dict` for `scripts/reference_vae.py`'s `VAE`.
    pub fn parameter_names(&self) -> Vec<String> {
        let layers = self
            .encoder_layers()
            .into_iter()
            .chain(self.head_layers())
            .chain(self.decoder_layers());
        layers
            .flat_map(|l| [format!("{}.weight", l.name), format!("{}.bias", l.name)])
            .collect()
    }

    /// The decoder: latent -> hidden (reversed) -> pixels, `decoder.0`, `decoder.2`, ...;
    /// the last layer outputs logits, with no activation.
    pub fn decoder_layers(&self) -> Vec<LayerSpec> {
        let widths: Vec<usize> = std::iter::once(self.latent)
            .chain(self.hidden.iter().rev().copied())
            .chain(std::iter::once(self.input_dim()))
            .collect();
        chain("decoder", &widths)
    }

    /// "784-400-20": the usual way papers name an MLP VAE.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.input_dim()];
        parts.extend(&self.hidden);
        parts.push(self.latent);
        let sizes: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        sizes.join("-")
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(self.latent >= 1, "--latent must be at least 1 (got 0)");
        ensure!(
            self.hidden.iter().all(|&h| h >= 1),
            "--hidden widths must be at least 1 (got {:?})",
            self.hidden
        );
        Ok(())
    }
}

fn chain(prefix: &str, widths: &[usize]) -> Vec<LayerSpec> {
    widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| LayerSpec {
            name: format!("{prefix}.{}", 2 * i),
            inputs: w[0],
            outputs: w[1],
        })
        .collect()
}

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
}

impl TrainConfig {
    /// Rejects out-of-range values before any work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.epochs >= 1, "--epochs must be at least 1 (got 0)");
        ensure!(
            self.batch_size >= 1,
            "--batch-size must be at least 1 (got 0)"
        );
        ensure!(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr must be a positive number (got {})",
            self.lr
        );
        ensure!(
            self.beta.is_finite() && self.beta >= 0.0,
            "--beta must be a number >= 0 (got {})",
            self.beta
        );
        ensure!(self.limit != Some(0), "--limit must be at least 1 (got 0)");
        Ok(())
    }
}

/// The content of a run folder's `config.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The tch-vae version that wrote the run.
    pub version: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

impl RunConfig {
    pub const FILE: &'static str = "config.json";

    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a run folder made by `tch-vae train`?",
                path.display(),
                run_dir.display()
            )
        })?;
        let config: RunConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid tch-vae config", path.display()))?;
        config
            .model
            .validate()
            .with_context(|| format!("{} describes an invalid model", path.display()))?;
        Ok(config)
    }

    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        crate::atomic::write_bytes(&run_dir.join(Self::FILE), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(hidden: Vec<usize>) -> ModelConfig {
        ModelConfig {
            image_height: 28,
            image_width: 28,
            hidden,
            latent: 20,
            likelihood: Likelihood::Bernoulli,
        }
    }

    #[test]
    fn layer_names_and_shapes_mirror_pytorch_sequential() {
        let m = model(vec![512, 256]);
        let shapes = |ls: Vec<LayerSpec>| -> Vec<(String, usize, usize)> {
            ls.into_iter()
                .map(|l| (l.name, l.inputs, l.outputs))
                .collect()
        };
        assert_eq!(
            shapes(m.encoder_layers()),
            vec![
                ("encoder.0".into(), 784, 512),
                ("encoder.2".into(), 512, 256)
            ]
        );
        assert_eq!(
            shapes(m.decoder_layers()),
            vec![
                ("decoder.0".into(), 20, 256),
                ("decoder.2".into(), 256, 512),
                ("decoder.4".into(), 512, 784)
            ]
        );
        assert_eq!(m.trunk_width(), 256);
        assert_eq!(m.describe(), "784-512-256-20");
    }

    #[test]
    fn no_hidden_layer_means_linear_encoder_heads() {
        let m = model(vec![]);
        assert!(m.encoder_layers().is_empty());
        assert_eq!(m.trunk_width(), 784);
        assert_eq!(m.decoder_layers().len(), 1);
    }
}
