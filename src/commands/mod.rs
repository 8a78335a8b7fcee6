//! The commands behind the CLI, each a small function from a plain request to files in a
//! run folder. They never print: they report through the caller's [`Reporter`].
mod fit_prior;
mod open;
mod parallel;
mod train;

pub use crate::config::TrainRequest;
pub use fit_prior::{components_phrase, fit_prior, FitOptions, FitPriorRequest, FitReport};
pub use train::{resume, train, Interrupted, ResumeRequest};

use crate::eval::report::{EvalReport, EvalSettings};
use crate::native::device;
use crate::report::Reporter;
use crate::run::{self, EVAL, LOSS_SVG, METRICS, SAMPLES, TORCHSCRIPT, WEIGHTS};
use crate::{export, figures, figures::plot, native::atomic, run::metrics};
use anyhow::Result;
use std::path::{Path, PathBuf};
use tch::Device;

/// `tch-vae export`: (re)writes the run's TorchScript module from its saved weights.
/// Returns the file written (default `RUN/vae.pt`).
pub fn export(run_dir: &Path, output: Option<PathBuf>) -> Result<PathBuf> {
    let path = output.unwrap_or_else(|| run_dir.join(TORCHSCRIPT));
    let _lock = lock_for(run_dir, &path, TORCHSCRIPT)?;
    let run = run::load(run_dir, Device::Cpu)?;
    export::write_torchscript(&path, &run.vs, &run.config)?;
    Ok(path)
}

/// Checks that `output` does not replace a run file other than `own`, and, where it lands
/// in the run folder, takes the folder's lock for the command.
fn lock_for(run_dir: &Path, output: &Path, own: &str) -> Result<Option<run::RunLock>> {
    run::check_output(run_dir, output, own)?;
    if run::is_inside(run_dir, output) {
        Ok(Some(run::lock(run_dir)?))
    } else {
        Ok(None)
    }
}

/// What `tch-vae sample` was asked to draw.
#[derive(Clone, Debug)]
pub struct SampleRequest {
    pub run: PathBuf,
    /// The PNG to write [default: `RUN/samples.png`, or `RUN/samples-fitted.png` with
    /// `fitted`].
    pub output: Option<PathBuf>,
    pub seed: u64,
    /// For a conditional model: 64 images of this class [default: a row per class].
    pub label: Option<i64>,
    pub temperature: f64,
    pub picture: crate::model::mixture::Picture,
    /// Draw z from the run's fitted prior (`tch-vae fit-prior`) instead of the model's.
    pub fitted: bool,
    /// `--device` as given.
    pub device: String,
}

/// `tch-vae sample`: a new grid from the saved weights. Returns the file written.
pub fn sample(req: &SampleRequest) -> Result<PathBuf> {
    let device = device::resolve(&req.device)?;
    let own = if req.fitted {
        run::SAMPLES_FITTED
    } else {
        SAMPLES
    };
    let path = req.output.clone().unwrap_or_else(|| req.run.join(own));
    let _lock = lock_for(&req.run, &path, own)?;
    let run = run::load(&req.run, device)?;
    if req.fitted {
        anyhow::ensure!(
            req.label.is_none(),
            "--label: a fitted prior is of unconditional runs; leave --label out"
        );
        let prior = fit_prior::load_prior(&req.run, &run.vae)?;
        tch::manual_seed(req.seed as i64);
        figures::write_fitted_samples(&run.vae, &prior, &path, req.temperature, req.picture)?;
    } else {
        tch::manual_seed(req.seed as i64);
        figures::write_samples(&run.vae, &path, req.label, req.temperature, req.picture)?;
    }
    Ok(path)
}

/// `tch-vae plot`: redraws `loss.svg` from `metrics.csv`, and, when the weights are there,
/// every model figure (the same ones, with the same seed, that training drew; and
/// `samples-fitted.png` where the run has a fitted prior).
pub fn plot(run_dir: &Path, data: Option<&Path>, device: &str) -> Result<Vec<PathBuf>> {
    let device = device::resolve(device)?;
    run::read_config(run_dir)?;
    let _lock = run::lock(run_dir)?;
    run::check_regular(&run_dir.join(METRICS))?;
    let history = metrics::read(&run_dir.join(METRICS))?;
    let mut written = vec![run_dir.join(LOSS_SVG)];
    plot::write_loss_svg(&written[0], &history)?;
    if run_dir.join(WEIGHTS).exists() {
        let run = run::load(run_dir, device)?;
        let dataset = run::load_data(&run.config, data, device)?;
        written.extend(figures::write_all(
            &run.vae,
            &dataset,
            run_dir,
            run.config.train.seed,
        )?);
        written.extend(fit_prior::redraw(run_dir, &run.vae)?);
    }
    Ok(written)
}

/// What `tch-vae eval` was asked to do.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub run: PathBuf,
    pub settings: EvalSettings,
    /// `--device` as given ("auto", "cpu", "cuda:1").
    pub device: String,
    /// The data folder [default: the one in config.json].
    pub data: Option<PathBuf>,
    /// The file to write [default: `RUN/eval.json`].
    pub output: Option<PathBuf>,
    /// libtorch's intra-op threads [default: libtorch's choice].
    pub threads: Option<usize>,
}

/// `tch-vae eval`: writes `eval.json` (default `RUN/eval.json`) and returns the report.
pub fn evaluate(req: &EvalRequest, report: &mut dyn Reporter) -> Result<(PathBuf, EvalReport)> {
    req.settings.validate()?;
    let device = device::resolve(&req.device)?;
    device::set_threads(req.threads)?;
    let path = req.output.clone().unwrap_or_else(|| req.run.join(EVAL));
    let _lock = lock_for(&req.run, &path, EVAL)?;
    let run = run::load(&req.run, device)?;
    let data = run::load_data(&run.config, req.data.as_deref(), device)?;
    let result = EvalReport::measure(&run, &data, &req.settings, req.data.as_deref(), report)?;
    let text = serde_json::to_string_pretty(&result)? + "\n";
    atomic::write_bytes(&path, text.as_bytes())?;
    Ok((path, result))
}

/// `tch-vae compare`: loads the runs (refusing runs whose numbers do not compare), writes
/// each of `outputs` (by extension: `.svg` curves, `.md`/`.csv` table) and returns the
/// printed table.
pub fn compare(runs: &[PathBuf], outputs: &[PathBuf]) -> Result<String> {
    let loaded = crate::eval::compare::load(runs)?;
    for output in outputs {
        // Never a run's own file (metrics.csv, loss.svg, ...), whatever the extension.
        for run in runs {
            run::check_output(run, output, "")?;
        }
        crate::eval::compare::write(output, &loaded)?;
    }
    let (header, rows) = crate::eval::compare::table(&loaded);
    Ok(crate::eval::compare::text_table(&header, &rows))
}

/// What a user is told of the entries of an image folder that were not read, if any.
fn skipped_note(skipped: &[PathBuf]) -> Option<String> {
    let n = skipped.len();
    let names: Vec<String> = skipped
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    (n > 0).then(|| {
        format!(
            "skipped {} that {} (hidden, of another extension, or a folder inside a class \
             folder): {}{}",
            if n == 1 {
                "1 entry".to_string()
            } else {
                format!("{n} entries")
            },
            if n == 1 {
                "is not an image file"
            } else {
                "are not image files"
            },
            names.join(", "),
            if n > 3 { ", ..." } else { "" }
        )
    })
}
