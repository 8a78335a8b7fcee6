//! The sizes of `--arch hierarchical` in its configuration: its resolutions, its groups
//! at each, and the rules its flags and sizes follow (`model/hierarchy/` builds the network
//! from them).
use super::resolve::{ModelFlags, TrainRequest};
use super::{defaults, Arch, ModelConfig, Prior, RunConfig, MAX_DEPTH, MAX_WIDTH};
use anyhow::{ensure, Result};

impl ModelConfig {
    /// The resolutions of `--arch hierarchical`, top-down: the image's sides halved while
    /// both are even and the smaller is above 4 (32x32: 32, 16, 8, 4), then 1x1.
    pub fn resolutions(&self) -> Vec<(usize, usize)> {
        let mut sides = vec![(self.image_height, self.image_width)];
        while let Some(&(a, b)) = sides.last() {
            if a % 2 == 0 && b % 2 == 0 && a.min(b) > 4 {
                sides.push((a / 2, b / 2));
            } else {
                break;
            }
        }
        if sides.last() != Some(&(1, 1)) {
            sides.push((1, 1));
        }
        sides.reverse();
        sides
    }

    /// The groups of `--arch hierarchical` at each of its [`ModelConfig::resolutions`].
    pub fn depth_at(&self, level: usize) -> usize {
        match self.depth.as_slice() {
            [one] => *one,
            each => each.get(level).copied().unwrap_or(0),
        }
    }

    /// `--depth` against the resolutions: one number, or one per resolution.
    pub(super) fn check_depth(&self) -> Result<()> {
        if self.arch != Arch::Hierarchical {
            return Ok(());
        }
        let sides = self.resolutions();
        ensure!(
            self.depth.len() == 1 || self.depth.len() == sides.len(),
            "--depth {}: give one number, or one per resolution; these {}x{} images have \
                 {} ({})",
            self.depth
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
            self.image_height,
            self.image_width,
            sides.len(),
            sides
                .iter()
                .map(|(h, w)| format!("{h}x{w}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }
}

impl ModelFlags {
    /// `--width` and `--depth` belong to `--arch hierarchical`, which has no conditional or
    /// VampPrior form yet and no `--conv-channels`.
    pub(super) fn check_hierarchy(&self) -> Result<()> {
        let (width, depth) = (self.width(), self.depth());
        if self.arch != Arch::Hierarchical {
            ensure!(
                width == 0 && depth.is_empty(),
                "--width and --depth are for --arch hierarchical; give that architecture, or \
                 leave them out"
            );
            return Ok(());
        }
        ensure!(
            (1..=MAX_WIDTH).contains(&width),
            "--width must be from 1 to {MAX_WIDTH} (got {width})"
        );
        ensure!(
            !depth.is_empty() && depth.iter().all(|d| (1..=MAX_DEPTH).contains(d)),
            "--depth must be from 1 to {MAX_DEPTH} groups a resolution, one number or one per \
             resolution (got {depth:?})"
        );
        ensure!(
            self.latent() <= MAX_WIDTH,
            "--latent of --arch hierarchical is channels a pixel of each group: at most \
             {MAX_WIDTH} (got {})",
            self.latent()
        );
        ensure!(
            !self.conditional,
            "--conditional is not available with --arch hierarchical yet; use --arch conv or \
             mlp for a conditional model"
        );
        ensure!(
            self.prior == Prior::Normal,
            "--prior vamp is not available with --arch hierarchical: its top-down prior is \
             learned already"
        );
        ensure!(
            self.conv_channels.as_ref().is_none_or(|c| c.is_empty()),
            "--conv-channels is for --arch conv; --arch hierarchical takes --width and --depth"
        );
        Ok(())
    }
}

impl TrainRequest {
    /// The training defaults of `--arch hierarchical` that `run` took (its epochs, rate,
    /// schedule, batch and clipping are not the other models'), for the run to say; None
    /// for other models, or when every one of them was given.
    pub fn hierarchical_defaults_taken(&self, run: &RunConfig) -> Option<String> {
        use clap::ValueEnum;
        if run.model.arch != Arch::Hierarchical {
            return None;
        }
        let t = &run.train;
        let schedule = t.lr_schedule.to_possible_value();
        let taken = [
            self.epochs
                .is_none()
                .then(|| format!("--epochs {}", t.epochs)),
            self.lr.is_none().then(|| format!("--lr {:e}", t.lr)),
            (self.lr_schedule.is_none().then_some(schedule).flatten())
                .map(|v| format!("--lr-schedule {}", v.get_name())),
            (self.batch_size.is_none())
                .then(|| format!("--batch-size {}", defaults::batch_size(Arch::Hierarchical))),
            (self.clip_grad.is_none())
                .then(|| format!("--clip-grad {}", t.clip_grad.unwrap_or(0.0))),
        ];
        let taken: Vec<String> = taken.into_iter().flatten().collect();
        // The constants' values as the notes write them (PICTURE_UPDATES is 3,400).
        let epochs = format!(
            "; --epochs: at least {} and 3,400 updates, what the developers' colour sets \
             needed for recognisable pictures",
            defaults::EPOCHS
        );
        let asides = [
            self.epochs.is_none().then_some(epochs.as_str()),
            self.clip_grad
                .is_none()
                .then_some("; --clip-grad 0: no clipping"),
        ];
        (!taken.is_empty()).then(|| {
            format!(
                "--arch hierarchical's training defaults: {} (give a flag to change one{})",
                taken.join(" "),
                asides.into_iter().flatten().collect::<String>()
            )
        })
    }
}

impl RunConfig {
    /// A note when a hierarchical run's epochs give it fewer updates than its pictures
    /// needed on the developers' sets ([`defaults::FEW_UPDATES`]), with the `--epochs` that
    /// gives the sprites' count; None for other models or enough updates.
    pub fn few_updates_note(&self, train_images: usize) -> Option<String> {
        if self.model.arch != Arch::Hierarchical {
            return None;
        }
        let batches = defaults::batches(train_images, self.train.batch_size);
        let updates = self.train.epochs * batches;
        (updates < defaults::FEW_UPDATES).then(|| {
            let epochs = defaults::PICTURE_UPDATES
                .div_ceil(batches)
                .min(super::MAX_EPOCHS);
            let plural = |n: usize, one: &'static str, many: &'static str| match n {
                1 => one,
                _ => many,
            };
            format!(
                "{} {} of {batches} {} {} {updates} update{}: too few for recognisable \
                 pictures on the developers' colour sets, which took 1,880 (6,000 digits) to \
                 3,400 (2,704 sprites; notebooks-export/RESULTS.md). For samples, give \
                 --epochs {epochs} (at least 3,400 updates here)",
                self.train.epochs,
                plural(self.train.epochs, "epoch", "epochs"),
                plural(batches, "batch", "batches"),
                plural(self.train.epochs, "is", "are"),
                plural(updates, "", "s"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ModelConfig;

    #[test]
    fn depth_reads_as_one_number_or_a_list() {
        let mut json = serde_json::to_value(ModelConfig::mlp(8, 8, vec![], 2)).unwrap();
        json["depth"] = serde_json::json!(3);
        let one: ModelConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(one.depth, vec![3]);
        json["depth"] = serde_json::json!([1, 3, 6]);
        let many: ModelConfig = serde_json::from_value(json).unwrap();
        assert_eq!((many.depth_at(0), many.depth_at(2)), (1, 6));
    }

    #[test]
    fn a_hierarchical_run_with_few_updates_says_how_many_epochs_give_enough() {
        use crate::config::{Arch, RunConfig, TrainConfig};
        let config = |arch| {
            let mut model = ModelConfig::mlp(32, 32, vec![], 8);
            model.arch = arch;
            let mut train = TrainConfig::defaults();
            train.batch_size = 32;
            RunConfig {
                version: String::new(),
                model,
                train,
                data: Default::default(),
                numerics: None,
            }
        };
        let run = config(Arch::Hierarchical);
        // The sprites' 2,704 images: 85 batches of 32, 850 updates in 10 epochs; 3,400
        // updates are 40 epochs (counted by hand).
        let note = run.few_updates_note(2704).expect("850 updates");
        assert!(
            note.starts_with("10 epochs of 85 batches are 850 updates")
                && note.contains("--epochs 40 "),
            "{note}"
        );
        // The digits' 6,000: 188 batches, 1,880 updates, enough.
        assert_eq!(run.few_updates_note(6000), None);
        // A set smaller than a batch: one update an epoch.
        let note = run.few_updates_note(5).unwrap();
        assert!(
            note.starts_with("10 epochs of 1 batch are 10 updates")
                && note.contains("--epochs 3400 "),
            "{note}"
        );
        // Other models are not told.
        assert_eq!(config(Arch::Mlp).few_updates_note(10), None);
    }
}
