// Batch normalisation over the global batch of a data-parallel run (SyncBatchNorm): the batch
// statistics are the mean and variance of every rank's samples together, so N processes with
// a global batch B normalise exactly as one process with batch B would (up to float rounding).
// Forward: one allreduce of [count, sum x, sum x^2] per channel (double); backward: one
// allreduce of [sum dy, sum dy * x_hat]. The weight and bias gradients stay local (the
// gradient allreduce after backward sums them with every other parameter's).
#pragma once

#include <torch/types.h>

namespace qat {

class ProcessGroup;

// x: [N, C, ...] float; weight, bias: [C]; running statistics updated in place (momentum, with
// the unbiased variance of the global batch) like torch::batch_norm in training mode.
// `group` must outlive the autograd graph of the result.
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor& running_mean,
                              torch::Tensor& running_var, double momentum, double eps,
                              ProcessGroup& group);

}  // namespace qat
