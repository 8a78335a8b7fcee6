//! `tch-vae fit-prior`: an ex-post prior for a trained run (`model::fitted`): the posterior
//! means of its training images, their principal subspace, a Gaussian mixture over it;
//! written as `fitted-prior.safetensors` with a report (`fitted-prior.json`) and 64 samples
//! drawn from it (`samples-fitted.png`).
use crate::config::{Binarize, RunConfig};
use crate::data::{binarize_batch, Dataset};
use crate::model::fitted::{select, FitSettings, FittedPrior};
use crate::model::mixture::Picture;
use crate::model::Vae;
use crate::native::{atomic, device};
use crate::report::Reporter;
use crate::run::{self, FITTED_PRIOR, FITTED_PRIOR_REPORT, SAMPLES_FITTED};
use anyhow::{ensure, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// EM stops here if the log-likelihood is still rising by more than 1e-4 nats an iteration.
pub const MAX_ITERATIONS: usize = 300;
/// The most components and coordinates: each component holds a dims x dims covariance.
pub const MAX_COMPONENTS: usize = 1000;
pub const MAX_DIMS: usize = 4096;

/// What `tch-vae fit-prior` was asked to do.
#[derive(Clone, Debug)]
pub struct FitPriorRequest {
    pub run: PathBuf,
    pub fit: FitOptions,
    pub data: Option<PathBuf>,
    pub device: String,
    pub threads: Option<usize>,
}

/// How the prior is fitted (the flags of `fit-prior` that are not about files or devices).
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// None: chosen by held-out log-likelihood (`--components auto`).
    pub components: Option<usize>,
    pub dims: usize,
    /// A hierarchical model's top groups to model [default: those above the image's own
    /// resolution].
    pub groups: Option<usize>,
    /// The first N training images [default: all].
    pub images: Option<usize>,
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            components: None,
            dims: crate::config::defaults::FIT_PRIOR_DIMS,
            groups: None,
            images: None,
            seed: 0,
        }
    }
}

impl FitOptions {
    /// Rejects out-of-range values before any work, naming the flag.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.components
                .is_none_or(|c| (1..=MAX_COMPONENTS).contains(&c)),
            "--components must be auto or from 1 to {MAX_COMPONENTS} (got {})",
            self.components.unwrap_or_default()
        );
        ensure!(
            (1..=MAX_DIMS).contains(&self.dims),
            "--dims must be from 1 to {MAX_DIMS} (got {})",
            self.dims
        );
        ensure!(
            self.images != Some(0),
            "--images must be at least 1 (got 0)"
        );
        ensure!(
            self.groups != Some(0),
            "--groups must be at least 1 (got 0)"
        );
        Ok(())
    }
}

/// `fitted-prior.json`.
#[derive(Serialize, Debug, Clone)]
pub struct FitReport {
    pub components: usize,
    /// With `--components auto`: each count tried and its held-out log-likelihood (nats a
    /// code, a tenth of the training codes held out); empty when a count was given.
    pub tried: Vec<crate::model::fitted::select::Tried>,
    /// The principal coordinates the mixture models.
    pub dims: usize,
    /// The latent values each code holds (all of a flat model's z, or its top groups').
    pub code_values: usize,
    /// A hierarchical model's groups modelled (top-down); None for a flat model.
    pub groups: Option<usize>,
    pub train_images: usize,
    pub test_images: usize,
    /// The share of the training codes' variance that the coordinates keep.
    pub kept_variance: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Mean log-density of the codes' coordinates under the mixture (nats an image): the
    /// training codes', and the held-out test images' (lower when it overfits).
    pub train_log_likelihood: f64,
    pub test_log_likelihood: f64,
    pub seed: u64,
    pub seconds: f64,
}

/// "1 component" or "13 components", for the messages.
pub fn components_phrase(n: usize) -> String {
    match n {
        1 => "1 component".to_string(),
        n => format!("{n} components"),
    }
}

/// Runs `tch-vae fit-prior`; returns the report and the files written.
pub fn fit_prior(
    req: &FitPriorRequest,
    report: &mut dyn Reporter,
) -> Result<(FitReport, Vec<PathBuf>)> {
    req.fit.validate()?;
    let device = device::resolve(&req.device)?;
    device::set_threads(req.threads)?;
    let _lock = run::lock(&req.run)?;
    let loaded = run::load(&req.run, device)?;
    ensure!(
        loaded.config.model.classes.is_none(),
        "{}: a conditional model's codes go with their labels; fit-prior takes unconditional runs",
        req.run.display()
    );
    let data = run::load_data(&loaded.config, req.data.as_deref(), device)?;
    fit_and_write(
        &loaded.vae,
        &loaded.config,
        &data,
        &req.run,
        &req.fit,
        report,
    )
}

/// The end of a hierarchical run's training: its prior fitted with the defaults, so that the
/// folder holds samples-fitted.png beside samples.png. A failure is told, not raised: the
/// trained run is whole without it.
pub(crate) fn after_training(
    vae: &Vae,
    config: &RunConfig,
    data: &Dataset,
    dir: &Path,
    report: &mut dyn Reporter,
) {
    if vae.hierarchy().is_none() || config.model.classes.is_some() {
        return;
    }
    match fit_and_write(vae, config, data, dir, &FitOptions::default(), report) {
        Ok((fit, _)) => report.note(&format!(
            "fitted an ex-post prior to the training codes ({}, held-out log-likelihood \
             {:.1} nats): {SAMPLES_FITTED} draws from it; `tch-vae fit-prior` refits it",
            components_phrase(fit.components),
            fit.test_log_likelihood
        )),
        Err(e) => report.note(&format!(
            "no ex-post prior was fitted ({e:#}); `tch-vae fit-prior --run {}` tries again",
            dir.display()
        )),
    }
}

/// Fits the prior of `vae` to `data`'s training codes and writes its three files into `dir`.
fn fit_and_write(
    vae: &Vae,
    config: &RunConfig,
    data: &Dataset,
    dir: &Path,
    o: &FitOptions,
    report: &mut dyn Reporter,
) -> Result<(FitReport, Vec<PathBuf>)> {
    let start = std::time::Instant::now();
    let (code_values, groups) = code_values(vae, o.groups)?;
    let n = o
        .images
        .map_or(data.train.len(), |i| i.min(data.train.len()));
    ensure!(
        o.components.is_none_or(|c| c <= n),
        "--components {}: more than the {n} training images whose codes it fits; give fewer",
        o.components.unwrap_or_default()
    );
    // n centred codes span at most n - 1 directions: more coordinates would model round-off.
    let dims = o.dims.min(code_values).min(n.saturating_sub(1).max(1));
    let available = device::available_bytes(Device::Cpu);
    let most = o
        .components
        .unwrap_or_else(|| most_candidate(n, code_values, dims, available));
    check_memory(n, code_values, most.min(n), dims, available)?;

    report.note(&format!(
        "encoding {n} training and {} test images",
        data.test.len()
    ));
    tch::manual_seed(o.seed as i64);
    let train = codes(vae, &data.train, n, code_values, config.train.binarize)?;
    let test = codes(
        vae,
        &data.test,
        data.test.len(),
        code_values,
        Binarize::None,
    )?;
    report.note(&format!(
        "fitting {} in {dims} coordinates of {code_values} code values",
        o.components.map_or_else(
            || "a mixture (components chosen on held-out codes)".to_string(),
            components_phrase
        ),
    ));
    let settings = FitSettings {
        components: o.components,
        most_components: most,
        dims,
        max_iterations: MAX_ITERATIONS,
    };
    let outcome = FittedPrior::fit(&train, &settings)?;
    let prior = outcome.prior;
    let mean_log = |z: &Tensor| prior.log_prob(z).mean(Kind::Double).double_value(&[]);
    let fit = FitReport {
        components: outcome.components,
        tried: outcome.tried,
        dims,
        code_values,
        groups,
        train_images: n,
        test_images: data.test.len(),
        kept_variance: outcome.kept_variance,
        iterations: outcome.iterations,
        converged: outcome.converged,
        train_log_likelihood: mean_log(&train),
        test_log_likelihood: mean_log(&test),
        seed: o.seed,
        seconds: start.elapsed().as_secs_f64(),
    };
    prior.save(&dir.join(FITTED_PRIOR))?;
    let text = serde_json::to_string_pretty(&fit)? + "\n";
    atomic::write_bytes(&dir.join(FITTED_PRIOR_REPORT), text.as_bytes())?;
    tch::manual_seed(o.seed as i64);
    crate::figures::write_fitted_samples(
        vae,
        &prior,
        &dir.join(SAMPLES_FITTED),
        1.0,
        Picture::Mode,
    )?;
    let written = [FITTED_PRIOR, FITTED_PRIOR_REPORT, SAMPLES_FITTED].map(|f| dir.join(f));
    Ok((fit, written.to_vec()))
}

/// The latent values a code holds and, for a hierarchical model, its groups: `--groups`, or
/// every group above the image's own resolution (whose latents the runs so far leave
/// almost unused, and which would multiply the code's length by five).
fn code_values(vae: &crate::model::Vae, groups: Option<usize>) -> Result<(usize, Option<usize>)> {
    let lengths = vae.code_lengths();
    let Some(net) = vae.hierarchy() else {
        ensure!(
            groups.is_none(),
            "--groups: this model is not hierarchical; its code is its whole z"
        );
        return Ok((lengths[0], None));
    };
    let layout = net.layout();
    let finest = layout.sides.len() - 1;
    let default = layout
        .groups
        .iter()
        .filter(|g| g.level < finest)
        .count()
        .max(1);
    let g = groups.unwrap_or(default);
    ensure!(
        g <= lengths.len(),
        "--groups {g}: this model has {} groups (top-down, {default} above the image's resolution)",
        lengths.len()
    );
    Ok((lengths[g - 1], Some(g)))
}

/// The largest count `--components auto` may try: the largest candidate whose fit the
/// memory holds (89 components of 45,000 codes in 64 coordinates take 5.8 GiB), or 1, whose
/// refusal then says what to cut.
fn most_candidate(images: usize, values: usize, dims: usize, available: Option<u64>) -> usize {
    select::CANDIDATES
        .into_iter()
        .rev()
        .find(|&c| check_memory(images, values, c.min(images), dims, available).is_ok())
        .unwrap_or(1)
}

/// Refuses a fit whose float64 temporaries (the codes and their projections, EM's
/// per-component distances) would not fit in memory, before any is made.
fn check_memory(
    images: usize,
    values: usize,
    components: usize,
    dims: usize,
    available: Option<u64>,
) -> Result<()> {
    let (n, d, c, k) = (
        images as u128,
        values as u128,
        components as u128,
        dims as u128,
    );
    let needed = 8 * (4 * n * d + 3 * c * n * k + 2 * c * k * k);
    ensure!(
        available.is_none_or(|a| needed <= u128::from(a)),
        "fitting {} to {images} codes of {values} values in {dims} \
         coordinates needs about {} MiB, more than the {} MiB available; use fewer --images, \
         --groups, --components or --dims",
        components_phrase(components),
        needed >> 20,
        available.unwrap_or_default() >> 20
    );
    Ok(())
}

/// The posterior means' first `values` of the first `n` images of `split`, `[n, values]`
/// float64 on the CPU.
fn codes(
    vae: &Vae,
    split: &crate::data::Split,
    n: usize,
    values: usize,
    binarize: Binarize,
) -> Result<Tensor> {
    let rows = crate::model::memory::encoded_chunk_rows(vae.device(), vae.config());
    let mut parts = Vec::new();
    for start in (0..n).step_by(rows) {
        let x = binarize_batch(split.rows(start, rows.min(n - start)), binarize);
        let mu = tch::no_grad(|| vae.encode(&x, None))?.0;
        parts.push(
            mu.narrow(1, 0, values as i64)
                .to_device(Device::Cpu)
                .to_kind(Kind::Double),
        );
    }
    Ok(Tensor::cat(&parts, 0))
}

/// `tch-vae plot`'s redraw of samples-fitted.png, where the run has a fitted prior: the
/// picture fit-prior drew, with the seed its report names. None without a prior.
pub(crate) fn redraw(run: &Path, vae: &Vae) -> Result<Option<PathBuf>> {
    if !run.join(FITTED_PRIOR).exists() {
        return Ok(None);
    }
    let prior = load_prior(run, vae)?;
    let report = run.join(FITTED_PRIOR_REPORT);
    let bytes = crate::native::files::read_bounded(&report, 1 << 20, "a fitted-prior.json holds")?;
    let seed = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["seed"].as_u64())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} names no seed: run `tch-vae fit-prior --run {}` again",
                report.display(),
                run.display()
            )
        })?;
    let path = run.join(SAMPLES_FITTED);
    tch::manual_seed(seed as i64);
    crate::figures::write_fitted_samples(vae, &prior, &path, 1.0, Picture::Mode)?;
    Ok(Some(path))
}

/// Where `tch-vae sample --fitted-prior` reads the prior of `run`.
pub fn load_prior(run: &Path, vae: &Vae) -> Result<FittedPrior> {
    let path = run.join(FITTED_PRIOR);
    ensure!(
        path.exists(),
        "{} has no fitted prior ({FITTED_PRIOR}): run `tch-vae fit-prior --run {}` first",
        run.display(),
        run.display()
    );
    run::check_regular(&path)?;
    let allowed: Vec<i64> = vae.code_lengths().iter().map(|&l| l as i64).collect();
    FittedPrior::load(&path, &allowed)
}

#[cfg(test)]
mod tests;
