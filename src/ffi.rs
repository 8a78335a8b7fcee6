//! The C functions of `src/torchscript.cpp`, `src/optim.cpp` and `src/cuda_graph.cpp`
//! (compiled by build.rs).
//! Each returns null on success or a message allocated by the C++ side; C++ exceptions
//! never cross into Rust.
use anyhow::{bail, Result};
use std::ffi::{c_char, c_void, CStr};
use torch_sys::C_tensor;

extern "C" {
    #[allow(clippy::too_many_arguments)]
    pub fn tchvae_save_module(
        path: *const c_char,
        class_name: *const c_char,
        param_names: *const *const c_char,
        params: *const *const C_tensor,
        n_params: usize,
        int_names: *const *const c_char,
        int_values: *const i64,
        n_ints: usize,
        str_names: *const *const c_char,
        str_values: *const *const c_char,
        n_strs: usize,
        list_name: *const c_char,
        list_values: *const i64,
        list_len: usize,
        source: *const c_char,
    ) -> *mut c_char;

    #[allow(clippy::too_many_arguments)]
    pub fn tchvae_fused_adam(
        params: *const *const C_tensor,
        grads: *const *const C_tensor,
        exp_avgs: *const *const C_tensor,
        exp_avg_sqs: *const *const C_tensor,
        steps: *const *const C_tensor,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        found_inf: *const C_tensor,
    ) -> *mut c_char;

    pub fn tchvae_grad_norm(
        grads: *const *const C_tensor,
        n: usize,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;

    pub fn tchvae_clear_grads(params: *const *const C_tensor, n: usize) -> *mut c_char;

    pub fn tchvae_graph_supported() -> *mut c_char;
    pub fn tchvae_use_side_stream(device: i32) -> *mut c_char;
    pub fn tchvae_graph_new(out: *mut *mut c_void) -> *mut c_char;
    pub fn tchvae_graph_capture_begin(graph: *mut c_void) -> *mut c_char;
    pub fn tchvae_graph_capture_end(graph: *mut c_void) -> *mut c_char;
    pub fn tchvae_graph_replay(graph: *mut c_void) -> *mut c_char;
    pub fn tchvae_graph_free(graph: *mut c_void);

    fn tchvae_free_message(message: *mut c_char);
}

/// Turns a C++ result into a Result, releasing the message.
///
/// # Safety
/// `result` must be what one of the functions above returned, and is used only once.
pub unsafe fn check(result: *mut c_char, what: &str) -> Result<()> {
    if result.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null result is a NUL-terminated message allocated by the C++ side,
    // released exactly once here.
    let message = unsafe { CStr::from_ptr(result) }
        .to_string_lossy()
        .into_owned();
    unsafe { tchvae_free_message(result) };
    // libtorch appends a C++ backtrace after the first line; users need only the reason.
    bail!("{what}: {}", message.lines().next().unwrap_or_default())
}
