//! The logistic mixture's -log p(x) and its gradient in one pass over the decoder's output
//! on the CPU (`cpp/mixture.cpp`). `model::mixture::nll` takes it wherever it applies (CPU,
//! float32 or float64); the same likelihood written as tensor operations
//! (`model::mixture::nll_composite`) serves CUDA and is the oracle of its tests.
use crate::native::ffi;
use anyhow::Result;
use tch::{Device, Kind, Tensor};

/// Whether this CPU runs the kernel for `k` components over `c` channels: AVX2 and FMA
/// (x86-64 since 2013), `k` up to 64 (the bound of `--mixtures`), `c` up to 4.
pub(crate) fn supported(k: usize, c: usize) -> bool {
    // SAFETY: a plain query of the CPU's features, no pointers.
    unsafe { ffi::tchvae_mixture_supported(k as i64, c as i64) }
}

/// Whether the kernel takes `params`: float32 or float64 on the CPU, and [`supported`].
pub(crate) fn applies(params: &Tensor, k: usize, c: usize) -> bool {
    params.device() == Device::Cpu
        && matches!(params.kind(), Kind::Float | Kind::Double)
        && supported(k, c)
}

/// -log p(x) of 8-bit images `x` (`[n, C*H*W]` in [0, 1]) under the mixture of `k`
/// components over `c` channels that `params` (`[n, P*H*W]`) describe, summed over pixels:
/// `[n]`, with a gradient to `params` (first derivatives) when autograd records.
pub(crate) fn nll(params: &Tensor, x: &Tensor, k: usize, c: usize) -> Result<Tensor> {
    let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
    // SAFETY: both pointers are live tensors borrowed for the call; on success the C++ side
    // hands over a heap-allocated tensor, which Tensor::from_ptr takes ownership of.
    unsafe {
        ffi::check(
            ffi::tchvae_mixture_nll(params.as_ptr(), x.as_ptr(), k as i64, c as i64, &mut out),
            "the logistic mixture's likelihood failed",
        )?;
        Ok(Tensor::from_ptr(out))
    }
}
