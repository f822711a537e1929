// The fused CPU kernel behind fake_quantize(): one pass over x computes the output and the
// straight-through mask, one pass over the incoming gradient applies it. The op-by-op form
// (divide, round, add, two compares, clamp, subtract, multiply: nine tensor passes and as many
// allocations forward, a clone and a fill backward) is kept as fake_quantize_reference() in
// fake_quantize.h; tests/test_fake_quantize.cpp checks both give the same bits.
#pragma once

#include <torch/types.h>

#include <vector>

namespace qat {

// Whether the fused kernel takes these operands: x float or double, scale and zero_point of x's
// dtype with one element (per tensor) or x.size(0) elements (per channel along axis 0, shape
// [C, 1, ...] or [C]). Anything else goes through the op-by-op form.
bool fused_fake_quantize_applies(const torch::Tensor& x, const torch::Tensor& scale,
                                 const torch::Tensor& zero_point);

// The same with the scale and zero point as values (one, or one per channel along axis 0):
// x float or double on the CPU, and `channels` 1 or x.size(0).
bool fused_fake_quantize_applies(const torch::Tensor& x, size_t channels);

struct FusedFakeQuantized {
  torch::Tensor y;       // (clamp(floor(x / s + 0.5) + zp, qmin, qmax) - zp) * s, x's shape
  torch::Tensor inside;  // bool: floor(x / s + 0.5) + zp within [qmin, qmax] (undefined if
                         // the mask was not asked for)
};

// Element for element the IEEE operations of the op-by-op form in x's dtype, in the same order,
// so the result is bit-identical (NaN propagates to y, and counts as inside, as there). Scale
// and zero point are rounded to x's dtype as the reference's tensors are.
FusedFakeQuantized fused_fake_quantize(const torch::Tensor& x, const std::vector<double>& scale,
                                       const std::vector<double>& zero_point, int64_t qmin,
                                       int64_t qmax, bool want_mask);

// grad where inside, +0 elsewhere (masked_fill's result, one pass).
torch::Tensor fused_ste_backward(const torch::Tensor& grad, const torch::Tensor& inside);

}  // namespace qat
