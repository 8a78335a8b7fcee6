//! The defaults of `tch-vae train`, in one place: clap shows and applies them, the
//! Python reference (`tch_vae.reference` in `scripts/`) is tested against them, and
//! [`crate::config::TrainConfig::defaults`] is built from them.
/// Debian's `dataset-fashion-mnist` package installs the default dataset here.
pub const DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";
pub const EPOCHS: usize = 10;
pub const BATCH_SIZE: usize = 128;
/// `--batch-size` of `--arch hierarchical`: more, smaller steps in the same epochs (VDVAE
/// trains CIFAR-10 at 16 a GPU); its epoch costs about the same per image at either size.
pub const HIERARCHICAL_BATCH_SIZE: usize = 32;

/// The batch size of `arch` when `--batch-size` is not given.
pub fn batch_size(arch: super::Arch) -> usize {
    match arch {
        super::Arch::Hierarchical => HIERARCHICAL_BATCH_SIZE,
        _ => BATCH_SIZE,
    }
}
pub const LR: f64 = 1e-3;
/// `--lr` and `--lr-schedule` of `--arch hierarchical`: cosine annealing from 2e-3 (on
/// 32x32 colour digits, 40 epochs, the test ELBO fell from 3.51 bits/dim at a constant
/// 1e-3 to 1.96; notebooks-export/RESULTS.md, "The hierarchical model").
pub const HIERARCHICAL_LR: f64 = 2e-3;

/// The learning rate of `arch` when `--lr` is not given.
pub fn lr(arch: super::Arch) -> f64 {
    match arch {
        super::Arch::Hierarchical => HIERARCHICAL_LR,
        _ => LR,
    }
}

/// The learning-rate schedule of `arch` when `--lr-schedule` is not given.
pub fn lr_schedule(arch: super::Arch) -> super::LrSchedule {
    match arch {
        super::Arch::Hierarchical => super::LrSchedule::Cosine,
        _ => super::LrSchedule::Constant,
    }
}
/// `--clip-grad` of `--arch hierarchical`, per value of an image: VDVAE's 200, which bounds
/// the gradient of a loss in nats per value (this crate's loss is in nats per image). Over
/// 40 epochs it took 3,000 32x32 sprites from 0.50 to 0.32 bits/dim and left the colour
/// digits as they were (4,155 against 4,165 nats; notebooks-export/RESULTS.md, "The colour
/// defaults" and "Where the colour samples break").
pub const HIERARCHICAL_CLIP_PER_VALUE: f64 = 200.0;

/// The gradient clipping of `arch` on images of `values` values when `--clip-grad` is not
/// given (None: no clipping).
pub fn clip_grad(arch: super::Arch, values: usize) -> Option<f64> {
    match arch {
        super::Arch::Hierarchical => Some(HIERARCHICAL_CLIP_PER_VALUE * values as f64),
        _ => None,
    }
}
pub const LATENT: usize = 20;
/// `--latent` of `--arch hierarchical`: channels a pixel of each latent group (VDVAE: 16).
pub const GROUP_LATENT: usize = 8;
/// Encoder hidden widths, comma-separated (clap's form of a list default).
pub const HIDDEN: &str = "400";
pub const BETA: f64 = 1.0;
pub const SEED: u64 = 42;
pub const KL_WARMUP: f64 = 0.0;
pub const FREE_BITS: f64 = 0.0;
/// The share of a source's images held out for testing when it has no test split.
pub const TEST_FRACTION: f64 = 0.1;
/// `--pseudo-inputs` of `--prior vamp`: Tomczak & Welling (2018) used 500 for MNIST.
pub const PSEUDO_INPUTS: usize = 500;
/// `--mixtures` of `--likelihood logistic-mixture`: PixelCNN++, NVAE and VDVAE use 10.
pub const MIXTURES: usize = 10;
/// `--width` of `--arch hierarchical`: small enough for a CPU (VDVAE's CIFAR-10 uses 384).
pub const WIDTH: usize = 64;
/// `--depth` of `--arch hierarchical`: latent groups per resolution (VDVAE's CIFAR-10
/// model has 3 to 13 blocks per resolution).
pub const DEPTH: usize = 2;

/// The default `--conv-channels` for images of `height` x `width`: one stride-2 stage per
/// halving that keeps both sides even and larger than 8 (28x28 and 32x32: two stages,
/// 64x64: three), at least one; 32 channels, doubling per stage up to 256.
pub fn default_conv_channels(height: usize, width: usize) -> Vec<usize> {
    let halvings = |mut side: usize| {
        let mut n = 0;
        while side > 8 && side.is_multiple_of(2) {
            side /= 2;
            n += 1;
        }
        n
    };
    let stages = halvings(height).min(halvings(width)).max(1);
    (0..stages).map(|i| (32 << i).min(256)).collect()
}

/// `fit-prior --dims`: on the 6,000 colour digits (5,392 code values, 96.7% of their variance
/// in 64 coordinates) the samples' Frechet distance was lowest at 64 of 32, 64, 128, 256 and
/// 512 (notebooks-export/RESULTS.md, "An ex-post prior for the samples").
pub const FIT_PRIOR_DIMS: usize = 64;

/// Updates (epochs times batches) below which `--arch hierarchical`'s pictures were not yet
/// recognisable on the developers' sets, so that a run says so at its start: 6,000 colour
/// digits were at 1,880 (the default 10 epochs); 2,704 sprites were not at 850 or 1,700,
/// and were at 3,400 (notebooks-export/RESULTS.md, "The sprites with the ex-post prior").
pub const FEW_UPDATES: usize = 1_800;
/// The updates the sprites took: `--arch hierarchical`'s default epochs give at least
/// these ([`epochs`]), and the note of a run given fewer suggests the `--epochs` that does.
pub const PICTURE_UPDATES: usize = 3_400;

/// The epochs of `arch` when `--epochs` is not given, for `train_images` in batches of
/// `batch`: [`EPOCHS`], or for `--arch hierarchical` at least [`PICTURE_UPDATES`] updates
/// (2,704 32x32 sprites: 40 epochs of 85 batches; CIFAR-10's 50,000: still 10).
pub fn epochs(arch: super::Arch, train_images: usize, batch: usize) -> usize {
    match arch {
        super::Arch::Hierarchical => PICTURE_UPDATES
            .div_ceil(batches(train_images, batch))
            .clamp(EPOCHS, super::MAX_EPOCHS),
        _ => EPOCHS,
    }
}

/// The updates of an epoch: `train_images` in batches of `batch`, the last one smaller;
/// at least one.
pub fn batches(train_images: usize, batch: usize) -> usize {
    train_images.div_ceil(batch.max(1)).max(1)
}
