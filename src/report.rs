//! What a command tells its user, and what it asks of them. The library never prints: the
//! commands report through a [`Reporter`] that the caller supplies (the binary's console
//! today; a TensorBoard writer or a test's recorder as well).
use crate::run::metrics::EpochMetrics;

/// What the trainer tells after a training batch.
pub struct BatchProgress {
    /// Batches done in this epoch, and how many there are.
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
    /// Mean loss per image so far this epoch, when it was read back at this batch.
    pub running_loss: Option<f64>,
}

/// A request to stop training, as the user gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Stop {
    /// 128 + the signal number, as shells report it.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C (SIGINT)",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// The events of a command. Only [`Reporter::note`] must be implemented.
pub trait Reporter {
    /// A line of information: what is being trained on what, where the run folder is,
    /// which files were written.
    fn note(&mut self, text: &str);

    /// An epoch of `batches` training batches starts.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}

    /// A training batch is done.
    fn batch_done(&mut self, _progress: &BatchProgress) {}

    /// An epoch ended with these metrics (also written to `metrics.csv`).
    fn epoch_finished(&mut self, row: &EpochMetrics, epochs: usize, train_images: usize) {
        self.note(&row.summary(epochs, train_images));
    }

    /// A long pass over `total` items (`unit`: "images") starts, advances, ends.
    fn work_started(&mut self, _total: usize, _unit: &str) {}
    fn work_advanced(&mut self, _done: usize) {}
    fn work_finished(&mut self) {}

    /// Whether the user asked to stop; asked after every training batch.
    fn stop_requested(&self) -> Option<Stop> {
        None
    }
}

/// A reporter that says nothing and never asks to stop.
pub struct Quiet;

impl Reporter for Quiet {
    fn note(&mut self, _text: &str) {}
}

/// Says nothing, but passes on the stop requests that `inner` hears: the reporter of a
/// run's processes other than rank 0, which speaks for them all.
pub struct Silent<'a>(pub &'a dyn Reporter);

impl Reporter for Silent<'_> {
    fn note(&mut self, _text: &str) {}

    fn stop_requested(&self) -> Option<Stop> {
        self.0.stop_requested()
    }
}
