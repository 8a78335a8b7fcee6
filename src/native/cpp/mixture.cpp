// The logistic mixture's -log p(x) (src/model/mixture.rs) in one pass over the decoder's
// output on the CPU, with its gradient computed in the same pass.
//
// Written as tensor operations (mixture.rs's `nll_composite`), the likelihood is some forty
// element-wise kernels over [n, C, K, H*W] tensors in the forward pass and as many again
// in the backward pass, each reading and writing memory: after the convolutions and GELU,
// the largest part of a hierarchical step on 32x32 colour images (notebooks-export/SPEED.md,
// "The mixture in one pass"). Here each pixel
// is read once, its value and its gradient computed in registers (mixture_avx2.cpp, eight
// pixels at a time), and the gradient kept for the backward pass, which only scales it by
// the incoming gradient. The gradient is derived by hand and checked against autograd
// through `nll_composite` in float64 (tests/fast/mixture_fused.rs).
//
// Same numbers everywhere: every pixel is computed by the same AVX2 code in its own lane,
// whichever block and thread hold it, and each image's sum is added in pixel order in
// double, so the bits depend on neither the thread count nor the CPU (given AVX2 and FMA;
// without them `model::mixture` uses the tensor operations).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "ffi_message.h"

extern "C" {
// mixture_avx2.cpp.
void tchvae_mixture_blocks_f32(const float* params, const float* x, int64_t hw, int64_t k,
                               int64_t c, int64_t begin, int64_t end, float* pixel_nll,
                               float* grad);
void tchvae_mixture_blocks_f64(const double* params, const double* x, int64_t hw, int64_t k,
                               int64_t c, int64_t begin, int64_t end, double* pixel_nll,
                               double* grad);
}

namespace {

// What mixture_avx2.cpp takes: its arrays' bounds.
constexpr int64_t MAX_K = 64;
constexpr int64_t MAX_C = 4;

bool supported(int64_t k, int64_t c) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && k >= 1 &&
         k <= MAX_K && c >= 1 && c <= MAX_C;
}

// -log p of every pixel (`pixel_nll`, [n, HW]) and, when `grad` is not null, its gradient
// with respect to `params` ([n, P, HW], the layout of mixture.rs).
template <typename T>
void mixture_pixels(const T* params, const T* x, int64_t n, int64_t hw, int64_t k, int64_t c,
                    T* pixel_nll, T* grad) {
  constexpr int64_t lanes = 32 / sizeof(T);
  const int64_t blocks = n * ((hw + lanes - 1) / lanes);
  // About 2,000 pixel-components a task: small images still split between threads.
  const int64_t grain = std::max<int64_t>(1, 256 / (k * c));
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    if constexpr (sizeof(T) == 4) {
      tchvae_mixture_blocks_f32(params, x, hw, k, c, begin, end, pixel_nll, grad);
    } else {
      tchvae_mixture_blocks_f64(params, x, hw, k, c, begin, end, pixel_nll, grad);
    }
  });
}

// -log p(x) per image, [n], and its gradient with respect to params when `want_grad`.
std::pair<at::Tensor, at::Tensor> mixture_nll(const at::Tensor& params, const at::Tensor& x,
                                              int64_t k, int64_t c, bool want_grad) {
  TORCH_CHECK(params.device().is_cpu() && x.device().is_cpu(), "the fused mixture runs on the CPU");
  TORCH_CHECK(supported(k, c), "the fused mixture needs AVX2 and FMA, 1 to ", MAX_K,
              " components and 1 to ", MAX_C, " channels");
  TORCH_CHECK(params.dim() == 2 && x.dim() == 2, "mixture: params [n, P*H*W] and x [n, C*H*W] expected");
  const int64_t n = params.size(0);
  const int64_t hw = x.size(1) / c;
  const int64_t p_rows = k * (1 + 2 * c + c * (c - 1) / 2);
  TORCH_CHECK(x.size(0) == n && x.size(1) == c * hw && params.size(1) == p_rows * hw,
              "mixture: params [n, P*H*W] and x [n, C*H*W] expected, got ", params.sizes(),
              " and ", x.sizes());
  const at::Tensor p = params.contiguous();
  const at::Tensor xs = x.to(params.scalar_type()).contiguous();
  at::Tensor pixels = at::empty({n, hw}, p.options());
  at::Tensor grad = want_grad ? at::empty_like(p) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "tchvae_mixture_nll", [&] {
    mixture_pixels<scalar_t>(p.data_ptr<scalar_t>(), xs.data_ptr<scalar_t>(), n, hw, k, c,
                             pixels.data_ptr<scalar_t>(),
                             want_grad ? grad.data_ptr<scalar_t>() : nullptr);
  });
  // Each image's pixels added in order, in double: the same sum on any thread count.
  at::Tensor sums = at::empty({n}, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor pix = pixels.to(at::kDouble);
  const double* from = pix.data_ptr<double>();
  double* to = sums.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < hw; ++j) s += from[i * hw + j];
    to[i] = s;
  }
  return {sums.to(params.scalar_type()), grad};
}

// The autograd node: the gradient comes from the forward pass, scaled per image.
struct MixtureNll : public torch::autograd::Function<MixtureNll> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& params,
                            const at::Tensor& x, int64_t k, int64_t c) {
    auto [nll, grad] = mixture_nll(params, x, k, c, true);
    ctx->save_for_backward({grad});
    return nll;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    // The saved gradient has no graph of its own: a second derivative through it would be
    // silently zero, so asking for one (create_graph) is refused.
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "the fused logistic mixture has first derivatives only (no create_graph)");
    const at::Tensor grad = ctx->get_saved_variables()[0];
    return {grad * grad_out[0].unsqueeze(1), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

extern "C" {

// Whether this CPU runs mixture_avx2.cpp (AVX2 and FMA, with the OS saving their registers:
// GCC's check includes that) for `k` components over `c` channels.
bool tchvae_mixture_supported(int64_t k, int64_t c) { return supported(k, c); }

// -log p(x) of 8-bit images `x` ([n, C*H*W] in [0, 1]) under the mixture `params`
// ([n, P*H*W], float32 or float64, on the CPU): a new [n] tensor in *out, with an autograd
// node to params when gradients are recorded and params requires them (first derivatives
// only). Returns null, or an error message.
char* tchvae_mixture_nll(const at::Tensor* params, const at::Tensor* x, int64_t k, int64_t c,
                         at::Tensor** out) {
  return tchvae::guarded([&] {
    if (at::GradMode::is_enabled() && params->requires_grad()) {
      *out = new at::Tensor(MixtureNll::apply(*params, *x, k, c));
    } else {
      *out = new at::Tensor(mixture_nll(*params, *x, k, c, false).first);
    }
  });
}
}
