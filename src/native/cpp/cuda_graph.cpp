// CUDA graphs for the training step (see src/cuda_graph.rs): on a GPU a batch-128 step of
// this small model is bound by the host launching ~100 kernels one by one; a graph
// records them once and replays them with one launch. Built against the CUDA runtime
// headers that come with the PyTorch wheel; where they are missing (a CPU-only libtorch)
// build.rs leaves TCHVAE_CUDA_GRAPHS undefined and every function reports that.
#include <cstdint>

#include "ffi_message.h"

#ifdef TCHVAE_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Device.h>
#include <cuda_runtime_api.h>

// From ATen/cuda/CUDAContextLight.h, whose other includes (cuSPARSE, cuda_fp16) need CUDA
// headers that the PyTorch wheel does not ship; the function lives in libtorch_cuda.
namespace at::cuda {
cudaDeviceProp* getDeviceProperties(c10::DeviceIndex device);
}
#include <c10/cuda/CUDAStream.h>

namespace {

at::cuda::CUDAGraph* as_graph(void* graph) { return static_cast<at::cuda::CUDAGraph*>(graph); }

}  // namespace

extern "C" {

// Null: this build can record graphs.
char* tchvae_graph_supported() { return nullptr; }

// Makes a stream from libtorch's pool the current stream of `device` for this thread
// (graphs can only be captured on a non-default stream). The caller synchronises the
// device first, so that work queued on the old stream is done.
char* tchvae_use_side_stream(int device) {
  return tchvae::guarded([&] {
    c10::cuda::setCurrentCUDAStream(
        c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device)));
  });
}

// A new, empty graph in *out (freed with tchvae_graph_free).
char* tchvae_graph_new(void** out) {
  return tchvae::guarded([&] { *out = new at::cuda::CUDAGraph(); });
}

// Starts recording the kernels launched on the current stream (from any thread: the
// autograd engine's too). The default CUDA generator is registered by libtorch, so each
// replay draws from the generator's seed and offset at that moment, as eager code would.
char* tchvae_graph_capture_begin(void* graph) {
  return tchvae::guarded([&] { as_graph(graph)->capture_begin(); });
}

char* tchvae_graph_capture_end(void* graph) {
  return tchvae::guarded([&] { as_graph(graph)->capture_end(); });
}

char* tchvae_graph_replay(void* graph) {
  return tchvae::guarded([&] { as_graph(graph)->replay(); });
}

void tchvae_graph_free(void* graph) { delete as_graph(graph); }

// The total memory of CUDA device `device`, in bytes (src/memory.rs's estimate).
char* tchvae_cuda_total_memory(int device, uint64_t* out) {
  return tchvae::guarded([&] {
    *out = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(device))->totalGlobalMem;
  });
}

}  // extern "C"

#else  // no CUDA headers: the same functions, each saying so

namespace {

char* unavailable() {
  return tchvae::copy_message(
      "this build of tch-vae has no CUDA graph support (libtorch without CUDA headers)");
}

}  // namespace

extern "C" {

char* tchvae_graph_supported() { return unavailable(); }
char* tchvae_use_side_stream(int) { return unavailable(); }
char* tchvae_graph_new(void** out) {
  *out = nullptr;
  return unavailable();
}
char* tchvae_graph_capture_begin(void*) { return unavailable(); }
char* tchvae_graph_capture_end(void*) { return unavailable(); }
char* tchvae_graph_replay(void*) { return unavailable(); }
void tchvae_graph_free(void*) {}
char* tchvae_cuda_total_memory(int, uint64_t* out) {
  *out = 0;
  return unavailable();
}

}  // extern "C"

#endif
