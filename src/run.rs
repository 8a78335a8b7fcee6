//! The commands behind the CLI, with their side effects: run folders, files, figures and
//! console output around the pure training loop of `train.rs`.
use crate::config::{ModelConfig, RunConfig, TrainConfig};
use crate::data::Dataset;
use crate::metrics::{self, EpochMetrics};
use crate::model::Vae;
use crate::progress::{summary_line, EpochBar};
use crate::train::Trainer;
use crate::{atomic, device, export, images, plot};
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const SAMPLES_FILE: &str = "samples.png";
pub const RECONSTRUCTIONS_FILE: &str = "reconstructions.png";
/// The sample grid is 8 x 8.
const GRID_COLS: usize = 8;
const GRID_IMAGES: usize = 64;

/// What `tch-vae train` was asked to do, before the data is seen.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// The model; its image height and width are filled in from the data.
    pub model: ModelConfig,
    /// How to train; `device` holds the requested spec (auto, cpu, cuda, cuda:N) and is
    /// replaced by the device actually used.
    pub train: TrainConfig,
    pub out: Option<PathBuf>,
    pub threads: Option<usize>,
}

/// Trains a VAE and writes its run folder; returns the folder.
pub fn train(req: &TrainRequest) -> Result<PathBuf> {
    // Everything a user can get wrong is checked before the data is read or a file made.
    let (mut model_config, mut train_config) = (req.model.clone(), req.train.clone());
    train_config.validate()?;
    model_config.validate()?;
    if let Some(n) = req.threads {
        ensure!(n >= 1, "--threads must be at least 1 (got 0)");
        tch::set_num_threads(n as i32);
    }
    let device = device::resolve(&req.train.device)?;
    train_config.device = device::name(device);
    let out = match &req.out {
        Some(dir) => dir.clone(),
        None => default_run_dir(&req.train.data),
    };
    prepare_run_dir(&out)?;

    let data = Dataset::load(&req.train.data, req.train.limit, device)?;
    model_config.image_height = data.height;
    model_config.image_width = data.width;
    let run = RunConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_config,
        train: train_config,
    };
    run.write(&out)?;
    println!(
        "training {} VAE ({} likelihood) on {} ({} train / {} test images) on {}; run folder {}",
        run.model.describe(),
        run.model.likelihood.name(),
        run.train.data.display(),
        data.train.len(),
        data.test.len(),
        run.train.device,
        out.display()
    );

    let mut trainer = Trainer::new(&run.model, &run.train, device)?;
    let mut history: Vec<EpochMetrics> = Vec::new();
    let batches = data.train.len().div_ceil(run.train.batch_size);
    for epoch in 1..=run.train.epochs {
        let bar = EpochBar::new(epoch, run.train.epochs, batches);
        let row = trainer.run_epoch(epoch, &data, &mut |p| bar.update(p));
        bar.finish();
        let row = row?;
        println!("{}", summary_line(&row, run.train.epochs, data.train.len()));
        history.push(row);
        // Rewritten every epoch, so an interrupted run still shows its curves so far.
        metrics::write(&out.join(metrics::FILE), &history)?;
        plot::write_loss_svg(&out.join(plot::LOSS_FILE), &history)?;
    }
    save_weights(trainer.var_store(), &out.join(WEIGHTS_FILE))?;
    export::write_torchscript(&out.join(export::FILE), trainer.var_store(), &run)?;
    write_samples(trainer.vae(), &out.join(SAMPLES_FILE), device)?;
    write_reconstructions(trainer.vae(), &data, &out.join(RECONSTRUCTIONS_FILE))?;
    println!("wrote {}", out.display());
    Ok(out)
}

/// `models/<dataset folder name>-<UTC date-time>`, made unique if it exists.
fn default_run_dir(data: &Path) -> PathBuf {
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
fn prepare_run_dir(dir: &Path) -> Result<()> {
    ensure!(
        !dir.join(RunConfig::FILE).exists(),
        "--out {}: this folder already holds a run (config.json). Choose another --out, \
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

fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    atomic::write_with(path, |tmp| Ok(vs.save(tmp)?))
}

/// A trained model rebuilt from a run folder's `config.json` and `weights.safetensors`.
pub struct LoadedRun {
    pub config: RunConfig,
    pub vs: nn::VarStore,
    pub vae: Vae,
}

pub fn load_run(run_dir: &Path, device: Device) -> Result<LoadedRun> {
    let config = RunConfig::read(run_dir)?;
    let mut vs = nn::VarStore::new(device);
    let vae = Vae::new(&vs.root(), &config.model);
    let path = run_dir.join(WEIGHTS_FILE);
    ensure!(
        path.is_file(),
        "{} is missing: did the training finish?",
        path.display()
    );
    vs.load(&path).with_context(|| {
        format!(
            "cannot load {} into the {} model that config.json describes",
            path.display(),
            config.model.describe()
        )
    })?;
    Ok(LoadedRun { config, vs, vae })
}

/// 64 images decoded from z ~ N(0, I) (seed, point 5), in an 8 x 8 grid.
pub fn write_samples(vae: &Vae, path: &Path, device: Device) -> Result<()> {
    let c = vae.config();
    let z = Tensor::randn([GRID_IMAGES as i64, c.latent as i64], (Kind::Float, device)); // [64, latent]
    let x = tch::no_grad(|| vae.decode(&z))?; // [64, pixels]
    images::write_grid(path, &x, c.image_height, c.image_width, GRID_COLS)
}

/// The first 16 test images, each row of 8 above its reconstruction decode(mu(x)).
pub fn write_reconstructions(vae: &Vae, data: &Dataset, path: &Path) -> Result<()> {
    let cols = GRID_COLS.min(data.test.len());
    let rows = (16 / cols).min(data.test.len() / cols);
    let x = data.test.images.narrow(0, 0, (rows * cols) as i64); // [rows*cols, pixels]
    let recon = tch::no_grad(|| vae.decode(&vae.encode(&x)?.0))?;
    let d = x.size()[1];
    let (r, c) = (rows as i64, cols as i64);
    // [rows, 2, cols, pixels]: each row of originals followed by its reconstructions.
    let grid = Tensor::stack(&[x.view([r, c, d]), recon.view([r, c, d])], 1).reshape([-1, d]);
    images::write_grid(path, &grid, data.height, data.width, cols)
}

/// `tch-vae export`: (re)writes the run's TorchScript module from its saved weights.
/// Returns the file written (default `RUN/vae.pt`).
pub fn export(run_dir: &Path, output: Option<PathBuf>) -> Result<PathBuf> {
    let run = load_run(run_dir, Device::Cpu)?;
    let path = output.unwrap_or_else(|| run_dir.join(export::FILE));
    export::write_torchscript(&path, &run.vs, &run.config)?;
    Ok(path)
}

/// `tch-vae sample`: a new grid from the saved weights. Returns the file written.
pub fn sample(run_dir: &Path, output: Option<PathBuf>, seed: u64, device: &str) -> Result<PathBuf> {
    let device = device::resolve(device)?;
    let run = load_run(run_dir, device)?;
    tch::manual_seed(seed as i64);
    let path = output.unwrap_or_else(|| run_dir.join(SAMPLES_FILE));
    write_samples(&run.vae, &path, device)?;
    Ok(path)
}

/// `tch-vae plot`: redraws `loss.svg` from `metrics.csv`, and, when the weights are there,
/// the sample and reconstruction figures (reading the test set from `data`, default the
/// run's own data folder).
pub fn plot(run_dir: &Path, data: Option<PathBuf>, device: &str) -> Result<Vec<PathBuf>> {
    let history = metrics::read(&run_dir.join(metrics::FILE))?;
    let mut written = vec![run_dir.join(plot::LOSS_FILE)];
    plot::write_loss_svg(&written[0], &history)?;
    if run_dir.join(WEIGHTS_FILE).exists() {
        let device = device::resolve(device)?;
        let run = load_run(run_dir, device)?;
        tch::manual_seed(run.config.train.seed as i64);
        let samples = run_dir.join(SAMPLES_FILE);
        write_samples(&run.vae, &samples, device)?;
        written.push(samples);
        let dir = data.unwrap_or_else(|| run.config.train.data.clone());
        let dataset = Dataset::load(&dir, Some(1), device).with_context(|| {
            format!("cannot read the test images for {RECONSTRUCTIONS_FILE}; pass --data DIR")
        })?;
        ensure!(
            dataset.input_dim() == run.config.model.input_dim(),
            "{} holds {}x{} images but the model expects {}x{}",
            dir.display(),
            dataset.height,
            dataset.width,
            run.config.model.image_height,
            run.config.model.image_width
        );
        let recon = run_dir.join(RECONSTRUCTIONS_FILE);
        write_reconstructions(&run.vae, &dataset, &recon)?;
        written.push(recon);
    }
    Ok(written)
}
