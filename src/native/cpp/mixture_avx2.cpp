// The logistic mixture's per-pixel -log p and gradient (mixture.cpp's kernel), eight float32
// pixels (four float64) at a time in AVX2 registers, with the vector math of SLEEF that
// libtorch_cpu exports (the functions ATen's own AVX2 kernels call).
//
// This file alone is compiled with -mavx2 -mfma (build.rs), and mixture.cpp calls it only
// on a CPU that has both. So that no function compiled here can stand in for another
// file's copy of the same inline function (and run AVX2 code on a CPU without it), it
// includes only <cstdint> and <cstring> (types and memcpy: no inline library code), no
// libtorch header, and everything but the two entry points has internal linkage.
//
// The formulas are logistic.rs's `log_bin_mass` and mixture.rs's `nll_composite`, one
// branch-free pass per lane: each bin is log(s(hi) - s(lo)) for s the logistic's CDF, with
// (hi, lo) = (plus, minus) below the mean, (-minus, -plus) above it (the bin reflected
// into the lower tail), lo = -inf for the open bins (values 0 and 255: the log-mass is then
// log s(hi)); a bin narrower than NARROW_BIN scale units is its density at the middle times
// its width. Gradients are derived by hand:
//   d lm / d hi = s(-hi) / ratio, d lm / d lo = -s(-lo) (s(lo) / s(hi)) / ratio,
// with ratio = 1 - s(lo) / s(hi) = mass / s(hi), and for a narrow bin at t = centred / scale
//   d lm / d t = s(-t) - s(t) = -tanh(t / 2), d lm / d log(width) = 1.
// Lanes never mix, so a pixel's bits do not depend on which block or thread computes it.
#include <cstdint>
#include <cstring>

namespace {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef double d4 __attribute__((vector_size(32)));
typedef int64_t l4 __attribute__((vector_size(32)));

}  // namespace

extern "C" {
// SLEEF's AVX2 functions, 1.0-ulp accuracy, exported by libtorch_cpu.so.
f8 Sleef_expf8_u10avx2(f8);
f8 Sleef_expm1f8_u10avx2(f8);
f8 Sleef_logf8_u10avx2(f8);
f8 Sleef_log1pf8_u10avx2(f8);
f8 Sleef_tanhf8_u10avx2(f8);
d4 Sleef_expd4_u10avx2(d4);
d4 Sleef_expm1d4_u10avx2(d4);
d4 Sleef_logd4_u10avx2(d4);
d4 Sleef_log1pd4_u10avx2(d4);
d4 Sleef_tanhd4_u10avx2(d4);
}

namespace {

// mixture.rs's constants.
constexpr double MIN_LOG_SCALE = -7.0;
constexpr double LOG_SCALE_SHIFT = -2.3;
constexpr double HALF_BIN = 1.0 / 255.0;
constexpr double NARROW_BIN = 1e-2;
// The largest mixture and channel count this file takes (mixture.cpp checks them): the
// configuration's own bound on --mixtures, and RGB with room to spare.
constexpr int64_t MAX_K = 64;
constexpr int64_t MAX_C = 4;
constexpr int64_t MAX_PAIRS = MAX_C * (MAX_C - 1) / 2;

struct F32 {
  using T = float;
  using V = f8;
  using M = i8;
  static constexpr int N = 8;
  static V exp(V x) { return Sleef_expf8_u10avx2(x); }
  static V expm1(V x) { return Sleef_expm1f8_u10avx2(x); }
  static V log(V x) { return Sleef_logf8_u10avx2(x); }
  static V log1p(V x) { return Sleef_log1pf8_u10avx2(x); }
  static V tanh(V x) { return Sleef_tanhf8_u10avx2(x); }
};

struct F64 {
  using T = double;
  using V = d4;
  using M = l4;
  static constexpr int N = 4;
  static V exp(V x) { return Sleef_expd4_u10avx2(x); }
  static V expm1(V x) { return Sleef_expm1d4_u10avx2(x); }
  static V log(V x) { return Sleef_logd4_u10avx2(x); }
  static V log1p(V x) { return Sleef_log1pd4_u10avx2(x); }
  static V tanh(V x) { return Sleef_tanhd4_u10avx2(x); }
};

template <typename L>
typename L::V splat(typename L::T x) {
  typename L::V v;
  for (int i = 0; i < L::N; ++i) v[i] = x;
  return v;
}

template <typename L>
bool any(typename L::M m) {
  for (int i = 0; i < L::N; ++i) {
    if (m[i] != 0) return true;
  }
  return false;
}

// `lanes` values from `from` (the rest repeat the first, so that they stay finite).
template <typename L>
typename L::V load(const typename L::T* from, int lanes) {
  typename L::T tmp[L::N];
  for (int i = 0; i < L::N; ++i) tmp[i] = from[i < lanes ? i : 0];
  typename L::V v;
  std::memcpy(&v, tmp, sizeof v);
  return v;
}

template <typename L>
void store(typename L::T* to, typename L::V v, int lanes) {
  typename L::T tmp[L::N];
  std::memcpy(tmp, &v, sizeof v);
  for (int i = 0; i < lanes; ++i) to[i] = tmp[i];
}

// log s(u) and s(-u) for the logistic CDF s, from one exp and one log1p.
template <typename L>
struct LogSigmoid {
  typename L::V log, of_minus;
};

template <typename L>
LogSigmoid<L> log_sigmoid(typename L::V u) {
  using V = typename L::V;
  const V zero = splat<L>(0);
  const V e = L::exp(u < zero ? u : -u);  // exp(-|u|)
  const V r = splat<L>(1) / (splat<L>(1) + e);
  return {(u < zero ? u : zero) - L::log1p(e), u >= zero ? e * r : r};
}

// A bin's log-mass and its derivatives with respect to the centred value and the
// log-scale, lane by lane.
template <typename L>
struct Bin {
  typename L::V log_mass, d_centred, d_log_scale;
};

template <typename L>
Bin<L> bin(typename L::V centred, typename L::V log_scale, typename L::M lowest,
           typename L::M highest) {
  using V = typename L::V;
  using M = typename L::M;
  using T = typename L::T;
  const V h = splat<L>(T(HALF_BIN));
  const V inv = L::exp(-log_scale);
  const V plus = (centred + h) * inv;
  const V minus = (centred - h) * inv;
  const M open = lowest | highest;
  const M wide = (inv * splat<L>(T(2 * HALF_BIN)) >= splat<L>(T(NARROW_BIN))) | open;
  // The side: the upper one reflected; the open bins' sides fixed by the end they reach.
  const M upper = ((centred > splat<L>(0)) & ~lowest) | highest;
  V hi = upper ? -minus : plus;
  V lo = open ? splat<L>(-__builtin_inf()) : (upper ? -plus : minus);
  // A narrow bin's lanes get a unit bin here (thrown away below), so that they stay finite.
  hi = wide ? hi : splat<L>(T(0.5));
  lo = wide ? lo : splat<L>(T(-0.5));
  const LogSigmoid<L> s_hi = log_sigmoid<L>(hi), s_lo = log_sigmoid<L>(lo);
  const V diff = s_lo.log - s_hi.log;  // log(s(lo) / s(hi)), -inf for the open bins
  const V ratio = -L::expm1(diff);
  V lm = s_hi.log + L::log(ratio);
  const V d_hi = s_hi.of_minus / ratio;
  const V d_lo = -s_lo.of_minus * L::exp(diff) / ratio;
  const V d_plus = upper ? -d_lo : d_hi;
  const V d_minus = upper ? -d_hi : d_lo;
  V d_centred = (d_plus + d_minus) * inv;
  V d_log_scale = -inv * (d_plus * (centred + h) + d_minus * (centred - h));
  const M narrow = ~wide;
  if (any<L>(narrow)) {
    const V t = centred * inv;
    const LogSigmoid<L> s_t = log_sigmoid<L>(t);
    const V width = inv * splat<L>(T(2 * HALF_BIN));
    const V d_t = -L::tanh(t * splat<L>(T(0.5)));
    lm = narrow ? s_t.log + (s_t.log - t) + L::log(width) : lm;
    d_centred = narrow ? d_t * inv : d_centred;
    d_log_scale = narrow ? -inv * (d_t * centred + splat<L>(1) / inv) : d_log_scale;
  }
  return {lm, d_centred, d_log_scale};
}

template <typename L>
typename L::V max(typename L::V a, typename L::V b) {
  return a > b ? a : b;
}

// Pixels [px, px + lanes) of image i: their -log p into `pixel_nll` ([n, HW]) and, when
// `grad` is not null, the gradient of each with respect to its parameters.
template <typename L>
void block(const typename L::T* params, const typename L::T* x, int64_t hw, int64_t k, int64_t c,
           int64_t i, int64_t px, int lanes, typename L::T* pixel_nll, typename L::T* grad) {
  using V = typename L::V;
  using M = typename L::M;
  using T = typename L::T;
  const int64_t pairs = c * (c - 1) / 2;
  const int64_t p_rows = k * (1 + 2 * c + pairs);
  const int64_t means_at = k, scales_at = k + c * k, coeffs_at = k + 2 * c * k;
  const T* in = params + i * p_rows * hw + px;
  const auto row = [&](int64_t r) { return load<L>(in + r * hw, lanes); };
  V v[MAX_C];
  M lowest[MAX_C], highest[MAX_C];
  for (int64_t ch = 0; ch < c; ++ch) {
    const V value = load<L>(x + (i * c + ch) * hw + px, lanes);  // in [0, 1]
    v[ch] = splat<L>(2) * value - splat<L>(1);
    lowest[ch] = value < splat<L>(T(0.5 / 255.0));
    highest[ch] = value > splat<L>(T(1.0 - 0.5 / 255.0));
  }
  V a[MAX_PAIRS * MAX_K];
  for (int64_t j = 0; j < pairs * k; ++j) a[j] = L::tanh(row(coeffs_at + j));
  V w_max = row(0);
  for (int64_t m = 1; m < k; ++m) w_max = max<L>(w_max, row(m));
  V w_sum = splat<L>(0);
  for (int64_t m = 0; m < k; ++m) w_sum += L::exp(row(m) - w_max);
  const V w_lse = w_max + L::log(w_sum);
  V log_w[MAX_K], joint[MAX_K], d_centred[MAX_C * MAX_K], d_scale[MAX_C * MAX_K];
  M floored[MAX_C * MAX_K];
  for (int64_t m = 0; m < k; ++m) {
    log_w[m] = row(m) - w_lse;
    V joint_m = log_w[m];
    for (int64_t ch = 0; ch < c; ++ch) {
      V mean = row(means_at + ch * k + m);
      for (int64_t j = 0; j < ch; ++j) mean += a[(ch * (ch - 1) / 2 + j) * k + m] * v[j];
      const V raw = row(scales_at + ch * k + m) + splat<L>(T(LOG_SCALE_SHIFT));
      const V floor = splat<L>(T(MIN_LOG_SCALE));
      floored[ch * k + m] = raw < floor;
      const Bin<L> b = bin<L>(v[ch] - mean, max<L>(raw, floor), lowest[ch], highest[ch]);
      joint_m += b.log_mass;
      d_centred[ch * k + m] = b.d_centred;
      d_scale[ch * k + m] = b.d_log_scale;
    }
    joint[m] = joint_m;
  }
  V j_max = splat<L>(-__builtin_inf());
  for (int64_t m = 0; m < k; ++m) j_max = max<L>(j_max, joint[m]);
  V j_sum = splat<L>(0);
  for (int64_t m = 0; m < k; ++m) j_sum += L::exp(joint[m] - j_max);
  const V j_lse = j_max + L::log(j_sum);
  store<L>(pixel_nll + i * hw + px, -j_lse, lanes);
  if (grad == nullptr) return;
  T* out = grad + i * p_rows * hw + px;
  const auto put = [&](int64_t r, V value) { store<L>(out + r * hw, value, lanes); };
  for (int64_t m = 0; m < k; ++m) {
    // The component's responsibility q and weight pi: d(-log p)/d w = pi - q, and
    // d(-log p)/d(log mass) = -q.
    const V q = L::exp(joint[m] - j_lse);
    put(m, L::exp(log_w[m]) - q);
    for (int64_t ch = 0; ch < c; ++ch) {
      const V d_mean = q * d_centred[ch * k + m];  // d(-log p)/d mean
      put(means_at + ch * k + m, d_mean);
      put(scales_at + ch * k + m, floored[ch * k + m] ? splat<L>(0) : -q * d_scale[ch * k + m]);
      for (int64_t j = 0; j < ch; ++j) {
        const int64_t r = (ch * (ch - 1) / 2 + j) * k + m;
        put(coeffs_at + r, d_mean * v[j] * (splat<L>(1) - a[r] * a[r]));
      }
    }
  }
}

// Blocks [begin, end) of N pixels (each image's last block may be shorter).
template <typename L>
void blocks(const typename L::T* params, const typename L::T* x, int64_t hw, int64_t k, int64_t c,
            int64_t begin, int64_t end, typename L::T* pixel_nll, typename L::T* grad) {
  const int64_t per_image = (hw + L::N - 1) / L::N;
  for (int64_t b = begin; b < end; ++b) {
    const int64_t i = b / per_image, px = (b % per_image) * L::N;
    const int lanes = static_cast<int>(hw - px < L::N ? hw - px : L::N);
    block<L>(params, x, hw, k, c, i, px, lanes, pixel_nll, grad);
  }
}

}  // namespace

extern "C" {

// Blocks [begin, end) of 8 pixels (float32) or 4 (float64), ceil(HW / lanes) blocks an
// image; params [n, P, HW] and x [n, C, HW] contiguous; grad may be null. k <= 64, c <= 4.
void tchvae_mixture_blocks_f32(const float* params, const float* x, int64_t hw, int64_t k,
                               int64_t c, int64_t begin, int64_t end, float* pixel_nll,
                               float* grad) {
  blocks<F32>(params, x, hw, k, c, begin, end, pixel_nll, grad);
}

void tchvae_mixture_blocks_f64(const double* params, const double* x, int64_t hw, int64_t k,
                               int64_t c, int64_t begin, int64_t end, double* pixel_nll,
                               double* grad) {
  blocks<F64>(params, x, hw, k, c, begin, end, pixel_nll, grad);
}
}
