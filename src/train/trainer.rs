//! The training loop: maths only. It returns metrics and exposes its state as plain named
//! tensors and a position; progress, files, checkpoints and figures are the caller's
//! (`commands/train.rs`, `checkpoint.rs`).
//!
//! Randomness is keyed, not streamed: before each batch (and before each epoch's shuffle
//! and test pass) libtorch's generator is seeded from (run seed, epoch, batch). A run
//! resumed from any batch therefore draws exactly the numbers an uninterrupted run would,
//! with no generator state to save.
use crate::config::{ModelConfig, Prior, TrainConfig};
use crate::data::{self, Dataset, Split};
use crate::model::arch;
use crate::model::objective;
use crate::model::weights;
use crate::model::Vae;
use crate::report::BatchProgress;
use crate::run::metrics::EpochMetrics;
use crate::train::fault::FaultRecord;
use crate::train::parallel::DataParallel;
pub use crate::train::position::{keyed_seed, Position, TrainerState, WEIGHTS_PREFIX};

mod shared;
use crate::train::optim::Adam;
use crate::train::schedule;
use crate::train::step::{PassSteps, Steps};
use crate::train::sums::PassSums;
use crate::train::thread_record::ThreadCounts;
use crate::train::threads::ThreadPolicy;
use anyhow::{ensure, Result};
use std::collections::HashMap;
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// How often (in batches) the running loss and the fault record are read back on CUDA,
/// where a read is a host sync. On the CPU they are read after every batch.
const REPORT_EVERY: usize = 25;
/// Keys of the seeded draws that are not training batches.
const ORDER_KEY: u64 = u64::MAX;
const TEST_KEY: u64 = u64::MAX - 1;

/// How an epoch ended.
pub enum EpochEnd {
    Finished(EpochMetrics),
    /// `stop` asked to stop; the position is saved mid-epoch.
    Stopped,
}

pub struct Trainer {
    vs: nn::VarStore,
    vae: Vae,
    opt: Adam,
    config: TrainConfig,
    pos: Position,
    /// Eager steps or CUDA graph replays.
    steps: Steps,
    /// The CPU thread count that follows the machine's load, if the run has one.
    threads: Option<ThreadPolicy>,
    /// Batches run at each CPU thread count (threads.csv).
    thread_counts: ThreadCounts,
    /// Batches per count the load asked for, where the policy only advises.
    wanted_counts: ThreadCounts,
    /// Steps skipped for a gradient norm above `--skip-threshold` since the last take.
    skipped: usize,
    /// The run's other processes, when it has several (`parallel.rs`).
    parallel: Option<DataParallel>,
    /// With several processes: a stop asked for here (sent with every later step's
    /// all-reduce), and whether the last all-reduce said that some process asked.
    stop_asked: bool,
    stop_agreed: bool,
}

impl Trainer {
    /// Seeds libtorch's generators with `config.seed`, then creates the model's variables
    /// (so initial weights depend on the seed only) and Adam (betas 0.9/0.999, eps 1e-8,
    /// as PyTorch's default). The configs are a resolved run's (`config::TrainRequest`
    /// or a checked `config.json`): the trainer does not check them again.
    pub fn new(model: &ModelConfig, config: &TrainConfig, device: Device) -> Result<Self> {
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let vae = Vae::new(&vs.root(), model);
        let opt = Adam::new(&vs, &arch::parameter_names(model), config.lr)?;
        Ok(Trainer {
            vs,
            vae,
            opt,
            config: config.clone(),
            pos: Position::start_of(1, device),
            steps: Steps::new(device, config.kl_warmup),
            threads: None,
            thread_counts: ThreadCounts::default(),
            wanted_counts: ThreadCounts::default(),
            skipped: 0,
            parallel: None,
            stop_asked: false,
            stop_agreed: false,
        })
    }

    /// Continues from saved state: weights, Adam's moments and steps, and the position.
    pub fn resume(
        model: &ModelConfig,
        config: &TrainConfig,
        device: Device,
        state: TrainerState,
    ) -> Result<Self> {
        let mut trainer = Trainer::new(model, config, device)?;
        weights::restore(&trainer.vs, &state.tensors, WEIGHTS_PREFIX)?;
        trainer.opt.load_state(&state.tensors)?;
        let mut pos = state.position;
        pos.order = pos.order.map(|o| o.to_device(device));
        pos.sums = PassSums::from_tensor(pos.sums.tensor(), device)?;
        trainer.pos = pos;
        Ok(trainer)
    }

    /// The trainer's state, its tensors copied to the CPU (for a checkpoint).
    pub fn state(&self) -> TrainerState {
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).contiguous();
        let mut tensors: HashMap<String, Tensor> = self
            .vs
            .variables()
            .into_iter()
            .map(|(name, t)| (format!("{WEIGHTS_PREFIX}{name}"), cpu(&t)))
            .collect();
        tensors.extend(self.opt.state().into_iter().map(|(n, t)| (n, cpu(&t))));
        let pos = &self.pos;
        let position = Position {
            epoch: pos.epoch,
            batch: pos.batch,
            order: pos.order.as_ref().map(cpu),
            sums: PassSums::from_tensor(pos.sums.tensor(), Device::Cpu)
                .expect("the trainer's own sums have the right shape"),
            images: pos.images,
            seconds: pos.seconds,
        };
        TrainerState { tensors, position }
    }

    /// Eager steps or CUDA graph replays: what this run uses, and why.
    pub fn steps(&self) -> &Steps {
        &self.steps
    }

    /// Lets `policy` set the CPU thread count before training batches, or, where it only
    /// advises, read what the load asks for (see threads.rs for the models this is for).
    pub fn adapt_threads(&mut self, policy: ThreadPolicy) {
        self.threads = Some(policy);
    }

    /// The batches run at each CPU thread count since the last call, and the most
    /// threads the load-following count may use (None: a fixed count).
    pub fn take_thread_counts(&mut self) -> (ThreadCounts, Option<usize>) {
        let max = self
            .threads
            .as_ref()
            .filter(|p| !p.advises())
            .map(ThreadPolicy::max);
        (std::mem::take(&mut self.thread_counts), max)
    }

    /// Where the run keeps its count and the load asked for fewer threads since the last
    /// call: what to tell the user (`ThreadCounts::advice`).
    pub fn take_thread_advice(&mut self) -> Option<String> {
        let wanted = std::mem::take(&mut self.wanted_counts);
        let max = self.threads.as_ref().filter(|p| p.advises())?.max();
        wanted.advice(max)
    }

    /// The steps skipped for a gradient norm above `--skip-threshold` since the last call.
    pub fn take_skipped(&mut self) -> usize {
        std::mem::take(&mut self.skipped)
    }

    /// Whether training steps on CUDA are recorded into CUDA graphs and replayed (`step.rs`).
    pub fn set_cuda_graphs(&mut self, on: bool) {
        self.steps.set_cuda_graphs(on);
    }

    pub fn vae(&self) -> &Vae {
        &self.vae
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    pub fn position(&self) -> &Position {
        &self.pos
    }

    /// Runs (or finishes) the epoch in progress: its training pass, then a test pass.
    /// `on_batch` hears of every batch and answers whether to stop there; `every` calls `checkpoint` after every N
    /// batches. A non-finite loss or gradient stops with an error before it touches the
    /// weights.
    pub fn run_epoch(
        &mut self,
        data: &Dataset,
        on_batch: &mut dyn FnMut(&BatchProgress) -> bool,
        checkpoint: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<EpochEnd> {
        let epoch = self.pos.epoch;
        let lr = self.epoch_lr();
        self.opt.set_lr(lr);
        let start = Instant::now();
        let mut pass = self
            .steps
            .begin_pass(self.pos.batch, self.config.batch_size)?;
        let finished = self.train_pass(&data.train, &mut pass, on_batch, checkpoint);
        self.steps.count(&pass);
        self.pos.seconds += start.elapsed().as_secs_f64();
        if !finished? {
            return Ok(EpochEnd::Stopped);
        }
        let n = data.train.len();
        let mut train = self.pos.sums.to_metrics(n)?;
        let beta = self.beta_at(epoch * n.div_ceil(self.config.batch_size), n);
        tch::manual_seed(keyed_seed(self.config.seed, epoch, TEST_KEY));
        let (mut test, mean_var) = super::evaluate::evaluate(&self.vae, &data.test, beta)?;
        if self.vae.config().prior == Prior::Vamp {
            (train, test) = (train.without_kl_split(), test.without_kl_split());
        }
        let row = EpochMetrics::new(epoch, train, test, mean_var, self.pos.seconds, beta);
        self.pos = Position::start_of(epoch + 1, self.vs.device());
        Ok(EpochEnd::Finished(row))
    }

    /// The learning rate of the epoch in progress, from the schedule.
    fn epoch_lr(&self) -> f64 {
        schedule::lr_at(
            self.config.lr_schedule,
            self.config.lr,
            self.pos.epoch,
            self.config.epochs,
        )
    }

    /// The KL weight after `step` optimisation steps (the configured beta once any
    /// warm-up is over).
    fn beta_at(&self, step: usize, train_images: usize) -> f64 {
        let batches = train_images.div_ceil(self.config.batch_size);
        schedule::warmup_beta(self.config.beta, self.config.kl_warmup, step, batches)
    }

    /// One optimisation step on the rows `index` ([b] int64) of `split`: forward,
    /// backward, gradient norm, clipping, Adam (skipped when the loss or a gradient is
    /// not finite), the epoch's running sums, and the fault record. On CUDA it reads
    /// nothing back to the host and updates the sums and `fault` in place, so that it can
    /// be recorded into a CUDA graph and replayed.
    fn step(
        &mut self,
        split: &Split,
        index: &Tensor,
        beta: f64,
        fault: &mut FaultRecord,
    ) -> Result<()> {
        let x = split.batch(index); // [b, values]
        let x = data::binarize_batch(x, self.config.binarize);
        let y = self
            .vae
            .config()
            .classes
            .map(|_| split.labels.index_select(0, index)); // [b]
        if self.parallel.is_some() {
            return self.shared_step(&x, y.as_ref(), beta, fault);
        }
        let step = objective::step_terms(&self.vae, &x, y.as_ref(), &self.config, beta)?;
        let objective = step.objective;
        self.opt.zero_grad()?;
        objective.backward();
        let norm = self.opt.grad_norm()?;
        self.apply(&objective, &norm, fault)?;
        tch::no_grad(|| self.pos.sums.add_with_loss(&step.loss, &step.terms));
        Ok(())
    }

    /// Clipping, the skip decisions and Adam for a step whose gradients are in place.
    fn apply(&mut self, objective: &Tensor, norm: &Tensor, fault: &mut FaultRecord) -> Result<()> {
        let (apply, skip) = fault.note(objective, norm);
        if apply {
            if let Some(max) = self.config.clip_grad {
                self.opt.clip_grad(norm, max);
            }
            self.opt.step(skip.as_ref())?;
        }
        Ok(())
    }

    /// Returns false when stopped before the end of the pass.
    fn train_pass(
        &mut self,
        split: &Split,
        pass: &mut PassSteps,
        on_batch: &mut dyn FnMut(&BatchProgress) -> bool,
        checkpoint: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<bool> {
        let n = split.len();
        let bs = self.config.batch_size;
        let batches = n.div_ceil(bs);
        let device = self.vs.device();
        let epoch = self.pos.epoch;
        let lr = self.epoch_lr();
        if self.pos.order.is_none() {
            tch::manual_seed(keyed_seed(self.config.seed, epoch, ORDER_KEY));
            self.pos.order = Some(data::shuffled_order(n, device));
        }
        let order = self
            .pos
            .order
            .as_ref()
            .map(|o| o.shallow_clone())
            .expect("drawn above");
        ensure!(
            order.size()[0] as usize == n,
            "the saved data order has {} rows, the data {n}",
            order.size()[0]
        );
        let mut fault = FaultRecord::new(self.pos.batch, device, self.config.skip_threshold);
        let sync_every = if device.is_cuda() { REPORT_EVERY } else { 1 };
        let start = self.pos.batch;
        for (i, index) in data::batches(&order, bs).enumerate().skip(start) {
            let step = (epoch - 1) * batches + i;
            let beta = self.beta_at(step, n);
            tch::manual_seed(keyed_seed(self.config.seed, epoch, i as u64));
            if let Some(threads) = self.threads.as_mut() {
                threads.before_batch();
                if threads.advises() {
                    self.wanted_counts.add(threads.wanted());
                }
            }
            self.thread_counts
                .add(tch::get_num_threads().max(1) as usize);
            pass.run(i, &index, |rows| self.step(split, rows, beta, &mut fault))?;
            self.pos.images += index.size()[0] as usize;
            self.pos.batch = i + 1;
            let batch = i + 1;
            if batch % sync_every == 0 || batch == batches {
                fault.check(epoch, batches, lr)?;
            }
            let running_loss = (batch % REPORT_EVERY == 0 || batch == batches)
                .then(|| self.pos.sums.mean_loss(self.pos.images));
            let stop = on_batch(&BatchProgress {
                batch,
                batches,
                images: self.pos.images,
                running_loss,
            });
            // With several processes a stop asked for here goes out with the next step's
            // all-reduce, which tells every process at once.
            let stop = match self.parallel {
                None => stop,
                Some(_) => {
                    self.stop_asked |= stop;
                    self.stop_agreed
                }
            };
            if batch < batches {
                if stop {
                    self.skipped += fault.outliers();
                    return Ok(false);
                }
                if self
                    .config
                    .checkpoint_every
                    .is_some_and(|every| batch % every == 0)
                {
                    checkpoint(self)?;
                }
            }
        }
        self.skipped += fault.outliers();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_seeds_differ_between_neighbours() {
        let a = keyed_seed(42, 1, 0);
        assert_ne!(a, keyed_seed(42, 1, 1));
        assert_ne!(a, keyed_seed(42, 2, 0));
        assert_ne!(a, keyed_seed(43, 1, 0));
        assert_eq!(a, keyed_seed(42, 1, 0));
        assert!(a >= 0);
    }
}
