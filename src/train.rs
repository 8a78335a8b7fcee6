//! The training loop: maths only. It returns metrics; progress bars, files, checkpoints
//! and figures are the caller's (see `run.rs`).
//!
//! Randomness is keyed, not streamed: before each batch (and before each epoch's shuffle
//! and test pass) libtorch's generator is seeded from (run seed, epoch, batch). A run
//! resumed from any batch therefore draws exactly the numbers an uninterrupted run would,
//! with no generator state to save.
use crate::arch;
use crate::config::{ModelConfig, TrainConfig};
use crate::cuda_graph::{self, CudaGraph};
use crate::data::{self, Dataset, Split};
use crate::loss::{batch_objective, reparameterize, warmup_beta, ElboTerms};
use crate::metrics::{EpochMetrics, PassMetrics};
use crate::model::Vae;
use crate::optim::Adam;
use anyhow::{ensure, Result};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// Test-set passes need no gradients, so they use large batches.
const EVAL_BATCH: usize = 1024;
/// How often (in batches) the running loss and the fault record are read back on CUDA,
/// where a read is a host sync. On the CPU they are read after every batch.
const REPORT_EVERY: usize = 25;
/// Steps of each pass run eagerly before the step is recorded into a CUDA graph.
const EAGER_STEPS: usize = 3;
/// Keys of the seeded draws that are not training batches.
const ORDER_KEY: u64 = u64::MAX;
const TEST_KEY: u64 = u64::MAX - 1;

/// A seed for draw `key` of `epoch`: SplitMix64 over the three values, so neighbouring
/// keys give unrelated streams.
pub fn keyed_seed(seed: u64, epoch: usize, key: u64) -> i64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ key.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// What the progress callback hears after a training batch.
pub struct BatchProgress {
    /// Batches done in this epoch, and how many there are.
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
    /// Mean loss per image so far this epoch, when it was read back at this batch.
    pub running_loss: Option<f64>,
}

/// Where training stands: enough to continue bit for bit.
pub struct Position {
    /// The epoch in progress (1-based) and the next batch of it (0 = not started).
    pub epoch: usize,
    pub batch: usize,
    /// This epoch's data order (`[n]` int64), once drawn.
    pub order: Option<Tensor>,
    /// Sums of [loss, recon, kl, kl_mu, kl_var] over this epoch's batches so far, `[5]`.
    pub sums: Tensor,
    pub images: usize,
    /// Training-pass seconds spent on this epoch so far.
    pub seconds: f64,
}

impl Position {
    fn start_of(epoch: usize, device: Device) -> Self {
        Position {
            epoch,
            batch: 0,
            order: None,
            sums: Tensor::zeros([5], (Kind::Float, device)),
            images: 0,
            seconds: 0.0,
        }
    }
}

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
    /// Record training steps into CUDA graphs where possible (see `eager_reason`).
    cuda_graphs: bool,
    /// Whether this thread's CUDA work was moved to a side stream (done once).
    on_side_stream: bool,
    /// Training steps replayed from a CUDA graph so far in this process.
    replayed_steps: usize,
}

impl Trainer {
    /// Seeds libtorch's generators with `config.seed`, then creates the model's variables
    /// (so initial weights depend on the seed only) and Adam (betas 0.9/0.999, eps 1e-8,
    /// as PyTorch's default).
    pub fn new(model: &ModelConfig, config: &TrainConfig, device: Device) -> Result<Self> {
        model.validate()?;
        config.validate()?;
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
            cuda_graphs: true,
            on_side_stream: false,
            replayed_steps: 0,
        })
    }

    /// Continues from saved state: weights, Adam's moments and steps, and the position.
    pub fn resume(
        model: &ModelConfig,
        config: &TrainConfig,
        device: Device,
        state: &crate::checkpoint::Checkpoint,
    ) -> Result<Self> {
        let mut trainer = Trainer::new(model, config, device)?;
        state.restore_weights(&trainer.vs)?;
        trainer.opt.load_state(&state.tensors)?;
        trainer.pos = state.position(device)?;
        Ok(trainer)
    }

    /// Turns the recording of training steps into CUDA graphs off, or back on (the
    /// default; see `eager_reason` for when they are used).
    pub fn set_cuda_graphs(&mut self, on: bool) {
        self.cuda_graphs = on;
    }

    /// On CUDA, why training steps run eagerly instead of being replayed from a CUDA
    /// graph; None where they are replayed, and on the CPU.
    pub fn eager_reason(&self) -> Option<&'static str> {
        eager_reason(
            self.vs.device().is_cuda(),
            self.cuda_graphs,
            self.config.kl_warmup,
            cuda_graph::supported,
        )
    }

    /// Whether training steps are recorded into CUDA graphs: on CUDA, unless
    /// `eager_reason` gives a reason not to.
    pub fn uses_cuda_graphs(&self) -> bool {
        self.vs.device().is_cuda() && self.eager_reason().is_none()
    }

    /// Training steps replayed from a CUDA graph so far (the others ran eagerly).
    pub fn replayed_steps(&self) -> usize {
        self.replayed_steps
    }

    pub fn vae(&self) -> &Vae {
        &self.vae
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    pub fn optimizer(&self) -> &Adam {
        &self.opt
    }

    pub fn position(&self) -> &Position {
        &self.pos
    }

    /// Runs (or finishes) the epoch in progress: its training pass, then a test pass.
    /// `stop` is asked after every batch; `every` calls `checkpoint` after every N
    /// batches. A non-finite loss or gradient stops with an error before it touches the
    /// weights.
    pub fn run_epoch(
        &mut self,
        data: &Dataset,
        on_batch: &mut dyn FnMut(&BatchProgress),
        stop: &dyn Fn() -> bool,
        checkpoint: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<EpochEnd> {
        let epoch = self.pos.epoch;
        let start = Instant::now();
        let finished = self.train_pass(&data.train, on_batch, stop, checkpoint);
        self.pos.seconds += start.elapsed().as_secs_f64();
        if !finished? {
            return Ok(EpochEnd::Stopped);
        }
        let n = data.train.len();
        let sums = Vec::<f64>::try_from(&self.pos.sums.to_kind(Kind::Double))?;
        let train = PassMetrics::from_sums(&sums, n);
        let beta = self.beta_at(epoch * n.div_ceil(self.config.batch_size), n);
        tch::manual_seed(keyed_seed(self.config.seed, epoch, TEST_KEY));
        let (test, mean_var) = evaluate(&self.vae, &data.test, beta)?;
        let row = EpochMetrics::new(epoch, train, test, mean_var, self.pos.seconds, beta);
        self.pos = Position::start_of(epoch + 1, self.vs.device());
        Ok(EpochEnd::Finished(row))
    }

    /// The KL weight after `step` optimisation steps (the configured beta once any
    /// warm-up is over).
    fn beta_at(&self, step: usize, train_images: usize) -> f64 {
        let batches = train_images.div_ceil(self.config.batch_size);
        warmup_beta(self.config.beta, self.config.kl_warmup, step, batches)
    }

    /// One optimisation step on the rows `index` ([b] int64) of `split`: forward,
    /// backward, gradient norm, clipping, Adam (skipped on the device when the loss or a
    /// gradient is not finite), the epoch's running sums, and the fault record. It
    /// reads nothing back to the host and updates `batch_no` ([] double, the 0-based
    /// batch, advanced by one) and `fault` ([3] double) in place, so that it can be
    /// recorded into a CUDA graph and replayed.
    fn step(
        &mut self,
        split: &Split,
        index: &Tensor,
        beta: f64,
        batch_no: &mut Tensor,
        fault: &mut Tensor,
    ) -> Result<()> {
        let x = split.images.index_select(0, index); // [b, pixels]
        let x = data::binarize_batch(x, self.config.binarize);
        let (mu, logvar) = self.vae.encode(&x)?; // [b, latent] each
        let z = reparameterize(&mu, &logvar); // [b, latent]
        let logits = self.vae.decode_logits(&z)?; // [b, pixels]
        let terms = ElboTerms::new(&logits, &x, &mu, &logvar, self.vae.config().likelihood);
        // A batch mean: Adam is scale-invariant, and this keeps the learning rate
        // meaningful across batch sizes (PyTorch's reference does the same).
        let objective = batch_objective(&terms, &mu, &logvar, beta, self.config.free_bits);
        self.opt.zero_grad()?;
        objective.backward();
        let norm = self.opt.grad_norm()?;
        let ok = objective.isfinite().logical_and(&norm.isfinite());
        let skip = ok.logical_not().to_kind(Kind::Float).view([1]);
        if let Some(max) = self.config.clip_grad {
            self.opt.clip_grad(&norm, max);
        }
        self.opt.step(&skip)?;
        tch::no_grad(|| {
            self.pos.sums += terms.sums(beta);
            let record = Tensor::stack(
                &[
                    batch_no.shallow_clone(),
                    objective.to_kind(Kind::Double),
                    norm.to_kind(Kind::Double),
                ],
                0,
            );
            let first = ok.logical_not().logical_and(&fault.get(0).lt(0.0));
            fault.copy_(&record.where_self(&first, fault));
            *batch_no += 1.0;
        });
        Ok(())
    }

    /// Returns false when stopped before the end of the pass.
    fn train_pass(
        &mut self,
        split: &Split,
        on_batch: &mut dyn FnMut(&BatchProgress),
        stop: &dyn Fn() -> bool,
        checkpoint: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<bool> {
        let n = split.len();
        let bs = self.config.batch_size;
        let batches = n.div_ceil(bs);
        let device = self.vs.device();
        let epoch = self.pos.epoch;
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
        // The first non-finite batch: [batch, loss, gradient norm], batch -1 while none,
        // and the 0-based number of the batch in progress; both live on the device and
        // are updated in place, so that a CUDA graph's replays update them too.
        let mut fault = Tensor::from_slice(&[-1.0f64, 0.0, 0.0]).to_device(device);
        let mut batch_no = Tensor::full([], self.pos.batch as f64, (Kind::Double, device));
        let sync_every = if device.is_cuda() { REPORT_EVERY } else { 1 };
        let graphs = self.uses_cuda_graphs();
        if graphs && !self.on_side_stream {
            cuda_graph::use_side_stream(device)?;
            self.on_side_stream = true;
        }
        // The recorded step of this pass and the fixed index tensor it reads its batch
        // from (recorded after a few eager steps, which let libtorch make its per-stream
        // handles and workspaces outside the recording).
        let mut recorded: Option<(CudaGraph, Tensor)> = None;
        let start = self.pos.batch;
        for (i, index) in data::batches(&order, bs).enumerate().skip(start) {
            let step = (epoch - 1) * batches + i;
            let beta = self.beta_at(step, n);
            tch::manual_seed(keyed_seed(self.config.seed, epoch, i as u64));
            if graphs && replays(i, start, index.size()[0] as usize, bs) {
                if recorded.is_none() {
                    let fixed = index.copy();
                    let (graph, ()) = CudaGraph::capture(|| {
                        self.step(split, &fixed, beta, &mut batch_no, &mut fault)
                    })?;
                    recorded = Some((graph, fixed));
                }
                let (graph, fixed) = recorded.as_mut().expect("recorded above");
                fixed.copy_(&index);
                graph.replay()?;
                self.replayed_steps += 1;
            } else {
                self.step(split, &index, beta, &mut batch_no, &mut fault)?;
            }
            self.pos.images += index.size()[0] as usize;
            self.pos.batch = i + 1;
            let batch = i + 1;
            if batch % sync_every == 0 || batch == batches {
                let f = Vec::<f64>::try_from(&fault)?;
                if f[0] >= 0.0 {
                    return Err(fault_error(
                        epoch,
                        f[0] as usize,
                        batches,
                        f[1],
                        f[2],
                        self.config.lr,
                    ));
                }
            }
            let running_loss = (batch % REPORT_EVERY == 0 || batch == batches)
                .then(|| self.pos.sums.double_value(&[0]) / self.pos.images as f64);
            on_batch(&BatchProgress {
                batch,
                batches,
                images: self.pos.images,
                running_loss,
            });
            if batch < batches {
                if stop() {
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
        Ok(true)
    }
}

/// See [`Trainer::eager_reason`]: `requested` is false after `--no-cuda-graphs`, and
/// `supported` says whether this build can record graphs.
fn eager_reason(
    cuda: bool,
    requested: bool,
    kl_warmup: f64,
    supported: impl Fn() -> bool,
) -> Option<&'static str> {
    if !cuda {
        None
    } else if !requested {
        Some("--no-cuda-graphs")
    } else if kl_warmup != 0.0 {
        // A recording holds its scalars fixed; warm-up changes beta every batch.
        Some("--kl-warmup changes beta at every batch, which a recorded step would hold fixed")
    } else if !supported() {
        Some(
            "this build cannot record CUDA graphs (its libtorch came without the CUDA headers; \
             scripts/setup.sh installs them, then rebuild)",
        )
    } else {
        None
    }
}

/// Whether batch `i` of a pass that started at batch `start` is replayed from the pass's
/// CUDA graph: every full batch (`len` rows of `batch_size`) after the first
/// `EAGER_STEPS` of the pass; a smaller last batch runs eagerly, since the recording has
/// the full batch's shapes.
fn replays(i: usize, start: usize, len: usize, batch_size: usize) -> bool {
    len == batch_size && i >= start + EAGER_STEPS
}

/// The error for a non-finite loss or gradient at 0-based batch `i`.
fn fault_error(
    epoch: usize,
    i: usize,
    batches: usize,
    loss: f64,
    norm: f64,
    lr: f64,
) -> anyhow::Error {
    anyhow::anyhow!(
        "epoch {epoch}, batch {} of {batches}: the loss was {loss} and the gradient norm {norm} \
         (not finite); the update was not applied, and no checkpoint written before it was \
         touched. Try a lower --lr (now {lr:e}) or --clip-grad (e.g. --clip-grad 100)",
        i + 1,
    )
}

/// A pass over `split` without gradients: per-sample averages of the negative ELBO's parts
/// (one z per image, as in training) and the mean of sigma^2 over images and latent units.
pub fn evaluate(vae: &Vae, split: &Split, beta: f64) -> Result<(PassMetrics, f64)> {
    tch::no_grad(|| {
        let n = split.len();
        let device = split.images.device();
        let mut sums = Tensor::zeros([5], (Kind::Float, device));
        let mut var_sum = Tensor::zeros([], (Kind::Float, device));
        for start in (0..n).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(n - start) as i64;
            let x = split.images.narrow(0, start as i64, len); // [b, pixels]
            let (mu, logvar) = vae.encode(&x)?;
            let logits = vae.decode_logits(&reparameterize(&mu, &logvar))?;
            let terms = ElboTerms::new(&logits, &x, &mu, &logvar, vae.config().likelihood);
            sums += terms.sums(beta);
            var_sum += logvar.exp().sum(Kind::Float);
        }
        let sums = Vec::<f64>::try_from(&sums.to_kind(Kind::Double))?;
        let mean_var = var_sum.double_value(&[]) / (n * vae.config().latent).max(1) as f64;
        Ok((PassMetrics::from_sums(&sums, n), mean_var))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_steps_are_replayed_unless_a_reason_says_otherwise() {
        let yes = || true;
        assert_eq!(eager_reason(false, true, 0.0, yes), None); // the CPU: no graphs, no reason
        assert_eq!(eager_reason(true, true, 0.0, yes), None);
        assert_eq!(
            eager_reason(true, false, 0.0, yes),
            Some("--no-cuda-graphs")
        );
        assert!(eager_reason(true, true, 2.0, yes)
            .unwrap()
            .contains("--kl-warmup"));
        assert!(eager_reason(true, true, 0.0, || false)
            .unwrap()
            .contains("CUDA headers"));
    }

    #[test]
    fn full_batches_after_the_first_few_of_each_pass_are_replayed() {
        let (bs, batches, last_len) = (128, 469, 96); // Fashion-MNIST's 60,000 images
        let replayed = |start: usize| -> Vec<usize> {
            (start..batches)
                .filter(|&i| replays(i, start, if i + 1 == batches { last_len } else { bs }, bs))
                .collect()
        };
        // A pass from the start: batches 0-2 eager, 3..467 replayed, the last eager.
        let fresh = replayed(0);
        assert_eq!(fresh.first(), Some(&EAGER_STEPS));
        assert_eq!(fresh.last(), Some(&(batches - 2)));
        assert_eq!(fresh.len(), batches - 1 - EAGER_STEPS);
        // A pass resumed mid-epoch records after its own first few batches.
        let resumed = replayed(200);
        assert_eq!(resumed.first(), Some(&(200 + EAGER_STEPS)));
        assert_eq!(resumed.len(), batches - 1 - 200 - EAGER_STEPS);
        // An epoch of one exact batch, or fewer batches than the eager ones: no replay.
        assert!(!replays(0, 0, bs, bs));
        assert!(replayed(batches - 2).is_empty());
    }

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
