#include "qat/graph_module.h"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qat/errors.h"
#include "qat/fake_quantize.h"
#include "qat/max_pool_kernel.h"
#include "qat/process_group.h"
#include "qat/sync_batchnorm.h"

namespace qat {
namespace {

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

torch::Tensor apply_activation(const torch::Tensor& y, Activation a) {
  if (a == Activation::kRelu) return torch::relu(y);
  if (a == Activation::kRelu6) return torch::clamp(y, 0.0, 6.0);
  return y;
}

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

void GraphModuleImpl::set_process_group(std::shared_ptr<ProcessGroup> group) {
  group_ = std::move(group);
  // Activation quantizers only: the weights are the same on every rank.
  for (auto& [name, l] : layers_)
    if (l->act_quantizer) l->act_quantizer->set_process_group(group_.get());
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

torch::Tensor GraphModuleImpl::quantized_weight(Layer l) {
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
  return fake_quantize(b, bf.scale, zero_points_of(bf), r.qmin, r.qmax);
}

torch::Tensor GraphModuleImpl::quantize_output(Layer l, const torch::Tensor& y) {
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

void GraphModuleImpl::set_mode(Mode m) {
  mode_ = m;
  eval_cache_.clear();
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
        if (quant) y = quantize_output(layer(n.name), y);
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
          w = quantized_weight(l);
          const QFormat w_f = l->weight_quantizer->format(n.name);
          b = quantized_bias(n.name, l, in_f, w_f);
        }
        y = apply_activation(apply_layer(n, in, w, b), act);
        if (quant) y = quantize_output(l, y);
        break;
      }
      case OpType::kBatchNorm: {
        Layer l = layers_.at(n.name);
        const bool training = is_training() && !bn_frozen_;
        if (training && group_ && group_->size() > 1)
          y = sync_batch_norm(in, l->weight, l->bias, l->running_mean, l->running_var, n.momentum,
                              n.eps, *group_);
        else
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
        if (quant) y = quantize_output(l, y);
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
        if (direct_max_pool_applies(in, n.kernel, n.stride, n.padding))
          y = direct_max_pool(in, n.kernel);
        else
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
          y = fake_quantize(y, f.scale, zero_points_of(f), f.qmin(), f.qmax());
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
  for (const auto& n : graph_.nodes())
    if (n.op == OpType::kBatchNorm) bns.push_back(n.name);
  auto out = std::make_shared<GraphModuleImpl>(fold_batchnorm_graph(graph_), qconfig_);
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

}  // namespace qat
