#include "qat/graph_module.h"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qat/errors.h"
#include "qat/fake_quantize.h"

namespace qat {
namespace {

torch::Tensor apply_activation(const torch::Tensor& y, Activation a) {
  if (a == Activation::kRelu) return torch::relu(y);
  if (a == Activation::kRelu6) return torch::clamp(y, 0.0, 6.0);
  return y;
}

int64_t fan_in(const Graph& g, const Node& n) {
  int64_t k = 1;
  for (auto d : n.kernel) k *= d;
  return g.in_channels(n) / n.groups * k;
}

std::vector<int64_t> weight_shape(const Graph& g, const Node& n) {
  if (n.op == OpType::kLinear) return {n.out_channels, g.in_channels(n)};
  std::vector<int64_t> s{n.out_channels, g.in_channels(n) / n.groups};
  s.insert(s.end(), n.kernel.begin(), n.kernel.end());
  return s;
}

torch::Tensor sum_pool(const torch::Tensor& x, const Node& n) {
  // Window sums (exact in double for integer codes); 1D through the 2D op.
  if (n.kernel.size() == 1)
    return torch::avg_pool2d(x.unsqueeze(2), {1, n.kernel[0]}, {1, n.stride[0]}, {0, 0}, false,
                             true, 1)
        .squeeze(2);
  return torch::avg_pool2d(x, n.kernel, n.stride, {0, 0}, false, true, 1);
}

// Round-half-up mean of integer codes: floor((2 sum + count) / (2 count)).
torch::Tensor rounded_mean_codes(const torch::Tensor& sums, int64_t count) {
  const torch::Tensor num = sums.to(torch::kLong) * 2 + count;
  return torch::div(num, 2 * count, "floor");
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kFloat:
      return "float";
    case Mode::kCalibrate:
      return "calibrate";
    case Mode::kQat:
      return "qat";
    case Mode::kEval:
      return "eval";
  }
  return "?";
}

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

GraphModuleImpl::GraphModuleImpl(Graph graph, QuantConfig qconfig)
    : graph_(std::move(graph)), qconfig_(std::move(qconfig)) {
  qconfig_.check_against(graph_);
  if (!has_batchnorm()) {
    plan_ = make_quant_plan(graph_);
    has_plan_ = true;
  }
  for (size_t i = 0; i < graph_.size(); ++i) {
    const Node& n = graph_.at(i);
    Layer l;
    bool used = false;
    if (n.has_weights()) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(graph_, n)));
      l->weight = l->register_parameter(
          "weight", torch::empty(weight_shape(graph_, n)).uniform_(-bound, bound));
      if (n.bias)
        l->bias =
            l->register_parameter("bias", torch::empty({n.out_channels}).uniform_(-bound, bound));
      const QuantSpec ws = qconfig_.weights_for(n.name);
      l->weight_quantizer = l->register_module(
          "weight_quantizer", FakeQuantizer(ws, TensorRole::kWeights, n.out_channels));
      used = true;
    }
    if (n.op == OpType::kBatchNorm) {
      const int64_t c = graph_.in_channels(n);
      l->weight = l->register_parameter("weight", torch::ones({c}));
      l->bias = l->register_parameter("bias", torch::zeros({c}));
      l->running_mean = l->register_buffer("running_mean", torch::zeros({c}));
      l->running_var = l->register_buffer("running_var", torch::ones({c}));
      used = true;
    }
    if (has_plan_ && plan_[i].quantizes_output) {
      l->act_quantizer = l->register_module(
          "act_quantizer",
          FakeQuantizer(qconfig_.activations_for(n.name), TensorRole::kActivations, 1));
      used = true;
    }
    if (used) layers_[n.name] = register_module(n.name, l);
  }
}

const std::vector<NodePlan>& GraphModuleImpl::plan() const {
  if (!has_plan_) make_quant_plan(graph_);  // throws the batchnorm error
  return plan_;
}

Layer GraphModuleImpl::layer(const std::string& name) const {
  auto it = layers_.find(name);
  if (it == layers_.end()) throw GraphError("node '" + name + "' has no parameters or quantizers");
  return it->second;
}

bool GraphModuleImpl::has_batchnorm() const {
  for (const auto& n : graph_.nodes())
    if (n.op == OpType::kBatchNorm) return true;
  return false;
}

void GraphModuleImpl::freeze_observers(bool frozen) {
  for (auto& [name, l] : layers_) {
    if (l->weight_quantizer) l->weight_quantizer->observer->set_frozen(frozen);
    if (l->act_quantizer) l->act_quantizer->observer->set_frozen(frozen);
  }
}

void GraphModuleImpl::init_learned_scales() {
  for (auto& [name, l] : layers_) {
    if (l->weight_quantizer) {
      if (!l->weight_quantizer->ready()) l->weight_quantizer->observe(l->weight.detach());
      l->weight_quantizer->init_learned_scale();
    }
    if (l->act_quantizer) l->act_quantizer->init_learned_scale();
  }
}

bool GraphModuleImpl::quantizers_ready() const {
  for (const auto& [name, l] : layers_) {
    if (l->act_quantizer && !l->act_quantizer->ready()) return false;
  }
  return true;
}

std::vector<std::string> GraphModuleImpl::fixed_format_clipping() const {
  std::vector<std::string> out;
  const auto check = [&out](const std::string& what, const FakeQuantizer& q, double peak) {
    if (!q || !q->spec().frac_bits) return;
    const QFormat f = q->format();
    const double limit = static_cast<double>(int_range(f.bits, f.is_signed).qmax) * f.scale.front();
    if (peak <= limit) return;
    std::ostringstream m;
    m << what << ": |x| reaches " << peak << " but the fixed format " << f.str() << " saturates at "
      << limit;
    out.push_back(m.str());
  };
  for (const Node& n : graph_.nodes()) {
    if (!has_layer(n.name)) continue;
    const Layer l = layer(n.name);
    if (l->weight_quantizer)
      check("'" + n.name + "' weights", l->weight_quantizer,
            l->weight.detach().abs().max().item<double>());
    if (l->act_quantizer)
      check("'" + n.name + "' output", l->act_quantizer, l->act_quantizer->fixed_format_peak());
  }
  return out;
}

QFormat GraphModuleImpl::activation_format(const std::string& node) const {
  const std::string& owner = plan()[graph_.index_of(node)].format_from;
  return layer(owner)->act_quantizer->format(owner);
}

QFormat GraphModuleImpl::weight_format(const std::string& node) const {
  Layer l = layer(node);
  if (!l->weight_quantizer->ready()) l->weight_quantizer->observe(l->weight.detach());
  return l->weight_quantizer->format(node);
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

torch::Tensor GraphModuleImpl::quantized_weight(const std::string& name, Layer l) {
  if (mode_ == Mode::kQat) l->weight_quantizer->observe(l->weight);
  torch::Tensor w = mode_ == Mode::kEval ? l->weight.to(torch::kDouble) : l->weight;
  if (!l->weight_quantizer->ready()) l->weight_quantizer->observe(l->weight);
  return l->weight_quantizer->forward(w);
}

torch::Tensor GraphModuleImpl::quantized_bias(const std::string& name, Layer l, const QFormat& in,
                                              const QFormat& w) {
  if (!l->bias.defined()) return torch::Tensor();
  torch::Tensor b = mode_ == Mode::kEval ? l->bias.to(torch::kDouble) : l->bias;
  const double max_b = l->bias.detach().abs().max().item<double>();
  const QFormat bf =
      bias_format_for(qconfig_.bias_for(name), in, w, static_cast<size_t>(l->bias.size(0)), max_b);
  const IntRange r = int_range(bf.bits, true);
  const auto [scale, zp] = format_tensors(bf, 0, 1, b.scalar_type());
  return fake_quantize(b, scale, zp, r.qmin, r.qmax);
}

torch::Tensor GraphModuleImpl::quantize_output(size_t index, Layer l, const torch::Tensor& y) {
  if (mode_ == Mode::kCalibrate || mode_ == Mode::kQat) l->act_quantizer->observe(y);
  if (mode_ == Mode::kCalibrate) return y;
  return l->act_quantizer->forward(y);
}

torch::Tensor GraphModuleImpl::apply_layer(const Node& n, const torch::Tensor& in,
                                           const torch::Tensor& w, const torch::Tensor& b) const {
  if (n.op == OpType::kLinear) return torch::linear(in, w, b);
  if (n.kernel.size() == 1) return torch::conv1d(in, w, b, n.stride, n.padding, 1, n.groups);
  return torch::conv2d(in, w, b, n.stride, n.padding, 1, n.groups);
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

void GraphModuleImpl::set_mode(Mode m) {
  mode_ = m;
  eval_cache_.clear();
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

torch::Tensor GraphModuleImpl::forward(const torch::Tensor& x) {
  return run(x, nullptr);
}

std::vector<torch::Tensor> GraphModuleImpl::forward_all(const torch::Tensor& x) {
  std::vector<torch::Tensor> all;
  run(x, &all);
  return all;
}

torch::Tensor GraphModuleImpl::run(const torch::Tensor& x, std::vector<torch::Tensor>* all) {
  const bool quant = mode_ != Mode::kFloat;
  if (quant) plan();  // throws if batchnorm is still present
  const bool eval = mode_ == Mode::kEval;
  const bool fq = mode_ == Mode::kQat || eval;  // outputs are fake-quantized
  // Affine layers in eval mode requantize exactly like the kernels (see header).
  auto affine_exact = [&](const std::string& node) {
    return eval && activation_format(node).scheme == Scheme::kAffine;
  };
  std::vector<torch::Tensor> v(graph_.size());
  if (x.dim() != static_cast<int64_t>(graph_.input_node().shape.size()) + 1)
    throw GraphError("model input must be [N, " + shape_str(graph_.input_node().shape).substr(1) +
                     ", got " + shape_str(x.sizes().vec()));

  for (size_t i = 0; i < graph_.size(); ++i) {
    const Node& n = graph_.at(i);
    const NodePlan* p = has_plan_ ? &plan_[i] : nullptr;
    const torch::Tensor& in = n.inputs.empty() ? x : v[graph_.index_of(n.inputs[0])];
    torch::Tensor y;
    switch (n.op) {
      case OpType::kInput:
        y = eval ? x.to(torch::kDouble) : x;
        if (quant) y = quantize_output(i, layer(n.name), y);
        break;
      case OpType::kConv:
      case OpType::kLinear: {
        Layer l = layers_.at(n.name);
        const Activation act = p ? p->fused : Activation::kNone;
        if (eval) {
          y = eval_layer(n, in, act);
          break;
        }
        torch::Tensor w = l->weight, b = l->bias;
        if (mode_ == Mode::kCalibrate) l->weight_quantizer->observe(l->weight);
        if (fq) {
          const QFormat in_f = activation_format(n.inputs[0]);
          w = quantized_weight(n.name, l);
          const QFormat w_f = l->weight_quantizer->format(n.name);
          b = quantized_bias(n.name, l, in_f, w_f);
        }
        y = apply_activation(apply_layer(n, in, w, b), act);
        if (quant) y = quantize_output(i, l, y);
        break;
      }
      case OpType::kBatchNorm: {
        Layer l = layers_.at(n.name);
        const bool training = is_training() && !bn_frozen_;
        y = torch::batch_norm(in, l->weight, l->bias, l->running_mean, l->running_var, training,
                              n.momentum, n.eps, false);
        break;
      }
      case OpType::kAdd: {
        const torch::Tensor& b = v[graph_.index_of(n.inputs[1])];
        Layer l = layers_.count(n.name) ? layers_.at(n.name) : Layer(nullptr);
        const Activation act = p ? p->fused : Activation::kNone;
        if (affine_exact(n.name)) {
          y = eval_affine_add(n, in, b, act);
          break;
        }
        y = apply_activation(in + b, act);
        if (quant) y = quantize_output(i, l, y);
        break;
      }
      case OpType::kRelu:
        y = p && p->fused_away ? in : torch::relu(in);
        break;
      case OpType::kRelu6:
        if (p && p->fused_away) {
          y = in;
        } else if (fq) {
          const QFormat f = activation_format(n.name);
          y = torch::clamp(in, 0.0, f.dequantize(f.quantize(6.0)));
        } else {
          y = torch::clamp(in, 0.0, 6.0);
        }
        break;
      case OpType::kMaxPool:
        y = n.kernel.size() == 1 ? torch::max_pool1d(in, n.kernel, n.stride, n.padding)
                                 : torch::max_pool2d(in, n.kernel, n.stride, n.padding);
        break;
      case OpType::kAvgPool:
      case OpType::kGlobalAvgPool: {
        const bool global = n.op == OpType::kGlobalAvgPool;
        if (eval) {
          // Exact integer rounding of the window mean, as the kernel does it.
          const QFormat f = activation_format(n.name);
          const torch::Tensor codes = torch::floor(in / f.scale[0] + 0.5) + f.zero_point[0];
          torch::Tensor sums;
          int64_t count = 1;
          if (global) {
            sums = codes.flatten(2).sum(2);
            count = codes.flatten(2).size(2);
          } else {
            sums = sum_pool(codes, n);
            for (auto k : n.kernel) count *= k;
          }
          y = (rounded_mean_codes(sums, count) - f.zero_point[0]).to(torch::kDouble) * f.scale[0];
          break;
        }
        if (global) {
          y = in.flatten(2).mean(2);
        } else {
          y = n.kernel.size() == 1 ? torch::avg_pool1d(in, n.kernel, n.stride)
                                   : torch::avg_pool2d(in, n.kernel, n.stride);
        }
        if (fq) {
          const QFormat f = activation_format(n.name);
          const auto [scale, zp] = format_tensors(f, 0, 1, y.scalar_type());
          y = fake_quantize(y, scale, zp, f.qmin(), f.qmax());
        }
        break;
      }
      case OpType::kGlobalMaxPool:
        y = std::get<0>(in.flatten(2).max(2));
        break;
      case OpType::kFlatten:
        y = in.flatten(1);
        break;
    }
    v[i] = y;
  }
  if (all) *all = v;
  return v.back();
}

std::shared_ptr<GraphModuleImpl> GraphModuleImpl::fold_batchnorm() const {
  std::vector<std::string> bns;
  for (const auto& n : graph_.nodes()) {
    if (n.op != OpType::kBatchNorm) continue;
    const Node& prod = graph_.node(n.inputs[0]);
    if (!prod.has_weights() || graph_.consumers(prod.name).size() != 1)
      throw GraphError("batchnorm '" + n.name + "' cannot be folded: its input '" + prod.name +
                       "' is not a conv/linear read only by it");
    bns.push_back(n.name);
  }
  Graph folded_graph = graph_;
  if (!bns.empty()) {
    // Producers get a bias (the folded BN shift).
    Graph g;
    for (Node n : graph_.nodes()) {
      for (const auto& bn : bns)
        if (graph_.node(bn).inputs[0] == n.name) n.bias = true;
      g.add(n);
    }
    folded_graph = g.without_nodes(bns);
  }
  auto out = std::make_shared<GraphModuleImpl>(folded_graph, qconfig_);
  torch::NoGradGuard no_grad;
  for (const auto& [name, l] : out->layers_) {
    if (!l->weight.defined() || !graph_.node(name).has_weights()) continue;
    Layer src = layers_.at(name);
    l->weight.copy_(src->weight);
    if (src->bias.defined())
      l->bias.copy_(src->bias);
    else if (l->bias.defined())
      l->bias.zero_();
    for (const auto& bn : bns) {
      if (graph_.node(bn).inputs[0] != name) continue;
      const Node& bn_node = graph_.node(bn);
      Layer b = layers_.at(bn);
      const torch::Tensor inv_std = torch::rsqrt(b->running_var.to(torch::kDouble) + bn_node.eps);
      const torch::Tensor k = b->weight.to(torch::kDouble) * inv_std;  // gamma / sqrt(var + eps)
      std::vector<int64_t> shape(static_cast<size_t>(l->weight.dim()), 1);
      shape[0] = -1;
      l->weight.copy_(l->weight.to(torch::kDouble) * k.reshape(shape));
      l->bias.copy_((l->bias.to(torch::kDouble) - b->running_mean.to(torch::kDouble)) * k +
                    b->bias.to(torch::kDouble));
    }
  }
  return out;
}

void GraphModuleImpl::copy_weights_from(const GraphModuleImpl& other) {
  torch::NoGradGuard no_grad;
  eval_cache_.clear();
  if (other.graph().to_json() != graph_.to_json())
    throw GraphError("copy_weights_from: the models have different graphs");
  for (const auto& [name, l] : layers_) {
    const Layer src = other.layer(name);
    if (l->weight.defined()) l->weight.copy_(src->weight);
    if (l->bias.defined()) l->bias.copy_(src->bias);
    if (l->running_mean.defined()) l->running_mean.copy_(src->running_mean);
    if (l->running_var.defined()) l->running_var.copy_(src->running_var);
  }
}

void GraphModuleImpl::copy_state_from(const GraphModuleImpl& other) {
  torch::NoGradGuard no_grad;
  eval_cache_.clear();
  const auto src_p = other.named_parameters(true);
  for (auto& p : named_parameters(true)) {
    const torch::Tensor* s = src_p.find(p.key());
    if (!s) throw GraphError("copy_state_from: parameter '" + p.key() + "' missing in source");
    p.value().copy_(*s);
  }
  const auto src_b = other.named_buffers(true);
  for (auto& b : named_buffers(true)) {
    const torch::Tensor* s = src_b.find(b.key());
    if (!s) throw GraphError("copy_state_from: buffer '" + b.key() + "' missing in source");
    b.value().copy_(*s);
  }
}

}  // namespace qat
