//! The TorchScript source of `vae.pt`'s methods, generated from the architecture
//! description (`arch.rs`) so that it cannot drift from the tch network; the Python mirror
//! (`scripts/tch_vae/model.py`) follows the same steps, and parity tests hold them together.
use crate::config::{Likelihood, ModelConfig, Prior};
use crate::model::arch::{self, Layer, Op, CONV_PADDING, CONV_STRIDE};

/// How a parameterised layer is referred to in TorchScript: `encoder.0` is submodule `0`
/// of submodule `encoder`, which is not a valid attribute name, hence `getattr`.
pub(super) fn module_expr(name: &str) -> String {
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

/// One line of TorchScript applying `layer` to `h`, as `arch::Op` defines it.
fn layer_line(layer: &Layer) -> String {
    let m = module_expr(&layer.name);
    let (s, p) = (CONV_STRIDE, CONV_PADDING);
    let expr = match layer.op {
        Op::Linear { .. } => format!("torch.linear(h, {m}.weight, {m}.bias)"),
        Op::Conv2d { .. } => {
            format!("torch.conv2d(h, {m}.weight, {m}.bias, [{s}, {s}], [{p}, {p}])")
        }
        Op::ConvTranspose2d { .. } => {
            format!("torch.conv_transpose2d(h, {m}.weight, {m}.bias, [{s}, {s}], [{p}, {p}])")
        }
        Op::Relu => "torch.relu(h)".to_string(),
        Op::Tanh => "torch.tanh(h)".to_string(),
        Op::Flatten => "torch.flatten(h, 1)".to_string(),
        Op::Unflatten {
            channels,
            height,
            width,
        } => format!("torch.reshape(h, [-1, {channels}, {height}, {width}])"),
    };
    format!("    h = {expr}\n")
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

/// The lines applying `layers` to `h`, with the one-hot label joining at
/// [`arch::label_joins`] for a conditional model.
fn trunk_lines(layers: &[Layer], conditional: bool) -> String {
    let join = arch::label_joins(layers);
    let mut s = String::new();
    for (i, layer) in layers.iter().enumerate() {
        if conditional && i == join {
            s += "    h = torch.cat([h, self.one_hot(y, h)], 1)\n";
        }
        s += &layer_line(layer);
    }
    if conditional && join == layers.len() {
        s += "    h = torch.cat([h, self.one_hot(y, h)], 1)\n";
    }
    s
}

/// log(2 pi) as a TorchScript literal (the compiler that `define` runs knows no `math`).
fn log_2pi() -> String {
    format!("{:?}", (2.0 * std::f64::consts::PI).ln())
}

/// The VampPrior in TorchScript: its components, log-density and draws (`prior.rs`).
fn vamp_source(conditional: bool, pseudo_inputs: usize) -> String {
    let log_k = format!("{:?}", (pseudo_inputs as f64).ln());
    let log_2pi = log_2pi();
    let labels = if conditional {
        ", torch.remainder(torch.arange(u.size(0), device=u.device), self.classes)"
    } else {
        ""
    };
    format!(
        r#"def prior_components(self) -> Tuple[Tensor, Tensor]:
    u = torch.clamp(self.pseudo_inputs, 0.0, 1.0)
    return self.encode(u{labels})

def log_prior(self, z: Tensor) -> Tensor:
    mu, logvar = self.prior_components()
    d = torch.unsqueeze(z, 1) - torch.unsqueeze(mu, 0)
    log_n = -0.5 * torch.sum(d * d * torch.exp(-logvar) + logvar + {log_2pi}, 2)
    return torch.logsumexp(log_n, 1) - {log_k}

def prior_sample(self, n: int) -> Tensor:
    mu, logvar = self.prior_components()
    which = torch.randint(0, mu.size(0), [n], device=mu.device)
    eps = torch.randn([n, self.latent], dtype=mu.dtype, device=mu.device)
    return mu[which] + torch.exp(logvar[which] * 0.5) * eps

"#
    )
}

fn normal_prior_source() -> String {
    format!(
        r#"def log_prior(self, z: Tensor) -> Tensor:
    return -0.5 * torch.sum(z * z + {}, 1)

def prior_sample(self, n: int) -> Tensor:
    w = self.fc_mu.weight
    return torch.randn([n, self.latent], dtype=w.dtype, device=w.device)

"#,
        log_2pi()
    )
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
fn likelihood_source(config: &ModelConfig, s: &mut String) -> (String, Decoded) {
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

/// The TorchScript source of the module's methods for `config`. A conditional model's
/// methods take labels `y` (`[n]` int64) after their first argument.
pub fn torchscript_source(config: &ModelConfig) -> String {
    if config.arch == crate::config::Arch::Hierarchical {
        let mut s = String::new();
        let (recon, decoded) = likelihood_source(config, &mut s);
        return s + &super::hierarchy_source::source(config, &recon, decoded);
    }
    let conditional = config.classes.is_some();
    // Signature pieces: ", y: Tensor" in definitions and ", y" in calls when conditional.
    let (y_arg, y) = if conditional {
        (", y: Tensor", ", y")
    } else {
        ("", "")
    };
    let mut s = String::new();
    if conditional {
        s += "def one_hot(self, y: Tensor, like: Tensor) -> Tensor:\n    \
              zeros = torch.zeros([y.size(0), self.classes], dtype=like.dtype, device=like.device)\n    \
              return torch.scatter(zeros, 1, torch.unsqueeze(y, 1), 1.0)\n\n";
    }
    // encode: the trunk, then the two heads (f1, f2; no activation on logvar).
    // Images [n, C, H, W] or flattened [n, C*H*W]: the layers read the flat form.
    s += &format!("def encode(self, x: Tensor{y_arg}) -> Tuple[Tensor, Tensor]:\n    h = torch.flatten(x, 1)\n");
    s += &trunk_lines(&arch::encoder(config), conditional);
    let [mu, logvar] = arch::heads(config).map(|l| module_expr(&l.name));
    s += &format!(
        "    return (torch.linear(h, {mu}.weight, {mu}.bias), torch.linear(h, {logvar}.weight, {logvar}.bias))\n\n"
    );
    s += &format!("def decode_logits(self, z: Tensor{y_arg}) -> Tensor:\n    h = z\n");
    s += &trunk_lines(&arch::decoder(config), conditional);
    s += "    return h\n\n";
    let (recon, decoded) = likelihood_source(config, &mut s);
    // The KL: closed form and its split against N(0, I); against the VampPrior, the
    // one-sample estimate log q(z|x) - log p(z) at the decoded z (no split exists).
    let kl = match config.prior {
        Prior::Normal => {
            s += &normal_prior_source();
            "    kl_mu = torch.sum(mu * mu, 1) * 0.5
    kl_var = torch.sum(torch.exp(logvar) - logvar - 1.0, 1) * 0.5
    return (recon, kl_mu, kl_var)"
                .to_string()
        }
        Prior::Vamp => {
            s += &vamp_source(conditional, config.pseudo_inputs);
            format!(
                "    log_q = -0.5 * torch.sum(eps * eps + logvar + {}, 1)
    return (recon, log_q - self.log_prior(z))",
                log_2pi()
            )
        }
    };
    let terms = match config.prior {
        Prior::Normal => "Tuple[Tensor, Tensor, Tensor]",
        Prior::Vamp => "Tuple[Tensor, Tensor]",
    };
    let picture = decoded.call(&format!("self.decode_logits(z{y})"), "picture");
    s += &format!(
        r#"def decode(self, z: Tensor{y_arg}, picture: str = "mode") -> Tensor:
    return {picture}

def reparameterize(self, mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + torch.exp(logvar * 0.5) * eps

def forward(self, x: Tensor{y_arg}) -> Tuple[Tensor, Tensor, Tensor]:
    mu, logvar = self.encode(x{y})
    z = self.reparameterize(mu, logvar, torch.randn_like(mu))
    return (self.decode(z{y}), mu, logvar)

def sample(self, n: int{y_arg}, picture: str = "mode") -> Tensor:
    return self.decode(self.prior_sample(n){y}, picture)

def elbo_terms(self, x: Tensor{y_arg}, eps: Tensor) -> {terms}:
    x = torch.flatten(x, 1)
    mu, logvar = self.encode(x{y})
    z = self.reparameterize(mu, logvar, eps)
    logits = self.decode_logits(z{y})
    recon = {recon}
{kl}

def config(self) -> str:
    return self.config_json
"#
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_use_getattr_for_numeric_parts() {
        assert_eq!(module_expr("fc_mu"), "self.fc_mu");
        assert_eq!(module_expr("encoder.0"), "getattr(self.encoder, \"0\")");
    }

    #[test]
    fn source_follows_the_architecture() {
        let config = ModelConfig {
            conv_channels: vec![32, 64],
            likelihood: Likelihood::Gaussian,
            arch: crate::config::Arch::Conv,
            ..ModelConfig::mlp(28, 28, vec![512, 256], 2)
        };
        let src = torchscript_source(&config);
        for layer in arch::encoder(&config).iter().chain(&arch::decoder(&config)) {
            assert!(src.contains(&layer_line(layer)), "{} missing", layer.name);
        }
        assert!(src.contains("torch.conv_transpose2d(h, getattr(self.decoder, \"7\").weight"));
        assert!(src.contains("torch.sigmoid(logits)) ** 2"));
    }
}
