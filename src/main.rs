//! The `tch-vae` command line: parses flags with clap (defaults from
//! `tch_vae::config::defaults`), resolves `--device`, converts the rest into the library's
//! plain request types, runs the command with a console reporter, and prints the error
//! chain on failure.
mod args;
mod console;
mod signals;

use args::{parse_image_size, ArchArg, BinarizeArg, LikelihoodArg, ObjectiveArg};
use clap::{Args, Parser, Subcommand};
use console::Console;
use signals::StopRequest;
use std::path::PathBuf;
use std::process::ExitCode;
use tch_vae::commands::{self, EvalRequest, Interrupted, ResumeRequest, TrainRequest};
use tch_vae::config::{defaults, Arch, Likelihood, ModelConfig, Objective, TrainConfig};
use tch_vae::device;
use tch_vae::error::without_backtrace;
use tch_vae::eval::report::EvalSettings;

#[derive(Parser)]
#[command(
    name = "tch-vae",
    version,
    about = "Train Variational Autoencoders on libtorch from Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a VAE and write a run folder (config, weights, metrics, figures).
    Train(TrainArgs),
    /// (Re)write a run's TorchScript module vae.pt from its config.json and weights.
    Export(ExportArgs),
    /// Evaluate a run on its test set: negative ELBO, importance-weighted -log p(x),
    /// bits/dim, active units, KL per dimension, aggregate posterior; writes eval.json.
    Eval(EvalArgs),
    /// Draw a new 8x8 grid of images decoded from z ~ N(0, I) with a run's saved weights.
    Sample(SampleArgs),
    /// Redraw a run's figures: loss.svg from metrics.csv; samples and reconstructions
    /// from the saved weights.
    Plot(PlotArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// Continue the run in DIR from its checkpoint, with its own config, until --epochs
    /// epochs in total (only --epochs, --device and --threads may be given with it).
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "data", "out", "batch_size", "lr", "latent", "hidden", "likelihood", "arch", "beta",
        "binarize", "kl_warmup", "free_bits", "seed", "limit", "clip_grad", "checkpoint_every",
        "deterministic", "test_fraction", "channels", "image_size", "conv_channels", "objective", "k"])]
    resume: Option<PathBuf>,
    /// The dataset: a folder of MNIST-format IDX files (gzip or raw) or of CIFAR-10/100
    /// binary files, or a NumPy .npy/.npz file.
    #[arg(long, default_value = defaults::DATA_DIR)]
    data: PathBuf,
    /// Run folder to create [default: models/<dataset>-<UTC time>].
    #[arg(long)]
    out: Option<PathBuf>,
    // No clap default: with --resume, the run's own count is the default.
    #[arg(long, help = format!(
        "Number of passes over the training set (in total, with --resume) [default: {}]",
        defaults::EPOCHS
    ))]
    epochs: Option<usize>,
    /// Images per training batch (the last batch of an epoch may be smaller).
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = defaults::LR, allow_negative_numbers = true)]
    lr: f64,
    /// Latent dimensions (size of z).
    #[arg(long, default_value_t = defaults::LATENT)]
    latent: usize,
    /// Hidden layer widths of the encoder, comma-separated; the decoder mirrors them.
    #[arg(long, value_delimiter = ',', default_value = defaults::HIDDEN)]
    hidden: Vec<usize>,
    /// Observation model p(x|z): bernoulli (cross-entropy), gaussian (squared error), or
    /// logistic (8-bit pixels, discretized logistic with a learned scale per pixel: exact
    /// bits/dim).
    #[arg(long, value_enum, default_value_t = LikelihoodArg::Bernoulli)]
    likelihood: LikelihoodArg,
    /// With --arch conv: the channels of each stride-2 convolution, comma-separated (one
    /// stage each; image sides must divide by 2^stages) [default: 32, doubling per stage,
    /// one stage per halving of the sides down to 8 pixels: 32,64 for 28x28 or 32x32,
    /// 32,64,128 for 64x64].
    #[arg(long, value_delimiter = ',')]
    conv_channels: Option<Vec<usize>>,
    /// Network family: mlp, or conv (strided convolutions before the hidden layers).
    #[arg(long, value_enum, default_value_t = ArchArg::Mlp)]
    arch: ArchArg,
    /// What training minimises: elbo (recon + beta * KL), or iwae, the negative k-sample
    /// importance-weighted bound of Burda et al. (2015), with --k samples per image.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Elbo)]
    objective: ObjectiveArg,
    /// Importance samples per image for --objective iwae.
    #[arg(long, default_value_t = 1)]
    k: usize,
    /// Weight of the KL term: loss = recon + beta * KL (1 = the ELBO; 0 = no KL).
    #[arg(long, default_value_t = defaults::BETA, allow_negative_numbers = true)]
    beta: f64,
    /// Binary pixels: none (grey levels), static (drawn once, fixed seed) or dynamic
    /// (redrawn every pass). A Bernoulli likelihood is a log-likelihood only on binary data.
    #[arg(long, value_enum, default_value_t = BinarizeArg::None)]
    binarize: BinarizeArg,
    /// KL warm-up: beta ramps linearly from 0 over this many epochs (0 = off).
    #[arg(long, default_value_t = defaults::KL_WARMUP, allow_negative_numbers = true)]
    kl_warmup: f64,
    /// Free bits: each latent dimension's KL counts as at least this many nats (0 = off).
    #[arg(long, default_value_t = defaults::FREE_BITS, allow_negative_numbers = true)]
    free_bits: f64,
    /// Rescale gradients whose joint L2 norm exceeds this (off by default).
    #[arg(long, allow_negative_numbers = true)]
    clip_grad: Option<f64>,
    /// Also write a checkpoint every N batches (one always follows each epoch).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Convert every image to 1 (grey) or 3 (RGB) channels [default: as the data are; a
    /// folder of grey and colour images needs it].
    #[arg(long)]
    channels: Option<usize>,
    /// Resize every image to fill H x W, then centre-crop ("64" or "64x48") [default: as
    /// the data are; a folder of images of several sizes needs it].
    #[arg(long, value_name = "H[xW]", value_parser = parse_image_size)]
    image_size: Option<[usize; 2]>,
    /// For a dataset without its own test split (a .npy, an .npz without x_test): the
    /// share of images held out for testing, drawn with --seed.
    #[arg(long, default_value_t = defaults::TEST_FRACTION)]
    test_fraction: f64,
    /// Seed for weight initialisation, shuffling and sampling.
    #[arg(long, default_value_t = defaults::SEED)]
    seed: u64,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Train on the first N training images only (quick runs, tests).
    #[arg(long)]
    limit: Option<usize>,
    /// libtorch intra-op threads [default: libtorch's choice, the physical cores].
    #[arg(long)]
    threads: Option<usize>,
    /// On CUDA, launch every training step's kernels one by one instead of replaying the
    /// step from a recorded CUDA graph (the default, except with --kl-warmup): slower,
    /// and the same numbers (measured identical for the MLP).
    #[arg(long)]
    no_cuda_graphs: bool,
    /// On CUDA, use cuDNN's deterministic convolution algorithms (slower): two runs of an
    /// --arch conv model then give the same numbers. The CPU is deterministic already.
    #[arg(long)]
    deterministic: bool,
}

#[derive(Args)]
struct ExportArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// File to write [default: RUN/vae.pt].
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// Importance samples k per image [default: 5000 on CUDA, 200 on CPU].
    #[arg(long)]
    iw_samples: Option<usize>,
    /// Decoded samples per chunk (memory) [default: 524288 on CUDA, 16384 on CPU].
    #[arg(long)]
    batch_rows: Option<usize>,
    /// Evaluate the first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed for the importance samples [default: the run's seed].
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Data folder [default: the one in config.json].
    #[arg(long)]
    data: Option<PathBuf>,
    /// File to write [default: RUN/eval.json].
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// PNG file to write [default: RUN/samples.png].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Seed for z ~ N(0, I) [default: a new one each time, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Args)]
struct PlotArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// Data folder for the reconstruction figure [default: the one in config.json].
    #[arg(long)]
    data: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    // A safety net: tch's infallible calls panic on libtorch errors (say, an allocation
    // that an absurd configuration asks for). Report those like any other error, without
    // Rust's panic banner or libtorch's C++ backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| execute(command)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(anyhow::anyhow!("libtorch failed: {text}"))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Interrupted>() {
            Some(stopped) => {
                eprintln!("{stopped}");
                ExitCode::from(stopped.stop.exit_code())
            }
            None => {
                eprintln!("error: {}", without_backtrace(&format!("{e:#}")));
                ExitCode::FAILURE
            }
        },
    }
}

fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Train(a) => {
            let device = device::resolve(&a.device)?;
            let mut console = Console::new(Some(StopRequest::install()?));
            if let Some(dir) = a.resume {
                let request = ResumeRequest {
                    run: dir,
                    epochs: a.epochs,
                    device,
                    threads: a.threads,
                    cuda_graphs: !a.no_cuda_graphs,
                };
                commands::resume(&request, &mut console)?;
                return Ok(());
            }
            let request = TrainRequest {
                model: ModelConfig {
                    image_height: 0,
                    image_width: 0,
                    channels: 1,
                    // Chosen for the image size once the data are read, unless given.
                    conv_channels: a.conv_channels.unwrap_or_default(),
                    hidden: a.hidden,
                    latent: a.latent,
                    likelihood: match a.likelihood {
                        LikelihoodArg::Bernoulli => Likelihood::Bernoulli,
                        LikelihoodArg::Gaussian => Likelihood::Gaussian,
                        LikelihoodArg::Logistic => Likelihood::Logistic,
                    },
                    arch: match a.arch {
                        ArchArg::Mlp => Arch::Mlp,
                        ArchArg::Conv => Arch::Conv,
                    },
                },
                train: TrainConfig {
                    data: a.data,
                    epochs: a.epochs.unwrap_or(defaults::EPOCHS),
                    batch_size: a.batch_size,
                    lr: a.lr,
                    beta: a.beta,
                    seed: a.seed,
                    limit: a.limit,
                    device: device::name(device),
                    binarize: a.binarize.into(),
                    kl_warmup: a.kl_warmup,
                    free_bits: a.free_bits,
                    clip_grad: a.clip_grad,
                    checkpoint_every: a.checkpoint_every,
                    deterministic: a.deterministic,
                    test_fraction: a.test_fraction,
                    channels: a.channels,
                    image_size: a.image_size,
                    objective: match a.objective {
                        ObjectiveArg::Elbo => Objective::Elbo,
                        ObjectiveArg::Iwae => Objective::Iwae,
                    },
                    k: a.k,
                },
                device,
                out: a.out,
                threads: a.threads,
                cuda_graphs: !a.no_cuda_graphs,
            };
            commands::train(&request, &mut console)?;
        }
        Command::Export(a) => {
            let path = commands::export(&a.run, a.output)?;
            println!("wrote {}", path.display());
        }
        Command::Eval(a) => {
            let request = EvalRequest {
                run: a.run,
                settings: EvalSettings {
                    iw_samples: a.iw_samples,
                    batch_rows: a.batch_rows,
                    seed: a.seed,
                    limit: a.limit,
                },
                device: device::resolve(&a.device)?,
                data: a.data,
                output: a.output,
            };
            let (path, report) = commands::evaluate(&request, &mut Console::new(None))?;
            println!("{report}\nwrote {}", path.display());
        }
        Command::Sample(a) => {
            let seed = a.seed.unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                u64::from(nanos)
            });
            let path = commands::sample(&a.run, a.output, seed, device::resolve(&a.device)?)?;
            println!("wrote {} (seed {seed})", path.display());
        }
        Command::Plot(a) => {
            for path in commands::plot(&a.run, a.data.as_deref(), device::resolve(&a.device)?)? {
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
