//! tch-vae: Variational Autoencoders trained on libtorch from Rust (through `tch`), with
//! run folders that Python researchers read.
//!
//! The model is that of Kingma & Welling (2013), "Auto-Encoding Variational Bayes": a
//! per-sample diagonal Gaussian posterior N(mu, sigma^2 I) with mu = f1(x) and
//! log sigma^2 = f2(x) (the encoder's two heads), the reparameterisation trick, a
//! reconstruction loss, and the closed-form KL to N(0, I), split into the part of the
//! means (L_mu) and the part of the variances (L_sigma^2).
//!
//! One module per concept:
//! - data: [`idx`] reads IDX files, [`data`] holds a dataset on the device (one reader
//!   per source);
//! - the model: [`config`] (and its [`config::defaults`]), [`arch`] (one layer list for
//!   tch, TorchScript and Python), [`model`], [`loss`], [`prior`] (N(0, I) or the
//!   VampPrior), [`objective`] (the ELBO or the IWAE bound);
//! - training: [`train`] (the loop, its plain state), [`step`] (eager or CUDA graph
//!   replay, with [`cuda_graph`]), [`fault`] (the non-finite check), [`optim`],
//!   [`schedule`] (learning rate and KL weight along training), [`threads`] (the CPU
//!   thread count that follows the machine's load; [`thread_record`], its per-epoch
//!   record), [`checkpoint`] (the state's file);
//! - same seed, same numbers: [`numerics`] (MKL's reproducible mode and the portable
//!   mode, set before libtorch's first operation, and their record), [`invariant`]
//!   (element-wise functions whose bits do not depend on the thread count);
//! - results: [`metrics`], [`plot`], [`images`], [`figures`], [`eval`], [`export`],
//!   [`weights`], [`tensorboard`], [`compare`]; [`memory`] estimates what a model needs
//!   before it is built;
//! - the run folder: [`rundir`]; the commands: [`commands`], reporting through a
//!   [`report::Reporter`] the caller supplies.
pub mod commands;
pub mod config;
pub mod data;
pub mod eval;
pub mod export;
pub mod figures;
pub mod model;
pub mod native;
pub mod report;
pub mod run;
pub mod train;

/// libtorch's generator is global: unit tests that need a seeded sequence to repeat hold
/// this lock so that tests running in parallel do not draw from it in between.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
