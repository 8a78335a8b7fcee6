//! Ctrl-C (SIGINT) and SIGTERM during training: the first asks the loop to stop after the
//! current batch (it then checkpoints and exits with 130 or 143); a second one exits at
//! once with the same code. Every file is written atomically, so even that leaves no
//! half-written file.
use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub struct StopRequest {
    requested: Arc<AtomicBool>,
    /// 130 for SIGINT, 143 for SIGTERM (128 + the signal number, as shells report it).
    code: Arc<AtomicUsize>,
}

impl StopRequest {
    /// Installs the handlers (for the rest of the process).
    pub fn install() -> Result<Self> {
        let requested = Arc::new(AtomicBool::new(false));
        let code = Arc::new(AtomicUsize::new(0));
        for (signal, exit) in [(SIGINT, 130), (SIGTERM, 143)] {
            // Order matters: the conditional exit sees the flag as it was before this
            // signal, so only a second signal exits at once.
            flag::register_conditional_shutdown(signal, exit, Arc::clone(&requested))
                .context("cannot install the signal handlers")?;
            flag::register_usize(signal, Arc::clone(&code), exit as usize)
                .context("cannot install the signal handlers")?;
            flag::register(signal, Arc::clone(&requested))
                .context("cannot install the signal handlers")?;
        }
        Ok(StopRequest { requested, code })
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// The exit code for the signal received (130 or 143).
    pub fn exit_code(&self) -> u8 {
        self.code.load(Ordering::SeqCst) as u8
    }
}
