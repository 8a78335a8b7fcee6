//! The TorchScript source of a flat model's `vae.pt` methods, generated from the architecture
//! description (`arch.rs`) so that it cannot drift from the tch network; the Python mirror
//! (`scripts/tch_vae/model.py`) follows the same steps, and parity tests hold them together.
use super::pieces::{likelihood_source, module_expr, TEMPERATURE_CHECK};
use crate::config::{ModelConfig, Prior};
use crate::model::arch::{self, Layer, Op, CONV_PADDING, CONV_STRIDE};

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

def prior_sample(self, n: int, temperature: float = 1.0) -> Tensor:
    assert temperature == 1.0, "temperature: the VampPrior is a mixture; it has no temperature (leave it at 1)"
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

def prior_sample(self, n: int, temperature: float = 1.0) -> Tensor:
{TEMPERATURE_CHECK}    w = self.fc_mu.weight
    return torch.randn([n, self.latent], dtype=w.dtype, device=w.device) * temperature

"#,
        log_2pi()
    )
}

/// The TorchScript source of a flat (MLP or conv) model's methods for `config`. A
/// conditional model's methods take labels `y` (`[n]` int64) after their first argument.
pub fn source(config: &ModelConfig) -> String {
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

def sample(self, n: int{y_arg}, picture: str = "mode", temperature: float = 1.0) -> Tensor:
    return self.decode(self.prior_sample(n, temperature){y}, picture)

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
    use crate::config::Likelihood;

    #[test]
    fn source_follows_the_architecture() {
        let config = ModelConfig {
            conv_channels: vec![32, 64],
            likelihood: Likelihood::Gaussian,
            arch: crate::config::Arch::Conv,
            ..ModelConfig::mlp(28, 28, vec![512, 256], 2)
        };
        let src = source(&config);
        for layer in arch::encoder(&config).iter().chain(&arch::decoder(&config)) {
            assert!(src.contains(&layer_line(layer)), "{} missing", layer.name);
        }
        assert!(src.contains("torch.conv_transpose2d(h, getattr(self.decoder, \"7\").weight"));
        assert!(src.contains("torch.sigmoid(logits)) ** 2"));
    }
}
