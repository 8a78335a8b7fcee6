// A tensor's memory layout changed, NCHW to channels-last (NHWC) or back, with a gradient
// laid out as the input was (src/native/layout.rs).
//
// The hierarchical model runs channels-last on the CPU, where oneDNN's convolutions take
// NHWC without reordering (src/model/hierarchy/net.rs). Two things cost it copies that
// this file removes:
// - ATen's copy between the two layouts walks one side with a stride of H*W elements
//   (4 KiB on a 32x32 image), which lands on the same cache sets again and again. Here
//   each image is moved as a [C, H*W] <-> [H*W, C] transpose in 32 x 32 tiles.
// - A gradient takes the layout that its autograd formula gives it (a sum's gradient,
//   broadcast, gives NCHW), and a convolution given a gradient laid out otherwise than its
//   weights copies it over, at its full width. A relayout hands its input the gradient in
//   the input's own layout: placed where a narrow tensor (a latent group's mean, 8
//   channels) joins the network, it makes that copy once, narrow, instead.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>

#include "ffi_message.h"

namespace {

constexpr int64_t TILE = 32;

// dst[c * rows + r] = src[r * cols + c] for each image: `src` is [rows, cols], `dst`
// [cols, rows]; tiles of the n images split between threads.
template <typename scalar_t>
void transpose(const scalar_t* src, scalar_t* dst, int64_t n, int64_t rows, int64_t cols) {
  const int64_t row_tiles = (rows + TILE - 1) / TILE;
  const int64_t col_tiles = (cols + TILE - 1) / TILE;
  const int64_t tiles = n * row_tiles * col_tiles;
  // A tile is up to 1,024 elements: at least 16 tiles a thread's share.
  at::parallel_for(0, tiles, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t image = t / (row_tiles * col_tiles);
      const int64_t r0 = (t / col_tiles) % row_tiles * TILE;
      const int64_t c0 = t % col_tiles * TILE;
      const scalar_t* s = src + image * rows * cols;
      scalar_t* d = dst + image * rows * cols;
      const int64_t r1 = std::min(rows, r0 + TILE);
      const int64_t c1 = std::min(cols, c0 + TILE);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) d[c * rows + r] = s[r * cols + c];
      }
    }
  });
}

bool is_nhwc(const at::Tensor& t) {
  return t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// `t` ([n, c, h, w]) laid out channels-last (`nhwc`) or NCHW; `t` itself when it is
// already. Float tensors on the CPU that are dense in the other layout are transposed
// here; anything else is left to ATen.
at::Tensor relayout(const at::Tensor& t, bool nhwc) {
  TORCH_CHECK(t.dim() == 4, "relayout takes [n, c, h, w], got ", t.sizes());
  const auto format = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (t.is_contiguous(format)) return t;
  const bool dense_other = nhwc ? t.is_contiguous() : is_nhwc(t);
  const bool float_cpu =
      t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble);
  if (!dense_other || !float_cpu) return t.contiguous(format);
  const int64_t n = t.size(0), c = t.size(1), hw = t.size(2) * t.size(3);
  at::Tensor out = at::empty(t.sizes(), t.options().memory_format(format));
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "relayout", [&] {
    // NCHW -> NHWC: each image's [c, hw] becomes [hw, c]; and the other way round.
    if (nhwc) {
      transpose(t.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n, c, hw);
    } else {
      transpose(t.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n, hw, c);
    }
  });
  return out;
}

struct Relayout : public torch::autograd::Function<Relayout> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& t,
                            bool nhwc) {
    // The input's own layout, for its gradient: channels-last where its strides say so
    // (a channel slice of an NHWC tensor does), NCHW otherwise.
    ctx->saved_data["input_nhwc"] = t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
    return relayout(t, nhwc);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const bool input_nhwc = ctx->saved_data["input_nhwc"].toBool();
    return {relayout(grad_out[0], input_nhwc), at::Tensor()};
  }
};

}  // namespace

extern "C" {

// `t` ([n, c, h, w]) laid out channels-last (`nhwc`) or NCHW, as a new tensor in *out
// (`t` itself, shallowly, when it is laid out so already); when autograd records, its
// gradient reaches `t` in `t`'s own layout. Returns null, or an error message.
char* tchvae_relayout(const at::Tensor* t, bool nhwc, at::Tensor** out) {
  return tchvae::guarded([&] {
    if (at::GradMode::is_enabled() && t->requires_grad()) {
      *out = new at::Tensor(Relayout::apply(*t, nhwc));
    } else {
      *out = new at::Tensor(relayout(*t, nhwc));
    }
  });
}
}
