//! Ctrl-C (SIGINT) and SIGTERM. Before training starts (reading and resizing the data,
//! preparing the run folder) the first one exits at once with 130 or 143: there is no
//! state to save, and a scheduler's stop must not wait for a long load. During training
//! the first asks the loop to stop after the current batch (it then checkpoints and exits
//! with 130 or 143); a second one exits at once with the same code. Every file is written
//! atomically, so neither leaves a half-written file.
use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tch_vae::report::Stop;

pub struct StopRequest {
    requested: Arc<AtomicBool>,
    /// True until training starts: a signal then exits at once.
    before_training: Arc<AtomicBool>,
    /// The exit code of the signal received: 130 for SIGINT, 143 for SIGTERM.
    code: Arc<AtomicUsize>,
}

impl StopRequest {
    /// Installs the handlers (for the rest of the process).
    pub fn install() -> Result<Self> {
        let requested = Arc::new(AtomicBool::new(false));
        let before_training = Arc::new(AtomicBool::new(true));
        let code = Arc::new(AtomicUsize::new(0));
        for stop in [Stop::Interrupt, Stop::Terminate] {
            let (signal, exit) = match stop {
                Stop::Interrupt => (SIGINT, stop.exit_code()),
                Stop::Terminate => (SIGTERM, stop.exit_code()),
            };
            // Order matters: the conditional exits see the flags as they were before this
            // signal, so during training only a second signal exits at once.
            flag::register_conditional_shutdown(signal, exit.into(), Arc::clone(&before_training))
                .context("cannot install the signal handlers")?;
            flag::register_conditional_shutdown(signal, exit.into(), Arc::clone(&requested))
                .context("cannot install the signal handlers")?;
            flag::register_usize(signal, Arc::clone(&code), exit.into())
                .context("cannot install the signal handlers")?;
            flag::register(signal, Arc::clone(&requested))
                .context("cannot install the signal handlers")?;
        }
        Ok(StopRequest {
            requested,
            before_training,
            code,
        })
    }

    /// Training has started: from now on the first signal stops it after the batch.
    pub fn training_started(&self) {
        self.before_training.store(false, Ordering::SeqCst);
    }

    /// The stop asked for, if any.
    pub fn requested(&self) -> Option<Stop> {
        if !self.requested.load(Ordering::SeqCst) {
            return None;
        }
        let code = self.code.load(Ordering::SeqCst);
        Some(if code == usize::from(Stop::Terminate.exit_code()) {
            Stop::Terminate
        } else {
            Stop::Interrupt
        })
    }
}
