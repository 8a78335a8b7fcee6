//! The value parsers of the command line: `--image-size` and every whole-number flag. The
//! choices of `--likelihood`, `--objective`, ... are the config's own enums (clap's
//! `ValueEnum` is derived on them), so no list of values is written twice.
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

/// `--temperature`: a number from 0 to 10.
pub fn temperature(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number (e.g. 0.8)"))?;
    if (0.0..=10.0).contains(&t) {
        Ok(t)
    } else {
        Err(format!("must be from 0 to 10 (got {s})"))
    }
}

/// `fit-prior --components`: `auto` (None: chosen on held-out codes) or a count.
#[derive(Clone, Copy, Debug)]
pub struct Components(pub Option<usize>);

pub fn components(s: &str) -> Result<Components, String> {
    if s == "auto" {
        return Ok(Components(None));
    }
    whole_number::<usize>(s)
        .map(|c| Components(Some(c)))
        .map_err(|e| format!("expected auto or {}", e.trim_start_matches("expected ")))
}
