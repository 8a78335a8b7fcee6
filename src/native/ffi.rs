//! The C functions of `src/native/cpp/torchscript.cpp`, `src/native/cpp/optim.cpp`,
//! `src/native/cpp/cuda_graph.cpp`, `src/native/cpp/numerics.cpp`,
//! `src/native/cpp/mixture.cpp`, `src/native/cpp/layout.cpp` and
//! `src/native/cpp/c10d.cpp` (compiled by build.rs). Crate-private: the safe wrappers in
//! `export/`, `optim.rs`, `cuda_graph.rs`, `numerics.rs`, `mixture.rs`, `layout.rs` and
//! `c10d.rs` are the API.
//! Each returns null on success or a message allocated by the C++ side; C++ exceptions
//! never cross into Rust.
use anyhow::{bail, Result};
use std::ffi::{c_char, c_void, CStr};
use torch_sys::C_tensor;

extern "C" {
    pub(crate) fn tchvae_module_new(
        class_name: *const c_char,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    pub(crate) fn tchvae_module_free(builder: *mut c_void);
    pub(crate) fn tchvae_module_add_param(
        builder: *mut c_void,
        name: *const c_char,
        value: *const C_tensor,
    ) -> *mut c_char;
    pub(crate) fn tchvae_module_add_int(
        builder: *mut c_void,
        name: *const c_char,
        value: i64,
    ) -> *mut c_char;
    pub(crate) fn tchvae_module_add_str(
        builder: *mut c_void,
        name: *const c_char,
        value: *const c_char,
    ) -> *mut c_char;
    pub(crate) fn tchvae_module_add_int_list(
        builder: *mut c_void,
        name: *const c_char,
        values: *const i64,
        len: usize,
    ) -> *mut c_char;
    pub(crate) fn tchvae_module_to_bytes(
        builder: *mut c_void,
        source: *const c_char,
        out: *mut *mut c_char,
        len: *mut usize,
    ) -> *mut c_char;
    pub(crate) fn tchvae_free_bytes(bytes: *mut c_char);

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tchvae_fused_adam(
        params: *const *const C_tensor,
        grads: *const *const C_tensor,
        exp_avgs: *const *const C_tensor,
        exp_avg_sqs: *const *const C_tensor,
        steps: *const *const C_tensor,
        n: usize,
        lr: *const C_tensor,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        found_inf: *const C_tensor,
    ) -> *mut c_char;

    pub(crate) fn tchvae_grad_norm(
        grads: *const *const C_tensor,
        n: usize,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;

    pub(crate) fn tchvae_set_cudnn_deterministic(on: bool) -> *mut c_char;

    pub(crate) fn tchvae_clear_grads(params: *const *const C_tensor, n: usize) -> *mut c_char;

    pub(crate) fn tchvae_graph_supported() -> *mut c_char;
    pub(crate) fn tchvae_use_side_stream(device: i32) -> *mut c_char;
    pub(crate) fn tchvae_graph_new(out: *mut *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_graph_capture_begin(graph: *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_graph_capture_end(graph: *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_graph_replay(graph: *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_graph_free(graph: *mut c_void);
    pub(crate) fn tchvae_cuda_total_memory(device: i32, out: *mut u64) -> *mut c_char;

    // src/native/cpp/numerics.cpp: plain answers, no error message (see numerics.rs).
    pub(crate) fn tchvae_mkl_cbwr_set(settings: i32) -> i32;
    pub(crate) fn tchvae_mkl_cbwr_get() -> i32;
    pub(crate) fn tchvae_mkl_auto_branch() -> i32;
    pub(crate) fn tchvae_aten_cpu_capability() -> i32;
    pub(crate) fn tchvae_libtorch_version() -> i32;
    pub(crate) fn tchvae_set_onednn(on: bool);
    pub(crate) fn tchvae_onednn_enabled() -> bool;
    pub(crate) fn tchvae_warm_vector_math(values: i64) -> bool;

    // src/native/cpp/mixture.cpp (see mixture.rs).
    pub(crate) fn tchvae_mixture_supported(k: i64, c: i64) -> bool;
    pub(crate) fn tchvae_mixture_nll(
        params: *const C_tensor,
        x: *const C_tensor,
        k: i64,
        c: i64,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;

    // src/native/cpp/layout.cpp (see layout.rs).
    pub(crate) fn tchvae_relayout(
        t: *const C_tensor,
        nhwc: bool,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;

    // src/native/cpp/c10d.cpp (see c10d.rs).
    pub(crate) fn tchvae_c10d_new(
        addr: *const c_char,
        port: i32,
        rank: i32,
        size: i32,
        agent_store: bool,
        prefix: *const c_char,
        timeout_ms: i64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    pub(crate) fn tchvae_c10d_free(group: *mut c_void);
    pub(crate) fn tchvae_c10d_check_layout(group: *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_c10d_allreduce(
        group: *mut c_void,
        tensor: *const C_tensor,
        op: i32,
    ) -> *mut c_char;
    pub(crate) fn tchvae_c10d_broadcast(
        group: *mut c_void,
        tensor: *const C_tensor,
        root: i32,
    ) -> *mut c_char;
    pub(crate) fn tchvae_c10d_barrier(group: *mut c_void) -> *mut c_char;
    pub(crate) fn tchvae_c10d_set_timeout(group: *mut c_void, timeout_ms: i64) -> *mut c_char;
    pub(crate) fn tchvae_c10d_store_mark(group: *mut c_void, key: *const c_char) -> *mut c_char;
    pub(crate) fn tchvae_c10d_store_has(
        group: *mut c_void,
        key: *const c_char,
        out: *mut bool,
    ) -> *mut c_char;

    fn tchvae_free_message(message: *mut c_char);
}

/// Turns a C++ result into a Result, releasing the message.
///
/// # Safety
/// `result` must be what one of the functions above returned, and is used only once.
pub(crate) unsafe fn check(result: *mut c_char, what: &str) -> Result<()> {
    if result.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null result is a NUL-terminated message allocated by the C++ side,
    // released exactly once here.
    let message = unsafe { CStr::from_ptr(result) }
        .to_string_lossy()
        .into_owned();
    unsafe { tchvae_free_message(result) };
    bail!(
        "{what}: {}",
        crate::native::error::libtorch_reason(&message)
    )
}
