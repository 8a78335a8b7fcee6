//! What changes along training, each a function of the position alone (so a resumed run
//! continues on it with nothing saved): the learning rate of each epoch (`--lr-schedule`:
//! constant, or the schedule of Burda et al. (2015, section 5): passes i = 0..7 of 3^i
//! epochs each at lr * 10^(-i/7), 3,280 epochs in all, then the last rate; or cosine
//! annealing over the run's epochs), and the KL weight of each step under `--kl-warmup`.
use crate::config::LrSchedule;

/// Passes of Burda et al.'s schedule.
pub const BURDA_PASSES: u32 = 8;

/// The KL weight at training step `step` (0-based batch count) under a linear warm-up of
/// `warmup_epochs` epochs of `batches_per_epoch` batches: beta * min(1, step / total).
pub fn warmup_beta(beta: f64, warmup_epochs: f64, step: usize, batches_per_epoch: usize) -> f64 {
    let total = warmup_epochs * batches_per_epoch as f64;
    if total <= 0.0 {
        beta
    } else {
        beta * (step as f64 / total).min(1.0)
    }
}

/// The learning rate of `epoch` (1-based) of a run of `epochs` for base rate `lr`.
/// Cosine: lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2, so the first epoch runs at lr
/// and the last at about lr * 2.5 / epochs^2; a resumed run given a larger `--epochs`
/// stretches the rest of the curve to the new end.
pub fn lr_at(schedule: LrSchedule, lr: f64, epoch: usize, epochs: usize) -> f64 {
    match schedule {
        LrSchedule::Constant => lr,
        LrSchedule::Burda => lr * 10f64.powf(-f64::from(burda_pass(epoch)) / 7.0),
        LrSchedule::Cosine => {
            let done = epoch.saturating_sub(1).min(epochs) as f64;
            lr * 0.5 * (1.0 + (std::f64::consts::PI * done / epochs.max(1) as f64).cos())
        }
    }
}

/// The pass i of Burda et al.'s schedule that `epoch` (1-based) belongs to: pass i covers
/// the 3^i epochs after the 1 + 3 + ... + 3^(i-1) of the passes before it.
pub fn burda_pass(epoch: usize) -> u32 {
    let mut end = 0usize;
    for i in 0..BURDA_PASSES {
        end += 3usize.pow(i);
        if epoch <= end {
            return i;
        }
    }
    BURDA_PASSES - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_ramps_linearly_then_holds() {
        assert_eq!(warmup_beta(2.0, 0.0, 0, 10), 2.0);
        assert_eq!(warmup_beta(2.0, 2.0, 0, 10), 0.0);
        assert_eq!(warmup_beta(2.0, 2.0, 5, 10), 0.5);
        assert_eq!(warmup_beta(2.0, 2.0, 20, 10), 2.0);
        assert_eq!(warmup_beta(2.0, 2.0, 500, 10), 2.0);
    }

    #[test]
    fn burda_passes_last_one_three_nine_epochs_and_so_on() {
        // Written out from the paper: 1 epoch at pass 0, 3 at pass 1, 9 at pass 2, ...
        let mut expected = Vec::new();
        for (i, len) in [1, 3, 9, 27, 81, 243, 729, 2187].into_iter().enumerate() {
            expected.extend(std::iter::repeat_n(i as u32, len));
        }
        let got: Vec<u32> = (1..=expected.len()).map(burda_pass).collect();
        assert_eq!(got, expected);
        assert_eq!(expected.len(), 3280, "the paper's 3,280 epochs");
        assert_eq!(burda_pass(5000), 7, "past the schedule: the last pass");
    }

    #[test]
    fn burda_rates_fall_tenfold_over_seven_passes() {
        let lr = |e| lr_at(LrSchedule::Burda, 1e-3, e, 3280);
        assert_eq!(lr(1), 1e-3);
        assert!((lr(2) - 1e-3 * 0.1f64.powf(1.0 / 7.0)).abs() < 1e-15);
        assert!((lr(3280) - 1e-4).abs() < 1e-15, "pass 7: 1e-3 * 10^-1");
        assert_eq!(lr_at(LrSchedule::Constant, 3e-4, 999, 1000), 3e-4);
    }

    #[test]
    fn cosine_rates_are_pytorchs_cosine_annealing() {
        // Oracle: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6), lr 1e-3,
        // its get_last_lr() before each of 6 epochs (torch 2.11.0; torch updates the rate
        // recursively, so its last digits differ from the closed form):
        let torch = [
            0.001,
            0.0009330127018922195,
            0.0007500000000000001,
            0.0005,
            0.0002500000000000001,
            6.698729810778065e-05,
        ];
        for (epoch, want) in (1..=6).zip(torch) {
            let got = lr_at(LrSchedule::Cosine, 1e-3, epoch, 6);
            assert!((got - want).abs() < 1e-15, "epoch {epoch}: {got} vs {want}");
        }
    }
}
