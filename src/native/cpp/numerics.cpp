// Reads back the process-wide settings that decide a CPU run's last bits (see
// src/numerics.rs): MKL's conditional numerical reproducibility (CNR) mode, the code
// branch MKL runs, ATen's CPU kernel capability, and the libtorch version.
//
// MKL is linked statically into libtorch_cpu.so, which exports its service functions
// under their internal names (mkl_serv_cbwr_get is what MKL's public mkl_cbwr_get
// calls). They are declared weak: a libtorch built without MKL (ARM, a custom build)
// leaves them null, and the answer is then "no MKL".
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <torch/headeronly/version.h>

#include <cstdint>
#include <string>

extern "C" {
int mkl_serv_cbwr_set(int settings) __attribute__((weak));
int mkl_serv_cbwr_get(int what) __attribute__((weak));
int mkl_serv_cbwr_get_auto_branch() __attribute__((weak));
}

namespace {
// MKL's own constants (mkl_cbwr.h): the argument that asks for every setting, and the
// answer's bit for strict mode; the branch is in the low bits.
constexpr int MKL_CBWR_ALL = ~0;

// Makes the first call of each of MKL's vector-math (VML) functions that ATen uses (exp,
// log, tanh, sqrt, erf, ...: aten/src/ATen/cpu/vml.h), in float32 and float64, on `values`
// values, and throws the results away. Measured (issue 23, notebooks-export/reproducibility/):
// when a fresh process's first exp is split between two threads, now and then (about one
// process in a hundred on a loaded 2-core machine) one thread's share comes out at VML's
// lowest accuracy (EP on MKL's AVX-512 branch, hundreds of float32 ulps off, though ATen
// asks for HA), and every later call is right. So tch-vae makes these first calls itself:
// with a handful of values on the calling thread before any parallel work (no split), then
// with enough values to give every thread of the pool a share.
void warm_vector_math(int64_t values) {
  using Op = at::Tensor (*)(const at::Tensor&);
  const Op ops[] = {at::exp, at::log,  at::log2,   at::log10, at::tanh, at::sqrt,
                    at::erf, at::erfc, at::erfinv, at::sin,   at::cos,  at::tan,
                    at::asin, at::acos, at::atan,  at::trunc};
  for (auto dtype : {at::kFloat, at::kDouble}) {
    const at::Tensor x = at::full({values}, 0.5, at::TensorOptions().dtype(dtype));
    for (Op op : ops) {
      op(x);
    }
  }
}
}  // namespace

extern "C" {

// Sets MKL's CNR mode (mkl_cbwr_set): 0 on success, MKL's negative error code otherwise
// (-8 once MKL has computed anything: the mode is fixed at MKL's first use), 1 without MKL.
int32_t tchvae_mkl_cbwr_set(int32_t settings) {
  return mkl_serv_cbwr_set != nullptr ? mkl_serv_cbwr_set(settings) : 1;
}

// MKL's CNR setting as MKL_CBWR_ALL answers it (branch | strict bit), or -1 without MKL.
int32_t tchvae_mkl_cbwr_get() {
  return mkl_serv_cbwr_get != nullptr ? mkl_serv_cbwr_get(MKL_CBWR_ALL) : -1;
}

// The branch MKL's AUTO setting runs on this CPU, or -1 without MKL.
int32_t tchvae_mkl_auto_branch() {
  return mkl_serv_cbwr_get_auto_branch != nullptr ? mkl_serv_cbwr_get_auto_branch() : -1;
}

// ATen's CPU kernel capability: 0 default, 1 AVX2, 2 AVX-512 (on x86-64).
int32_t tchvae_aten_cpu_capability() {
  const std::string name = at::get_cpu_capability();  // "AVX512", "AVX2", "DEFAULT"
  return name == "AVX512" ? 2 : name == "AVX2" ? 1 : 0;
}

// Whether ATen may run convolutions through oneDNN (mkldnn) and NNPACK. Off, they run as
// ATen's own im2col and matrix products in MKL, whose strict mode keeps their bits at any
// thread count (oneDNN's split the batch's weight-gradient sum by the thread count).
// NNPACK goes with it: its kernels follow the CPU's features whatever ATen's capability,
// and its own thread pool, beside OpenMP's, made a 2-thread epoch 50 times slower.
void tchvae_set_onednn(bool on) {
  at::globalContext().setUserEnabledMkldnn(on);
  at::globalContext().setUserEnabledNNPACK(on);
}
bool tchvae_onednn_enabled() { return at::globalContext().userEnabledMkldnn(); }

// False if libtorch threw (a broken install, which the run's first operation reports).
bool tchvae_warm_vector_math(int64_t values) noexcept {
  try {
    warm_vector_math(values);
    return true;
  } catch (...) {
    return false;
  }
}

// The libtorch version that this binary was compiled against, as major*10000 +
// minor*100 + patch.
int32_t tchvae_libtorch_version() {
  return TORCH_VERSION_MAJOR * 10000 + TORCH_VERSION_MINOR * 100 + TORCH_VERSION_PATCH;
}

}  // extern "C"
