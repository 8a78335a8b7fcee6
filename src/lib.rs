//! tch-vae: Variational Autoencoders trained on libtorch from Rust (through `tch`), with
//! run folders that Python researchers read.
//!
//! The model is that of Kingma & Welling (2013), "Auto-Encoding Variational Bayes": a
//! per-sample diagonal Gaussian posterior N(mu, sigma^2 I) with mu = f1(x) and
//! log sigma^2 = f2(x) (the encoder's two heads), the reparameterisation trick, a
//! reconstruction loss, and the closed-form KL to N(0, I), split into the part of the
//! means (L_mu) and the part of the variances (L_sigma^2).
//!
//! # Where each concept lives
//!
//! One folder per concept, each a layer above the ones it uses (no import circle; checked
//! by `scripts/check_structure.py`, which also checks that this map matches the disk).
//! From the bottom up:
//!
//! - `native/`: what the crate asks of libtorch's C++ and the operating system: `ffi`
//!   (the C++ glue in `native/cpp/`), `c10d` (libtorch's distributed engine: a Gloo
//!   process group and its collectives), `cuda_graph`, `mixture` (the logistic mixture's
//!   likelihood and gradient in one pass on the CPU), `layout` (NCHW and channels-last,
//!   with gradients laid out as their inputs), `device` (`--device`, `--threads`),
//!   `numerics` (MKL's reproducible mode and the portable mode, set before libtorch's first
//!   operation), `mkl_cbwr` (MKL's settings by number and name, the CPU's maker), `error` (libtorch's messages), `files` (regular files only), `atomic`
//!   (files written whole or not at all).
//! - `config/`: what a run is: `mod` ([`config::RunConfig`], `config.json`'s content, and
//!   [`config::TrainConfig`]), `model` ([`config::ModelConfig`]), `hierarchical` (the
//!   hierarchical model's resolutions and rules), `preset` (`--preset`'s recipes),
//!   `defaults` (every flag's default), `resolve` (the one resolve step: [`config::TrainRequest`] and the data's
//!   [`config::DataShape`] in, a validated [`config::RunConfig`] out).
//! - `data/`: datasets on the device ([`data::Dataset`]), one reader per source: `idx`
//!   and `idx_folder` (MNIST format), `cifar`, `numpy`, `folder` (images, with `folder_cache`); `transform`
//!   (`--channels`, `--image-size`), `split` (a drawn test split).
//! - `model/`: the network (`vae`: [`model::Vae`], built from `arch`'s one layer list for
//!   tch, TorchScript and Python, in `layers`' tch modules; `hierarchy`, the top-down
//!   hierarchical model of `--arch hierarchical`: `layout`, `net`, `terms`), `loss` (the seed's maths: reparameterisation, the
//!   likelihoods, the closed-form KL split into L_mu and L_sigma^2), `free_bits` (the floor on each KL
//!   unit, over the whole batch under several processes), `logistic` (the
//!   discretized logistic and its bin mass), `mixture` (PixelCNN++'s mixture of them), `prior` (N(0, I) or
//!   the VampPrior), `objective` (the ELBO or the IWAE bound), `invariant` (element-wise
//!   functions whose bits do not depend on the thread count), `noise` (a step's normal
//!   noise, the same for an image whichever process holds it), `weights`
//!   (`weights.safetensors`), `memory` (what a model needs, before it is built), `fitted`
//!   (an ex-post prior: a Gaussian mixture over the posterior codes, `pca` and `gmm`).
//! - `run/`: the run folder: `files` (its files' names, its lock, `config.json`),
//!   `metrics` (`metrics.csv`; its columns listed once), `load` (a trained run and its
//!   data, [`run::LoadedRun`]).
//! - `report`: what a command tells its user, through a [`report::Reporter`] the caller
//!   supplies (the library never prints).
//! - `train/`: the loop (`trainer`: [`train::Trainer`]; `position`: its plain state;
//!   `parallel`: several processes over c10d, launched by torchrun), `step` (eager or
//!   CUDA graph replay), `evaluate` (the test pass), `optim` (fused Adam), `schedule` (learning rate and KL weight),
//!   `fault` (the non-finite check), `sums` (a pass's running sums), `threads` (the CPU
//!   thread count that follows the load) and `thread_record` (`threads.csv`), `checkpoint`
//!   (the state's file), `tensorboard` (the event file).
//! - `figures/`: `grids` (samples, reconstructions, latent space, interpolation, manifold),
//!   `images` (PNG), `plot` (SVG curves).
//! - `eval/`: `mod` (importance-weighted likelihoods, posterior statistics), `report`
//!   (`eval.json`), `compare` (runs side by side).
//! - `export/`: the TorchScript module `vae.pt` (`source`: a flat model's TorchScript
//!   text; `hierarchy_source`: a hierarchical model's; `pieces`: what they share).
//! - `commands/`: one function per command, from a plain request to files in a run
//!   folder (`train`: `train` and `--resume`; `open`: the trainer they open; `parallel`:
//!   what differs on several processes; `fit_prior`: `tch-vae fit-prior`).
//!
//! The binary (`main.rs`, `cli/`) is apart: `cli/mod.rs` (the commands' flags),
//! `train_args` (`train`'s flags and the one list of what `--resume` takes), `args`
//! (value parsers), `console` (progress bars), `signals` (Ctrl-C), `failure` (errors and
//! panics as the user sees them), `launch` (`train --nproc N`: the other processes of a
//! run started as torchrun would).
//!
//! # Using it from Rust
//!
//! ```no_run
//! use tch_vae::config::TrainRequest;
//! use tch_vae::report::Quiet;
//!
//! fn main() -> anyhow::Result<()> {
//!     // Before libtorch's first operation (MKL reads its mode once).
//!     tch_vae::native::numerics::init(Default::default())?;
//!     let mut request = TrainRequest::defaults("/usr/share/datasets/fashion-mnist");
//!     request.epochs = Some(2);
//!     request.model.latent = Some(2);
//!     let run_folder = tch_vae::commands::train(&request, &mut Quiet)?;
//!     let run = tch_vae::run::load(&run_folder, tch::Device::Cpu)?;
//!     println!("{} trained in {}", run.config.model.describe(), run_folder.display());
//!     Ok(())
//! }
//! ```
pub mod commands;
pub mod config;
pub mod data;
pub mod eval;
pub mod export;
pub(crate) mod figures;
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
