//! `tch-vae train` and `train --resume`: the run folder around the trainer. Each epoch
//! gives a summary, a `metrics.csv` row, `loss.svg` and a checkpoint; the end gives the
//! weights, `vae.pt` and the figures.
use crate::config::{Arch, ModelConfig, RunConfig, TrainRequest};
use crate::data::{self, Dataset, LoadOptions};
use crate::report::{Reporter, Stop};
use crate::run::metrics::{self, EpochMetrics};
use crate::run::{self, CHECKPOINT, LOSS_SVG, METRICS, THREADS, TORCHSCRIPT, WEIGHTS};
use crate::train::tensorboard::{Board, RUNNING_LOSS};
use crate::train::threads::ThreadPolicy;
use crate::train::{EpochEnd, Trainer, TrainerState};
use crate::{
    export, figures, figures::plot, model::memory, model::weights, native::device,
    train::checkpoint, train::thread_record,
};
use anyhow::{ensure, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;

/// What `tch-vae train --resume DIR` was asked to do.
#[derive(Clone, Debug)]
pub struct ResumeRequest {
    pub run: PathBuf,
    /// Total epochs to reach (the run's own count when not given).
    pub epochs: Option<usize>,
    /// `--device` as given ("auto", "cpu", "cuda:1").
    pub device: String,
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
fn step_rows(run: &RunConfig, train_images: usize) -> usize {
    run.train.batch_size.min(train_images) * run.train.k + run.model.pseudo_inputs
}

/// Trains a VAE and writes its run folder; returns the folder.
pub fn train(req: &TrainRequest, report: &mut dyn Reporter) -> Result<PathBuf> {
    // Everything a user can get wrong is checked before the run folder is made: flags,
    // then the data, then the model's sizes against the data and the memory.
    crate::native::numerics::init(req.train.reproducible)?;
    req.check()?;
    let device = device::resolve(&req.train.device)?;
    device::set_threads(req.threads)?;
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| run::default_dir(&req.train.data));
    let reused = run::check_new(&out)?;

    let load_start = Instant::now();
    let cache = data::cache_dir();
    let options = LoadOptions::of_run(&req.train, cache.as_deref());
    let mut data = Dataset::load(&req.train.data, &options, device)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    if let Some(note) = super::skipped_note(&data.skipped) {
        report.note(&note);
    }
    let shape = data.shape(&req.train.data, req.model.conditional)?;
    let run = req.resolve(&shape, device)?;
    let sizes = match run.model.arch {
        crate::config::Arch::Hierarchical => "--width, --depth and --latent",
        _ => "--latent and --hidden",
    };
    let opened = Opened::check(&run, &data, device, sizes)?;
    let _lock = run::prepare(&out)?;
    if reused {
        run::remove_stale_events(&out)?;
        report.note(&format!(
            "reusing {}: its run never reached a first checkpoint",
            out.display()
        ));
    }
    data.binarize_fixed(run.train.binarize);
    run::write_config(&out, &run)?;
    if let Some(preset) = run.train.preset {
        report.note(&format!(
            "--preset {}: {}",
            preset.name(),
            preset.differences()
        ));
    }
    if req.model.colour_recipe && shape.channels == 3 {
        report.note(&format!(
            "colour images, and neither --arch nor --likelihood given: the colour recipe, \
             --arch {} --likelihood logistic-mixture (give either flag to choose yourself)",
            run.model.arch.name()
        ));
    }
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
    let trainer = opened.trainer(&run, None, req.threads, req.cuda_graphs, report)?;
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
        (1..=crate::config::MAX_EPOCHS).contains(&epochs),
        "--epochs must be from 1 to {} (got {epochs})",
        crate::config::MAX_EPOCHS
    );
    ensure!(
        epochs >= done,
        "--epochs {epochs}: {} already holds {done} finished epochs; pass a larger --epochs to train further",
        dir.display()
    );
    run.train.epochs = epochs;
    device::set_threads(req.threads)?;
    let device = device::resolve(&req.device)?;
    run.train.device = device::name(device);
    let data = run::load_data(&run, None, device)?;
    let opened = Opened::check(&run, &data, device, &config_path.display().to_string())?;
    saved.check_fits(&path, data.train.len(), run.train.batch_size)?;
    let (epoch, batch) = (saved.state.position.epoch, saved.state.position.batch);
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
    let trainer = opened.trainer(
        &run,
        Some(saved.state),
        req.threads,
        req.cuda_graphs,
        report,
    )?;
    let batches = data.train.len().div_ceil(run.train.batch_size);
    let mut board = Board::open(dir, Some(((epoch - 1) * batches + batch) as u64))?;
    train_loop(&run, dir, &data, trainer, saved.history, &mut board, report)?;
    Ok(dir.clone())
}

/// A run whose model fits the device's memory for a step on its data: the one way that
/// `train` and `resume` open a trainer.
struct Opened {
    device: Device,
    /// Images in a training step (with IWAE's copies and the VampPrior's pseudo-inputs).
    rows: usize,
}

impl Opened {
    /// Checks the memory a step needs on `device`; `source` names where the sizes came
    /// from in the error.
    fn check(run: &RunConfig, data: &Dataset, device: Device, source: &str) -> Result<Self> {
        let rows = step_rows(run, data.train.len());
        memory::check_fits(&run.model, rows, device, source)?;
        Ok(Opened { device, rows })
    }

    /// The trainer, new (`state` None) or at a checkpoint's state, with its CUDA graphs
    /// and CPU thread policy set and said.
    fn trainer(
        self,
        run: &RunConfig,
        state: Option<TrainerState>,
        threads: Option<usize>,
        cuda_graphs: bool,
        report: &mut dyn Reporter,
    ) -> Result<Trainer> {
        device::set_cudnn_deterministic(run.train.deterministic)?;
        let mut trainer = match state {
            None => Trainer::new(&run.model, &run.train, self.device)?,
            Some(state) => Trainer::resume(&run.model, &run.train, self.device, state)?,
        };
        trainer.set_cuda_graphs(cuda_graphs);
        say_how_steps_run(&trainer, report);
        if let Some(bytes) = memory::training_bytes(&run.model, self.rows) {
            report.note(&format!(
                "memory for training, estimated: about {} MiB (weights, gradients, Adam's \
                 moments and a step's activations; the process adds libtorch's own)",
                bytes >> 20
            ));
        }
        adapt_threads(&mut trainer, threads, &run.model, self.device, report);
        Ok(trainer)
    }
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
                let skipped = trainer.take_skipped();
                if let (true, Some(t)) = (skipped > 0, run.train.skip_threshold) {
                    report.note(&format!(
                        "epoch {epoch}: {skipped} update(s) skipped, their gradient norm above \
                         --skip-threshold {t}"
                    ));
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
