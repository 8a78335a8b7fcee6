//! The commands behind the CLI, with their side effects: run folders, files, figures and
//! console output around the pure training loop of `train.rs`.
use crate::checkpoint::{self, Checkpoint};
use crate::config::{Binarize, ModelConfig, RunConfig, TrainConfig};
use crate::data::Dataset;
use crate::eval::{self, AggregatePosterior};
use crate::metrics::{self, EpochMetrics};
use crate::model::Vae;
use crate::progress::{self, summary_line, EpochBar};
use crate::signals::StopRequest;
use crate::train::{EpochEnd, Trainer};
use crate::{atomic, device, export, figures, plot};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Kind};

pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const EVAL_FILE: &str = "eval.json";

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
    /// Record training steps into CUDA graphs on CUDA (`--no-cuda-graphs` turns it off).
    pub cuda_graphs: bool,
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

    let load_start = Instant::now();
    let mut data = Dataset::load(&req.train.data, req.train.limit, device)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    data.binarize_fixed(req.train.binarize);
    model_config.image_height = data.height;
    model_config.image_width = data.width;
    let run = RunConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_config,
        train: train_config,
    };
    run.write(&out)?;
    println!(
        "training {} VAE ({} likelihood) on {} ({} train / {} test images, data loaded in {:.3} s) on {}; run folder {}",
        run.model.describe(),
        run.model.likelihood.name(),
        run.train.data.display(),
        data.train.len(),
        data.test.len(),
        load_seconds,
        run.train.device,
        out.display()
    );

    let mut trainer = Trainer::new(&run.model, &run.train, device)?;
    trainer.set_cuda_graphs(req.cuda_graphs);
    say_how_steps_run(&trainer);
    train_loop(&run, &out, &data, trainer, Vec::new())?;
    Ok(out)
}

/// On CUDA, says whether training steps are replayed from CUDA graphs, and if not, why.
fn say_how_steps_run(trainer: &Trainer) {
    if trainer.uses_cuda_graphs() {
        println!(
            "training steps are recorded into a CUDA graph and replayed (--no-cuda-graphs: eager)"
        );
    } else if let Some(why) = trainer.eager_reason() {
        println!("training steps run eagerly on CUDA: {why}");
    }
}

/// What `tch-vae train --resume DIR` was asked to do.
#[derive(Clone, Debug)]
pub struct ResumeRequest {
    pub run: PathBuf,
    /// Total epochs to reach (the run's own count when not given).
    pub epochs: Option<usize>,
    pub device: String,
    pub threads: Option<usize>,
    pub cuda_graphs: bool,
}

/// Continues the run in `req.run` from its checkpoint, with its own config.
pub fn resume(req: &ResumeRequest) -> Result<PathBuf> {
    let mut run = RunConfig::read(&req.run)?;
    let path = req.run.join(checkpoint::FILE);
    ensure!(
        path.is_file(),
        "{} is missing: this run has no checkpoint to resume from",
        path.display()
    );
    remove_stale_temporaries(&req.run);
    let state = Checkpoint::read(&path)?;
    let epochs = req.epochs.unwrap_or(run.train.epochs);
    let done = state.history.len();
    ensure!(
        epochs >= done,
        "--epochs {epochs}: {} already holds {done} finished epochs; pass a larger --epochs to train further",
        req.run.display()
    );
    run.train.epochs = epochs;
    run.train.validate()?;
    if let Some(n) = req.threads {
        ensure!(n >= 1, "--threads must be at least 1 (got 0)");
        tch::set_num_threads(n as i32);
    }
    let device = device::resolve(&req.device)?;
    run.train.device = device::name(device);
    let data = load_run_data(&run, None, device)?;
    let mut trainer = Trainer::resume(&run.model, &run.train, device, &state)?;
    trainer.set_cuda_graphs(req.cuda_graphs);
    run.write(&req.run)?;
    println!(
        "resuming {} at epoch {}, batch {} ({} epochs done, training to {epochs}) on {}",
        req.run.display(),
        state.epoch,
        state.batch,
        done,
        run.train.device
    );
    say_how_steps_run(&trainer);
    train_loop(&run, &req.run, &data, trainer, state.history)?;
    Ok(req.run.clone())
}

/// Training was stopped by a signal after writing a checkpoint.
#[derive(Debug)]
pub struct Interrupted {
    pub exit_code: u8,
    pub run: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by {}; checkpoint written. Resume with: tch-vae train --resume {}",
            if self.exit_code == 143 {
                "SIGTERM"
            } else {
                "Ctrl-C (SIGINT)"
            },
            self.run.display()
        )
    }
}

impl std::error::Error for Interrupted {}

/// The epochs from the trainer's position to `run.train.epochs`, with the progress bar,
/// the summaries, metrics.csv, loss.svg and a checkpoint after each, then the final
/// weights, vae.pt and figures.
fn train_loop(
    run: &RunConfig,
    out: &Path,
    data: &Dataset,
    mut trainer: Trainer,
    mut history: Vec<EpochMetrics>,
) -> Result<()> {
    let stop = StopRequest::install()?;
    // For tests and for reproducing a stop: behave as if Ctrl-C came after N batches.
    let stop_after: Option<usize> = std::env::var("TCH_VAE_STOP_AFTER_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok());
    let batches_run = std::cell::Cell::new(0usize);
    let should_stop = || {
        batches_run.set(batches_run.get() + 1);
        stop.is_requested() || stop_after.is_some_and(|n| batches_run.get() >= n)
    };
    let ckpt_path = out.join(checkpoint::FILE);
    // A stop without a signal is the test hook's, reported as Ctrl-C.
    let interrupted = || Interrupted {
        exit_code: if stop.is_requested() {
            stop.exit_code()
        } else {
            130
        },
        run: out.to_path_buf(),
    };
    let batches = data.train.len().div_ceil(run.train.batch_size);
    while trainer.position().epoch <= run.train.epochs {
        let epoch = trainer.position().epoch;
        let bar = EpochBar::new(epoch, run.train.epochs, batches);
        let end = trainer.run_epoch(data, &mut |p| bar.update(p), &should_stop, &mut |t| {
            checkpoint::write(&ckpt_path, t, &history)
        });
        bar.finish();
        match end? {
            EpochEnd::Finished(row) => {
                println!("{}", summary_line(&row, run.train.epochs, data.train.len()));
                history.push(row);
                // Rewritten every epoch, so an interrupted run still shows its curves.
                metrics::write(&out.join(metrics::FILE), &history)?;
                plot::write_loss_svg(&out.join(plot::LOSS_FILE), &history)?;
                checkpoint::write(&ckpt_path, &trainer, &history)?;
            }
            EpochEnd::Stopped => {
                checkpoint::write(&ckpt_path, &trainer, &history)?;
                return Err(interrupted().into());
            }
        }
        if stop.is_requested() {
            return Err(interrupted().into());
        }
    }
    if trainer.uses_cuda_graphs() {
        println!(
            "{} training steps replayed from CUDA graphs",
            trainer.replayed_steps()
        );
    }
    save_weights(trainer.var_store(), &out.join(WEIGHTS_FILE))?;
    export::write_torchscript(&out.join(export::FILE), trainer.var_store(), run)?;
    figures::write_all(trainer.vae(), data, out, run.train.seed)?;
    println!("wrote {}", out.display());
    Ok(())
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

/// Removes the hidden temporary files (`.name.tmp-PID.ext`) that a killed process can
/// leave behind; the files they were to replace are intact.
fn remove_stale_temporaries(dir: &Path) {
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
    let vs = nn::VarStore::new(device);
    let vae = Vae::new(&vs.root(), &config.model);
    let path = run_dir.join(WEIGHTS_FILE);
    ensure!(
        path.is_file(),
        "{} is missing: did the training finish?",
        path.display()
    );
    let tensors = checkpoint::read_tensors(&path)?;
    checkpoint::restore_weights(&vs, &tensors, "").with_context(|| {
        format!(
            "{} does not fit the {} model that config.json describes",
            path.display(),
            config.model.describe()
        )
    })?;
    Ok(LoadedRun { config, vs, vae })
}

/// The run's dataset as training saw it: the folder from config.json (or `data`), the
/// same `--limit` and binarisation, checked against the model's image size.
pub fn load_run_data(run: &RunConfig, data: Option<PathBuf>, device: Device) -> Result<Dataset> {
    let dir = data.unwrap_or_else(|| run.train.data.clone());
    let mut dataset = Dataset::load(&dir, run.train.limit, device)
        .context("cannot read the run's data; pass --data DIR if it moved")?;
    ensure!(
        dataset.input_dim() == run.model.input_dim(),
        "{} holds {}x{} images but the model expects {}x{}",
        dir.display(),
        dataset.height,
        dataset.width,
        run.model.image_height,
        run.model.image_width
    );
    dataset.binarize_fixed(run.train.binarize);
    Ok(dataset)
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
    let path = output.unwrap_or_else(|| run_dir.join(figures::SAMPLES_FILE));
    figures::write_samples(&run.vae, &path, device)?;
    Ok(path)
}

/// `tch-vae plot`: redraws `loss.svg` from `metrics.csv`, and, when the weights are there,
/// every model figure (the same ones, with the same seed, that training drew).
pub fn plot(run_dir: &Path, data: Option<PathBuf>, device: &str) -> Result<Vec<PathBuf>> {
    let history = metrics::read(&run_dir.join(metrics::FILE))?;
    let mut written = vec![run_dir.join(plot::LOSS_FILE)];
    plot::write_loss_svg(&written[0], &history)?;
    if run_dir.join(WEIGHTS_FILE).exists() {
        let device = device::resolve(device)?;
        let run = load_run(run_dir, device)?;
        let dataset = load_run_data(&run.config, data, device)?;
        written.extend(figures::write_all(
            &run.vae,
            &dataset,
            run_dir,
            run.config.train.seed,
        )?);
    }
    Ok(written)
}

/// What `tch-vae eval` was asked to do.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub run: PathBuf,
    /// k; default [`default_iw_samples`].
    pub iw_samples: Option<usize>,
    /// Decoded samples per chunk; default [`default_batch_rows`].
    pub batch_rows: Option<usize>,
    /// Default: the run's seed.
    pub seed: Option<u64>,
    /// Evaluate the first N test images only.
    pub limit: Option<usize>,
    pub device: String,
    pub data: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// k when `--iw-samples` is not given: 5000 on CUDA (the standard protocol of Burda et al.)
/// and 200 on the CPU, where 5000 samples of 10,000 images take minutes, not seconds.
pub fn default_iw_samples(device: Device) -> usize {
    if device.is_cuda() {
        5000
    } else {
        200
    }
}

/// Decoded samples per chunk: about 50 MB of pixel logits on the CPU (smaller chunks
/// measured faster there than 200 MB ones), 1.6 GB on CUDA.
pub fn default_batch_rows(device: Device) -> usize {
    if device.is_cuda() {
        1 << 19
    } else {
        1 << 14
    }
}

/// The content of `eval.json` (all per-image averages in nats unless named otherwise).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub model: String,
    pub data: PathBuf,
    pub binarize: Binarize,
    pub device: String,
    pub seed: u64,
    pub test_images: usize,
    pub iw_samples: usize,
    /// Test negative ELBO: reconstruction (mean over the k samples) + closed-form KL.
    pub neg_elbo: f64,
    /// Importance-weighted estimate of -log p(x) with k samples (Burda et al. 2015).
    pub nll: f64,
    /// Standard error of `nll` over the test images.
    pub nll_stderr: f64,
    /// `nll` / (pixels * ln 2).
    pub bits_per_dim: f64,
    pub recon: f64,
    pub kl: f64,
    pub latent: usize,
    /// Units with `Cov_x(E_q[z_u])` > 0.01 (Burda et al. 2015).
    pub active_units: usize,
    /// `Cov_x(E_q[z_u])` of each unit, in dimension order.
    pub unit_activity: Vec<f64>,
    /// The mean KL of each latent dimension, largest first.
    pub kl_per_dim: Vec<f64>,
    pub aggregate_posterior_test: AggregatePosterior,
    pub aggregate_posterior_train: AggregatePosterior,
    /// Wall time of the importance-weighted pass.
    pub iw_seconds: f64,
}

/// `tch-vae eval`: writes `eval.json` (default `RUN/eval.json`) and returns the report.
pub fn evaluate(req: &EvalRequest) -> Result<(PathBuf, EvalReport)> {
    let device = device::resolve(&req.device)?;
    let k = req.iw_samples.unwrap_or_else(|| default_iw_samples(device));
    ensure!(k >= 1, "--iw-samples must be at least 1 (got 0)");
    ensure!(req.limit != Some(0), "--limit must be at least 1 (got 0)");
    let rows = req.batch_rows.unwrap_or_else(|| default_batch_rows(device));
    ensure!(rows >= 1, "--batch-rows must be at least 1 (got 0)");
    let run = load_run(&req.run, device)?;
    let data = load_run_data(&run.config, req.data.clone(), device)?;
    let n = req.limit.unwrap_or(data.test.len()).min(data.test.len());
    let x = data.test.images.narrow(0, 0, n as i64); // [n, pixels]
                                                     // The training set's aggregate posterior: dynamic binarisation draws it once here.
    let train_x = match run.config.train.binarize {
        Binarize::Dynamic => data.train.images.bernoulli(),
        _ => data.train.images.shallow_clone(),
    };
    let seed = req.seed.unwrap_or(run.config.train.seed);
    tch::manual_seed(seed as i64);

    println!(
        "evaluating {} on {} test images with k = {k} importance samples on {}",
        req.run.display(),
        n,
        device::name(device)
    );
    let bar = progress::count_bar(n as u64, "images");
    let start = Instant::now();
    let l = eval::likelihoods(&run.vae, &x, k, rows, &mut |done| {
        if let Some(b) = &bar {
            b.set_position(done as u64)
        }
    })?;
    let iw_seconds = start.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mean = |t: &tch::Tensor| t.mean(Kind::Double).double_value(&[]);
    let nll = mean(&l.nll);
    let nll_stderr = l.nll.to_kind(Kind::Double).std(true).double_value(&[]) / (n as f64).sqrt();
    let test = eval::encode_all(&run.vae, &x, 4096)?;
    let kl_dims = test.kl_per_dim()?;
    let kl: f64 = kl_dims.iter().sum();
    let mut kl_sorted = kl_dims.clone();
    kl_sorted.sort_by(|a, b| b.total_cmp(a));
    let activity = test.unit_activity()?;
    let report = EvalReport {
        model: run.config.model.describe(),
        data: req.data.clone().unwrap_or(run.config.train.data.clone()),
        binarize: run.config.train.binarize,
        device: device::name(device),
        seed,
        test_images: n,
        iw_samples: k,
        neg_elbo: mean(&l.neg_elbo),
        nll,
        nll_stderr,
        bits_per_dim: nll / (run.config.model.input_dim() as f64 * std::f64::consts::LN_2),
        recon: mean(&l.neg_elbo) - kl,
        kl,
        latent: run.config.model.latent,
        active_units: activity
            .iter()
            .filter(|&&v| v > eval::ACTIVE_UNIT_THRESHOLD)
            .count(),
        unit_activity: activity,
        kl_per_dim: kl_sorted,
        aggregate_posterior_test: test.aggregate_posterior()?,
        aggregate_posterior_train: eval::encode_all(&run.vae, &train_x, 4096)?
            .aggregate_posterior()?,
        iw_seconds,
    };
    let path = req
        .output
        .clone()
        .unwrap_or_else(|| req.run.join(EVAL_FILE));
    let text = serde_json::to_string_pretty(&report)? + "\n";
    atomic::write_bytes(&path, text.as_bytes())?;
    Ok((path, report))
}
