//! The run folder: the name of every file in it, the default folder, preparing a new one,
//! `config.json`, and loading a trained run with its data. Other modules take paths; this
//! one knows what the paths are.
use crate::config::{ModelConfig, RunConfig};
use crate::data::Dataset;
use crate::model::Vae;
use crate::weights;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Device};

/// Everything needed to rebuild the model and how it was trained.
pub const CONFIG: &str = "config.json";
/// The trained parameters, by the names of `arch.rs`.
pub const WEIGHTS: &str = "weights.safetensors";
/// The trainer's state for `--resume` (`checkpoint.rs`).
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// One row per epoch (`metrics.rs`).
pub const METRICS: &str = "metrics.csv";
/// The loss curves (`plot.rs`).
pub const LOSS_SVG: &str = "loss.svg";
/// The TorchScript module (`export.rs`).
pub const TORCHSCRIPT: &str = "vae.pt";
/// `tch-vae eval`'s report (`eval/report.rs`).
pub const EVAL: &str = "eval.json";
/// The figures drawn from the trained model (`figures.rs`).
pub const SAMPLES: &str = "samples.png";
pub const RECONSTRUCTIONS: &str = "reconstructions.png";
pub const LATENT: &str = "latent.svg";
pub const INTERPOLATION: &str = "interpolation.png";
pub const MANIFOLD: &str = "manifold.png";

/// `models/<dataset folder name>-<UTC date-time>`, made unique if it exists.
pub fn default_dir(data: &Path) -> PathBuf {
    let dataset = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let base = PathBuf::from("models").join(format!("{dataset}-{stamp}"));
    (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                PathBuf::from(format!("{}-{i}", base.display()))
            }
        })
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// Creates the run folder and proves it writable, refusing to mix two runs in one folder.
pub fn prepare(dir: &Path) -> Result<()> {
    ensure!(
        !dir.join(CONFIG).exists(),
        "--out {}: this folder already holds a run ({CONFIG}). Choose another --out, \
         or remove the folder to start over",
        dir.display()
    );
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out {}: cannot create the output folder", dir.display()))?;
    let probe = dir.join(".tch-vae-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {}: the output folder is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Removes the hidden temporary files (`.name.tmp-PID.ext`) that a killed process can
/// leave behind; the files they were to replace are intact.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads and checks a run's `config.json`.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: is {} a run folder made by `tch-vae train`?",
            path.display(),
            dir.display()
        )
    })?;
    RunConfig::from_json(&text)
        .with_context(|| format!("{} is not a valid tch-vae config", path.display()))
}

/// Writes `config.json`, atomically.
pub fn write_config(dir: &Path, run: &RunConfig) -> Result<()> {
    crate::atomic::write_bytes(&dir.join(CONFIG), run.to_json()?.as_bytes())
}

/// A trained model rebuilt from a run folder's `config.json` and `weights.safetensors`.
pub struct LoadedRun {
    pub config: RunConfig,
    pub vs: nn::VarStore,
    pub vae: Vae,
}

/// Rebuilds the model of the run in `dir` on `device`, with its trained weights.
pub fn load(dir: &Path, device: Device) -> Result<LoadedRun> {
    let config = read_config(dir)?;
    let vs = nn::VarStore::new(device);
    let vae = Vae::new(&vs.root(), &config.model);
    let path = dir.join(WEIGHTS);
    ensure!(
        path.is_file(),
        "{} is missing: did the training finish?",
        path.display()
    );
    weights::load(&vs, &path).with_context(|| {
        format!(
            "{} does not fit the {} model that {CONFIG} describes",
            path.display(),
            config.model.describe()
        )
    })?;
    Ok(LoadedRun { config, vs, vae })
}

/// The run's dataset as training saw it: the folder from `config.json` (or `data`), the
/// same `--limit` and binarisation, checked against the model's image size.
pub fn load_data(run: &RunConfig, data: Option<&Path>, device: Device) -> Result<Dataset> {
    let dir = data.unwrap_or(&run.train.data);
    let mut dataset = Dataset::load(dir, run.train.limit, device)
        .context("cannot read the run's data; pass --data DIR if it moved")?;
    check_fits(&run.model, &dataset, dir)?;
    dataset.binarize_fixed(run.train.binarize);
    Ok(dataset)
}

fn check_fits(model: &ModelConfig, dataset: &Dataset, dir: &Path) -> Result<()> {
    ensure!(
        dataset.input_dim() == model.input_dim(),
        "{} holds {}x{} images but the model expects {}x{}",
        dir.display(),
        dataset.height,
        dataset.width,
        model.image_height,
        model.image_width
    );
    Ok(())
}
