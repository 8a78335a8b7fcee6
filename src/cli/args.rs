//! The value types of the command line that clap parses before the library sees them:
//! the choices of `--likelihood`, `--objective`, `--prior`, `--activation`, `--lr-schedule`,
//! `--arch`, `--binarize`, and `--image-size`.
use clap::ValueEnum;
use tch_vae::config::Binarize;

#[derive(Clone, Copy, ValueEnum)]
pub enum LikelihoodArg {
    Bernoulli,
    Gaussian,
    Logistic,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ObjectiveArg {
    Elbo,
    Iwae,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PriorArg {
    Normal,
    Vamp,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ActivationArg {
    Relu,
    Tanh,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LrScheduleArg {
    Constant,
    Burda,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReproducibleArg {
    Machine,
    Portable,
}

impl From<ReproducibleArg> for tch_vae::native::numerics::Reproducible {
    fn from(a: ReproducibleArg) -> Self {
        match a {
            ReproducibleArg::Machine => Self::Machine,
            ReproducibleArg::Portable => Self::Portable,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ArchArg {
    Mlp,
    Conv,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BinarizeArg {
    None,
    Static,
    Dynamic,
}

impl From<BinarizeArg> for Binarize {
    fn from(b: BinarizeArg) -> Self {
        match b {
            BinarizeArg::None => Binarize::None,
            BinarizeArg::Static => Binarize::Static,
            BinarizeArg::Dynamic => Binarize::Dynamic,
        }
    }
}

/// `--image-size 64` (square) or `64x48` (height x width).
pub fn parse_image_size(text: &str) -> Result<[usize; 2], String> {
    let side = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected H or HxW in pixels, as 64 or 64x48 (got {text:?})"))
    };
    match text.split_once(['x', 'X']) {
        Some((h, w)) => Ok([side(h)?, side(w)?]),
        None => side(text).map(|s| [s, s]),
    }
}

/// A whole-number flag (`--latent`, `--seed`, ...): "-1" and "2.5" are refused with what is
/// expected, where clap's own parser took "-1" for an unknown flag. clap names the flag.
pub fn whole_number<T: std::str::FromStr + std::fmt::Display + num_bounds::Max>(
    s: &str,
) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("expected a whole number from 0 to {}", T::MAX))
}

/// The largest value of each whole-number type the flags use.
pub mod num_bounds {
    pub trait Max {
        const MAX: Self;
    }
    impl Max for usize {
        const MAX: usize = usize::MAX;
    }
    impl Max for u64 {
        const MAX: u64 = u64::MAX;
    }
}
