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

int64_t accumulator_bound(const torch::Tensor& weight_codes, const torch::Tensor& bias_codes,
                          const QFormat& in) {
  const int64_t x_max =
      std::max(std::llabs(in.qmin() - in.zero_point[0]), std::llabs(in.qmax() - in.zero_point[0]));
  const torch::Tensor w = weight_codes.to(torch::kLong).reshape({weight_codes.size(0), -1});
  torch::Tensor per_channel = w.abs().sum(1) * x_max;
  if (bias_codes.defined()) per_channel = per_channel + bias_codes.to(torch::kLong).abs();
  return per_channel.max().item<int64_t>();
}

std::pair<int64_t, int64_t> activation_bounds(const QFormat& f, Activation a) {
  int64_t lo = f.qmin(), hi = f.qmax();
  if (a != Activation::kNone) lo = std::max(lo, f.zero_point[0]);
  if (a == Activation::kRelu6) hi = std::min(hi, f.quantize(6.0));
  return {lo, hi};
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

torch::Tensor GraphModuleImpl::eval_layer(const Node& n, const torch::Tensor& in, Activation act) {
  const IntLayer& il = cached_int_layer(n.name);
  // Every partial sum of the accumulator is bounded by acc_bound integer units, so float32
  // (24-bit significand) computes the layer exactly when the bound is below 2^24; otherwise
  // double (53 bits) does.
  const torch::Dtype dt = il.acc_bound < (int64_t{1} << 24) ? torch::kFloat : torch::kDouble;
  const auto channel_shape = [&](int64_t c) {
    return broadcast_shape(c, c > 1 ? 1 : -1, in.dim());
  };
  if (il.output.scheme == Scheme::kPow2) {
    // The fake-quant forward itself: dequantized weights and bias (exact multiples of powers
    // of two), the layer, the fused activation, the output quantizer.
    const int64_t out_c = il.weight_codes.size(0);
    std::vector<double> ws, bs;
    for (int64_t c = 0; c < out_c; ++c) {
      ws.push_back(il.weight.scale_at(static_cast<size_t>(c)));
      bs.push_back(il.input.scale[0] * il.weight.scale_at(static_cast<size_t>(c)));
    }
    std::vector<int64_t> wshape(static_cast<size_t>(il.weight_codes.dim()), 1);
    wshape[0] = out_c;
    const torch::Tensor w =
        il.weight_codes.to(dt) * torch::tensor(ws, torch::kDouble).reshape(wshape).to(dt);
    const torch::Tensor b = il.bias_codes.to(dt) * torch::tensor(bs, torch::kDouble).to(dt);
    const torch::Tensor y = apply_activation(apply_layer(n, in.to(dt), w, b), act);
    return layers_.at(n.name)->act_quantizer->forward(y).to(torch::kDouble);
  }
  // Affine: the integer accumulator from the input codes (x_q - zp) and the weight codes, then
  // the kernels' fixed-point requantization.
  const torch::Tensor x_codes = torch::floor(in / il.input.scale[0] + 0.5).to(dt);
  torch::Tensor acc =
      apply_layer(n, x_codes, il.weight_codes.to(dt), torch::Tensor()).to(torch::kLong);
  acc = acc + il.bias_codes.reshape(channel_shape(il.bias_codes.size(0)));
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
  torch::Tensor q = torch::div(acc * as_tensor(mult) + as_tensor(round), as_tensor(div), "floor");
  const auto [lo, hi] = activation_bounds(il.output, il.activation);
  q = (q + il.output.zero_point[0]).clamp(lo, hi);
  return (q - il.output.zero_point[0]).to(torch::kDouble) * il.output.scale[0];
}

}  // namespace qat
