//! Opening a trainer for `train` and `train --resume`: the memory check, then the trainer
//! with its CUDA graphs and CPU thread policy set and said.
use crate::config::{Arch, ModelConfig, RunConfig};
use crate::data::Dataset;
use crate::model::memory;
use crate::native::{device, numerics};
use crate::report::Reporter;
use crate::run::files::THREADS;
use crate::train::thread_record;
use crate::train::threads::ThreadPolicy;
use crate::train::{Trainer, TrainerState};
use anyhow::Result;
use std::path::Path;
use tch::Device;

/// The rows a training step runs through the network, for the memory check: each image
/// of a batch is decoded k times under the IWAE objective, and the VampPrior encodes its
/// pseudo-inputs at every step.
fn step_rows(run: &RunConfig, train_images: usize) -> usize {
    let batch = run.train.batch_size.div_ceil(run.train.processes.max(1));
    batch.min(train_images) * run.train.k + run.model.pseudo_inputs
}

/// A run whose model fits the device's memory for a step on its data: the one way that
/// `train` and `resume` open a trainer.
pub(super) struct Opened {
    device: Device,
    /// Images in a training step (with IWAE's copies and the VampPrior's pseudo-inputs).
    rows: usize,
}

impl Opened {
    /// Checks the memory a step needs on `device`; `source` names where the sizes came
    /// from in the error.
    pub(super) fn check(
        run: &RunConfig,
        data: &Dataset,
        device: Device,
        source: &str,
    ) -> Result<Self> {
        let rows = step_rows(run, data.train.len());
        memory::check_fits(&run.model, rows, device, source)?;
        Ok(Opened { device, rows })
    }

    /// The trainer, new (`state` None) or at a checkpoint's state, with its CUDA graphs
    /// and CPU thread policy set and said.
    pub(super) fn trainer(
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
        if let Some(bytes) = memory::training_bytes(&run.model, self.rows, self.device) {
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

/// Without `--threads`, on the CPU, the thread count follows the machine's load where the
/// run's bits do not depend on it (threads.rs says why, numerics.rs where they do); there
/// it stays, and the user is told why.
fn adapt_threads(
    trainer: &mut Trainer,
    threads: Option<usize>,
    model: &ModelConfig,
    device: Device,
    report: &mut dyn Reporter,
) {
    if threads.is_some() || device.is_cuda() {
        return;
    }
    let max = tch::get_num_threads().max(1) as usize;
    if let Some(why) = why_count_matters(model) {
        if max > 1 {
            report.note(&format!(
                "CPU threads: {max} through the run, whatever the load: {why} (--threads N sets the count)"
            ));
            // It still reads the load, to say when fewer threads would have run faster.
            if let Some(policy) = ThreadPolicy::advising(max) {
                trainer.adapt_threads(policy);
            }
        }
        return;
    }
    if let Some(policy) = ThreadPolicy::new(max) {
        if policy.max() > 1 {
            report.note(&format!(
                "CPU threads: {}, fewer while other programs keep cores busy (--threads N fixes the count)",
                policy.max()
            ));
            trainer.adapt_threads(policy);
        }
    }
}

/// On a resumed CPU run whose bits depend on the thread count, says so when this process
/// runs another count than the run's last epoch did (`threads.csv`).
pub(super) fn say_thread_change(
    dir: &Path,
    model: &ModelConfig,
    device: Device,
    report: &mut dyn Reporter,
) {
    if device.is_cuda() {
        return;
    }
    let Some(why) = why_count_matters(model) else {
        return;
    };
    let rows = thread_record::read_first(&dir.join(THREADS), usize::MAX);
    let now = tch::get_num_threads().max(1) as usize;
    if let Some(then) = rows.last().map(|r| r.threads).filter(|&t| t != now) {
        report.note(&format!(
            "the run trained on {then} CPU thread{} and goes on with {now}: {why}, so the \
             continuation may differ in the last bits from an uninterrupted run (--threads \
             {then} goes on as it began)",
            if then == 1 { "" } else { "s" }
        ));
    }
}

/// Why this CPU run's bits depend on its thread count, if they do (numerics.rs): every
/// model but the MLP has convolutions.
fn why_count_matters(model: &ModelConfig) -> Option<String> {
    numerics::why_threads_change_bits(model.arch != Arch::Mlp)
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
