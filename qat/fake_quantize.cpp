#include "qat/fake_quantize.h"

#include <torch/autograd.h>

#include "qat/fake_quantize_kernel.h"

namespace qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct FakeQuantizeFn : torch::autograd::Function<FakeQuantizeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& scale, const torch::Tensor& zero_point,
                               int64_t qmin, int64_t qmax, double grad_factor, bool learn_scale) {
    const torch::Tensor v = x / scale;
    const torch::Tensor q_unclamped = torch::floor(v + 0.5) + zero_point;
    const torch::Tensor below = q_unclamped < static_cast<double>(qmin);
    const torch::Tensor above = q_unclamped > static_cast<double>(qmax);
    const torch::Tensor q = q_unclamped.clamp(static_cast<double>(qmin), static_cast<double>(qmax));
    if (learn_scale) {
      // dy/ds per element, before the incoming gradient and the reduction to scale's shape.
      const torch::Tensor inside = (q - zero_point) - v;
      const torch::Tensor ds = torch::where(
          below, (static_cast<double>(qmin) - zero_point).expand_as(v),
          torch::where(above, (static_cast<double>(qmax) - zero_point).expand_as(v), inside));
      ctx->save_for_backward({below.logical_or(above), ds * grad_factor});
    } else {
      ctx->save_for_backward({below.logical_or(above)});
    }
    ctx->saved_data["scale_sizes"] = scale.sizes().vec();
    ctx->saved_data["learn_scale"] = learn_scale;
    return (q - zero_point) * scale;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& g = grad_outputs[0];
    const torch::Tensor grad_x = g.masked_fill(saved[0], 0.0);
    torch::Tensor grad_scale;
    if (ctx->saved_data["learn_scale"].toBool()) {
      const auto sizes = ctx->saved_data["scale_sizes"].toIntVector();
      grad_scale = (g * saved[1]).sum_to_size(sizes);
    }
    return {grad_x,          grad_scale,      torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The same forward and STE backward through the fused kernel (no learned scale); scale and
// zero point as values, one or one per channel along axis 0.
struct FusedFakeQuantizeFn : torch::autograd::Function<FusedFakeQuantizeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               std::vector<double> scale, std::vector<double> zero_point,
                               int64_t qmin, int64_t qmax) {
    const bool grad = ctx->needs_input_grad(0);
    FusedFakeQuantized r = fused_fake_quantize(x, scale, zero_point, qmin, qmax, grad);
    if (grad) ctx->save_for_backward({r.inside});
    return r.y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    return {fused_ste_backward(grad_outputs[0], saved[0]), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

std::vector<double> values_of(const torch::Tensor& t) {
  const torch::Tensor d = t.detach().to(torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

torch::Tensor fake_quantize(const torch::Tensor& x, const torch::Tensor& scale,
                            const torch::Tensor& zero_point, int64_t qmin, int64_t qmax) {
  if (!fused_fake_quantize_applies(x, scale, zero_point))
    return fake_quantize_reference(x, scale, zero_point, qmin, qmax);
  return fake_quantize(x, values_of(scale), values_of(zero_point), qmin, qmax);
}

torch::Tensor fake_quantize(const torch::Tensor& x, const std::vector<double>& scale,
                            const std::vector<double>& zero_point, int64_t qmin, int64_t qmax) {
  if (!fused_fake_quantize_applies(x, scale.size()) || zero_point.size() != scale.size()) {
    // The op-by-op form with [C, 1, ...] tensors in x's dtype.
    const auto shape =
        broadcast_shape(static_cast<int64_t>(scale.size()), scale.size() > 1 ? 0 : -1, x.dim());
    return fake_quantize_reference(
        x, torch::tensor(scale, torch::kDouble).reshape(shape).to(x.scalar_type()),
        torch::tensor(zero_point, torch::kDouble).reshape(shape).to(x.scalar_type()), qmin, qmax);
  }
  if (!x.requires_grad() || !torch::GradMode::is_enabled())
    return fused_fake_quantize(x, scale, zero_point, qmin, qmax, false).y;
  return FusedFakeQuantizeFn::apply(x, scale, zero_point, qmin, qmax);
}

torch::Tensor fake_quantize_reference(const torch::Tensor& x, const torch::Tensor& scale,
                                      const torch::Tensor& zero_point, int64_t qmin, int64_t qmax) {
  return FakeQuantizeFn::apply(x, scale.detach(), zero_point.detach(), qmin, qmax, 0.0, false);
}

torch::Tensor fake_quantize_lsq(const torch::Tensor& x, const torch::Tensor& scale,
                                const torch::Tensor& zero_point, int64_t qmin, int64_t qmax,
                                double grad_factor) {
  return FakeQuantizeFn::apply(x, scale, zero_point.detach(), qmin, qmax, grad_factor, true);
}

torch::Tensor quantize_codes(const torch::Tensor& x, const torch::Tensor& scale,
                             const torch::Tensor& zero_point, int64_t qmin, int64_t qmax) {
  torch::NoGradGuard no_grad;
  return (torch::floor(x / scale + 0.5) + zero_point)
      .clamp(static_cast<double>(qmin), static_cast<double>(qmax));
}

std::vector<int64_t> broadcast_shape(int64_t channels, int64_t axis, int64_t rank) {
  if (axis < 0) return {1};
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[static_cast<size_t>(axis)] = channels;
  return shape;
}

}  // namespace qat
