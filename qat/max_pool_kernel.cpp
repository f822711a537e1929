#include "qat/max_pool_kernel.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>

namespace qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The plane geometry: [N*C] planes of in_h x in_w pooled by kh x kw (1D: in_h = kh = 1).
struct Geometry {
  int64_t planes, in_h, in_w, kh, kw, out_h, out_w;
};

Geometry geometry_of(const torch::Tensor& x, const std::vector<int64_t>& kernel) {
  Geometry g{};
  const bool two_d = kernel.size() == 2;
  g.planes = x.size(0) * x.size(1);
  g.in_h = two_d ? x.size(2) : 1;
  g.in_w = x.size(two_d ? 3 : 2);
  g.kh = two_d ? kernel[0] : 1;
  g.kw = kernel.back();
  g.out_h = g.in_h / g.kh;
  g.out_w = g.in_w / g.kw;
  return g;
}

template <class T>
void pool_forward(const T* x, T* y, int32_t* arg, const Geometry& g) {
  at::parallel_for(0, g.planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* in = x + p * g.in_h * g.in_w;
      T* out = y + p * g.out_h * g.out_w;
      int32_t* idx = arg + p * g.out_h * g.out_w;
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          // ATen's rule: scan the window row by row, replace when greater or NaN (so the
          // first maximum wins, and the last NaN).
          int64_t best = (oh * g.kh) * g.in_w + ow * g.kw;
          T v = in[best];
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t at = (oh * g.kh + i) * g.in_w + ow * g.kw + j;
              const T c = in[at];
              if (c > v || std::isnan(c)) {
                v = c;
                best = at;
              }
            }
          out[oh * g.out_w + ow] = v;
          idx[oh * g.out_w + ow] = static_cast<int32_t>(best);
        }
    }
  });
}

template <class T>
void pool_backward(const T* gy, const int32_t* arg, T* gx, const Geometry& g) {
  at::parallel_for(0, g.planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t n = g.out_h * g.out_w;
      T* plane = gx + p * g.in_h * g.in_w;
      for (int64_t o = 0; o < n; ++o) plane[arg[p * n + o]] = gy[p * n + o];  // windows disjoint
    }
  });
}

struct DirectMaxPoolFn : torch::autograd::Function<DirectMaxPoolFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               std::vector<int64_t> kernel) {
    const torch::Tensor x = x_in.contiguous();
    const Geometry g = geometry_of(x, kernel);
    std::vector<int64_t> out_shape{x.size(0), x.size(1)};
    if (kernel.size() == 2) out_shape.push_back(g.out_h);
    out_shape.push_back(g.out_w);
    torch::Tensor y = torch::empty(out_shape, x.options());
    torch::Tensor arg = torch::empty(out_shape, x.options().dtype(torch::kInt));
    if (x.scalar_type() == torch::kFloat)
      pool_forward(x.data_ptr<float>(), y.data_ptr<float>(), arg.data_ptr<int32_t>(), g);
    else
      pool_forward(x.data_ptr<double>(), y.data_ptr<double>(), arg.data_ptr<int32_t>(), g);
    ctx->save_for_backward({arg});
    ctx->saved_data["input_sizes"] = x.sizes().vec();
    ctx->saved_data["kernel"] = kernel;
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const auto sizes = ctx->saved_data["input_sizes"].toIntVector();
    const auto kernel = ctx->saved_data["kernel"].toIntVector();
    const torch::Tensor gy = grad_outputs[0].contiguous();
    torch::Tensor gx = torch::zeros(sizes, gy.options());
    const Geometry g = geometry_of(gx, kernel);
    if (gy.scalar_type() == torch::kFloat)
      pool_backward(gy.data_ptr<float>(), arg.data_ptr<int32_t>(), gx.data_ptr<float>(), g);
    else
      pool_backward(gy.data_ptr<double>(), arg.data_ptr<int32_t>(), gx.data_ptr<double>(), g);
    return {gx, torch::Tensor()};
  }
};

}  // namespace

bool direct_max_pool_applies(const torch::Tensor& x, const std::vector<int64_t>& kernel,
                             const std::vector<int64_t>& stride,
                             const std::vector<int64_t>& padding) {
  if (kernel.empty() || kernel.size() > 2 || stride != kernel) return false;
  for (int64_t p : padding)
    if (p != 0) return false;
  if (x.dim() != static_cast<int64_t>(kernel.size()) + 2 || !x.device().is_cpu()) return false;
  if (x.scalar_type() != torch::kFloat && x.scalar_type() != torch::kDouble) return false;
  for (size_t d = 0; d < kernel.size(); ++d)
    if (kernel[d] < 1 || x.size(static_cast<int64_t>(d) + 2) < kernel[d]) return false;
  // Window offsets are kept as int32.
  return x.size(-1) * (kernel.size() == 2 ? x.size(-2) : 1) < (int64_t{1} << 31);
}

torch::Tensor direct_max_pool(const torch::Tensor& x, const std::vector<int64_t>& kernel) {
  return DirectMaxPoolFn::apply(x, kernel);
}

}  // namespace qat
