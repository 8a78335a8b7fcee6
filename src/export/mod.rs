//! TorchScript export: `vae.pt`, a module Python loads with `torch.jit.load` and uses
//! without tch-vae.
//!
//! The module's methods are TorchScript source (`source.rs` for the flat models,
//! `hierarchy_source.rs` for the hierarchical one, `pieces.rs` what they share) generated
//! from the same architecture description that builds the tch network, so the two cannot
//! drift; the parity tests (tests/fast/export.rs, tests/python) guard it. The module
//! itself is assembled in C++ (`src/native/cpp/torchscript.cpp`) so that the weights are real
//! parameters with the `weights.safetensors` names.
//!
//! Methods: `encode(x) -> (mu, logvar)`, `decode(z, picture="mode") -> probabilities` (a
//! logistic mixture's picture as `tch-vae sample --picture` draws it: "mode" or "mean"; the
//! other likelihoods ignore it), `decode_logits(z)`, `forward(x) -> (decode(z), mu,
//! logvar)` with z reparameterised, `sample(n, picture="mode", temperature=1.0)` (N(0, I)'s
//! draws times the temperature, as `tch-vae sample --temperature`; the VampPrior takes only
//! 1; a hierarchical model's: `sample(n, temperature=1.0, picture="mode")`),
//! `prior_sample(n, temperature=1.0) -> z`, `log_prior(z)`, `reparameterize(mu, logvar, eps)`,
//! `elbo_terms(x, eps) -> (recon, kl_mu, kl_var)` (VampPrior: `(recon, kl)`, the
//! one-sample KL estimate, which has no split) and `config() -> str` (config.json); the
//! VampPrior adds `prior_components() -> (mu, logvar)` of its pseudo-inputs. A conditional
//! model's methods take labels `y` (`[n]` int64) after their first argument:
//! `encode(x, y)`, `decode(z, y)`, `sample(n, y)`, `elbo_terms(x, y, eps)`. Attributes:
//! `latent`, `channels`, `image_height`, `image_width`, `input_dim`, `hidden`
//! (`List[int]`), `likelihood` (str), and `classes` for a conditional model.
mod hierarchy_source;
mod pieces;
mod source;

use crate::config::{Arch, ModelConfig, RunConfig};
use crate::model::arch;
use crate::native::ffi;
use anyhow::{ensure, Context, Result};
use std::ffi::{c_void, CString};
use std::path::Path;
use tch::{nn::VarStore, Device, Tensor};

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{s:?} contains a NUL byte"))
}

/// A TorchScript module being assembled on the C++ side (`src/native/cpp/torchscript.cpp`).
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

/// The TorchScript source of the module's methods for `config`: the likelihood's helpers
/// and the hierarchical model's methods, or the flat model's.
pub fn torchscript_source(config: &ModelConfig) -> String {
    if config.arch == Arch::Hierarchical {
        let mut s = String::new();
        let (recon, decoded) = pieces::likelihood_source(config, &mut s);
        return s + &hierarchy_source::source(config, &recon, decoded);
    }
    source::source(config)
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
        // Row-major, as PyTorch makes its own (a channels-last weight is copied so).
        let copy = t
            .detach()
            .to_device(Device::Cpu)
            .contiguous()
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
    if let Some(classes) = config.classes {
        module.int("classes", classes as i64)?;
    }
    module.string("config_json", &serde_json::to_string_pretty(run)?)?;
    let hidden: Vec<i64> = config.hidden.iter().map(|&h| h as i64).collect();
    module.int_list("hidden", &hidden)?;
    let bytes = module.to_bytes(&torchscript_source(config))?;
    crate::native::atomic::write_bytes(path, &bytes)
}
