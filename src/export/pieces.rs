//! What the flat models' TorchScript (`source.rs`) and the hierarchical model's
//! (`hierarchy_source.rs`) share: how a parameter's module is named, the likelihoods'
//! helpers (`logistic.rs` and `mixture.rs` in TorchScript, the same operations in the same
//! order) and how the decoder's output becomes a picture.
use crate::config::{Likelihood, ModelConfig};

/// The first line of every TorchScript method that samples at a `temperature`: the rule
/// of `tch-vae sample --temperature` (0 to 10), which also refuses NaN, so that a bad value
/// raises in Python rather than drawing NaN images.
pub const TEMPERATURE_CHECK: &str =
    "    assert temperature >= 0.0 and temperature <= 10.0, \"temperature must be from 0 to 10\"\n";

/// How a parameterised layer is referred to in TorchScript: `encoder.0` is submodule `0`
/// of submodule `encoder`, which is not a valid attribute name, hence `getattr`.
pub fn module_expr(name: &str) -> String {
    name.split('.').fold("self".to_string(), |acc, part| {
        if part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !part.starts_with(|c: char| c.is_ascii_digit())
        {
            format!("{acc}.{part}")
        } else {
            format!("getattr({acc}, \"{part}\")")
        }
    })
}

/// `logistic::log_bin_mass` in TorchScript, for both logistic likelihoods.
const LOG_MASS_SOURCE: &str = r#"def log_sigmoid(self, v: Tensor) -> Tensor:
    return -torch.softplus(-v, 1, 20)

def log_bin_mass(self, hi: Tensor, lo: Tensor) -> Tensor:
    log_hi = self.log_sigmoid(hi)
    return log_hi + torch.log(-torch.expm1(self.log_sigmoid(lo) - log_hi))

def log_bin(self, centred: Tensor, inv_scale: Tensor, half: float, lowest: Tensor, highest: Tensor) -> Tensor:
    plus = (centred + half) * inv_scale
    minus = (centred - half) * inv_scale
    upper = centred > 0.0
    width = inv_scale * (2.0 * half)
    wide = width >= 0.01
    t = centred * inv_scale
    narrow = self.log_sigmoid(t) + self.log_sigmoid(-t) + torch.log(width)
    hi = torch.where(wide, torch.where(upper, -minus, plus), 0.5)
    lo = torch.where(wide, torch.where(upper, -plus, minus), -0.5)
    middle = torch.where(wide, self.log_bin_mass(hi, lo), narrow)
    return torch.where(lowest, self.log_sigmoid(plus), torch.where(highest, self.log_sigmoid(-minus), middle))

"#;

/// `logistic::discretized_logistic_nll` in TorchScript: the same operations in the same order.
const LOGISTIC_SOURCE: &str = r#"def discretized_logistic_nll(self, mean: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    half = 0.5 / 255.0
    log_p = self.log_bin(x - mean, torch.exp(-log_scale), half, x < half, x > 1.0 - half)
    return -torch.sum(log_p, 1)

"#;

/// `mixture.rs` in TorchScript for `k` components over `c` channels: the same operations
/// in the same order, the channel coupling unrolled.
fn mixture_source(k: usize, c: usize) -> String {
    let p = crate::model::mixture::params_per_pixel(k, c);
    let shift = crate::model::mixture::LOG_SCALE_SHIFT;
    let pairs = c * (c - 1) / 2;
    let (means, scales, coeffs) = (k, k + c * k, k + 2 * c * k);
    // Channel ch's mean, coupled to `values` (v: the data; e: the expected values).
    let coupled = |ch: usize, values: &str| {
        let mut m = format!("means[:, {ch}:{}]", ch + 1);
        for j in 0..ch {
            let a = ch * (ch - 1) / 2 + j;
            m += &format!(" + coeffs[:, {a}:{}] * {values}{j}", a + 1);
        }
        m
    };
    let mut s = format!(
        r#"def mixture_parts(self, p: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    n = p.size(0)
    p = torch.reshape(p, [n, {p}, -1])
    hw = p.size(2)
    means = torch.reshape(p[:, {means}:{scales}], [n, {c}, {k}, hw])
    log_scales = torch.clamp_min(torch.reshape(p[:, {scales}:{coeffs}], [n, {c}, {k}, hw]) + {shift:?}, -7.0)
    coeffs = torch.tanh(torch.reshape(p[:, {coeffs}:], [n, {pairs}, {k}, hw]))
    return (p[:, 0:{k}], means, log_scales, coeffs)

def mixture_nll(self, p: Tensor, x: Tensor) -> Tensor:
    logits, means, log_scales, coeffs = self.mixture_parts(p)
    x = torch.reshape(x, [x.size(0), {c}, 1, -1])
    v = x * 2.0 - 1.0
"#
    );
    let mut rows = Vec::new();
    for ch in 0..c {
        s += &format!(
            "    v{ch} = v[:, {ch}:{}]
",
            ch + 1
        );
        rows.push(coupled(ch, "v"));
    }
    s += &format!(
        r#"    centred = v - torch.cat([{}], 1)
    log_mass = self.log_bin(centred, torch.exp(-log_scales), 1.0 / 255.0, x < 0.5 / 255.0, x > 1.0 - 0.5 / 255.0)
    log_weights = logits - torch.logsumexp(logits, [1], True)
    return -torch.sum(torch.logsumexp(log_weights + torch.sum(log_mass, [1]), [1]), [1])

def mixture_image(self, p: Tensor, picture: str = "mode") -> Tensor:
    logits, means, log_scales, coeffs = self.mixture_parts(p)
"#,
        rows.join(", ")
    );
    for ch in 0..c {
        s += &format!(
            "    e{ch} = torch.clamp({}, -1.0, 1.0)
",
            coupled(ch, "e")
        );
    }
    let expected: Vec<String> = (0..c).map(|ch| format!("e{ch}")).collect();
    // `picture`: as `mixture::image`'s Picture (the likeliest component, or the mean).
    s += &format!(
        r#"    means = torch.cat([{}], 1)
    if picture == "mode":
        best = torch.unsqueeze(torch.argmax(logits, 1, True), 1)
        best = best.expand([means.size(0), means.size(1), 1, means.size(3)])
        v = torch.squeeze(torch.gather(means, 2, best), 2)
    else:
        assert picture == "mean", "picture must be 'mode' or 'mean' (got '" + picture + "')"
        v = torch.sum(torch.unsqueeze(torch.softmax(logits, 1), 1) * means, [2])
    return torch.reshape((v + 1.0) * 0.5, [p.size(0), -1])

"#,
        expected.join(", ")
    );
    s
}

/// How the decoder's output becomes a picture in TorchScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The pixels' probabilities or means (every likelihood but the mixture).
    Sigmoid,
    /// The mixture's picture, as its `picture` argument says (`mixture_image`).
    Mixture,
}

impl Decoded {
    /// The expression of the picture of `logits`; `picture` is an expression of a str
    /// ("mode" or "mean"), which only a mixture reads (the other likelihoods' pictures are
    /// their means either way, as in the Python package).
    pub fn call(self, logits: &str, picture: &str) -> String {
        match self {
            Decoded::Sigmoid => format!("torch.sigmoid({logits})"),
            Decoded::Mixture => format!("self.mixture_image({logits}, {picture})"),
        }
    }
}

/// The likelihood's helpers appended to `s`; returns the expression of the reconstruction
/// -log p(x|z) (`[n]`) from `logits` and `x`, and how logits become the picture.
pub fn likelihood_source(config: &ModelConfig, s: &mut String) -> (String, Decoded) {
    let recon = match config.likelihood {
        Likelihood::Bernoulli => {
            "torch.sum(torch.binary_cross_entropy_with_logits(logits, x, None, None, 0), 1)"
                .to_string()
        }
        Likelihood::Gaussian => format!(
            "torch.sum((x - torch.sigmoid(logits)) ** 2, 1) + {:?}",
            0.5 * config.input_dim() as f64 * std::f64::consts::PI.ln()
        ),
        Likelihood::Logistic => {
            *s += LOG_MASS_SOURCE;
            *s += LOGISTIC_SOURCE;
            "self.discretized_logistic_nll(torch.sigmoid(logits), self.log_scale, x)".to_string()
        }
        Likelihood::LogisticMixture => {
            *s += LOG_MASS_SOURCE;
            *s += &mixture_source(config.mixtures, config.channels);
            "self.mixture_nll(logits, x)".to_string()
        }
    };
    // decode: the pixels' probabilities or means, or the mixture's picture.
    let decoded = match config.likelihood {
        Likelihood::LogisticMixture => Decoded::Mixture,
        _ => Decoded::Sigmoid,
    };
    (recon, decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_use_getattr_for_numeric_parts() {
        assert_eq!(module_expr("fc_mu"), "self.fc_mu");
        assert_eq!(module_expr("encoder.0"), "getattr(self.encoder, \"0\")");
    }
}
