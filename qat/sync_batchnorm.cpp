#include "qat/sync_batchnorm.h"

#include <torch/autograd.h>

#include "qat/process_group.h"

namespace qat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Every dimension but the channel one (1).
std::vector<int64_t> reduce_dims(const torch::Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}

// [C] -> [1, C, 1, ...] to broadcast against x.
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.reshape(shape);
}

ProcessGroup& group_of(AutogradContext* ctx) {
  return *reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, int64_t group_handle) {
    ctx->saved_data["group"] = group_handle;
    ProcessGroup& group = *reinterpret_cast<ProcessGroup*>(group_handle);
    const std::vector<int64_t> dims = reduce_dims(x);
    const int64_t c = x.size(1);
    const torch::Tensor xd = x.to(torch::kDouble);
    torch::Tensor stats =
        torch::cat({torch::full({1}, static_cast<double>(x.numel() / c), torch::kDouble),
                    xd.sum(dims), xd.pow(2).sum(dims)});
    group.allreduce(stats, ReduceOp::kSum);
    const double n = stats[0].item<double>();
    const torch::Tensor mean = stats.narrow(0, 1, c) / n;
    const torch::Tensor var = (stats.narrow(0, 1 + c, c) / n - mean * mean).clamp_min(0.0);
    const torch::Tensor invstd = (var + eps).rsqrt();
    {
      torch::NoGradGuard ng;
      running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.dtype()) * momentum);
      const double unbias = n > 1 ? n / (n - 1) : 1.0;
      running_var.mul_(1.0 - momentum).add_(var.to(running_var.dtype()) * (unbias * momentum));
    }
    const torch::Tensor xhat =
        (x - per_channel(mean.to(x.dtype()), x)) * per_channel(invstd.to(x.dtype()), x);
    ctx->save_for_backward({xhat, weight, invstd.to(x.dtype())});
    ctx->saved_data["n"] = n;
    return xhat * per_channel(weight, x) + per_channel(bias, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xhat = saved[0], &weight = saved[1], &invstd = saved[2];
    const torch::Tensor dy = grads[0].contiguous();
    const std::vector<int64_t> dims = reduce_dims(xhat);
    const int64_t c = xhat.size(1);
    // Local sums are the weight / bias gradients; their global sums shape dx.
    const torch::Tensor sum_dy = dy.sum(dims, false, torch::kDouble);
    const torch::Tensor sum_dy_xhat = (dy * xhat).sum(dims, false, torch::kDouble);
    torch::Tensor global = torch::cat({sum_dy, sum_dy_xhat});
    group_of(ctx).allreduce(global, ReduceOp::kSum);
    const double n = ctx->saved_data["n"].toDouble();
    const torch::Tensor mean_dy = (global.narrow(0, 0, c) / n).to(dy.dtype());
    const torch::Tensor mean_dy_xhat = (global.narrow(0, c, c) / n).to(dy.dtype());
    const torch::Tensor dx =
        per_channel(weight * invstd, xhat) *
        (dy - per_channel(mean_dy, xhat) - xhat * per_channel(mean_dy_xhat, xhat));
    return {dx,
            sum_dy_xhat.to(weight.dtype()),
            sum_dy.to(weight.dtype()),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor& running_mean,
                              torch::Tensor& running_var, double momentum, double eps,
                              ProcessGroup& group) {
  return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, momentum, eps,
                                      reinterpret_cast<int64_t>(&group));
}

}  // namespace qat
