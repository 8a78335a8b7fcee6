//! The training loop: maths only. It returns metrics; progress bars, files and figures are
//! the caller's (see `run.rs`).
use crate::config::{ModelConfig, TrainConfig};
use crate::data::{self, Dataset, Split};
use crate::loss::{batch_objective, reparameterize, warmup_beta, ElboTerms};
use crate::metrics::{EpochMetrics, PassMetrics};
use crate::model::Vae;
use anyhow::{ensure, Result};
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

/// Test-set passes need no gradients, so they use large batches.
const EVAL_BATCH: usize = 1024;
/// How often (in batches) the running loss is read back for the progress bar. Reading it
/// is a host sync on CUDA, so it is not done every batch.
const REPORT_EVERY: usize = 25;

/// What the progress callback hears after a training batch.
pub struct BatchProgress {
    /// Batches done in this epoch, and how many there are.
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
    /// Mean loss per image so far this epoch, when it was read back at this batch.
    pub running_loss: Option<f64>,
}

pub struct Trainer {
    vs: nn::VarStore,
    vae: Vae,
    opt: nn::Optimizer,
    config: TrainConfig,
    /// Optimisation steps taken so far (drives the KL warm-up).
    step: usize,
}

impl Trainer {
    /// Seeds libtorch's generators with `config.seed`, then creates the model's variables
    /// (so initial weights depend on the seed only) and an Adam optimiser
    /// (betas 0.9/0.999, eps 1e-8, as PyTorch's default).
    pub fn new(model: &ModelConfig, config: &TrainConfig, device: Device) -> Result<Self> {
        model.validate()?;
        config.validate()?;
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let vae = Vae::new(&vs.root(), model);
        let opt = nn::Adam::default().build(&vs, config.lr)?;
        Ok(Trainer {
            vs,
            vae,
            opt,
            config: config.clone(),
            step: 0,
        })
    }

    pub fn vae(&self) -> &Vae {
        &self.vae
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// One epoch: a training pass over a fresh shuffle, then a test pass.
    pub fn run_epoch(
        &mut self,
        epoch: usize,
        data: &Dataset,
        on_batch: &mut dyn FnMut(&BatchProgress),
    ) -> Result<EpochMetrics> {
        let start = Instant::now();
        let train = self.train_pass(&data.train, on_batch)?;
        let seconds = start.elapsed().as_secs_f64();
        ensure!(
            train.loss.is_finite(),
            "epoch {epoch}: the training loss became {} (not finite). Try a lower --lr",
            train.loss
        );
        let beta = self.beta_at(self.step, data.train.len());
        let (test, mean_var) = evaluate(&self.vae, &data.test, beta)?;
        Ok(EpochMetrics::new(
            epoch, train, test, mean_var, seconds, beta,
        ))
    }

    /// The KL weight at `step` (the configured beta once any warm-up is over).
    fn beta_at(&self, step: usize, train_images: usize) -> f64 {
        let batches = train_images.div_ceil(self.config.batch_size);
        warmup_beta(self.config.beta, self.config.kl_warmup, step, batches)
    }

    fn train_pass(
        &mut self,
        split: &Split,
        on_batch: &mut dyn FnMut(&BatchProgress),
    ) -> Result<PassMetrics> {
        let n = split.len();
        let bs = self.config.batch_size;
        let batches = n.div_ceil(bs);
        let device = self.vs.device();
        let order = data::shuffled_order(n, device);
        // Sums of [loss, recon, kl, kl_mu, kl_var] over the epoch, kept on the device.
        let mut sums = Tensor::zeros([5], (Kind::Float, device));
        let mut images = 0;
        for (i, index) in data::batches(&order, bs).enumerate() {
            let beta = self.beta_at(self.step, n);
            let x = split.images.index_select(0, &index); // [b, pixels]
            let x = data::binarize_batch(x, self.config.binarize);
            let (mu, logvar) = self.vae.encode(&x)?; // [b, latent] each
            let z = reparameterize(&mu, &logvar); // [b, latent]
            let logits = self.vae.decode_logits(&z)?; // [b, pixels]
            let terms = ElboTerms::new(&logits, &x, &mu, &logvar, self.vae.config().likelihood);
            // A batch mean: Adam is scale-invariant, and this keeps the learning rate
            // meaningful across batch sizes (PyTorch's reference does the same).
            let objective = batch_objective(&terms, &mu, &logvar, beta, self.config.free_bits);
            self.opt.backward_step(&objective);
            self.step += 1;
            tch::no_grad(|| sums += terms.sums(beta));
            images += index.size()[0] as usize;
            let batch = i + 1;
            let running_loss = (batch % REPORT_EVERY == 0 || batch == batches)
                .then(|| sums.double_value(&[0]) / images as f64);
            on_batch(&BatchProgress {
                batch,
                batches,
                images,
                running_loss,
            });
        }
        Ok(PassMetrics::from_sums(
            &Vec::<f64>::try_from(&sums.to_kind(Kind::Double))?,
            n,
        ))
    }
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
