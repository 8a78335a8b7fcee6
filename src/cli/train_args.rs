//! `tch-vae train`'s flags, their conversion into the library's request (which resolves
//! them, `tch_vae::config::TrainRequest`), and the one list of the flags `--resume` takes.
use super::args::{parse_image_size, whole_number};
use clap::Args;
use std::path::PathBuf;
use tch_vae::config::{
    defaults, Activation, Arch, Binarize, Likelihood, LrSchedule, ModelFlags, Objective, Prior,
    Reproducible, TrainConfig, TrainRequest,
};

/// The flags that `--resume` takes besides itself: the run's own config decides the rest,
/// and any other flag given with it is refused ([`refused_with_resume`]), so that a new
/// flag is never ignored silently on resume.
pub const RESUME_TAKES: [&str; 5] = ["epochs", "device", "threads", "no_cuda_graphs", "nproc"];

/// The flags of `train` (`command`) given on the command line (`matches`) that `--resume`
/// refuses, as written ("--lr").
pub fn refused_with_resume(command: &clap::Command, matches: &clap::ArgMatches) -> Vec<String> {
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    if !given("resume") {
        return Vec::new();
    }
    command
        .get_arguments()
        .filter(|arg| arg.get_long().is_some())
        .map(|arg| arg.get_id().as_str())
        .filter(|id| *id != "resume" && !RESUME_TAKES.contains(id) && given(id))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect()
}

#[derive(Args)]
pub struct TrainArgs {
    /// Continue the run in DIR from its checkpoint, with its own config (and
    /// --reproducible mode), until --epochs epochs in total (only --epochs, --device,
    /// --threads and --nproc may be given with it).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// The dataset: a folder of MNIST-format IDX files (gzip or raw) or of CIFAR-10/100
    /// binary files, or a NumPy .npy/.npz file.
    #[arg(long, default_value = defaults::DATA_DIR)]
    pub data: PathBuf,
    /// Run folder to create [default: models/<dataset>-<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    // No clap default: with --resume, the run's own count is the default.
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "Number of passes over the training set (in total, with --resume) [default: {}; with \
         --arch hierarchical, enough for at least {} updates (epochs times batches)]",
        defaults::EPOCHS,
        defaults::PICTURE_UPDATES
    ))]
    pub epochs: Option<usize>,
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "Images per training batch (the last batch of an epoch may be smaller; under torchrun, \
         each process's share) [default: {}; {} with --arch hierarchical]",
        defaults::BATCH_SIZE,
        defaults::HIERARCHICAL_BATCH_SIZE
    ))]
    pub batch_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true, help = format!(
        "Adam learning rate (with a --lr-schedule: that of the first epoch) [default: {}; {} \
         with --arch hierarchical]",
        defaults::LR,
        defaults::HIERARCHICAL_LR
    ))]
    pub lr: Option<f64>,
    /// A published recipe, filling its flags that are not given. vdvae-cifar10: --arch
    /// hierarchical --width 384 --latent 16 --depth 1,3,6,11,22 --likelihood logistic-mixture
    /// --lr 2e-4 --batch-size 16 --clip-grad 614400 --skip-threshold 1228800 (VDVAE's 200
    /// and 400 per value, for a loss per image); not its weight decay, warm-up or EMA.
    /// nvae-cifar10: --width 128 --latent 20 --depth 1,1,1,30,1 --lr 1e-2 --lr-schedule
    /// cosine --batch-size 32 --clip-grad 0 with the mixture; not its cells, flows or
    /// regularisers.
    #[arg(long, value_enum)]
    pub preset: Option<tch_vae::config::Preset>,
    /// Learning rate per epoch: constant; burda (Burda et al. 2015: passes i = 0..7 of 3^i
    /// epochs at --lr * 10^(-i/7), 3,280 in all); or cosine (from --lr to near 0 at --epochs,
    /// PyTorch's CosineAnnealingLR) [default: constant; cosine with --arch hierarchical].
    #[arg(long, value_enum)]
    pub lr_schedule: Option<LrSchedule>,
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "Latent dimensions (size of z); with --arch hierarchical, channels a pixel of each \
         latent group [default: {}; {} with --arch hierarchical]",
        defaults::LATENT,
        defaults::GROUP_LATENT
    ))]
    pub latent: Option<usize>,
    /// Hidden layer widths of the encoder, comma-separated; the decoder mirrors them.
    #[arg(long, value_delimiter = ',', default_value = defaults::HIDDEN, allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub hidden: Vec<usize>,
    /// Observation model p(x|z): bernoulli (cross-entropy), gaussian (squared error),
    /// logistic (8-bit pixels, discretized logistic with a learned scale per pixel: exact
    /// bits/dim), or logistic-mixture (PixelCNN++'s mixture of --mixtures discretized
    /// logistics per pixel, colour channels coupled: the colour models' likelihood)
    /// [default: bernoulli; colour images given neither --arch nor --likelihood:
    /// logistic-mixture, see --arch].
    #[arg(long, value_enum)]
    pub likelihood: Option<Likelihood>,
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "Components of --likelihood logistic-mixture (or the colour recipe, see --arch), \
         from 1 to {} [default: {}]",
        tch_vae::config::MAX_MIXTURES,
        defaults::MIXTURES
    ))]
    pub mixtures: Option<usize>,
    /// With --arch conv: the channels of each stride-2 convolution, comma-separated (one
    /// stage each; image sides must divide by 2^stages) [default: 32, doubling per stage,
    /// one stage per halving of the sides down to 8 pixels: 32,64 for 28x28 or 32x32,
    /// 32,64,128 for 64x64].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub conv_channels: Option<Vec<usize>>,
    /// Network family: mlp, conv (strided convolutions before the hidden layers), or
    /// hierarchical (a top-down VAE in the VDVAE style: --depth latent groups of --latent
    /// channels a pixel at each resolution, --width channels; for 8-bit colour images; its
    /// run ends by fitting an ex-post prior, as `tch-vae fit-prior` does, and drawing
    /// samples-fitted.png from it) [default: mlp; colour images (3 channels) given neither --arch nor --likelihood get
    /// the colour recipe: hierarchical with --likelihood logistic-mixture, or conv with it
    /// where --conditional, --prior vamp or --conv-channels is given].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "With --arch hierarchical (or the colour recipe, see --arch): channels of the \
         residual stream, from 1 to {} [default: {}]",
        tch_vae::config::MAX_WIDTH,
        defaults::WIDTH
    ))]
    pub width: Option<usize>,
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "With --arch hierarchical (or the colour recipe): latent groups (and residual blocks) \
         at each resolution, \
         from 1 to {}: one number for all, or one per resolution, comma-separated, top-down \
         (VDVAE's CIFAR-10 groups: 1,3,6,11,22 at 1, 4, 8, 16, 32) [default: {}]",
        tch_vae::config::MAX_DEPTH,
        defaults::DEPTH
    ))]
    pub depth: Option<Vec<usize>>,
    /// What training minimises: elbo (recon + beta * KL), or iwae, the negative k-sample
    /// importance-weighted bound of Burda et al. (2015), with --k samples per image.
    #[arg(long, value_enum, default_value_t = Objective::Elbo)]
    pub objective: Objective,
    /// Importance samples per image for --objective iwae.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub k: usize,
    /// The prior p(z): normal (N(0, I)), or vamp, the VampPrior of Tomczak & Welling
    /// (2018): a mixture of the encoder's posteriors at --pseudo-inputs learned inputs.
    #[arg(long, value_enum, default_value_t = Prior::Normal)]
    pub prior: Prior,
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>, help = format!(
        "Learned pseudo-inputs (mixture components) of --prior vamp [default: {}]",
        defaults::PSEUDO_INPUTS
    ))]
    pub pseudo_inputs: Option<usize>,
    /// A conditional VAE (Sohn et al. 2015): the one-hot class label joins the input of
    /// the encoder's and the decoder's first linear layer. The data need labels.
    #[arg(long)]
    pub conditional: bool,
    /// Nonlinearity of the hidden layers: relu, or tanh (Burda et al. 2015).
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Weight of the KL term: loss = recon + beta * KL (1 = the ELBO; 0 = no KL).
    #[arg(long, default_value_t = defaults::BETA, allow_negative_numbers = true)]
    pub beta: f64,
    /// Binary pixels: none (grey levels), static (drawn once, fixed seed) or dynamic
    /// (redrawn every pass). A Bernoulli likelihood is a log-likelihood only on binary data.
    #[arg(long, value_enum, default_value_t = Binarize::None)]
    pub binarize: Binarize,
    /// KL warm-up: beta ramps linearly from 0 over this many epochs (0 = off).
    #[arg(long, default_value_t = defaults::KL_WARMUP, allow_negative_numbers = true)]
    pub kl_warmup: f64,
    /// Free bits: each latent dimension's KL counts as at least this many nats (0 = off).
    #[arg(long, default_value_t = defaults::FREE_BITS, allow_negative_numbers = true)]
    pub free_bits: f64,
    /// Rescale gradients whose joint L2 norm exceeds this; 0 = off [default: off, and for
    /// --arch hierarchical (the colour recipe too) VDVAE's 200 per value of an image, 614400
    /// for 32x32 RGB, as the loss is in nats per image].
    #[arg(long, allow_negative_numbers = true)]
    pub clip_grad: Option<f64>,
    /// Skip an update whose gradient norm (before clipping) exceeds this, as VDVAE does
    /// (400 with clipping at 200 for CIFAR-10, in nats per value: multiply by the values of
    /// an image for this loss in nats per image): a rare huge gradient of a deep
    /// model is dropped instead of applied; each epoch says how many were (off by default).
    #[arg(long, allow_negative_numbers = true)]
    pub skip_threshold: Option<f64>,
    /// Also write a checkpoint every N batches (one always follows each epoch).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub checkpoint_every: Option<usize>,
    /// Convert every image to 1 (grey) or 3 (RGB) channels [default: as the data are; a
    /// folder of grey and colour images needs it].
    #[arg(long)]
    pub channels: Option<usize>,
    /// Resize every image to fill H x W, then centre-crop ("64" or "64x48") [default: as
    /// the data are; a folder of images of several sizes needs it].
    #[arg(long, value_name = "H[xW]", value_parser = parse_image_size)]
    pub image_size: Option<[usize; 2]>,
    /// For a dataset without its own test split (a .npy, an .npz without x_test): the
    /// share of images held out for testing, drawn with --seed.
    #[arg(long, default_value_t = defaults::TEST_FRACTION)]
    pub test_fraction: f64,
    /// Seed for weight initialisation, shuffling and sampling.
    #[arg(long, default_value_t = defaults::SEED, allow_negative_numbers = true, value_parser = whole_number::<u64>)]
    pub seed: u64,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Train on N training images only (quick runs, tests): a file's first N; of an image
    /// folder, N drawn with --seed from every class (its files run class by class).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub limit: Option<usize>,
    /// CPU threads for libtorch [default: the physical cores, at most the CPUs this process
    /// may use, and fewer while other programs keep cores busy where the count does not
    /// change the last bits (MLP models on Intel's CPUs); elsewhere a run keeps its count,
    /// says when fewer threads would have run faster, and a resumed run is told when it
    /// runs another].
    #[arg(long, allow_negative_numbers = true, value_parser = whole_number::<usize>)]
    pub threads: Option<usize>,
    /// Train on N processes of this machine, which this one starts as `torchrun
    /// --standalone --nproc-per-node N --no-python tch-vae train ...` would: one run,
    /// --batch-size each process's share, the CPU only; each process gets --threads or the
    /// CPUs divided among them [default: 1, this process alone].
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub nproc: Option<u16>,
    /// On CUDA, launch every training step's kernels one by one instead of replaying the
    /// step from a recorded CUDA graph (the default, except with --kl-warmup): slower,
    /// and the same numbers (measured identical for the MLP).
    #[arg(long)]
    pub no_cuda_graphs: bool,
    /// On CUDA, use cuDNN's deterministic convolution algorithms (slower): two runs of an
    /// --arch conv model then give the same numbers. On the CPU the same seed gives the
    /// same numbers without it, within the limits of --reproducible.
    #[arg(long)]
    pub deterministic: bool,
    /// Which CPUs give the same numbers for the same seed. machine: the same bits on one
    /// kind of CPU, at any thread count and load where MKL's strict reproducible mode holds
    /// (Intel's CPUs; elsewhere at one count), MKL's fastest code for this CPU (measured at
    /// 1.02x the time without it). portable: the same bits on any x86-64 CPU with AVX2 of
    /// the same maker (on AMD's at one thread count): every Intel CPU alike, every AMD CPU
    /// alike, Intel's and AMD's bits not (MKL takes other code on each;
    /// libtorch's kernels pinned to AVX2, MKL to AVX2 on Intel, convolutions without oneDNN;
    /// measured 1.2x an MLP epoch on an Intel CPU with AVX-512, 1.9x a conv epoch). A
    /// MKL_CBWR or ATEN_CPU_CAPABILITY of your own wins and is recorded in config.json.
    /// With --resume: the run's own mode.
    #[arg(long, value_enum, default_value_t = Reproducible::Machine)]
    pub reproducible: Reproducible,
}

impl TrainArgs {
    /// The request for a new run (for `--resume`, see `cli/mod.rs`).
    pub fn into_request(self) -> TrainRequest {
        let preset = self.preset.map(|p| p.flags());
        let from = |f: fn(&tch_vae::config::PresetFlags) -> f64| preset.as_ref().map(f);
        let given_or_preset = self.arch.is_some() || self.likelihood.is_some() || preset.is_some();
        let batch_size = (self.batch_size).or(preset.as_ref().map(|p| p.batch_size));
        let clip_grad = self.clip_grad.or(preset.as_ref().map(|p| p.clip_grad));
        TrainRequest {
            model: ModelFlags {
                hidden: self.hidden,
                latent: self.latent.or(preset.as_ref().map(|p| p.latent)),
                likelihood: self
                    .likelihood
                    .or(preset.as_ref().map(|p| p.likelihood))
                    .unwrap_or(Likelihood::Bernoulli),
                arch: self
                    .arch
                    .or(preset.as_ref().map(|p| p.arch))
                    .unwrap_or(Arch::Mlp),
                activation: self.activation,
                prior: self.prior,
                pseudo_inputs: self.pseudo_inputs,
                mixtures: self.mixtures.or(preset.as_ref().map(|p| p.mixtures)),
                conv_channels: self.conv_channels,
                conditional: self.conditional,
                width: self.width.or(preset.as_ref().map(|p| p.width)),
                depth: self.depth.or(preset.as_ref().map(|p| p.depth.clone())),
                colour_recipe: !given_or_preset,
            },
            train: TrainConfig {
                data: self.data,
                // For the checks before the data; the request's own field decides.
                epochs: self.epochs.unwrap_or(defaults::EPOCHS),
                // For the checks before the data; the request's own fields decide.
                batch_size: batch_size.unwrap_or(defaults::BATCH_SIZE),
                lr: self.lr.or(from(|p| p.lr)).unwrap_or(defaults::LR),
                beta: self.beta,
                seed: self.seed,
                limit: self.limit,
                device: self.device,
                binarize: self.binarize,
                kl_warmup: self.kl_warmup,
                free_bits: self.free_bits,
                // For the checks before the data; the request's own field decides.
                clip_grad,
                skip_threshold: (self.skip_threshold)
                    .or(preset.as_ref().and_then(|p| p.skip_threshold)),
                preset: self.preset,
                checkpoint_every: self.checkpoint_every,
                deterministic: self.deterministic,
                test_fraction: self.test_fraction,
                channels: self.channels,
                image_size: self.image_size,
                objective: self.objective,
                k: self.k,
                reproducible: self.reproducible,
                ..TrainConfig::defaults()
            },
            epochs: self.epochs,
            batch_size,
            lr: self.lr.or(from(|p| p.lr)),
            lr_schedule: self.lr_schedule.or(preset.as_ref().map(|p| p.lr_schedule)),
            clip_grad,
            out: self.out,
            threads: self.threads,
            cuda_graphs: !self.no_cuda_graphs,
        }
    }
}

#[cfg(test)]
mod tests;
