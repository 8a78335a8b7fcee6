//! The `tch-vae` command line: parses flags with clap (defaults from
//! `tch_vae::config::defaults`), converts them into the library's plain request types,
//! runs the command with a console reporter ([`console`], stopped by [`signals`]), and
//! prints the error chain on failure ([`failure`]).
mod args;
mod console;
mod failure;
mod launch;
mod signals;
mod train_args;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use console::Console;
use signals::StopRequest;
use std::path::PathBuf;
use std::process::ExitCode;
use tch_vae::commands::{self, EvalRequest, ResumeRequest};
use tch_vae::config::defaults;
use tch_vae::eval::report::EvalSettings;
use tch_vae::model::mixture::Picture;
use tch_vae::native::numerics::{self, Reproducible};
use train_args::TrainArgs;

#[derive(Parser)]
#[command(
    name = "tch-vae",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\n", env!("TCHVAE_BUILT_WITH")),
    about = "Train Variational Autoencoders on libtorch from Rust"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a VAE and write a run folder (config, weights, metrics, figures).
    Train(Box<TrainArgs>),
    /// (Re)write a run's TorchScript module vae.pt from its config.json and weights.
    Export(ExportArgs),
    /// Evaluate a run on its test set: negative ELBO, importance-weighted -log p(x),
    /// bits/dim, active units, KL per dimension, aggregate posterior; writes eval.json.
    Eval(EvalArgs),
    /// Draw a new grid of images decoded from z ~ p(z) with a run's saved weights (8x8; for
    /// a conditional model, a row per class or 64 of --label).
    Sample(SampleArgs),
    /// Fit an ex-post prior to a trained run: a Gaussian mixture over its training images'
    /// posterior means (a hierarchical model's top groups), to draw samples from where the
    /// codes are; writes fitted-prior.safetensors, fitted-prior.json and samples-fitted.png.
    /// `sample --fitted-prior` draws from it.
    FitPrior(FitPriorArgs),
    /// Redraw a run's figures: loss.svg from metrics.csv; samples and reconstructions
    /// from the saved weights.
    Plot(PlotArgs),
    /// Compare runs: a table of their final metrics (and eval.json's numbers), and with
    /// --output their test-loss curves overlaid (.svg) or the table (.md, .csv).
    Compare(CompareArgs),
}

#[derive(Args)]
struct CompareArgs {
    /// Run folders written by `tch-vae train` (on the same data and likelihood).
    #[arg(required = true, value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Also write FILE: .svg (the test-loss curves overlaid), .md or .csv (the table);
    /// may be given more than once.
    #[arg(long, value_name = "FILE")]
    output: Vec<PathBuf>,
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
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    iw_samples: Option<usize>,
    /// Decoded samples per chunk (memory) [default: 524288 on CUDA, 16384 on CPU].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    batch_rows: Option<usize>,
    /// Evaluate the first N test images only.
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    limit: Option<usize>,
    /// Seed for the importance samples [default: the run's seed].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<u64>)]
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
    /// CPU threads for libtorch [default: the physical cores, at most the CPUs this process
    /// may use].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SampleArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// PNG file to write [default: RUN/samples.png, or RUN/samples-fitted.png with
    /// --fitted-prior].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Seed for z ~ p(z) [default: a new one each time, printed].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<u64>)]
    seed: Option<u64>,
    /// For a conditional model: 64 images of this class (0-based) [default: a row of 8 per
    /// class].
    #[arg(long, allow_negative_numbers = true)]
    label: Option<i64>,
    /// Draw z with the prior's standard deviations times this (from 0 to 10): below 1,
    /// smoother and more typical images (VDVAE and NVAE show theirs at 0.6 to 0.9). With
    /// N(0, I) it scales z; the VampPrior has none.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = args::temperature)]
    temperature: f64,
    /// How a logistic mixture's pixels are drawn: mode (each pixel's likeliest component:
    /// sharp, but a stroke the model is unsure of drops out) or mean (the mixture's mean,
    /// as the other likelihoods show theirs: such a stroke shows faint). Other likelihoods:
    /// their means either way.
    #[arg(long, value_enum, default_value_t = Picture::Mode)]
    picture: Picture,
    /// Draw z from the run's fitted prior (`tch-vae fit-prior`) instead of the model's
    /// prior: a hierarchical model's top groups from it, the rest from its own prior;
    /// --temperature scales both.
    #[arg(long)]
    fitted_prior: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Args)]
struct FitPriorArgs {
    /// Run folder written by `tch-vae train`.
    #[arg(long)]
    run: PathBuf,
    /// Gaussian components of the mixture (full covariances), or auto: the count of 1, 2,
    /// 3, 5, 8, 13, 21, 34, 55, 89 (those whose fit the memory holds) whose mixture gives a
    /// tenth of the training codes, held out, the highest log-likelihood.
    #[arg(long, default_value = "auto", allow_negative_numbers = true, value_parser = args::components)]
    components: args::Components,
    /// Principal coordinates of the codes that the mixture models (codes of fewer values
    /// are modelled whole; n training codes give at most n - 1, all they span).
    #[arg(long, default_value_t = defaults::FIT_PRIOR_DIMS, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    dims: usize,
    /// A hierarchical model's top groups to model; the rest are drawn from its own prior
    /// [default: every group above the image's own resolution].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    groups: Option<usize>,
    /// Fit to the first N training images [default: all].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    images: Option<usize>,
    /// Seed for the subspace's and the mixture's start, and for the samples.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = args::whole_number::<u64>)]
    seed: u64,
    /// Data folder [default: the one in config.json].
    #[arg(long)]
    data: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N (the encoder's; the mixture is fitted on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads for libtorch [default: the physical cores, at most the CPUs this process
    /// may use].
    #[arg(long, allow_negative_numbers = true, value_parser = args::whole_number::<usize>)]
    threads: Option<usize>,
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

pub fn main() -> ExitCode {
    let mut command = parse();
    // First, while this is the only thread: it sets this process's environment.
    let launch = match launch_ranks(&mut command) {
        Ok(launch) => launch,
        Err(e) => return failure::report(Err(e)),
    };
    // Before any libtorch operation and any other thread: MKL and ATen read their
    // settings once, at their first use (tch_vae::native::numerics says why).
    let result = numerics::init(reproducible_mode(&command))
        .and_then(|()| failure::catch(|| execute(command)));
    failure::report(match launch {
        Some(launch) => launch.finish(result),
        None => result,
    })
}

/// `train --nproc N` (N > 1): the other N - 1 processes started, this one rank 0 of them,
/// each with --threads or the CPUs divided among them.
fn launch_ranks(command: &mut Command) -> anyhow::Result<Option<launch::Launch>> {
    let Command::Train(a) = command else {
        return Ok(None);
    };
    let n = usize::from(a.nproc.unwrap_or(1));
    if n == 1 {
        return Ok(None);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = *a.threads.get_or_insert((cpus / n).max(1));
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    launch::start(n, &args, threads).map(Some)
}

/// The command line, parsed; `train --resume` with a flag it does not take exits here
/// with clap's usage error.
fn parse() -> Command {
    let mut cli = Cli::command();
    cli.build();
    let matches = cli.clone().get_matches();
    if let (Some(("train", given)), Some(train)) =
        (matches.subcommand(), cli.find_subcommand_mut("train"))
    {
        if let Some(flag) = train_args::refused_with_resume(train, given).first() {
            train
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "the argument '--resume <DIR>' cannot be used with '{flag}': a resumed \
                         run keeps its own config (only --epochs, --device, --threads and \
                         --nproc)"
                    ),
                )
                .exit();
        }
    }
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli.command,
        Err(e) => e.exit(),
    }
}

/// The `--reproducible` mode a command runs in: a new run's flag, or the mode recorded in
/// the run folder it works on (machine where none is, or the config cannot be read: the
/// command itself then reports the problem).
fn reproducible_mode(command: &Command) -> Reproducible {
    let of_run = |dir: &std::path::Path| {
        tch_vae::run::read_config(dir).map_or(Reproducible::Machine, |c| c.train.reproducible)
    };
    match command {
        Command::Train(a) => a.resume.as_deref().map_or(a.reproducible, of_run),
        Command::Export(a) => of_run(&a.run),
        Command::Eval(a) => of_run(&a.run),
        Command::Sample(a) => of_run(&a.run),
        Command::Plot(a) => of_run(&a.run),
        Command::FitPrior(a) => of_run(&a.run),
        Command::Compare(_) => Reproducible::Machine,
    }
}

fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Train(a) => {
            let mut console = Console::new(Some(StopRequest::install()?));
            if let Some(dir) = a.resume {
                let request = ResumeRequest {
                    run: dir,
                    epochs: a.epochs,
                    device: a.device,
                    threads: a.threads,
                    cuda_graphs: !a.no_cuda_graphs,
                };
                commands::resume(&request, &mut console)?;
                return Ok(());
            }
            commands::train(&a.into_request(), &mut console)?;
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
                device: a.device,
                data: a.data,
                output: a.output,
                threads: a.threads,
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
            let path = commands::sample(&commands::SampleRequest {
                run: a.run,
                output: a.output,
                seed,
                label: a.label,
                temperature: a.temperature,
                picture: a.picture,
                fitted: a.fitted_prior,
                device: a.device,
            })?;
            println!("wrote {} (seed {seed})", path.display());
        }
        Command::Compare(a) => {
            println!("{}", commands::compare(&a.runs, &a.output)?);
            for path in &a.output {
                println!("wrote {}", path.display());
            }
        }
        Command::FitPrior(a) => {
            let request = commands::FitPriorRequest {
                run: a.run,
                fit: commands::FitOptions {
                    components: a.components.0,
                    dims: a.dims,
                    groups: a.groups,
                    images: a.images,
                    seed: a.seed,
                },
                data: a.data,
                device: a.device,
                threads: a.threads,
            };
            let (fit, written) = commands::fit_prior(&request, &mut Console::new(None))?;
            println!(
                "{} in {} of {} code values ({:.1}% of their variance), {} EM \
                 iterations{}; log-likelihood of the codes: {:.1} nats (training), {:.1} (test)",
                commands::components_phrase(fit.components),
                fit.dims,
                fit.code_values,
                100.0 * fit.kept_variance,
                fit.iterations,
                if fit.converged {
                    ""
                } else {
                    " (not converged)"
                },
                fit.train_log_likelihood,
                fit.test_log_likelihood
            );
            for path in written {
                println!("wrote {}", path.display());
            }
        }
        Command::Plot(a) => {
            for path in commands::plot(&a.run, a.data.as_deref(), &a.device)? {
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
