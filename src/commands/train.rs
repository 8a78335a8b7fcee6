//! `tch-vae train` and `train --resume`: the run folder around the trainer. Each epoch
//! gives a summary, a `metrics.csv` row, `loss.svg` and a checkpoint; the end gives the
//! weights, `vae.pt` and the figures.
use crate::config::{default_conv_channels, Arch, DataInfo, ModelConfig, RunConfig, TrainConfig};
use crate::data::{self, Dataset, LoadOptions};
use crate::report::{Reporter, Stop};
use crate::run::metrics::{self, EpochMetrics};
use crate::run::{self, CHECKPOINT, LOSS_SVG, METRICS, THREADS, TORCHSCRIPT, WEIGHTS};
use crate::train::tensorboard::{Board, RUNNING_LOSS};
use crate::train::threads::ThreadPolicy;
use crate::train::{EpochEnd, Trainer};
use crate::{
    export, figures, figures::plot, model::memory, model::weights, native::device,
    train::checkpoint, train::thread_record,
};
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;

/// What `tch-vae train` was asked to do, before the data is seen.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// The model; its image height and width are filled in from the data.
    pub model: ModelConfig,
    /// How to train; `device` is the name of [`TrainRequest::device`].
    pub train: TrainConfig,
    pub device: Device,
    /// The run folder [default: [`run::default_dir`]].
    pub out: Option<PathBuf>,
    pub threads: Option<usize>,
    /// Record training steps into CUDA graphs on CUDA (`--no-cuda-graphs` turns it off).
    pub cuda_graphs: bool,
}

/// What `tch-vae train --resume DIR` was asked to do.
#[derive(Clone, Debug)]
pub struct ResumeRequest {
    pub run: PathBuf,
    /// Total epochs to reach (the run's own count when not given).
    pub epochs: Option<usize>,
    pub device: Device,
    pub threads: Option<usize>,
    pub cuda_graphs: bool,
}

/// Training was stopped by the user after writing a checkpoint.
#[derive(Debug)]
pub struct Interrupted {
    pub stop: Stop,
    pub run: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by {}; checkpoint written. Resume with: tch-vae train --resume {}",
            self.stop.name(),
            self.run.display()
        )
    }
}

impl std::error::Error for Interrupted {}

/// The rows a training step runs through the network, for the memory check: each image
/// of a batch is decoded k times under the IWAE objective, and the VampPrior encodes its
/// pseudo-inputs at every step.
fn step_rows(model: &ModelConfig, train: &TrainConfig, train_images: usize) -> usize {
    train.batch_size.min(train_images) * train.k + model.pseudo_inputs
}

/// Trains a VAE and writes its run folder; returns the folder.
pub fn train(req: &TrainRequest, report: &mut dyn Reporter) -> Result<PathBuf> {
    // Everything a user can get wrong is checked before the run folder is made: flags,
    // then the data, then the model's sizes against the data and the memory.
    let (mut model, mut train) = (req.model.clone(), req.train.clone());
    crate::native::numerics::init(train.reproducible)?;
    train.validate()?;
    model.validate()?;
    crate::config::check_combination(&model, &train)?;
    crate::native::device::set_threads(req.threads)?;
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| run::default_dir(&train.data));
    let reused = run::check_new(&out)?;
    // Recorded absolute, so that `--resume` works from any folder.
    train.data = std::path::absolute(&train.data).unwrap_or(train.data);

    let load_start = Instant::now();
    let cache = data::cache_dir();
    let options = LoadOptions::of_run(&train, cache.as_deref());
    let mut data = Dataset::load(&train.data, &options, req.device)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    model.channels = data.channels;
    model.image_height = data.height;
    model.image_width = data.width;
    if model.arch == Arch::Conv && model.conv_channels.is_empty() {
        model.conv_channels = default_conv_channels(data.height, data.width);
    }
    if model.classes.is_some() {
        model.classes = Some(data.classes(&train.data)?);
    }
    model.validate()?;
    let batch = step_rows(&model, &train, data.train.len());
    memory::check_fits(&model, batch, req.device, "--latent and --hidden")?;
    let _lock = run::prepare(&out)?;
    if reused {
        run::remove_stale_events(&out)?;
        report.note(&format!(
            "reusing {}: its run never reached a first checkpoint",
            out.display()
        ));
    }
    data.binarize_fixed(train.binarize);
    let run = RunConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        model,
        train,
        data: DataInfo {
            source: data.origin.source.to_string(),
            drawn_test_split: data.origin.drawn_test_split,
            class_names: data.class_names.clone(),
        },
        numerics: Some(crate::native::numerics::record()),
    };
    run::write_config(&out, &run)?;
    report.note(&format!(
        "training {} VAE ({} likelihood) on {} ({} train / {} test images, data loaded in {:.3} s) on {}; run folder {}",
        run.model.describe(),
        run.model.likelihood.name(),
        run.train.data.display(),
        data.train.len(),
        data.test.len(),
        load_seconds,
        run.train.device,
        out.display()
    ));
    device::set_cudnn_deterministic(run.train.deterministic)?;
    let mut trainer = Trainer::new(&run.model, &run.train, req.device)?;
    trainer.set_cuda_graphs(req.cuda_graphs);
    say_how_steps_run(&trainer, report);
    adapt_threads(&mut trainer, req.threads, &run.model, req.device, report);
    let mut board = Board::open(&out, None)?;
    board.text(
        "config",
        &format!("```\n{}\n```", serde_json::to_string_pretty(&run)?),
    )?;
    train_loop(&run, &out, &data, trainer, Vec::new(), &mut board, report)?;
    Ok(out)
}

/// Continues the run in `req.run` from its checkpoint, with its own config.
pub fn resume(req: &ResumeRequest, report: &mut dyn Reporter) -> Result<PathBuf> {
    let dir = &req.run;
    let mut run = run::read_config(dir)?;
    crate::native::numerics::init(run.train.reproducible)?;
    let config_path = dir.join(run::CONFIG);
    let _lock = run::lock(dir)?;
    let path = dir.join(CHECKPOINT);
    run::check_regular(&path)?;
    ensure!(
        path.is_file(),
        "{} is missing: this run never reached its first checkpoint. Start it again with the \
         same `tch-vae train` command and --out {} (the folder is reused)",
        path.display(),
        dir.display()
    );
    let saved = checkpoint::Checkpoint::read(&path)?;
    let epochs = req.epochs.unwrap_or(run.train.epochs);
    let done = saved.history.len();
    ensure!(
        epochs >= done,
        "--epochs {epochs}: {} already holds {done} finished epochs; pass a larger --epochs to train further",
        dir.display()
    );
    run.train.epochs = epochs;
    run.train
        .validate()
        .and_then(|()| run.model.validate())
        .and_then(|()| crate::config::check_combination(&run.model, &run.train))
        .with_context(|| format!("{} holds a value out of range", config_path.display()))?;
    crate::native::device::set_threads(req.threads)?;
    run.train.device = device::name(req.device);
    let data = run::load_data(&run, None, req.device)?;
    let batch = step_rows(&run.model, &run.train, data.train.len());
    let source = config_path.display().to_string();
    memory::check_fits(&run.model, batch, req.device, &source)?;
    saved.check_fits(&path, data.train.len(), run.train.batch_size)?;
    device::set_cudnn_deterministic(run.train.deterministic)?;
    let (epoch, batch) = (saved.state.position.epoch, saved.state.position.batch);
    let mut trainer = Trainer::resume(&run.model, &run.train, req.device, saved.state)?;
    trainer.set_cuda_graphs(req.cuda_graphs);
    run::write_config(dir, &run)?;
    if let Some(recorded) = &run.numerics {
        let changes = recorded.differences(&crate::native::numerics::record());
        if !changes.is_empty() {
            report.note(&format!(
                "this process does not compute like the one that started the run ({}): the \
                 continuation may differ in the last bits from an uninterrupted run",
                changes.join("; ")
            ));
        }
    }
    report.note(&format!(
        "resuming {} at epoch {epoch}, batch {batch} ({done} epochs done, training to {epochs}) on {}",
        dir.display(),
        run.train.device
    ));
    say_how_steps_run(&trainer, report);
    adapt_threads(&mut trainer, req.threads, &run.model, req.device, report);
    let batches = data.train.len().div_ceil(run.train.batch_size);
    let mut board = Board::open(dir, Some(((epoch - 1) * batches + batch) as u64))?;
    train_loop(&run, dir, &data, trainer, saved.history, &mut board, report)?;
    Ok(dir.clone())
}

/// Without `--threads`, on the CPU, an MLP's thread count follows the machine's load
/// (threads.rs says why; numerics.rs why conv models only in the portable mode).
fn adapt_threads(
    trainer: &mut Trainer,
    threads: Option<usize>,
    model: &ModelConfig,
    device: Device,
    report: &mut dyn Reporter,
) {
    // Only models whose bits do not depend on the thread count (numerics.rs): MLPs, and
    // conv models once oneDNN is off (the portable mode).
    let invariant = model.arch == Arch::Mlp || !crate::native::numerics::onednn_enabled();
    if threads.is_some() || device.is_cuda() || !invariant {
        return;
    }
    if let Some(policy) = ThreadPolicy::new(tch::get_num_threads().max(1) as usize) {
        if policy.max() > 1 {
            report.note(&format!(
                "CPU threads: {}, fewer while other programs keep cores busy (--threads N fixes the count)",
                policy.max()
            ));
            trainer.adapt_threads(policy);
        }
    }
}

/// On CUDA, says whether training steps are replayed from CUDA graphs, and if not, why.
fn say_how_steps_run(trainer: &Trainer, report: &mut dyn Reporter) {
    if trainer.steps().uses_cuda_graphs() {
        report.note(
            "training steps are recorded into a CUDA graph and replayed (--no-cuda-graphs: eager)",
        );
    } else if let Some(why) = trainer.steps().eager_reason() {
        report.note(&format!("training steps run eagerly on CUDA: {why}"));
    }
}

/// The epochs from the trainer's position to `run.train.epochs`, with a summary,
/// metrics.csv, loss.svg and a checkpoint after each, then the final weights, vae.pt and
/// figures.
fn train_loop(
    run: &RunConfig,
    out: &Path,
    data: &Dataset,
    mut trainer: Trainer,
    mut history: Vec<EpochMetrics>,
    board: &mut Board,
    report: &mut dyn Reporter,
) -> Result<()> {
    let ckpt_path = out.join(CHECKPOINT);
    let interrupted = |stop| Interrupted {
        stop,
        run: out.to_path_buf(),
    };
    let batches = data.train.len().div_ceil(run.train.batch_size);
    // A resumed run keeps the record of its finished epochs.
    let mut thread_rows = thread_record::read_first(&out.join(THREADS), history.len());
    while trainer.position().epoch <= run.train.epochs {
        let epoch = trainer.position().epoch;
        report.epoch_started(epoch, run.train.epochs, batches);
        let mut stop = None;
        let mut board_error = None;
        // TensorBoard's steps count batches from the start of the run.
        let step_of = |batch: usize| ((epoch - 1) * batches + batch) as u64;
        let end = trainer.run_epoch(
            data,
            &mut |p| {
                report.batch_done(p);
                if let Some(loss) = p.running_loss {
                    let written = board.scalars(step_of(p.batch), &[(RUNNING_LOSS, loss)]);
                    board_error = written.err();
                }
                stop = report.stop_requested();
                stop.is_some() || board_error.is_some()
            },
            &mut |t| checkpoint::write(&ckpt_path, &t.state(), &history),
        );
        if let Some(e) = board_error {
            return Err(e);
        }
        match end? {
            EpochEnd::Finished(row) => {
                report.epoch_finished(&row, run.train.epochs, data.train.len());
                let (counts, max) = trainer.take_thread_counts();
                if let Some(threads) = max.and_then(|max| counts.summary(max)) {
                    report.note(&format!("epoch {epoch}: {threads}"));
                }
                thread_rows.extend(thread_record::rows(epoch, &counts));
                thread_record::write(&out.join(THREADS), &thread_rows)?;
                // Before the checkpoint: a run killed in between redoes this epoch, and
                // its resumption drops these values first (see tensorboard.rs).
                let [samples, recon] = figures::epoch_pngs(trainer.vae(), data, run.train.seed)?;
                board.epoch(
                    step_of(batches),
                    &row,
                    &[("samples", samples), ("reconstructions", recon)],
                )?;
                history.push(row);
                // Rewritten every epoch, so an interrupted run still shows its curves.
                metrics::write(&out.join(METRICS), &history)?;
                plot::write_loss_svg(&out.join(LOSS_SVG), &history)?;
                checkpoint::write(&ckpt_path, &trainer.state(), &history)?;
            }
            EpochEnd::Stopped => {
                checkpoint::write(&ckpt_path, &trainer.state(), &history)?;
                let stop = stop.unwrap_or(Stop::Interrupt);
                return Err(interrupted(stop).into());
            }
        }
        if let Some(stop) = report.stop_requested() {
            return Err(interrupted(stop).into());
        }
    }
    if trainer.steps().uses_cuda_graphs() {
        report.note(&format!(
            "{} training steps replayed from CUDA graphs",
            trainer.steps().replayed()
        ));
    }
    weights::save(trainer.var_store(), &out.join(WEIGHTS))?;
    export::write_torchscript(&out.join(TORCHSCRIPT), trainer.var_store(), run)?;
    figures::write_all(trainer.vae(), data, out, run.train.seed)?;
    report.note(&format!("wrote {}", out.display()));
    Ok(())
}
