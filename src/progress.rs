//! What a user watches while training: an indicatif bar per epoch (only on a terminal)
//! and one summary line per epoch (always).
use crate::metrics::EpochMetrics;
use crate::train::BatchProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub struct EpochBar {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl EpochBar {
    /// A bar on stdout when stdout is a terminal; otherwise nothing is drawn (logs and
    /// pipes get only the summary lines).
    pub fn new(epoch: usize, epochs: usize, batches: usize) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30.cyan/blue}] {pos}/{len} batches | {msg} | ETA {eta}",
            )
            .expect("the template is a valid constant")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{epoch}/{epochs}"));
            bar
        });
        EpochBar {
            bar,
            start: Instant::now(),
        }
    }

    pub fn update(&self, p: &BatchProgress) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(p.batch as u64);
        if let Some(loss) = p.running_loss {
            let rate = p.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.2} | {rate:.0} img/s"));
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A plain counting bar on stdout (only when stdout is a terminal).
pub fn count_bar(len: u64, unit: &str) -> Option<ProgressBar> {
    std::io::stdout().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
        let template =
            format!("[{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} | {{per_sec}} | ETA {{eta}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("the template is a valid constant")
                .progress_chars("=> "),
        );
        bar
    })
}

/// "epoch  3/10 | train 270.12 (recon 250.01 + KL 20.11) | test 268.90 | ..."
pub fn summary_line(m: &EpochMetrics, epochs: usize, train_images: usize) -> String {
    let width = epochs.to_string().len();
    format!(
        "epoch {:>width$}/{epochs} | train {:.2} (recon {:.2} + KL {:.2}) | test {:.2} \
         (recon {:.2} + KL {:.2}: L_mu {:.2}, L_var {:.2}) | mean var {:.4} | {:.2} s, {:.0} img/s",
        m.epoch,
        m.train_loss,
        m.train_recon,
        m.train_kl,
        m.test_loss,
        m.test_recon,
        m.test_kl,
        m.test_kl_mu,
        m.test_kl_var,
        m.mean_var,
        m.epoch_seconds,
        train_images as f64 / m.epoch_seconds.max(1e-9),
    )
}
