//! The binary's reporter: what a user watches in a terminal. An indicatif bar per epoch
//! and per evaluation (only on a terminal), every note and epoch summary on stdout
//! (always), and Ctrl-C / SIGTERM as stop requests.
use super::signals::StopRequest;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;
use tch_vae::report::{BatchProgress, Reporter, Stop};
use tch_vae::run::metrics::EpochMetrics;

pub struct Console {
    stop: Option<StopRequest>,
    /// The bar of the epoch or evaluation in progress, and when it started.
    bar: Option<(ProgressBar, Instant)>,
    terminal: bool,
    /// The seconds of the epochs this process trained, for the time to the end.
    epoch_seconds: Vec<f64>,
}

impl Console {
    /// A console that hears signals when `stop` is given (training), and draws bars when
    /// stdout is a terminal (logs and pipes get only the lines).
    pub fn new(stop: Option<StopRequest>) -> Self {
        Console {
            stop,
            bar: None,
            terminal: std::io::stdout().is_terminal(),
            epoch_seconds: Vec::new(),
        }
    }

    fn start_bar(&mut self, len: usize, template: &str, prefix: String) {
        if !self.terminal {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the templates are valid constants")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        self.bar = Some((bar, Instant::now()));
    }

    fn clear_bar(&mut self) {
        if let Some((bar, _)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for Console {
    fn note(&mut self, text: &str) {
        match &self.bar {
            Some((bar, _)) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if let Some(stop) = &self.stop {
            stop.training_started();
        }
        self.start_bar(
            batches,
            "epoch {prefix} [{bar:30.cyan/blue}] {pos}/{len} batches | {msg} | ETA {eta}",
            format!("{epoch}/{epochs}"),
        );
    }

    fn batch_done(&mut self, p: &BatchProgress) {
        let Some((bar, start)) = &self.bar else {
            return;
        };
        bar.set_position(p.batch as u64);
        if let Some(loss) = p.running_loss {
            let rate = p.images as f64 / start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.2} | {rate:.0} img/s"));
        }
    }

    fn epoch_finished(&mut self, row: &EpochMetrics, epochs: usize, train_images: usize) {
        self.clear_bar();
        self.epoch_seconds.push(row.epoch_seconds);
        let left = epochs.saturating_sub(row.epoch);
        let rest = time_left(&self.epoch_seconds, left).map_or_else(String::new, |t| {
            let unit = if left == 1 { "epoch" } else { "epochs" };
            format!(" | {t} to the end ({left} {unit})")
        });
        println!("{}{rest}", row.summary(epochs, train_images));
    }

    fn work_started(&mut self, total: usize, unit: &str) {
        let template =
            format!("[{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} | {{per_sec}} | ETA {{eta}}");
        self.start_bar(total, &template, String::new());
    }

    fn work_advanced(&mut self, done: usize) {
        if let Some((bar, _)) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn work_finished(&mut self) {
        self.clear_bar();
    }

    fn stop_requested(&self) -> Option<Stop> {
        self.stop.as_ref().and_then(StopRequest::requested)
    }
}

/// Epochs whose mean pace predicts the next: the recent ones, because the first epoch carries
/// libtorch's warm-up and the machine's load changes during a long run.
const PACE_EPOCHS: usize = 3;

/// The time `left` more epochs take at the mean pace of the last `PACE_EPOCHS` of `done`
/// ("about 12 min"), once at least one epoch has run in this process; None when none is left.
fn time_left(done: &[f64], left: usize) -> Option<String> {
    if left == 0 || done.is_empty() {
        return None;
    }
    let recent = &done[done.len().saturating_sub(PACE_EPOCHS)..];
    let secs = recent.iter().sum::<f64>() / recent.len() as f64 * left as f64;
    Some(if secs < 90.0 {
        format!("about {secs:.0} s")
    } else if secs < 5400.0 {
        format!("about {:.0} min", secs / 60.0)
    } else {
        format!("about {:.1} h", secs / 3600.0)
    })
}

#[cfg(test)]
mod tests {
    use super::time_left;

    #[test]
    fn the_time_to_the_end_is_the_recent_mean_pace_times_the_epochs_left() {
        assert_eq!(time_left(&[], 5), None);
        assert_eq!(time_left(&[10.0], 0), None);
        assert_eq!(time_left(&[10.0, 20.0], 4).as_deref(), Some("about 60 s"));
        assert_eq!(time_left(&[60.0], 30).as_deref(), Some("about 30 min"));
        assert_eq!(time_left(&[3600.0], 3).as_deref(), Some("about 3.0 h"));
        // A slow first epoch (warm-up, a busy machine) stops counting after three more.
        assert_eq!(
            time_left(&[500.0, 10.0, 10.0, 10.0], 2).as_deref(),
            Some("about 20 s")
        );
        assert_eq!(
            time_left(&[500.0, 10.0, 10.0], 1).as_deref(),
            Some("about 3 min")
        );
    }
}
