//! `tch-vae train` and `train --resume`: the run folder around the trainer. Each epoch
//! gives a summary, a `metrics.csv` row, `loss.svg` and a checkpoint; the end gives the
//! weights, `vae.pt` and the figures.
use super::open::Opened;
use crate::config::{RunConfig, TrainRequest};
use crate::data::{self, Dataset, LoadOptions};
use crate::report::{Reporter, Silent, Stop};
use crate::run::metrics::{self, EpochMetrics};
use crate::run::{self, CHECKPOINT, LOSS_SVG, METRICS, THREADS, TORCHSCRIPT, WEIGHTS};
use crate::train::parallel::World;
use crate::train::tensorboard::{Board, RUNNING_LOSS};
use crate::train::{EpochEnd, Trainer};
use crate::{
    export, figures, figures::plot, model::weights, native::device, train::checkpoint,
    train::thread_record,
};
use anyhow::{ensure, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// The reporter of this process: `report` for rank 0 or a single process; for the
/// other ranks of a run on several processes, one that only hears stop requests.
fn speaker<'a>(
    world: Option<&World>,
    report: &'a mut dyn Reporter,
    silent: &'a mut Option<Silent<'a>>,
) -> &'a mut dyn Reporter {
    match world {
        Some(w) if w.rank() > 0 => silent.insert(Silent(report)),
        _ => report,
    }
}

/// Trains a VAE and writes its run folder; returns the folder. Under torchrun (several
/// processes), rank 0 writes the folder and the others train with it (`parallel.rs`).
pub fn train(req: &TrainRequest, report: &mut dyn Reporter) -> Result<PathBuf> {
    // Everything a user can get wrong is checked before the run folder is made: flags,
    // then the data, then the model's sizes against the data and the memory.
    crate::native::numerics::init(req.train.reproducible)?;
    req.check()?;
    let world = World::from_env()?;
    let writes = world.as_ref().is_none_or(|w| w.rank() == 0);
    let mut silent = None;
    let report = speaker(world.as_ref(), report, &mut silent);
    let req = &super::parallel::global_request(req, world.as_ref());
    let device = device::resolve(&req.train.device)?;
    super::parallel::check(world.as_ref(), device, None)?;
    device::set_threads(req.threads)?;
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| run::default_dir(&req.train.data));
    let reused = writes && run::check_new(&out)?;

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
    let parallel = match &world {
        Some(world) => Some(super::parallel::meet(world, &run, &data)?),
        None => None,
    };
    let _lock = writes.then(|| run::prepare(&out)).transpose()?;
    if reused {
        run::remove_stale_events(&out)?;
        report.note(&format!(
            "reusing {}: its run never reached a first checkpoint",
            out.display()
        ));
    }
    data.binarize_fixed(run.train.binarize);
    if writes {
        run::write_config(&out, &run)?;
    }
    if let Some(preset) = run.train.preset {
        report.note(&format!(
            "--preset {}: {}",
            preset.name(),
            preset.differences()
        ));
    }
    if req.model.colour_recipe_applies(shape.channels) {
        report.note(&format!(
            "colour images, and neither --arch nor --likelihood given: the colour recipe, \
             --arch {} --likelihood logistic-mixture (give either flag to choose yourself)",
            run.model.arch.name()
        ));
    }
    if let Some(note) = req.hierarchical_defaults_taken(&run) {
        report.note(&note);
    }
    if let Some(note) = run.few_updates_note(data.train.len()) {
        report.note(&note);
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
    let mut trainer = opened.trainer(&run, None, req.threads, req.cuda_graphs, report)?;
    if let Some(parallel) = parallel {
        super::parallel::join(&mut trainer, parallel, &run, report)?;
    }
    let mut board = writes.then(|| Board::open(&out, None)).transpose()?;
    if let Some(board) = board.as_mut() {
        let config = serde_json::to_string_pretty(&run)?;
        board.text("config", &format!("```\n{config}\n```"))?;
    }
    let folder = Folder {
        out: &out,
        board: board.as_mut(),
    };
    train_loop(&run, folder, &data, trainer, Vec::new(), report)?;
    Ok(out)
}

/// Continues the run in `req.run` from its checkpoint, with its own config.
pub fn resume(req: &ResumeRequest, report: &mut dyn Reporter) -> Result<PathBuf> {
    let dir = &req.run;
    let mut run = run::read_config(dir)?;
    crate::native::numerics::init(run.train.reproducible)?;
    let world = World::from_env()?;
    let writes = world.as_ref().is_none_or(|w| w.rank() == 0);
    let mut silent = None;
    let report = speaker(world.as_ref(), report, &mut silent);
    // The run's batch stays; a new process count shares it out anew.
    run.train.processes = world.as_ref().map_or(1, World::size);
    let config_path = dir.join(run::CONFIG);
    let _lock = writes.then(|| run::lock(dir)).transpose()?;
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
    super::parallel::check(world.as_ref(), device, Some(&run.train))?;
    run.train.device = device::name(device);
    let data = run::load_data(&run, None, device)?;
    let opened = Opened::check(&run, &data, device, &config_path.display().to_string())?;
    saved.check_fits(&path, data.train.len(), run.train.batch_size)?;
    let (epoch, batch) = (saved.state.position.epoch, saved.state.position.batch);
    let parallel = match &world {
        Some(world) => Some(super::parallel::meet(world, &run, &data)?),
        None => None,
    };
    if writes {
        run::write_config(dir, &run)?;
    }
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
    super::open::say_thread_change(dir, &run.model, device, report);
    report.note(&format!(
        "resuming {} at epoch {epoch}, batch {batch} ({done} epochs done, training to {epochs}) on {}",
        dir.display(),
        run.train.device
    ));
    let mut trainer = opened.trainer(
        &run,
        Some(saved.state),
        req.threads,
        req.cuda_graphs,
        report,
    )?;
    if let Some(parallel) = parallel {
        super::parallel::join(&mut trainer, parallel, &run, report)?;
    }
    let batches = data.train.len().div_ceil(run.train.batch_size);
    let step = ((epoch - 1) * batches + batch) as u64;
    let mut board = writes.then(|| Board::open(dir, Some(step))).transpose()?;
    let folder = Folder {
        out: dir,
        board: board.as_mut(),
    };
    train_loop(&run, folder, &data, trainer, saved.history, report)?;
    Ok(dir.clone())
}

/// The run folder as a process sees it: rank 0 (or a single process) writes it and its
/// TensorBoard log (`board`); the other processes of a run only know its path.
struct Folder<'a> {
    out: &'a Path,
    board: Option<&'a mut Board>,
}

/// The epochs from the trainer's position to `run.train.epochs`, with a summary,
/// metrics.csv, loss.svg and a checkpoint after each, then the final weights, vae.pt and
/// figures (all written by the process that has the folder's board).
fn train_loop(
    run: &RunConfig,
    folder: Folder,
    data: &Dataset,
    mut trainer: Trainer,
    mut history: Vec<EpochMetrics>,
    report: &mut dyn Reporter,
) -> Result<()> {
    let Folder { out, mut board } = folder;
    let writes = board.is_some();
    let ckpt_path = out.join(CHECKPOINT);
    let save = |t: &Trainer, history: &[EpochMetrics]| match writes {
        true => checkpoint::write(&ckpt_path, &t.state(), history),
        false => Ok(()),
    };
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
                if let (Some(loss), Some(board)) = (p.running_loss, board.as_mut()) {
                    let written = board.scalars(step_of(p.batch), &[(RUNNING_LOSS, loss)]);
                    board_error = written.err();
                }
                stop = report.stop_requested();
                stop.is_some() || board_error.is_some()
            },
            &mut |t| save(t, &history),
        );
        if let Some(e) = board_error {
            return Err(e);
        }
        match end? {
            EpochEnd::Finished(row) => {
                report.epoch_finished(&row, run.train.epochs, data.train.len());
                let (counts, max) = trainer.take_thread_counts();
                let advice = trainer.take_thread_advice();
                if let Some(threads) = max.and_then(|max| counts.summary(max)).or(advice) {
                    report.note(&format!("epoch {epoch}: {threads}"));
                }
                if let Some(parallel) = trainer.parallel() {
                    report.note(&format!(
                        "epoch {epoch}: {:.2} s of rank 0's {:.2} s training pass in the \
                         all-reduce of the {} processes (waiting for the slowest included)",
                        parallel.take_reduce_seconds(),
                        row.epoch_seconds,
                        parallel.size()
                    ));
                }
                let skipped = trainer.take_skipped();
                if let (true, Some(t)) = (skipped > 0, run.train.skip_threshold) {
                    report.note(&format!(
                        "epoch {epoch}: {skipped} update(s) skipped, their gradient norm above \
                         --skip-threshold {t}"
                    ));
                }
                history.push(row);
                if let Some(board) = board.as_mut() {
                    thread_rows.extend(thread_record::rows(epoch, &counts));
                    write_epoch(run, out, board, &trainer, data, &history, &thread_rows)?;
                }
            }
            EpochEnd::Stopped => {
                save(&trainer, &history)?;
                let stop = stop.unwrap_or(Stop::Interrupt);
                return Err(interrupted(stop).into());
            }
        }
        if trainer.agree_stop(report.stop_requested().is_some())? {
            return Err(interrupted(report.stop_requested().unwrap_or(Stop::Interrupt)).into());
        }
    }
    if trainer.steps().uses_cuda_graphs() {
        report.note(&format!(
            "{} training steps replayed from CUDA graphs",
            trainer.steps().replayed()
        ));
    }
    if writes {
        weights::save(trainer.var_store(), &out.join(WEIGHTS))?;
        export::write_torchscript(&out.join(TORCHSCRIPT), trainer.var_store(), run)?;
        figures::write_all(trainer.vae(), data, out, run.train.seed)?;
        super::fit_prior::after_training(trainer.vae(), run, data, out, report);
        report.note(&format!("wrote {}", out.display()));
    }
    Ok(())
}

/// The files of a finished epoch (the last row of `history`): threads.csv, the
/// TensorBoard pictures and scalars, metrics.csv, loss.svg and the checkpoint.
fn write_epoch(
    run: &RunConfig,
    out: &Path,
    board: &mut Board,
    trainer: &Trainer,
    data: &Dataset,
    history: &[EpochMetrics],
    thread_rows: &[thread_record::Row],
) -> Result<()> {
    let row = history.last().expect("an epoch was just finished");
    let batches = data.train.len().div_ceil(run.train.batch_size);
    thread_record::write(&out.join(THREADS), thread_rows)?;
    // Before the checkpoint: a run killed in between redoes this epoch, and its
    // resumption drops these values first (see tensorboard.rs).
    let [samples, recon] = figures::epoch_pngs(trainer.vae(), data, run.train.seed)?;
    board.epoch(
        (row.epoch * batches) as u64,
        row,
        &[("samples", samples), ("reconstructions", recon)],
    )?;
    // Rewritten every epoch, so an interrupted run still shows its curves.
    metrics::write(&out.join(METRICS), history)?;
    plot::write_loss_svg(&out.join(LOSS_SVG), history)?;
    checkpoint::write(&out.join(CHECKPOINT), &trainer.state(), history)
}
