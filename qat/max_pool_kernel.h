// Max pooling with non-overlapping windows (stride = kernel, no padding: the pools of the ResNet
// and YOLO builders), 1D and 2D, float and double, as one autograd op: a direct loop forward that
// keeps the winning index, and a scatter of the gradient backward. ATen's
// max_pool2d_with_indices took 16% of a small model's float epoch (bench/README.md). The result
// equals ATen's bit for bit: the first maximum of a window wins (strictly greater replaces), the
// last NaN wins, the gradient goes to the winner only; tests/test_graph_module.cpp compares
// both, ties included.
#pragma once

#include <torch/types.h>

#include <vector>

namespace qat {

// Whether the direct op takes this pool: stride == kernel, zero padding, x [N, C, L] (1D
// kernel) or [N, C, H, W] (2D), float or double on the CPU.
bool direct_max_pool_applies(const torch::Tensor& x, const std::vector<int64_t>& kernel,
                             const std::vector<int64_t>& stride,
                             const std::vector<int64_t>& padding);

// Output [N, C, L / k] or [N, C, H / kh, W / kw] (floor: a trailing partial window is dropped,
// as ATen does without ceil_mode).
torch::Tensor direct_max_pool(const torch::Tensor& x, const std::vector<int64_t>& kernel);

}  // namespace qat
