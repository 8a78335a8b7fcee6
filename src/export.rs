//! TorchScript export: `vae.pt`, a module Python loads with `torch.jit.load` and uses
//! without tch-vae.
//!
//! The module's methods are TorchScript source generated here from the same architecture
//! description ([`ModelConfig`]'s layer specs) that builds the tch network in `model.rs`,
//! so the two cannot drift; the parity tests (tests/fast/export.rs, tests/python) guard
//! it. The module itself is assembled in C++ (`src/cpp/torchscript.cpp`) so that the
//! weights are real parameters with the `weights.safetensors` names.
//!
//! Methods: `encode(x) -> (mu, logvar)`, `decode(z) -> probabilities`, `decode_logits(z)`,
//! `forward(x) -> (decode(z), mu, logvar)` with z reparameterised, `sample(n)`,
//! `reparameterize(mu, logvar, eps)`, `elbo_terms(x, eps) -> (recon, kl_mu, kl_var)` and
//! `config() -> str` (config.json). Attributes: `latent`, `image_height`, `image_width`,
//! `input_dim`, `hidden` (`List[int]`), `likelihood` (str).
use crate::arch::{self, Layer, Op, CONV_PADDING, CONV_STRIDE};
use crate::config::{Likelihood, ModelConfig, RunConfig};
use crate::ffi;
use anyhow::{ensure, Context, Result};
use std::ffi::{c_void, CString};
use std::path::Path;
use tch::{nn::VarStore, Device, Tensor};

/// How a parameterised layer is referred to in TorchScript: `encoder.0` is submodule `0`
/// of submodule `encoder`, which is not a valid attribute name, hence `getattr`.
fn module_expr(name: &str) -> String {
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

/// `loss::discretized_logistic_nll` in TorchScript: the same operations in the same order.
const LOGISTIC_SOURCE: &str = r#"def log_sigmoid(self, v: Tensor) -> Tensor:
    return -torch.softplus(-v, 1, 20)

def log_bin_mass(self, hi: Tensor, lo: Tensor) -> Tensor:
    log_hi = self.log_sigmoid(hi)
    return log_hi + torch.log(-torch.expm1(self.log_sigmoid(lo) - log_hi))

def discretized_logistic_nll(self, mean: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    half = 0.5 / 255.0
    inv_scale = torch.exp(-log_scale)
    centred = x - mean
    plus = (centred + half) * inv_scale
    minus = (centred - half) * inv_scale
    middle = torch.where(centred > 0.0, self.log_bin_mass(-minus, -plus), self.log_bin_mass(plus, minus))
    inner = torch.where(x > 1.0 - half, self.log_sigmoid(-minus), middle)
    return -torch.sum(torch.where(x < half, self.log_sigmoid(plus), inner), 1)

"#;

/// The TorchScript source of the module's methods for `config`.
pub fn torchscript_source(config: &ModelConfig) -> String {
    let mut s = String::new();
    // encode: the trunk, then the two heads (f1, f2; no activation on logvar).
    // Images [n, C, H, W] or flattened [n, C*H*W]: the layers read the flat form.
    s += "def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:\n    h = torch.flatten(x, 1)\n";
    arch::encoder(config)
        .iter()
        .for_each(|l| s += &layer_line(l));
    let [mu, logvar] = arch::heads(config).map(|l| module_expr(&l.name));
    s += &format!(
        "    return (torch.linear(h, {mu}.weight, {mu}.bias), torch.linear(h, {logvar}.weight, {logvar}.bias))\n\n"
    );
    s += "def decode_logits(self, z: Tensor) -> Tensor:\n    h = z\n";
    arch::decoder(config)
        .iter()
        .for_each(|l| s += &layer_line(l));
    s += "    return h\n\n";
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
            s += LOGISTIC_SOURCE;
            "self.discretized_logistic_nll(torch.sigmoid(logits), self.log_scale, x)".to_string()
        }
    };
    s += &format!(
        r#"def decode(self, z: Tensor) -> Tensor:
    return torch.sigmoid(self.decode_logits(z))

def reparameterize(self, mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + torch.exp(logvar * 0.5) * eps

def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    mu, logvar = self.encode(x)
    z = self.reparameterize(mu, logvar, torch.randn_like(mu))
    return (self.decode(z), mu, logvar)

def sample(self, n: int) -> Tensor:
    w = self.fc_mu.weight
    z = torch.randn([n, self.latent], dtype=w.dtype, device=w.device)
    return self.decode(z)

def elbo_terms(self, x: Tensor, eps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    x = torch.flatten(x, 1)
    mu, logvar = self.encode(x)
    logits = self.decode_logits(self.reparameterize(mu, logvar, eps))
    recon = {recon}
    kl_mu = torch.sum(mu * mu, 1) * 0.5
    kl_var = torch.sum(torch.exp(logvar) - logvar - 1.0, 1) * 0.5
    return (recon, kl_mu, kl_var)

def config(self) -> str:
    return self.config_json
"#
    );
    s
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{s:?} contains a NUL byte"))
}

/// A TorchScript module being assembled on the C++ side (`src/cpp/torchscript.cpp`).
struct ModuleBuilder {
    ptr: *mut c_void,
}

impl ModuleBuilder {
    fn new(class_name: &str) -> Result<Self> {
        let name = cstring(class_name)?;
        let mut ptr = std::ptr::null_mut();
        // SAFETY: `name` lives for the call; on success `ptr` is a new builder, owned by
        // the value returned.
        unsafe {
            ffi::check(
                ffi::tchvae_module_new(name.as_ptr(), &mut ptr),
                "creating a TorchScript module",
            )?
        };
        Ok(ModuleBuilder { ptr })
    }

    /// Adds `value` as parameter `name`; the C++ side keeps its own reference.
    fn param(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let name = cstring(name)?;
        // SAFETY: `self.ptr` is live; `name` and `value` (tch's C_tensor is the
        // at::Tensor* the C++ side reads) live for the call.
        unsafe {
            ffi::check(
                ffi::tchvae_module_add_param(self.ptr, name.as_ptr(), value.as_ptr()),
                "adding a parameter",
            )
        }
    }

    fn int(&mut self, name: &str, value: i64) -> Result<()> {
        let name = cstring(name)?;
        // SAFETY: as in `param`.
        unsafe {
            ffi::check(
                ffi::tchvae_module_add_int(self.ptr, name.as_ptr(), value),
                "adding an attribute",
            )
        }
    }

    fn string(&mut self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (cstring(name)?, cstring(value)?);
        // SAFETY: as in `param`.
        unsafe {
            ffi::check(
                ffi::tchvae_module_add_str(self.ptr, name.as_ptr(), value.as_ptr()),
                "adding an attribute",
            )
        }
    }

    fn int_list(&mut self, name: &str, values: &[i64]) -> Result<()> {
        let name = cstring(name)?;
        // SAFETY: as in `param`; `values` is read for `values.len()` items.
        unsafe {
            ffi::check(
                ffi::tchvae_module_add_int_list(
                    self.ptr,
                    name.as_ptr(),
                    values.as_ptr(),
                    values.len(),
                ),
                "adding an attribute",
            )
        }
    }

    /// Compiles `source` into the module's methods and returns the module's file.
    fn to_bytes(&self, source: &str) -> Result<Vec<u8>> {
        let source = cstring(source)?;
        let (mut ptr, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: as in `param`; on success `ptr` holds `len` bytes malloc'd by the C++
        // side, copied here and released once.
        unsafe {
            ffi::check(
                ffi::tchvae_module_to_bytes(self.ptr, source.as_ptr(), &mut ptr, &mut len),
                "libtorch could not build the TorchScript module",
            )?;
            let bytes = std::slice::from_raw_parts(ptr as *const u8, len).to_vec();
            ffi::tchvae_free_bytes(ptr);
            Ok(bytes)
        }
    }
}

impl Drop for ModuleBuilder {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from tchvae_module_new and is freed once.
        unsafe { ffi::tchvae_module_free(self.ptr) }
    }
}

/// Writes the run's model as TorchScript to `path`, atomically. Parameters are copied to
/// the CPU (so a CUDA-trained model loads anywhere) and keep `requires_grad`.
pub fn write_torchscript(path: &Path, vs: &VarStore, run: &RunConfig) -> Result<()> {
    let config = &run.model;
    let names = arch::parameter_names(config);
    let variables = vs.variables();
    ensure!(
        variables.len() == names.len(),
        "the variable store holds {} tensors, the {} model has {}",
        variables.len(),
        config.describe(),
        names.len()
    );
    let mut module = ModuleBuilder::new("VAE")?;
    for name in &names {
        let t = variables
            .get(name)
            .with_context(|| format!("no variable {name}"))?;
        let copy = t
            .detach()
            .to_device(Device::Cpu)
            .copy()
            .set_requires_grad(true);
        module.param(name, &copy)?;
    }
    module.int("latent", config.latent as i64)?;
    module.int("channels", config.channels as i64)?;
    module.int("image_height", config.image_height as i64)?;
    module.int("image_width", config.image_width as i64)?;
    module.int("input_dim", config.input_dim() as i64)?;
    module.string("likelihood", config.likelihood.name())?;
    module.string("config_json", &serde_json::to_string_pretty(run)?)?;
    let hidden: Vec<i64> = config.hidden.iter().map(|&h| h as i64).collect();
    module.int_list("hidden", &hidden)?;
    let bytes = module.to_bytes(&torchscript_source(config))?;
    crate::atomic::write_bytes(path, &bytes)
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
