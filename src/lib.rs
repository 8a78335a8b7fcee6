//! tch-vae: Variational Autoencoders trained on libtorch from Rust (through `tch`), with
//! run folders that Python researchers read.
//!
//! The maths follows Kingma & Welling (2013) as derived in the project's seed notes: a
//! per-sample diagonal Gaussian posterior N(mu, sigma^2 I) with mu = f1(x) and
//! log sigma^2 = f2(x), the reparameterisation trick, a reconstruction loss, and the
//! closed-form KL to N(0, I) split into L_mu and L_sigma^2.
//!
//! One module per concept: [`idx`] and [`data`] read datasets, [`config`] describes a
//! model and a run, [`model`] builds the network, [`loss`] holds the ELBO's terms,
//! [`train`] is the training loop (replayed from [`cuda_graph`]s on a GPU), [`metrics`],
//! [`plot`] and [`images`] write its results,
//! [`progress`] is what the user watches, [`run`] ties them into the CLI's commands.
pub mod arch;
pub mod atomic;
pub mod checkpoint;
pub mod config;
pub mod cuda_graph;
pub mod data;
pub mod device;
pub mod eval;
pub mod export;
pub mod ffi;
pub mod figures;
pub mod idx;
pub mod images;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod run;
pub mod signals;
pub mod train;

/// libtorch's generator is global: unit tests that need a seeded sequence to repeat hold
/// this lock so that tests running in parallel do not draw from it in between.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
