// libtorch operations that tch does not wrap (TensorList in-place functions), and the
// cuDNN setting behind --deterministic.
#include <torch/torch.h>

#include <vector>

#include "ffi_message.h"

namespace {

std::vector<at::Tensor> list(const at::Tensor* const* tensors, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*tensors[i]);
  return out;
}

}  // namespace

extern "C" {

// One Adam step over every parameter with libtorch's fused kernel (the one behind
// torch.optim.Adam(fused=True)): a single pass over each tensor instead of a dozen
// element-wise operations. `steps` are 1-element float tensors, already incremented, as
// PyTorch passes them; `lr` is a 1-element float tensor on the parameters' device (read by
// the kernel, so a recorded CUDA graph follows changes to it). When `found_inf` (a 1-element float tensor, may be null) holds 1,
// the kernel leaves every tensor unchanged. Returns null, or an error message.
char* tchvae_fused_adam(const at::Tensor* const* params, const at::Tensor* const* grads,
                        const at::Tensor* const* exp_avgs, const at::Tensor* const* exp_avg_sqs,
                        const at::Tensor* const* steps, size_t n, const at::Tensor* lr, double beta1,
                        double beta2, double eps, double weight_decay,
                        const at::Tensor* found_inf) {
  return tchvae::guarded([&] {
    at::NoGradGuard no_grad;
    std::optional<at::Tensor> inf;
    if (found_inf != nullptr) inf = *found_inf;
    // The CPU kernel walks the four tensors' memory in step, element by element, so they
    // must share their strides. Autograd hands each parameter its gradient in the
    // parameter's layout (channels-last weights get channels-last gradients), but a
    // gradient written otherwise would be read in the wrong order without a word: it is
    // copied into the parameter's layout first. The moments, made by zeros_like of the
    // parameter, are checked.
    std::vector<at::Tensor> g = list(grads, n);
    for (size_t i = 0; i < n; ++i) {
      const at::Tensor& p = *params[i];
      TORCH_CHECK(exp_avgs[i]->strides() == p.strides() && exp_avg_sqs[i]->strides() == p.strides(),
                  "Adam's moments are laid out otherwise than their parameter");
      if (g[i].strides() != p.strides()) g[i] = at::empty_like(p).copy_(g[i]);
    }
    at::_fused_adam_(list(params, n), g, list(exp_avgs, n), list(exp_avg_sqs, n),
                     /*max_exp_avg_sqs=*/{}, list(steps, n), *lr, beta1, beta2, weight_decay, eps,
                     /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/std::nullopt, inf);
  });
}

// Drops every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward pass
// then hands its fresh gradient tensors over instead of adding them into zeroed ones,
// which saves a fill and an addition over every parameter per step.
char* tchvae_clear_grads(const at::Tensor* const* params, size_t n) {
  return tchvae::guarded([&] {
    for (size_t i = 0; i < n; ++i) params[i]->mutable_grad().reset();
  });
}

// The joint L2 norm of `grads` as a new 0-d tensor (*out, freed by the caller like any
// tch tensor): one multi-tensor kernel instead of a reduction per tensor.
char* tchvae_grad_norm(const at::Tensor* const* grads, size_t n, at::Tensor** out) {
  return tchvae::guarded([&] {
    at::NoGradGuard no_grad;
    auto norms = at::_foreach_norm(list(grads, n), 2);
    *out = new at::Tensor(at::linalg_vector_norm(at::stack(norms), 2));
  });
}

// cuDNN's deterministic algorithms (and no per-shape benchmarking, which may pick other
// algorithms from run to run): convolutions then give the same numbers on every run.
char* tchvae_set_cudnn_deterministic(bool on) {
  return tchvae::guarded([&] {
    at::globalContext().setDeterministicCuDNN(on);
    at::globalContext().setBenchmarkCuDNN(false);
  });
}

}  // extern "C"
