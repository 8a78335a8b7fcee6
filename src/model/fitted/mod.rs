//! An ex-post prior (Ghosh et al. 2020, "From Variational to Deterministic Autoencoders",
//! section 4; the two-stage VAE of Dai and Wipf 2019 in spirit): after training, a Gaussian
//! mixture fitted to the posterior means of the training images, in their principal
//! subspace, to draw samples from where the codes are rather than from the model's prior.
//! A hierarchical model's prior draws each latent pixel of a group on its own; the codes'
//! mixture draws the coarse groups together, and the model's own prior the finer ones
//! (`hierarchy::Draw::Prefix`). `pca` finds the subspace, `gmm` fits the mixture.
pub mod gmm;
pub mod pca;
pub mod select;

pub use gmm::{EmSettings, Gmm};
pub use pca::Subspace;

use crate::model::weights::read_tensors;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

/// What `fit` is asked for.
#[derive(Clone, Debug)]
pub struct FitSettings {
    /// Mixture components; None: chosen by held-out log-likelihood ([`select`]), of the
    /// candidates up to `most_components`.
    pub components: Option<usize>,
    pub most_components: usize,
    /// Coordinates kept (the principal subspace's dimension); codes of fewer dimensions are
    /// modelled whole.
    pub dims: usize,
    pub max_iterations: usize,
}

/// The fitted prior over the first `codes` latent values (all of a flat model's z; the top
/// groups of a hierarchical one): z = mean + basis y, y ~ the mixture.
pub struct FittedPrior {
    pub subspace: Subspace,
    pub gmm: Gmm,
}

/// What a fit reports beside the prior.
pub struct FitOutcome {
    pub prior: FittedPrior,
    pub components: usize,
    /// The share of the codes' variance the principal subspace keeps.
    pub kept_variance: f64,
    pub iterations: usize,
    pub converged: bool,
    /// The counts `--components auto` tried (empty when given one).
    pub tried: Vec<select::Tried>,
}

impl FittedPrior {
    /// Fits the prior to `codes` (`[n, D]`), drawing the subspace's and the k-means++ start's
    /// random numbers from libtorch's generator (seed it first).
    pub fn fit(codes: &Tensor, s: &FitSettings) -> Result<FitOutcome> {
        let codes = codes.to_kind(Kind::Double);
        let (subspace, kept_variance) = pca::fit(&codes, s.dims)?;
        let y = subspace.project(&codes);
        let em = |components| EmSettings {
            components,
            max_iterations: s.max_iterations,
            tolerance: 1e-4,
            regularisation: 1e-4,
        };
        let (components, tried) = match s.components {
            Some(c) => (c, Vec::new()),
            None => select::components(&y, &em, s.most_components)?,
        };
        let fitted = Gmm::fit(&y, &em(components))?;
        Ok(FitOutcome {
            prior: FittedPrior {
                subspace,
                gmm: fitted.gmm,
            },
            components,
            kept_variance,
            iterations: fitted.iterations,
            converged: fitted.converged,
            tried,
        })
    }

    /// `n` codes, `[n, D]` in float32, the mixture's spread times `temperature`.
    pub fn sample(&self, n: i64, temperature: f64) -> Tensor {
        self.subspace
            .lift(&self.gmm.sample(n, temperature))
            .to_kind(Kind::Float)
    }

    /// The mixture's log-density of the codes' coordinates in the subspace, `[n, D]` -> `[n]`
    /// (nats; a density of the k coordinates, not of all D values).
    pub fn log_prob(&self, codes: &Tensor) -> Tensor {
        self.gmm.log_prob(&self.subspace.project(codes))
    }

    /// The file's tensors by name (contiguous copies, as safetensors stores them).
    pub fn to_tensors(&self) -> Vec<(&'static str, Tensor)> {
        [
            ("mean", &self.subspace.mean),
            ("basis", &self.subspace.basis),
            ("weights", &self.gmm.weights),
            ("means", &self.gmm.means),
            ("scale_tril", &self.gmm.scale_tril),
        ]
        .into_iter()
        .map(|(name, t)| (name, t.contiguous()))
        .collect()
    }

    /// Writes the prior to `path` (safetensors, float64), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::native::atomic::write_with(path, |tmp| {
            Ok(Tensor::write_safetensors(&self.to_tensors(), tmp)?)
        })
    }

    /// Reads a prior written by [`FittedPrior::save`], checking every shape and value, for
    /// a model whose draws it must cover: `codes` is one of `allowed` (the values of a
    /// flat model's z, or of each prefix of a hierarchical model's groups).
    pub fn load(path: &Path, allowed: &[i64]) -> Result<Self> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("{} is missing", path.display()))?
            .len();
        ensure!(
            len <= MAX_FILE_BYTES,
            "{}: {len} bytes, more than a fitted prior holds ({MAX_FILE_BYTES}); run \
             `tch-vae fit-prior` again",
            path.display()
        );
        let t = read_tensors(path)?;
        Self::from_tensors(&t, allowed).with_context(|| {
            format!(
                "{} is not a fitted prior of this run: run `tch-vae fit-prior` again",
                path.display()
            )
        })
    }

    fn from_tensors(t: &HashMap<String, Tensor>, allowed: &[i64]) -> Result<Self> {
        let get = |name: &str, dims: usize| -> Result<Tensor> {
            let x = t.get(name).with_context(|| format!("no tensor {name:?}"))?;
            ensure!(
                x.dim() == dims,
                "{name}: {} dimensions, expected {dims}",
                x.dim()
            );
            ensure!(x.is_floating_point(), "{name}: not floating-point");
            let x = x.to_kind(Kind::Double);
            ensure!(
                x.isfinite().all().int64_value(&[]) == 1,
                "{name}: values not finite"
            );
            Ok(x)
        };
        ensure!(t.len() == 5, "{} tensors, expected 5", t.len());
        let (mean, basis) = (get("mean", 1)?, get("basis", 2)?);
        let (weights, means, scale_tril) =
            (get("weights", 1)?, get("means", 2)?, get("scale_tril", 3)?);
        let d = mean.size()[0];
        let (c, k) = (weights.size()[0], basis.size()[1]);
        ensure!(
            allowed.contains(&d),
            "it draws {d} latent values; this model takes one of {allowed:?}"
        );
        ensure!(
            basis.size() == [d, k] && k >= 1 && c >= 1,
            "basis {:?}: expected [{d}, k]",
            basis.size()
        );
        ensure!(
            means.size() == [c, k],
            "means {:?}: expected [{c}, {k}]",
            means.size()
        );
        ensure!(
            scale_tril.size() == [c, k, k],
            "scale_tril {:?}: expected [{c}, {k}, {k}]",
            scale_tril.size()
        );
        let total = weights.sum(Kind::Double).double_value(&[]);
        ensure!(
            weights.ge(0.0).all().int64_value(&[]) == 1 && (total - 1.0).abs() < 1e-6,
            "weights: not a distribution (they sum to {total})"
        );
        let diag = scale_tril.diagonal(0, 1, 2);
        ensure!(
            diag.gt(0.0).all().int64_value(&[]) == 1
                && scale_tril.triu(1).eq(0.0).all().int64_value(&[]) == 1,
            "scale_tril: not lower-triangular with a positive diagonal"
        );
        Ok(FittedPrior {
            subspace: Subspace { mean, basis },
            gmm: Gmm {
                weights,
                means,
                scale_tril,
            },
        })
    }
}

/// The largest fitted-prior file read (a 21,000-value code in 256 coordinates with 50
/// components is about 70 MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
