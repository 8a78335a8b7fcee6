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
    /// NVAE's CIFAR-10 model (Vahdat & Kautz 2020, its README's command and `train.py`'s
    /// defaults) as far as `--arch hierarchical` holds it: 128 channels, 30 groups of 20
    /// latent channels at 16x16 (one group at each other resolution, which this model
    /// needs), the mixture of 10 logistics, Adam at 1e-2 annealed by a cosine, batches of 32,
    /// no gradient clipping.
    #[serde(rename = "nvae-cifar10")]
    #[value(name = "nvae-cifar10")]
    NvaeCifar10,
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
    /// `--clip-grad`: every recipe says whether it clips (0: it does not).
    pub clip_grad: f64,
    pub skip_threshold: Option<f64>,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::VdvaeCifar10 => "vdvae-cifar10",
            Preset::NvaeCifar10 => "nvae-cifar10",
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
                skip_threshold: Some(400.0 * CIFAR_VALUES),
            },
            Preset::NvaeCifar10 => PresetFlags {
                arch: Arch::Hierarchical,
                likelihood: Likelihood::LogisticMixture,
                mixtures: 10,
                width: 128,
                depth: vec![1, 1, 1, 30, 1],
                latent: 20,
                lr: 1e-2,
                // NVAE anneals from 1e-2 to 1e-4 with a cosine (its learning_rate_min).
                lr_schedule: super::LrSchedule::Cosine,
                batch_size: 32,
                // NVAE does not clip: 0 turns the hierarchical model's default off.
                clip_grad: 0.0,
                skip_threshold: None,
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
            Preset::NvaeCifar10 => {
                "not NVAE's: its cells (squeeze-and-excitation, batch norm, depthwise \
                 convolutions), its normalising flows, spectral and weight-norm regularisation \
                 (weight_decay_norm), Adamax, the learning rate's 5-epoch warm-up and floor \
                 of 1e-4, the KL warm-up over the first 30% of epochs (give --kl-warmup 120 \
                 with --epochs 400), and the one group it keeps at each other resolution; its \
                 training ran 400 epochs on 8 GPUs (batch 32 each): give --epochs and --device \
                 cuda"
            }
        }
    }
}
