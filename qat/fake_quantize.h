// The quantize op of the toolkit. ATen's fake_quantize_* round half to even; the arithmetic
// contract needs round half up (floor(x/s + 0.5)), so this is our own autograd function.
//
//   q = clamp(floor(x / scale + 0.5) + zero_point, qmin, qmax),   y = (q - zero_point) * scale
//
// Backward: straight-through estimator, dy/dx = 1 where floor(x/s + 0.5) + zp lies in
// [qmin, qmax], 0 outside. With a learned scale (LSQ, Esser et al. 2020) the scale receives
//   dy/ds = (q - zp) - x/s inside, qmin - zp below, qmax - zp above, times grad_factor,
// with grad_factor = 1 / sqrt(numel * qmax) by default.
#pragma once

#include <torch/types.h>

#include <vector>

namespace qat {

// scale and zero_point broadcast against x (a 0-d / [1] tensor per tensor, [C, 1, ...] per
// channel), in x's dtype. Gradients flow to x only.
torch::Tensor fake_quantize(const torch::Tensor& x, const torch::Tensor& scale,
                            const torch::Tensor& zero_point, int64_t qmin, int64_t qmax);

// The same with the scale and zero point as values: one (per tensor) or one per channel along
// axis 0; no tensors are made for them on the fused path (what the quantizers call per step).
torch::Tensor fake_quantize(const torch::Tensor& x, const std::vector<double>& scale,
                            const std::vector<double>& zero_point, int64_t qmin, int64_t qmax);

// The op-by-op form of fake_quantize() (one ATen op per step of the formula); fake_quantize()
// runs the fused kernel of fake_quantize_kernel.h, bit-identical to this, whenever it applies.
torch::Tensor fake_quantize_reference(const torch::Tensor& x, const torch::Tensor& scale,
                                      const torch::Tensor& zero_point, int64_t qmin, int64_t qmax);

// Same forward; `scale` (positive) also receives the LSQ gradient scaled by grad_factor.
torch::Tensor fake_quantize_lsq(const torch::Tensor& x, const torch::Tensor& scale,
                                const torch::Tensor& zero_point, int64_t qmin, int64_t qmax,
                                double grad_factor);

// Integer codes without gradient (values are integers held in x's dtype).
torch::Tensor quantize_codes(const torch::Tensor& x, const torch::Tensor& scale,
                             const torch::Tensor& zero_point, int64_t qmin, int64_t qmax);

// Shape [C, 1, ...] of rank `rank` with C along `axis`, or [1] per tensor (axis < 0).
std::vector<int64_t> broadcast_shape(int64_t channels, int64_t axis, int64_t rank);

}  // namespace qat
