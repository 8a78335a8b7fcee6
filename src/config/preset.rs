//! `--preset`: a published recipe as the flags of this crate, so that a user with the
//! recipe's data trains it in one command. A preset only fills the flags the user left
//! out; `config.json` records the preset's name and every value it set.
use super::{Arch, Likelihood};

/// The recipes `--preset` knows.
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum,
)]
pub enum Preset {
    /// VDVAE's CIFAR-10 model (Child 2021, its `hps.py`) as `--arch hierarchical` holds it:
    /// width 384, 16 latent channels a group, 1, 3, 6, 11 and 22 groups at 1, 4, 8, 16 and
    /// 32 pixels (its 43 decoder blocks), PixelCNN++'s mixture of 10 logistics, Adam at
    /// 2e-4, batches of 16, gradients clipped at 200 and updates skipped above 400 (in its
    /// units, nats per value: 3,072 times those here, where the loss is nats per image).
    #[serde(rename = "vdvae-cifar10")]
    #[value(name = "vdvae-cifar10")]
    VdvaeCifar10,
}

/// Values in a CIFAR image (3 x 32 x 32).
const CIFAR_VALUES: f64 = 3072.0;

/// The flags a preset sets.
pub struct PresetFlags {
    pub arch: Arch,
    pub likelihood: Likelihood,
    pub mixtures: usize,
    pub width: usize,
    pub depth: Vec<usize>,
    pub latent: usize,
    pub lr: f64,
    pub lr_schedule: super::LrSchedule,
    pub batch_size: usize,
    pub clip_grad: f64,
    pub skip_threshold: f64,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::VdvaeCifar10 => "vdvae-cifar10",
        }
    }

    pub fn flags(self) -> PresetFlags {
        match self {
            Preset::VdvaeCifar10 => PresetFlags {
                arch: Arch::Hierarchical,
                likelihood: Likelihood::LogisticMixture,
                mixtures: 10,
                width: 384,
                depth: vec![1, 3, 6, 11, 22],
                latent: 16,
                lr: 2e-4,
                // After its warm-up, VDVAE keeps its learning rate.
                lr_schedule: super::LrSchedule::Constant,
                batch_size: 16,
                // VDVAE's 200 and 400 bound the gradient of a loss in nats per value; this
                // crate's loss is in nats per image, 3,072 values of a CIFAR-10 image.
                clip_grad: 200.0 * CIFAR_VALUES,
                skip_threshold: 400.0 * CIFAR_VALUES,
            },
        }
    }

    /// What the preset leaves out of the published recipe, for the user to know.
    pub fn differences(self) -> &'static str {
        match self {
            Preset::VdvaeCifar10 => {
                "not VDVAE's: its AdamW weight decay (0.01), learning-rate warm-up, the \
                 exponential moving average of the weights it evaluates, and its encoder's own \
                 block counts (here the encoder mirrors the decoder's groups); its training ran \
                 for over a million steps on GPUs: give --epochs and --device cuda"
            }
        }
    }
}
