// GraphModule's integer side: the integer view of a conv/linear layer (codes, bias in the
// accumulator scale, worst-case accumulator) and the evaluation mode that simulates the integer
// model exactly (see graph_module.h). Kept apart from the float / fake-quant execution so the
// arithmetic contract's host half reads in one place.
#include <cmath>

#include "qat/errors.h"
#include "qat/fake_quantize.h"
#include "qat/graph_module.h"

namespace qat {

QFormat bias_format_for(const QuantSpec& spec, const QFormat& in, const QFormat& w, size_t channels,
                        double max_abs_bias) {
  if (in.scheme == Scheme::kAffine) {
    std::vector<double> scale;
    for (size_t c = 0; c < channels; ++c) scale.push_back(in.scale[0] * w.scale_at(c));
    return QFormat::affine(32, true, scale, std::vector<int64_t>(channels, 0), true);
  }
  const int own = spec.bits >= 32 ? 1 << 20 : pow2_frac_bits(max_abs_bias, spec.bits);
  std::vector<int> n;
  for (size_t c = 0; c < channels; ++c)
    n.push_back(std::min(own, in.frac_bits[0] + w.frac_bits_at(c)));
  return QFormat::pow2(std::min(spec.bits, 32), n, true);
}

namespace {

// The largest |code - zero point| of a per-tensor format: the input magnitude every accumulator
// bound starts from.
int64_t max_abs_code(const QFormat& f) {
  return std::max(std::llabs(f.qmin() - f.zero_point[0]), std::llabs(f.qmax() - f.zero_point[0]));
}

}  // namespace

int64_t accumulator_bound(const torch::Tensor& weight_codes, const torch::Tensor& bias_codes,
                          const QFormat& in) {
  const int64_t x_max = max_abs_code(in);
  const torch::Tensor w = weight_codes.to(torch::kLong).reshape({weight_codes.size(0), -1});
  torch::Tensor per_channel = w.abs().sum(1) * x_max;
  if (bias_codes.defined()) per_channel = per_channel + bias_codes.to(torch::kLong).abs();
  return per_channel.max().item<int64_t>();
}

IntLayer GraphModuleImpl::int_layer(const std::string& name) const {
  const Node& n = graph_.node(name);
  if (!n.has_weights()) throw GraphError("node '" + name + "' is not a conv/linear layer");
  Layer l = layer(name);
  torch::NoGradGuard no_grad;
  IntLayer il;
  il.input = activation_format(n.inputs[0]);
  il.weight = weight_format(name);
  il.output = activation_format(name);
  il.activation = plan()[graph_.index_of(name)].fused;
  const IntRange wr = int_range(il.weight.bits, il.weight.is_signed);
  const auto [ws, wz] = format_tensors(il.weight, 0, l->weight.dim(), torch::kDouble);
  il.weight_codes =
      quantize_codes(l->weight.to(torch::kDouble), ws, wz, wr.qmin, wr.qmax).to(torch::kLong);
  const int64_t out_c = n.out_channels;
  const double max_b = l->bias.defined() ? l->bias.abs().max().item<double>() : 0.0;
  il.bias = bias_format_for(qconfig_.bias_for(name), il.input, il.weight,
                            static_cast<size_t>(out_c), max_b);
  il.bias_codes = torch::zeros({out_c}, torch::kLong);
  if (l->bias.defined()) {
    const IntRange br = int_range(il.bias.bits, true);
    const auto [bs, bz] = format_tensors(il.bias, 0, 1, torch::kDouble);
    const torch::Tensor bq =
        quantize_codes(l->bias.to(torch::kDouble), bs, bz, br.qmin, br.qmax).to(torch::kLong);
    // Into the accumulator scale: exact left shift for pow2, identity for affine.
    if (il.bias.scheme == Scheme::kPow2) {
      std::vector<int64_t> mul;
      for (int64_t c = 0; c < out_c; ++c)
        mul.push_back(int64_t{1} << (il.input.frac_bits[0] + il.weight.frac_bits_at(c) -
                                     il.bias.frac_bits_at(c)));
      il.bias_codes = bq * torch::tensor(mul, torch::kLong);
    } else {
      il.bias_codes = bq;
    }
  }
  il.acc_bound = accumulator_bound(il.weight_codes, il.bias_codes, il.input);
  return il;
}

torch::Tensor GraphModuleImpl::eval_affine_add(const Node& n, const torch::Tensor& a,
                                               const torch::Tensor& b, Activation act) {
  // The kernel's single-rounding rescale of both inputs (AddRescale) on the integer codes.
  const QFormat fa = activation_format(n.inputs[0]), fb = activation_format(n.inputs[1]);
  const QFormat fy = activation_format(n.name);
  const AddRescale r = make_add_rescale(fa, fb, fy);
  const torch::Tensor qa = torch::floor(a / fa.scale[0] + 0.5).to(torch::kLong);
  const torch::Tensor qb = torch::floor(b / fb.scale[0] + 0.5).to(torch::kLong);
  torch::Tensor sum = qa * r.ma + qb * r.mb;
  if (r.shift > 0)
    sum = torch::div(sum + (int64_t{1} << (r.shift - 1)), int64_t{1} << r.shift, "floor");
  const auto [lo, hi] = activation_bounds(fy, act);
  const torch::Tensor q = (sum + fy.zero_point[0]).clamp(lo, hi);
  return (q - fy.zero_point[0]).to(torch::kDouble) * fy.scale[0];
}

const IntLayer& GraphModuleImpl::cached_int_layer(const std::string& name) {
  auto it = eval_cache_.find(name);
  if (it == eval_cache_.end()) it = eval_cache_.emplace(name, int_layer(name)).first;
  return it->second;
}

namespace {

constexpr int64_t kExactFloat = int64_t{1} << 24;  // float32 holds every integer below this

// Bits of a signed integer holding every value in [-m, m].
int signed_bits_for(int64_t m) {
  int b = 1;
  while (b < 63 && (int64_t{1} << (b - 1)) <= m) ++b;
  return b;
}

// Integer codes (held exactly in a float tensor) as limbs of `bits` bits, lowest first:
// v = sum_j limb_j 2^(bits j), the lower limbs in [0, 2^bits), the top one signed (floor), so
// padding zeros stay zeros. Every step (scaling by a power of two, floor, subtraction) is exact.
std::vector<torch::Tensor> limbs_of(const torch::Tensor& v, int bits, int count) {
  std::vector<torch::Tensor> out;
  const double radix = std::ldexp(1.0, bits);
  torch::Tensor rest = v;
  for (int j = 0; j < count - 1; ++j) {
    const torch::Tensor high = torch::floor(rest * (1.0 / radix));
    out.push_back(rest - high * radix);
    rest = high;
  }
  out.push_back(rest);
  return out;
}

// How to split a layer so that each partial layer is exact in float32: weight limbs of
// `w_bits`, input limbs of `x_bits`, or none found (then double).
struct LimbSplit {
  int w_bits = 0, w_limbs = 1, x_bits = 0, x_limbs = 1;
  bool found = false;
};

LimbSplit choose_split(const torch::Tensor& w_codes, int w_width, int x_width) {
  LimbSplit best;
  const torch::Tensor w = w_codes.to(torch::kDouble).reshape({w_codes.size(0), -1});
  for (int bw = w_width; bw >= 1; bw = bw > 8 ? 8 : bw - 2) {
    const int w_limbs = (w_width + bw - 1) / bw;
    int64_t abs_sum = 0;  // the largest per-channel sum of |limb| over the weight limbs
    for (const torch::Tensor& l : limbs_of(w, bw, w_limbs))
      abs_sum = std::max(abs_sum, static_cast<int64_t>(l.abs().sum(1).max().item<double>()));
    int bx = 0;
    while (bx < x_width && abs_sum * ((int64_t{1} << (bx + 1)) - 1) < kExactFloat) ++bx;
    if (bx == 0) continue;
    const int x_limbs = (x_width + bx - 1) / bx;
    if (!best.found || w_limbs * x_limbs < best.w_limbs * best.x_limbs)
      best = {bw, w_limbs, bx, x_limbs, true};
  }
  return best;
}

}  // namespace

torch::Tensor GraphModuleImpl::exact_accumulator(const Node& n, const torch::Tensor& x_codes,
                                                 const IntLayer& il) const {
  // Every partial sum is bounded by acc_bound, so float32 (24-bit significand) computes the
  // accumulator exactly when the bound is below 2^24. Wider layers (int16 activations and / or
  // weights) are split into limbs, x = sum_j x_j 2^(bx j) and w = sum_i w_i 2^(bw i), with limb
  // widths such that max_c sum_k |w_i[c,k]| (2^bx - 1) < 2^24: each partial layer
  // conv(x_j, w_i) is then exact in float32, and they add up exactly in double (the
  // accumulator stays far below 2^53). The split with the fewest partial layers is taken. Only
  // when none fits is the layer computed in double directly (exact as well, many times slower).
  if (il.acc_bound < kExactFloat)
    return apply_layer(n, x_codes.to(torch::kFloat), il.weight_codes.to(torch::kFloat),
                       torch::Tensor())
        .to(torch::kDouble);
  const int64_t w_max = il.weight_codes.abs().max().item<int64_t>();
  const LimbSplit split = choose_split(il.weight_codes, signed_bits_for(w_max),
                                       signed_bits_for(max_abs_code(il.input)));
  if (!split.found)
    return apply_layer(n, x_codes.to(torch::kDouble), il.weight_codes.to(torch::kDouble),
                       torch::Tensor());
  const std::vector<torch::Tensor> xs =
      limbs_of(x_codes.to(torch::kFloat), split.x_bits, split.x_limbs);
  const std::vector<torch::Tensor> ws =
      limbs_of(il.weight_codes.to(torch::kFloat), split.w_bits, split.w_limbs);
  torch::Tensor acc;
  for (int i = 0; i < split.w_limbs; ++i) {
    for (int j = 0; j < split.x_limbs; ++j) {
      const torch::Tensor part =
          apply_layer(n, xs[static_cast<size_t>(j)], ws[static_cast<size_t>(i)], torch::Tensor())
              .to(torch::kDouble);
      const double weight = std::ldexp(1.0, split.w_bits * i + split.x_bits * j);
      if (!acc.defined())
        acc = part * weight;
      else
        acc.add_(part, weight);
    }
  }
  return acc;
}

torch::Tensor GraphModuleImpl::eval_layer(const Node& n, const torch::Tensor& in, Activation act) {
  const IntLayer& il = cached_int_layer(n.name);
  const auto channel_shape = [&](int64_t c) {
    return broadcast_shape(c, c > 1 ? 1 : -1, in.dim());
  };
  const torch::Tensor x_codes = torch::floor(in / il.input.scale[0] + 0.5);
  // Exact integers held in double (|acc| < 2^53).
  const torch::Tensor acc =
      exact_accumulator(n, x_codes, il) +
      il.bias_codes.to(torch::kDouble).reshape(channel_shape(il.bias_codes.size(0)));
  if (il.output.scheme == Scheme::kPow2) {
    // The fake-quant forward on the exact accumulator: (acc + bias) s_x s_w[c] is what the
    // layer on dequantized weights and bias (exact multiples of powers of two) computes, exact
    // in double; then the fused activation and the output quantizer.
    const int64_t out_c = il.weight_codes.size(0);
    std::vector<double> scale;
    for (int64_t c = 0; c < out_c; ++c)
      scale.push_back(il.input.scale[0] * il.weight.scale_at(static_cast<size_t>(c)));
    const torch::Tensor s =
        torch::tensor(scale, torch::kDouble).reshape(channel_shape(out_c > 1 ? out_c : 1));
    const torch::Tensor y = apply_activation(acc * s, act);
    return layers_.at(n.name)->act_quantizer->forward(y).to(torch::kDouble);
  }
  // Affine: the kernels' fixed-point requantization of the accumulator.
  const Requant rq = make_requant(il.input, il.weight, il.output, il.acc_bound);
  std::vector<int64_t> mult, round, div;
  for (const FixedMultiplier& fm : rq.multiplier) {
    mult.push_back(fm.multiplier);
    round.push_back(fm.shift > 0 ? int64_t{1} << (fm.shift - 1) : 0);
    div.push_back(int64_t{1} << fm.shift);
  }
  const auto as_tensor = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kLong).reshape(channel_shape(static_cast<int64_t>(v.size())));
  };
  torch::Tensor q = torch::div(acc.to(torch::kLong) * as_tensor(mult) + as_tensor(round),
                               as_tensor(div), "floor");
  const auto [lo, hi] = activation_bounds(il.output, il.activation);
  q = (q + il.output.zero_point[0]).clamp(lo, hi);
  return (q - il.output.zero_point[0]).to(torch::kDouble) * il.output.scale[0];
}

}  // namespace qat
