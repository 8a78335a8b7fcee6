//! Loading a trained run: its model with its weights, and its dataset as training saw it.
use super::files::{read_config, CONFIG, WEIGHTS};
use crate::config::{ModelConfig, RunConfig};
use crate::data::{Dataset, LoadOptions};
use crate::model::weights;
use crate::model::Vae;
use anyhow::{ensure, Context, Result};
use std::path::Path;
use tch::{nn, Device};

/// A trained model rebuilt from a run folder's `config.json` and `weights.safetensors`.
pub struct LoadedRun {
    pub config: RunConfig,
    pub vs: nn::VarStore,
    pub vae: Vae,
}

/// Rebuilds the model of the run in `dir` on `device`, with its trained weights.
pub fn load(dir: &Path, device: Device) -> Result<LoadedRun> {
    let config = read_config(dir)?;
    let source = dir.join(CONFIG).display().to_string();
    crate::model::memory::check_fits(&config.model, 1, device, &source)?;
    let vs = nn::VarStore::new(device);
    let vae = Vae::new(&vs.root(), &config.model);
    let path = dir.join(WEIGHTS);
    ensure!(
        path.exists(),
        "{} is missing: did the training finish?",
        path.display()
    );
    // A FIFO or device in its place is named as what it is (and never blocks a read).
    drop(crate::native::files::open_regular(&path)?);
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
    let cache = crate::data::cache_dir();
    let options = LoadOptions::of_run(&run.train, cache.as_deref());
    let mut dataset = Dataset::load(dir, &options, device)
        .context("cannot read the run's data; pass --data DIR if it moved")?;
    check_fits(&run.model, &dataset, dir)?;
    dataset.binarize_fixed(run.train.binarize);
    Ok(dataset)
}

fn check_fits(model: &ModelConfig, dataset: &Dataset, dir: &Path) -> Result<()> {
    ensure!(
        dataset.input_dim() == model.input_dim(),
        "{} holds {}x{}x{} images (channels x height x width) but the model expects {}x{}x{}",
        dir.display(),
        dataset.channels,
        dataset.height,
        dataset.width,
        model.channels,
        model.image_height,
        model.image_width
    );
    if let Some(classes) = model.classes {
        let found = dataset.classes(dir)?;
        ensure!(
            found <= classes,
            "{} has labels up to {}, but the model is conditional on {classes} classes (0 to {})",
            dir.display(),
            found - 1,
            classes - 1
        );
    }
    Ok(())
}
