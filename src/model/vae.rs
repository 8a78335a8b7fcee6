//! The VAE network: an encoder trunk with two heads (f1, f2 of the crate docs) and a decoder,
//! `nn::Sequential`s built from `arch.rs`'s layer list, all in one `VarStore`.
//!
//! Variable names (stable; they match the Python package's `tch_vae.VAE` class, so
//! `weights.safetensors` loads there with `load_state_dict`):
//!
//! | name                           | shape                       |
//! |--------------------------------|-----------------------------|
//! | `encoder.{0,2,..}.weight/bias` | [hidden_k, hidden_{k-1}]    |
//! | `fc_mu.weight/bias`            | [latent, trunk]             |
//! | `fc_logvar.weight/bias`        | [latent, trunk]             |
//! | `decoder.{0,2,..}.weight/bias` | latent -> hidden.. -> pixels|
//! | `log_scale` (logistic only)    | \[pixels\]                  |
//! | `pseudo_inputs` (VampPrior)    | \[K, pixels\]               |
//!
//! A conditional model (`classes`) takes labels `y` (`[n]` int64) beside its inputs: their
//! one-hot codes join the input of the first linear layer of the encoder and of the
//! decoder (`arch::label_joins`).
use crate::config::{Arch, ModelConfig, Prior};
use crate::model::arch;
use crate::model::hierarchy;
use crate::model::layers::{linear, Trunk};
use crate::model::mixture::Picture;
use anyhow::{ensure, Result};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The starting value of the logistic likelihood's log-scale: a scale of e^-3 = 0.05 of the [0, 1] range, about 13 of the 256
/// levels. At scale 1 (log-scale 0) every pixel would start near the uniform's 5.5 nats,
/// and Adam (at most about `--lr` per step) would take thousands of steps to narrow it.
pub const LOG_SCALE_INIT: f64 = -3.0;

/// The initial values of the VampPrior's pseudo-inputs: N(0.05, 0.01^2), as Tomczak & Welling (2018) initialised theirs
/// for MNIST (grey images a little above black, where most pixels are).
pub const PSEUDO_INPUTS_INIT: (f64, f64) = (0.05, 0.01);

pub struct Vae {
    config: ModelConfig,
    device: tch::Device,
    body: Body,
    /// The logistic likelihood's log-scale per value, `[C*H*W]` (at the start
    /// [`LOG_SCALE_INIT`]); None for the other likelihoods.
    log_scale: Option<Tensor>,
    /// The VampPrior's pseudo-inputs before clamping, `[K, C*H*W]`; None for N(0, I).
    pseudo_inputs: Option<Tensor>,
}

/// The network between the pixels and the likelihood's parameters.
enum Body {
    /// The MLP and conv families: one latent vector.
    Flat {
        /// x -> h: the trunk of `arch::encoder` (empty for an MLP without hidden layers).
        encoder: Trunk,
        /// f1: h -> mu.
        fc_mu: nn::Linear,
        /// f2: h -> log sigma^2. No activation: a log-variance may be any real number.
        fc_logvar: nn::Linear,
        /// z -> logits over pixels (`arch::decoder`); no activation at the end.
        decoder: Trunk,
    },
    /// `--arch hierarchical`: groups of latents at several resolutions.
    Hierarchical(Box<hierarchy::Net>),
}

impl Vae {
    /// Creates the variables under `root` (normally `vs.root()`).
    pub fn new(root: &nn::Path, config: &ModelConfig) -> Self {
        let body = if config.arch == Arch::Hierarchical {
            Body::Hierarchical(Box::new(hierarchy::Net::new(root, config)))
        } else {
            let [mu, logvar] = arch::heads(config);
            Body::Flat {
                encoder: Trunk::new(root, &arch::encoder(config)),
                fc_mu: linear(root, &mu),
                fc_logvar: linear(root, &logvar),
                decoder: Trunk::new(root, &arch::decoder(config)),
            }
        };
        Vae {
            config: config.clone(),
            device: root.device(),
            body,
            log_scale: (config.likelihood == crate::config::Likelihood::Logistic).then(|| {
                root.var(
                    arch::LOG_SCALE,
                    &[config.input_dim() as i64],
                    nn::Init::Const(LOG_SCALE_INIT),
                )
            }),
            pseudo_inputs: (config.prior == Prior::Vamp).then(|| {
                let (mean, stdev) = PSEUDO_INPUTS_INIT;
                root.var(
                    arch::PSEUDO_INPUTS,
                    &[config.pseudo_inputs as i64, config.input_dim() as i64],
                    nn::Init::Randn { mean, stdev },
                )
            }),
        }
    }

    /// The hierarchical network, for `--arch hierarchical`.
    pub fn hierarchy(&self) -> Option<&hierarchy::Net> {
        match &self.body {
            Body::Hierarchical(net) => Some(net),
            Body::Flat { .. } => None,
        }
    }

    /// The width of z: `latent`, or a hierarchical model's values over all its groups.
    pub fn latent_dim(&self) -> usize {
        match &self.body {
            Body::Hierarchical(net) => net.layout().latent_dim(),
            Body::Flat { .. } => self.config.latent,
        }
    }

    /// The VampPrior's pseudo-inputs u_k, clamped to the data's range [0, 1] (Tomczak &
    /// Welling's hardtanh), `[K, C*H*W]`; None for N(0, I).
    pub fn pseudo_inputs(&self) -> Option<Tensor> {
        self.pseudo_inputs.as_ref().map(|u| u.clamp(0.0, 1.0))
    }

    /// The labels of the pseudo-inputs of a conditional model, `[K]` int64: k mod classes,
    /// so the mixture covers every class evenly.
    pub fn pseudo_labels(&self) -> Option<Tensor> {
        let classes = self.config.classes? as i64;
        let k = self.config.pseudo_inputs as i64;
        Some(Tensor::arange(k, (Kind::Int64, self.device)).remainder(classes))
    }

    /// One-hot codes of labels `y` (`[n]` int64) for a conditional model, `[n, classes]`
    /// float; None for an unconditional one. Labels are given exactly when the model is
    /// conditional. (A scatter, not `one_hot`: that reads the labels back to check them,
    /// which a CUDA graph cannot do; the data's labels are checked when loaded.)
    pub fn one_hot(&self, y: Option<&Tensor>) -> Result<Option<Tensor>> {
        match (self.config.classes, y) {
            (None, None) => Ok(None),
            (Some(classes), Some(y)) => {
                let n = y.size()[0];
                ensure!(
                    y.size().len() == 1 && y.kind() == Kind::Int64,
                    "labels: expected shape [n] of int64, found {:?} of {:?}",
                    y.size(),
                    y.kind()
                );
                let zeros = Tensor::zeros([n, classes as i64], (Kind::Float, y.device()));
                Ok(Some(zeros.scatter_value(1, &y.unsqueeze(1), 1.0)))
            }
            (None, Some(_)) => anyhow::bail!("labels given to a model that is not conditional"),
            (Some(_), None) => anyhow::bail!("a conditional model needs labels"),
        }
    }

    /// The logistic likelihood's log-scale (`[C*H*W]`).
    pub fn log_scale(&self) -> Option<&Tensor> {
        self.log_scale.as_ref()
    }

    /// The model's observation model, for `loss::reconstruction_nll`.
    pub fn observation(&self) -> crate::model::loss::Observation<'_> {
        crate::model::loss::Observation {
            likelihood: self.config.likelihood,
            log_scale: self.log_scale.as_ref(),
            mixtures: self.config.mixtures,
            channels: self.config.channels,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Where the model's variables live.
    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// The posteriors' mu and logvar (`[n, latent]` each) of every row of `x` (`[n, pixels]`;
    /// labels `y` `[n]` for a conditional model), `batch` rows at a time, without gradients.
    pub fn encode_all(
        &self,
        x: &Tensor,
        y: Option<&Tensor>,
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        tch::no_grad(|| {
            let n = x.size()[0];
            let (mut mus, mut logvars) = (Vec::new(), Vec::new());
            for start in (0..n).step_by(batch) {
                let len = (batch as i64).min(n - start);
                let y = y.map(|y| y.narrow(0, start, len));
                let (mu, logvar) = self.encode(&x.narrow(0, start, len), y.as_ref())?;
                mus.push(mu);
                logvars.push(logvar);
            }
            Ok((Tensor::cat(&mus, 0), Tensor::cat(&logvars, 0)))
        })
    }

    /// `[n, pixels]` in [0, 1] (and labels `[n]`) -> (mu `[n, latent]`, logvar `[n, latent]`);
    /// a hierarchical model's every group, `[n, latent_dim]` each (`hierarchy::Net::encode`).
    pub fn encode(&self, x: &Tensor, y: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        check_shape(x, self.config.input_dim(), "encoder input")?;
        let one_hot = self.one_hot(y)?;
        Ok(match &self.body {
            Body::Flat {
                encoder,
                fc_mu,
                fc_logvar,
                ..
            } => {
                let h = encoder.forward(x, one_hot.as_ref());
                (fc_mu.forward(&h), fc_logvar.forward(&h))
            }
            Body::Hierarchical(net) => net.encode(x),
        })
    }

    /// `[n, latent]` (and labels `[n]`) -> the decoder's output: logits `[n, pixels]` (before
    /// the sigmoid), or the logistic mixture's parameters `[n, P*H*W]` (`mixture.rs`).
    pub fn decode_logits(&self, z: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
        check_shape(z, self.latent_dim(), "decoder input")?;
        let one_hot = self.one_hot(y)?;
        Ok(match &self.body {
            Body::Flat { decoder, .. } => decoder.forward(z, one_hot.as_ref()),
            Body::Hierarchical(net) => net.decode_logits(z),
        })
    }

    /// The decoder's output (as [`Vae::decode_logits`]) for `n` draws from the prior: N(0, I)
    /// or the VampPrior for a flat model, the top-down prior with its standard deviations
    /// times `temperature` for a hierarchical one; labels `y` (`[n]`) for a conditional one.
    pub fn sample_logits(&self, n: i64, temperature: f64, y: Option<&Tensor>) -> Result<Tensor> {
        match &self.body {
            Body::Hierarchical(net) => Ok(net.sample_logits(n, temperature)),
            Body::Flat { .. } => {
                let z = crate::model::prior::sample(self, n)?;
                let z = match self.config.prior {
                    Prior::Normal => z * temperature,
                    Prior::Vamp => {
                        ensure!(
                            temperature == 1.0,
                            "--temperature: the VampPrior is a mixture; it has no temperature \
                             (leave --temperature out)"
                        );
                        z
                    }
                };
                self.decode_logits(&z, y)
            }
        }
    }

    /// The latent values an ex-post prior (`model::fitted`) may draw: a flat model's whole z;
    /// a hierarchical model's top g groups, for any g.
    pub fn code_lengths(&self) -> Vec<usize> {
        match &self.body {
            Body::Hierarchical(net) => net.layout().prefix_lengths(),
            Body::Flat { .. } => vec![self.config.latent],
        }
    }

    /// The decoder's output for codes `z` (`[n, one of code_lengths()]`): a flat model's
    /// decoded z; a hierarchical model's top groups set to z and the rest drawn from its prior
    /// at `temperature`. Not for a conditional model (its codes need labels).
    pub fn codes_logits(&self, z: &Tensor, temperature: f64) -> Result<Tensor> {
        let width = z.size().get(1).copied().unwrap_or(0) as usize;
        ensure!(
            self.code_lengths().contains(&width),
            "codes of {width} values: this model takes one of {:?}",
            self.code_lengths()
        );
        match &self.body {
            Body::Hierarchical(net) => Ok(net.prefix_logits(z, temperature)),
            Body::Flat { .. } => self.decode_logits(z, None),
        }
    }

    /// The pixels' probabilities or means from the decoder's output (see [`Vae::decode`]).
    pub fn picture(&self, out: &Tensor) -> Tensor {
        self.picture_as(out, Picture::Mode)
    }

    /// [`Vae::picture`], a logistic mixture's drawn as `picture` says (the other
    /// likelihoods' pictures are their means either way).
    pub fn picture_as(&self, out: &Tensor, picture: Picture) -> Tensor {
        match self.config.likelihood {
            crate::config::Likelihood::LogisticMixture => crate::model::mixture::image(
                out,
                self.config.mixtures,
                self.config.channels,
                picture,
            ),
            _ => out.sigmoid(),
        }
    }

    /// `[n, latent]` (and labels `[n]`) -> `[n, pixels]` in [0, 1]: the Bernoulli
    /// probabilities, or the Gaussian or logistic means, of each pixel (sigmoid(logits));
    /// the logistic mixture's picture (its likeliest component's means, `mixture::image`).
    pub fn decode(&self, z: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.picture(&self.decode_logits(z, y)?))
    }
}

fn check_shape(t: &Tensor, columns: usize, what: &str) -> Result<()> {
    let size = t.size();
    ensure!(
        size.len() == 2 && size[1] == columns as i64,
        "{what}: expected shape [n, {columns}], found {size:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use tch::{nn::VarStore, Device};

    fn config() -> ModelConfig {
        ModelConfig::mlp(28, 28, vec![400], 20)
    }

    #[test]
    fn variables_have_documented_names_and_shapes() {
        let _rng = crate::rng_lock(); // the initialisation draws from the global generator
        let vs = VarStore::new(Device::Cpu);
        let _vae = Vae::new(&vs.root(), &config());
        let mut vars: Vec<(String, Vec<i64>)> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.size()))
            .collect();
        vars.sort();
        let expected: Vec<(String, Vec<i64>)> = [
            ("decoder.0.bias", vec![400]),
            ("decoder.0.weight", vec![400, 20]),
            ("decoder.2.bias", vec![784]),
            ("decoder.2.weight", vec![784, 400]),
            ("encoder.0.bias", vec![400]),
            ("encoder.0.weight", vec![400, 784]),
            ("fc_logvar.bias", vec![20]),
            ("fc_logvar.weight", vec![20, 400]),
            ("fc_mu.bias", vec![20]),
            ("fc_mu.weight", vec![20, 400]),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_string(), s))
        .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn shapes_flow_and_bad_shapes_are_errors() {
        let _rng = crate::rng_lock();
        let vs = VarStore::new(Device::Cpu);
        let vae = Vae::new(&vs.root(), &config());
        let x = Tensor::rand([5, 784], (Kind::Float, Device::Cpu));
        let (mu, logvar) = vae.encode(&x, None).unwrap();
        assert_eq!((mu.size(), logvar.size()), (vec![5, 20], vec![5, 20]));
        let p = vae.decode(&mu, None).unwrap();
        assert_eq!(p.size(), vec![5, 784]);
        assert!(p.min().double_value(&[]) >= 0.0 && p.max().double_value(&[]) <= 1.0);
        let e = vae.encode(&Tensor::zeros([5, 100], (Kind::Float, Device::Cpu)), None);
        assert!(format!("{:#}", e.unwrap_err()).contains("expected shape [n, 784], found [5, 100]"));
    }
}
