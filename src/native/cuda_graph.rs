//! CUDA graphs (libtorch's `at::cuda::CUDAGraph`, via `cpp/cuda_graph.cpp`): the kernels
//! of one training step recorded once and replayed with a single launch. At batch 128 a
//! step of the 784-400-20 model is about a hundred small kernels that the GPU finishes
//! faster than the host can launch them; a replay removes that host cost. libtorch's
//! allocator gives the recording its own memory pool, and its CUDA generator draws each
//! replay's random numbers from the seed and offset current at replay time, so a replayed
//! step computes what the same step run eagerly would.
use crate::native::ffi;
use anyhow::{Context, Result};
use std::ffi::c_void;
use tch::{Cuda, Device};

/// One recorded sequence of kernels.
pub struct CudaGraph {
    ptr: *mut c_void,
}

impl CudaGraph {
    /// Records the kernels that `body` launches on the current stream (not the default
    /// stream: see [`use_side_stream`]) without running them; [`CudaGraph::replay`] runs
    /// them. `body` must not read values back to the host. Its tensors that outlive it
    /// (gradients, say) live in the graph's memory and are rewritten by every replay.
    pub fn capture<T>(body: impl FnOnce() -> Result<T>) -> Result<(Self, T)> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: on success `ptr` is a new graph, owned by the value built below.
        unsafe { ffi::check(ffi::tchvae_graph_new(&mut ptr), "creating a CUDA graph")? };
        let graph = CudaGraph { ptr };
        // SAFETY: `graph.ptr` is live for each call.
        unsafe {
            ffi::check(
                ffi::tchvae_graph_capture_begin(graph.ptr),
                "starting a CUDA graph capture",
            )?
        };
        let out = body();
        // The capture is ended even when `body` failed, so the stream is usable again.
        // SAFETY: as above.
        let end = unsafe {
            ffi::check(
                ffi::tchvae_graph_capture_end(graph.ptr),
                "ending a CUDA graph capture",
            )
        };
        let out = out.context("recording the training step into a CUDA graph")?;
        end?;
        Ok((graph, out))
    }

    /// Runs the recorded kernels once, asynchronously, on the current stream.
    pub fn replay(&self) -> Result<()> {
        // SAFETY: `self.ptr` is a graph whose capture ended.
        unsafe {
            ffi::check(
                ffi::tchvae_graph_replay(self.ptr),
                "replaying the CUDA graph",
            )
        }
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from tchvae_graph_new and is freed once.
        unsafe { ffi::tchvae_graph_free(self.ptr) }
    }
}

/// Moves this thread's work on `device` from the default stream to a stream of libtorch's
/// pool, after waiting for the work already queued (graphs cannot be recorded on the
/// default stream). Tensors made before stay valid: the wait orders them.
pub fn use_side_stream(device: Device) -> Result<()> {
    let Device::Cuda(index) = device else {
        return Ok(());
    };
    Cuda::synchronize(index as i64);
    // SAFETY: plain call; the C++ side catches its own exceptions.
    unsafe {
        ffi::check(
            ffi::tchvae_use_side_stream(index as i32),
            "switching to a CUDA side stream",
        )
    }
}

/// Whether this build can record CUDA graphs (false where libtorch came without the CUDA
/// headers that `cpp/cuda_graph.cpp` needs).
pub fn supported() -> bool {
    // SAFETY: the probe makes no graph; a message means unsupported and is released.
    unsafe { ffi::check(ffi::tchvae_graph_supported(), "").is_ok() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cuda_libtorch_gives_graph_support() {
        // Without it, training on a GPU silently falls back to eager steps: build.rs must
        // have found the CUDA headers (scripts/requirements.txt installs them).
        let libtorch_cuda = env!("TCHVAE_LIBTORCH_CUDA") == "1";
        assert_eq!(super::supported(), libtorch_cuda);
    }
}
