// CUDA graphs for the training step (see src/cuda_graph.rs): on a GPU a batch-128 step of
// this small model is bound by the host launching ~100 kernels one by one; a graph
// records them once and replays them with one launch. Built against the CUDA runtime
// headers that come with the PyTorch wheel; where they are missing (a CPU-only libtorch)
// build.rs leaves TCHVAE_CUDA_GRAPHS undefined and every function reports that.
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef TCHVAE_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

#ifndef TCHVAE_CUDA_GRAPHS
char* unavailable() {
  return message("this build of tch-vae has no CUDA graph support (libtorch without CUDA headers)");
}
#endif

}  // namespace

extern "C" {

// Null where this build can record graphs, else the reason.
char* tchvae_graph_supported() {
#ifdef TCHVAE_CUDA_GRAPHS
  return nullptr;
#else
  return unavailable();
#endif
}

// Makes a stream from libtorch's pool the current stream of `device` for this thread
// (graphs can only be captured on a non-default stream). The caller synchronises the
// device first, so that work queued on the old stream is done.
char* tchvae_use_side_stream(int device) {
#ifdef TCHVAE_CUDA_GRAPHS
  try {
    c10::cuda::setCurrentCUDAStream(
        c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device)));
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
#else
  (void)device;
  return unavailable();
#endif
}

// A new, empty graph in *out (freed with tchvae_graph_free).
char* tchvae_graph_new(void** out) {
#ifdef TCHVAE_CUDA_GRAPHS
  try {
    *out = new at::cuda::CUDAGraph();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
#else
  *out = nullptr;
  return unavailable();
#endif
}

// Starts recording the kernels launched on the current stream (from any thread: the
// autograd engine's too). The default CUDA generator is registered by libtorch, so each
// replay draws from the generator's seed and offset at that moment, as eager code would.
char* tchvae_graph_capture_begin(void* graph) {
#ifdef TCHVAE_CUDA_GRAPHS
  try {
    static_cast<at::cuda::CUDAGraph*>(graph)->capture_begin();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
#else
  (void)graph;
  return unavailable();
#endif
}

char* tchvae_graph_capture_end(void* graph) {
#ifdef TCHVAE_CUDA_GRAPHS
  try {
    static_cast<at::cuda::CUDAGraph*>(graph)->capture_end();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
#else
  (void)graph;
  return unavailable();
#endif
}

char* tchvae_graph_replay(void* graph) {
#ifdef TCHVAE_CUDA_GRAPHS
  try {
    static_cast<at::cuda::CUDAGraph*>(graph)->replay();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
#else
  (void)graph;
  return unavailable();
#endif
}

void tchvae_graph_free(void* graph) {
#ifdef TCHVAE_CUDA_GRAPHS
  delete static_cast<at::cuda::CUDAGraph*>(graph);
#else
  (void)graph;
#endif
}

}  // extern "C"
