#include "qat/fake_quantize_kernel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace qat {
namespace {

// Elements per task: small activations stay on one thread (a fork costs more than the pass).
constexpr int64_t kGrain = 1 << 15;

// The loop bodies are written once and compiled twice on x86-64 (AVX2 and the baseline), the
// loader picking the clone the CPU runs: floor and the compares vectorize only with SSE4.1+.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define QAT_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define QAT_SIMD_CLONES
#endif

template <class T>
inline __attribute__((always_inline)) void forward_span(const T* __restrict x, T* __restrict y,
                                                        bool* __restrict inside, int64_t n, T s,
                                                        T zp, T qmin, T qmax) {
  // The reference's order: v = x / s; floor(v + 0.5) + zp; compare; clamp; (q - zp) * s.
  // Branch-free so that it vectorizes; max / min written as the ternaries that keep a NaN q
  // (clamp propagates NaN), and a NaN counts as inside (neither compare holds), as there.
  if (inside) {
    for (int64_t i = 0; i < n; ++i) {
      const T q = std::floor(x[i] / s + T(0.5)) + zp;
      inside[i] = static_cast<bool>(!(q < qmin) & !(q > qmax));
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const T q = std::floor(x[i] / s + T(0.5)) + zp;
    const T lo = q < qmin ? qmin : q;
    const T c = qmax < lo ? qmax : lo;
    y[i] = (c - zp) * s;
  }
}

QAT_SIMD_CLONES void forward_span_f(const float* x, float* y, bool* inside, int64_t n, float s,
                                    float zp, float qmin, float qmax) {
  forward_span(x, y, inside, n, s, zp, qmin, qmax);
}

QAT_SIMD_CLONES void forward_span_d(const double* x, double* y, bool* inside, int64_t n, double s,
                                    double zp, double qmin, double qmax) {
  forward_span(x, y, inside, n, s, zp, qmin, qmax);
}

void forward_span_any(const float* x, float* y, bool* inside, int64_t n, float s, float zp,
                      float qmin, float qmax) {
  forward_span_f(x, y, inside, n, s, zp, qmin, qmax);
}

void forward_span_any(const double* x, double* y, bool* inside, int64_t n, double s, double zp,
                      double qmin, double qmax) {
  forward_span_d(x, y, inside, n, s, zp, qmin, qmax);
}

template <class T>
inline __attribute__((always_inline)) void backward_span(const T* __restrict g,
                                                         const bool* __restrict inside,
                                                         T* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = inside[i] ? g[i] : T(0);
}

QAT_SIMD_CLONES void backward_span_f(const float* g, const bool* inside, float* out, int64_t n) {
  backward_span(g, inside, out, n);
}

QAT_SIMD_CLONES void backward_span_d(const double* g, const bool* inside, double* out, int64_t n) {
  backward_span(g, inside, out, n);
}

template <class T>
void run_forward(const torch::Tensor& x, const std::vector<double>& scale,
                 const std::vector<double>& zp, int64_t qmin, int64_t qmax, torch::Tensor& y,
                 torch::Tensor* inside) {
  const int64_t numel = x.numel();
  const auto channels = static_cast<int64_t>(scale.size());
  const int64_t inner = channels > 1 ? numel / channels : numel;
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  bool* mp = inside ? inside->data_ptr<bool>() : nullptr;
  // In x's dtype, as the reference's scale tensors are (a double rounds to the nearest float).
  std::vector<T> s(scale.begin(), scale.end()), z(zp.begin(), zp.end());
  const T lo = static_cast<T>(qmin), hi = static_cast<T>(qmax);
  at::parallel_for(0, numel, kGrain, [&](int64_t begin, int64_t end) {
    // A range may cross channel boundaries: one span per channel piece.
    for (int64_t i = begin; i < end;) {
      const int64_t c = channels > 1 ? i / inner : 0;
      const int64_t stop = std::min(end, (c + 1) * inner);
      forward_span_any(xp + i, yp + i, mp ? mp + i : nullptr, stop - i, s[c], z[c], lo, hi);
      i = stop;
    }
  });
}

}  // namespace

bool fused_fake_quantize_applies(const torch::Tensor& x, size_t channels) {
  const auto dt = x.scalar_type();
  if ((dt != torch::kFloat && dt != torch::kDouble) || !x.device().is_cpu() || x.numel() == 0)
    return false;
  return channels == 1 || (x.dim() > 0 && static_cast<size_t>(x.size(0)) == channels);
}

bool fused_fake_quantize_applies(const torch::Tensor& x, const torch::Tensor& scale,
                                 const torch::Tensor& zero_point) {
  if (scale.scalar_type() != x.scalar_type() || zero_point.scalar_type() != x.scalar_type() ||
      scale.numel() != zero_point.numel())
    return false;
  if (!fused_fake_quantize_applies(x, static_cast<size_t>(scale.numel()))) return false;
  if (scale.numel() == 1) return true;
  // Per channel: [C, 1, ...] (or [C]) along x's leading axis, as values along axis 0.
  if (scale.dim() > x.dim() || scale.size(0) != x.size(0) || zero_point.size(0) != x.size(0))
    return false;
  for (int64_t d = 1; d < scale.dim(); ++d)
    if (scale.size(d) != 1 || zero_point.size(d) != 1) return false;
  return true;
}

FusedFakeQuantized fused_fake_quantize(const torch::Tensor& x_in, const std::vector<double>& scale,
                                       const std::vector<double>& zero_point, int64_t qmin,
                                       int64_t qmax, bool want_mask) {
  const torch::Tensor x = x_in.contiguous();
  FusedFakeQuantized r;
  r.y = torch::empty_like(x, torch::MemoryFormat::Contiguous);
  if (want_mask) r.inside = torch::empty(x.sizes(), x.options().dtype(torch::kBool));
  torch::Tensor* mask = want_mask ? &r.inside : nullptr;
  if (x.scalar_type() == torch::kFloat)
    run_forward<float>(x, scale, zero_point, qmin, qmax, r.y, mask);
  else
    run_forward<double>(x, scale, zero_point, qmin, qmax, r.y, mask);
  return r;
}

torch::Tensor fused_ste_backward(const torch::Tensor& grad_in, const torch::Tensor& inside) {
  const torch::Tensor g = grad_in.contiguous();
  torch::Tensor out = torch::empty_like(g, torch::MemoryFormat::Contiguous);
  const bool* mp = inside.data_ptr<bool>();
  const int64_t numel = g.numel();
  const bool is_float = g.scalar_type() == torch::kFloat;
  at::parallel_for(0, numel, kGrain, [&](int64_t begin, int64_t end) {
    if (is_float)
      backward_span_f(g.data_ptr<float>() + begin, mp + begin, out.data_ptr<float>() + begin,
                      end - begin);
    else
      backward_span_d(g.data_ptr<double>() + begin, mp + begin, out.data_ptr<double>() + begin,
                      end - begin);
  });
  return out;
}

}  // namespace qat
