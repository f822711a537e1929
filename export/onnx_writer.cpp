#include "export/onnx_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "qat/atomic_file.h"
#include "qat/errors.h"
#include "qat/quant_plan.h"

namespace qat::exporter {
namespace {

// QuantizeLinear / DequantizeLinear with a per-axis scale need opset 13; libonnx 1.12 knows no
// opset in which QDQ takes int16, so 13 is both the minimum and all that more would buy.
constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;

constexpr int64_t kInt8Min = std::numeric_limits<int8_t>::min();
constexpr int64_t kInt8Max = std::numeric_limits<int8_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

const char* const kInt16Refusal =
    "ONNX opset 13 QDQ has no int16; export int16 models as C or integer checkpoint";

const char* const kRoundingNote =
    "ONNX QuantizeLinear rounds half to even while the toolkit (training, integer engine, "
    "generated C) rounds half up. Where the toolkit's requantization is exact (power-of-two "
    "shifts, average pools), a tie offset (an Add named <layer>_out_tie, a quarter of the "
    "smallest step between values the layer can produce) comes before the QuantizeLinear, so "
    "that ties round up as on the microcontroller and nothing else moves. Affine convs, linears "
    "and adds are applied by the integer engine as Q31 fixed-point multipliers, not the exact "
    "real scales here, and can differ by 1 LSB where the two round differently. The integer "
    "checkpoint and the C export are the reference.";

[[noreturn]] void fail(const std::string& node, const std::string& why) {
  throw ExportError("ONNX export, layer '" + node + "': " + why);
}

// ONNX raw_data is little-endian whatever the host; pack byte by byte rather than memcpy.
void append_le(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string json_array(const std::vector<double>& v) {
  return nlohmann::json(v).dump();
}

void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void set_shape(onnx::ValueInfoProto* vi, const Shape& sample_shape) {
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = vi->mutable_type()->mutable_tensor_type()->mutable_shape();
  s->add_dim()->set_dim_param("N");
  for (int64_t d : sample_shape) s->add_dim()->set_dim_value(d);
}

// Activation formats map to a per-tensor int8 QDQ pair; anything else has no opset 13 form.
void check_activation_format(const std::string& node, const QFormat& f) {
  if (f.per_channel || f.scale.size() != 1 || f.zero_point.size() != 1)
    fail(node,
         "per-channel activation format " + f.str() + " (activations are quantized per tensor)");
  if (f.bits > 8) fail(node, std::string("activation format ") + f.str() + ": " + kInt16Refusal);
  if (!f.is_signed)
    fail(node, "unsigned activation format " + f.str() + " (the kernels use signed activations)");
  const float s = static_cast<float>(f.scale[0]);
  if (!(s > 0.0f) || !std::isfinite(s) || !std::isnormal(s))
    fail(node, "activation scale " + std::to_string(f.scale[0]) + " is not a normal float32");
  if (f.zero_point[0] < kInt8Min || f.zero_point[0] > kInt8Max)
    fail(node, "activation zero point " + std::to_string(f.zero_point[0]) + " outside int8");
}

class Exporter {
 public:
  Exporter(const IntModel& m, onnx::GraphProto* g) : m_(m), g_(g) {}

  void run() {
    check_model_shape();
    tensor_.resize(m_.graph.size());
    for (size_t i = 0; i < m_.graph.size(); ++i) {
      const Node& n = m_.graph.at(i);
      switch (n.op) {
        case OpType::kInput:
          input(i);
          break;
        case OpType::kConv:
          conv(i);
          break;
        case OpType::kLinear:
          linear(i);
          break;
        case OpType::kAdd:
          add(i);
          break;
        case OpType::kRelu:
        case OpType::kRelu6:
          relu(i);
          break;
        case OpType::kMaxPool:
        case OpType::kAvgPool:
          pool(i);
          break;
        case OpType::kGlobalMaxPool:
        case OpType::kGlobalAvgPool:
          global_pool(i);
          break;
        case OpType::kFlatten:
          flatten(i);
          break;
        case OpType::kBatchNorm:
          break;  // refused by check_model_shape()
      }
    }
    name_output();
  }

 private:
  // ---- graph-level consistency -----------------------------------------------------------

  void check_model_shape() {
    if (m_.activation_type == DType::kInt16 || m_.weight_type == DType::kInt16)
      throw ExportError(std::string("ONNX export: the model has ") + dtype_str(m_.activation_type) +
                        " activations and " + dtype_str(m_.weight_type) + " weights; " +
                        kInt16Refusal);
    if (m_.graph.empty()) throw ExportError("ONNX export: empty graph");
    if (m_.nodes.size() != m_.graph.size())
      throw ExportError("ONNX export: " + std::to_string(m_.nodes.size()) +
                        " integer nodes for a graph of " + std::to_string(m_.graph.size()));
    for (size_t i = 0; i < m_.nodes.size(); ++i)
      if (m_.nodes[i].name != m_.graph.at(i).name)
        throw ExportError("ONNX export: integer node " + std::to_string(i) + " is '" +
                          m_.nodes[i].name + "' but graph node '" + m_.graph.at(i).name + "'");
    for (const Node& n : m_.graph.nodes())
      if (n.op == OpType::kBatchNorm)
        fail(n.name, "batchnorm must be folded before export (this is not an integer model)");
    // The plan says which relus the integer model folded into their producer; the IntNode's
    // activation must agree, or the ONNX model would apply the relu twice or not at all.
    plan_ = make_quant_plan(m_.graph);
  }

  static const char* dtype_str(DType t) { return dtype_name(t); }

  size_t index(const std::string& name) const { return m_.graph.index_of(name); }

  // Format of the tensor node i produces: its own, or (fused-away relu) its producer's.
  const QFormat& format_of(size_t i) const {
    const IntNode& q = m_.nodes[i];
    if (q.has_output_format) return q.output;
    const Node& n = m_.graph.at(i);
    if (n.inputs.empty()) fail(n.name, "the input has no quantization format");
    return format_of(index(n.inputs[0]));
  }

  const std::string& input_tensor(size_t i, size_t k = 0) const {
    return tensor_[index(m_.graph.at(i).inputs.at(k))];
  }

  // ---- building blocks -------------------------------------------------------------------

  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return n;
  }

  onnx::TensorProto* initializer(const std::string& name, onnx::TensorProto::DataType type,
                                 const std::vector<int64_t>& dims) {
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  }

  void floats(const std::string& name, const std::vector<int64_t>& dims,
              const std::vector<double>& v) {
    std::string raw;
    raw.reserve(v.size() * 4);
    for (double x : v) {
      const float f = static_cast<float>(x);
      uint32_t bits = 0;
      std::memcpy(&bits, &f, sizeof bits);
      append_le(raw, bits, 4);
    }
    initializer(name, onnx::TensorProto::FLOAT, dims)->set_raw_data(raw);
  }

  template <typename T>
  void int8s(const std::string& name, const std::vector<int64_t>& dims, const std::vector<T>& v) {
    std::string raw;
    raw.reserve(v.size());
    for (T x : v) raw.push_back(static_cast<char>(static_cast<int8_t>(x)));
    initializer(name, onnx::TensorProto::INT8, dims)->set_raw_data(raw);
  }

  template <typename T>
  void int32s(const std::string& name, const std::vector<int64_t>& dims, const std::vector<T>& v) {
    std::string raw;
    raw.reserve(v.size() * 4);
    for (T x : v) append_le(raw, static_cast<uint32_t>(static_cast<int32_t>(x)), 4);
    initializer(name, onnx::TensorProto::INT32, dims)->set_raw_data(raw);
  }

  // x -> QuantizeLinear -> DequantizeLinear in format f; returns the dequantized tensor.
  // tie_offset > 0 is added first (see tie_offset()).
  std::string qdq(const std::string& node_name, const std::string& base, const std::string& x,
                  const QFormat& f, double tie_offset = 0) {
    check_activation_format(node_name, f);
    std::string in = x;
    if (tie_offset > 0) {
      floats(base + "_tie_offset", {}, {tie_offset});
      node("Add", base + "_tie", {in, base + "_tie_offset"}, base + "_tie");
      in = base + "_tie";
    }
    if (f.bits < 8) {
      // QuantizeLinear saturates to the int8 range only; a narrower format needs its range as a
      // clip first. The bounds are codes of the format, so clip-then-quantize equals
      // quantize-then-saturate exactly.
      const double lo = static_cast<double>(f.qmin() - f.zero_point[0]) * f.scale[0];
      const double hi = static_cast<double>(f.qmax() - f.zero_point[0]) * f.scale[0];
      floats(base + "_range_min", {}, {lo});
      floats(base + "_range_max", {}, {hi});
      node("Clip", base + "_range", {in, base + "_range_min", base + "_range_max"},
           base + "_range");
      in = base + "_range";
    }
    floats(base + "_scale", {}, {f.scale[0]});
    int8s(base + "_zero_point", {}, std::vector<int64_t>{f.zero_point[0]});
    node("QuantizeLinear", base + "_q", {in, base + "_scale", base + "_zero_point"}, base + "_q");
    node("DequantizeLinear", base + "_dq", {base + "_q", base + "_scale", base + "_zero_point"},
         base + "_dq");
    return base + "_dq";
  }

  // Fused or standalone activation in float, before the output QuantizeLinear.
  std::string activation(const std::string& name, const std::string& x, Activation a) {
    if (a == Activation::kNone) return x;
    if (a == Activation::kRelu) {
      node("Relu", name + "_relu", {x}, name + "_relu");
      return name + "_relu";
    }
    if (!relu6_bounds_) {
      // Opset 13 Clip takes its bounds as inputs; one shared pair serves every relu6.
      floats("relu6_min", {}, {0.0});
      floats("relu6_max", {}, {6.0});
      relu6_bounds_ = true;
    }
    node("Clip", name + "_relu6", {x, "relu6_min", "relu6_max"}, name + "_relu6");
    return name + "_relu6";
  }

  // The activation the integer model applies at node i, checked against the quant plan.
  Activation fused_activation(size_t i) const {
    const IntNode& q = m_.nodes[i];
    if (q.activation != plan_[i].fused)
      fail(q.name, std::string("integer model fuses '") + activation_name(q.activation) +
                       "' but the graph implies '" + activation_name(plan_[i].fused) + "'");
    return q.activation;
  }

  // Weights of conv/linear node i as int8 -> DequantizeLinear (per output channel on axis 0).
  std::string weights(size_t i, int64_t out_channels) {
    const IntNode& q = m_.nodes[i];
    const QFormat& f = q.weight_format;
    if (f.bits > 8) fail(q.name, std::string("weight format ") + f.str() + ": " + kInt16Refusal);
    if (!f.is_signed) fail(q.name, "unsigned weight format " + f.str());
    const size_t channels = f.per_channel ? static_cast<size_t>(out_channels) : 1;
    if (f.scale.size() != channels || f.zero_point.size() != channels)
      fail(q.name, "weight format has " + std::to_string(f.scale.size()) + " scale(s), expected " +
                       std::to_string(channels));
    for (size_t c = 0; c < channels; ++c) {
      if (f.zero_point[c] < kInt8Min || f.zero_point[c] > kInt8Max)
        fail(q.name, "weight zero point outside int8");
      const float s = static_cast<float>(f.scale[c]);
      if (!std::isnormal(s) || s < 0) fail(q.name, "weight scale is not a positive float32");
    }
    for (int32_t w : q.weights)
      if (w < kInt8Min || w > kInt8Max)
        fail(q.name, "weight code " + std::to_string(w) + " outside int8");

    const std::string base = q.name + "_w";
    int8s(base + "_q", q.weight_shape, q.weights);
    const std::vector<int64_t> dims =
        f.per_channel ? std::vector<int64_t>{out_channels} : std::vector<int64_t>{};
    floats(base + "_scale", dims, f.scale);
    int8s(base + "_zero_point", dims, f.zero_point);
    onnx::NodeProto* dq = node("DequantizeLinear", base + "_dq",
                               {base + "_q", base + "_scale", base + "_zero_point"}, base + "_dq");
    if (f.per_channel) set_int(dq, "axis", 0);
    return base + "_dq";
  }

  // Bias (already in the accumulator scale s_in * s_w[c], also for pow2 biases narrower than
  // 32 bits, which lowering shifted there) as int32 -> DequantizeLinear on axis 0. Empty when
  // the layer has no bias.
  std::string bias(size_t i, int64_t out_channels) {
    const IntNode& q = m_.nodes[i];
    if (q.bias.empty()) return {};
    if (static_cast<int64_t>(q.bias.size()) != out_channels)
      fail(q.name, std::to_string(q.bias.size()) + " biases for " + std::to_string(out_channels) +
                       " output channels");
    for (int64_t b : q.bias)
      if (b < kInt32Min || b > kInt32Max)
        fail(q.name, "bias " + std::to_string(b) + " does not fit int32");
    const QFormat& fin = format_of(index(m_.graph.at(i).inputs[0]));
    std::vector<double> scale(static_cast<size_t>(out_channels));
    for (size_t c = 0; c < scale.size(); ++c) scale[c] = fin.scale[0] * q.weight_format.scale_at(c);
    const std::string base = q.name + "_b";
    const std::vector<int64_t> dims{out_channels};
    int32s(base + "_q", dims, q.bias);
    floats(base + "_scale", dims, scale);
    int32s(base + "_zero_point", dims, std::vector<int32_t>(scale.size(), 0));
    onnx::NodeProto* dq = node("DequantizeLinear", base + "_dq",
                               {base + "_q", base + "_scale", base + "_zero_point"}, base + "_dq");
    set_int(dq, "axis", 0);
    return base + "_dq";
  }

  void check_weight_shape(size_t i, const std::vector<int64_t>& expected) const {
    const IntNode& q = m_.nodes[i];
    if (q.weight_shape != expected)
      fail(q.name,
           "weight shape " + shape_str(q.weight_shape) + ", expected " + shape_str(expected));
    const int64_t count =
        std::accumulate(expected.begin(), expected.end(), int64_t{1}, std::multiplies<int64_t>());
    if (static_cast<int64_t>(q.weights.size()) != count)
      fail(q.name,
           std::to_string(q.weights.size()) + " weight codes for shape " + shape_str(expected));
  }

  // Output of node i: Q/DQ of `y` in the node's format. Pass-through nodes without a format of
  // their own hand y on; the nodes that own a quantizer must have one.
  void finish(size_t i, const std::string& y) {
    const IntNode& q = m_.nodes[i];
    if (!q.has_output_format && plan_[i].quantizes_output)
      fail(q.name, "no output format (an integer model quantizes every input/conv/linear/add)");
    tensor_[i] = q.has_output_format ? qdq(q.name, q.name + "_out", y, q.output, tie_offset(i)) : y;
  }

  // Half up vs half to even. Where the toolkit's requantization of node i is exact, its result
  // before rounding lies on a grid of step g (real units), and a tie is a grid point halfway
  // between two codes. Adding min(g, s_out) / 4 moves every tie above the half so that
  // QuantizeLinear rounds it up like the kernels, and moves no other grid point across a half
  // (they are at least g, or a whole code, away from it). The grid:
  //   pow2 conv / linear: s_in * min_c s_w[c] (the accumulator unit; the bias is on it too);
  //   pow2 add: min(s_a, s_b);
  //   average pool (both schemes, output in the input's format): s / (2 count) bounds the
  //   distance of a mean of `count` codes from any half it does not hit, so s / (4 count).
  // Affine conv / linear / add use Q31 multipliers in the engine, not the real scale: there the
  // exact real value's ties are not the engine's, and no offset is added. 0 = no offset.
  double tie_offset(size_t i) const {
    const Node& n = m_.graph.at(i);
    const IntNode& q = m_.nodes[i];
    const double s_out = q.output.scale[0];
    switch (n.op) {
      case OpType::kConv:
      case OpType::kLinear: {
        const QFormat& fin = format_of(index(n.inputs[0]));
        if (q.requant.scheme != Scheme::kPow2 || fin.scheme != Scheme::kPow2 ||
            q.weight_format.scheme != Scheme::kPow2)
          return 0;
        const double s_w =
            *std::min_element(q.weight_format.scale.begin(), q.weight_format.scale.end());
        return std::min(fin.scale[0] * s_w, s_out) / 4;
      }
      case OpType::kAdd: {
        const QFormat& fa = format_of(index(n.inputs[0]));
        const QFormat& fb = format_of(index(n.inputs[1]));
        if (q.output.scheme != Scheme::kPow2 || fa.scheme != Scheme::kPow2 ||
            fb.scheme != Scheme::kPow2)
          return 0;
        return std::min({fa.scale[0], fb.scale[0], s_out}) / 4;
      }
      case OpType::kAvgPool: {
        const double s_in = format_of(index(n.inputs[0])).scale[0];
        const int64_t count = std::accumulate(n.kernel.begin(), n.kernel.end(), int64_t{1},
                                              std::multiplies<int64_t>());
        return std::min(s_in, s_out) / (4.0 * static_cast<double>(count));
      }
      case OpType::kGlobalAvgPool: {
        const double s_in = format_of(index(n.inputs[0])).scale[0];
        const std::vector<int64_t>& shape = m_.graph.shape_at(index(n.inputs[0]));
        const int64_t count =
            std::accumulate(shape.begin() + 1, shape.end(), int64_t{1}, std::multiplies<int64_t>());
        return std::min(s_in, s_out) / (4.0 * static_cast<double>(count));
      }
      default:
        return 0;
    }
  }

  // ---- one method per graph op -----------------------------------------------------------

  void input(size_t i) {
    onnx::ValueInfoProto* vi = g_->add_input();
    vi->set_name("input");
    vi->set_doc_string(
        "normalised input (x - input_mean) / input_std per channel, channel-first [N, C, ...]; "
        "see metadata input_mean / input_std");
    set_shape(vi, m_.graph.shape_at(i));
    finish(i, "input");
  }

  void conv(size_t i) {
    const Node& n = m_.graph.at(i);
    const int64_t cin = m_.graph.in_channels(n);
    std::vector<int64_t> wshape{n.out_channels, cin / n.groups};
    wshape.insert(wshape.end(), n.kernel.begin(), n.kernel.end());
    check_weight_shape(i, wshape);
    const Activation act = fused_activation(i);
    std::vector<std::string> ins{input_tensor(i), weights(i, n.out_channels)};
    const std::string b = bias(i, n.out_channels);
    if (!b.empty()) ins.push_back(b);
    onnx::NodeProto* c = node("Conv", n.name, ins, n.name + "_conv");
    set_ints(c, "kernel_shape", n.kernel);
    set_ints(c, "strides", n.stride);
    std::vector<int64_t> pads = n.padding;  // ONNX: all begins, then all ends
    pads.insert(pads.end(), n.padding.begin(), n.padding.end());
    set_ints(c, "pads", pads);
    set_int(c, "group", n.groups);
    finish(i, activation(n.name, n.name + "_conv", act));
  }

  void linear(size_t i) {
    const Node& n = m_.graph.at(i);
    check_weight_shape(i, {n.out_channels, m_.graph.in_channels(n)});
    const Activation act = fused_activation(i);
    std::vector<std::string> ins{input_tensor(i), weights(i, n.out_channels)};
    const std::string b = bias(i, n.out_channels);
    if (!b.empty()) ins.push_back(b);
    onnx::NodeProto* gemm = node("Gemm", n.name, ins, n.name + "_gemm");
    set_int(gemm, "transB", 1);  // torch layout [out, in]
    finish(i, activation(n.name, n.name + "_gemm", act));
  }

  void add(size_t i) {
    const Node& n = m_.graph.at(i);
    const Activation act = fused_activation(i);
    node("Add", n.name, {input_tensor(i, 0), input_tensor(i, 1)}, n.name + "_add");
    finish(i, activation(n.name, n.name + "_add", act));
  }

  void relu(size_t i) {
    const Node& n = m_.graph.at(i);
    if (plan_[i].fused_away) {
      // Done by the producer's clamp: the same tensor.
      if (m_.nodes[i].has_output_format)
        fail(n.name, "a relu fused into its producer must not have its own output format");
      tensor_[i] = input_tensor(i);
      return;
    }
    const Activation a = n.op == OpType::kRelu ? Activation::kRelu : Activation::kRelu6;
    finish(i, activation(n.name, input_tensor(i), a));
  }

  void pool(size_t i) {
    const Node& n = m_.graph.at(i);
    const bool max = n.op == OpType::kMaxPool;
    onnx::NodeProto* p =
        node(max ? "MaxPool" : "AveragePool", n.name, {input_tensor(i)}, n.name + "_pool");
    set_ints(p, "kernel_shape", n.kernel);
    set_ints(p, "strides", n.stride);
    if (max) {
      std::vector<int64_t> pads = n.padding;
      pads.insert(pads.end(), n.padding.begin(), n.padding.end());
      set_ints(p, "pads", pads);
    }
    // The average pool's integer kernel rounds the mean into the (input's) format: finish()
    // adds that Q/DQ, with the tie offset that makes ONNX round its ties up too.
    if (!max && !m_.nodes[i].has_output_format) fail(n.name, "average pool without a format");
    finish(i, n.name + "_pool");
  }

  void global_pool(size_t i) {
    const Node& n = m_.graph.at(i);
    const bool max = n.op == OpType::kGlobalMaxPool;
    node(max ? "GlobalMaxPool" : "GlobalAveragePool", n.name, {input_tensor(i)}, n.name + "_pool");
    // ONNX keeps the spatial dims as 1s; ours produce [C].
    onnx::NodeProto* f = node("Flatten", n.name + "_flatten", {n.name + "_pool"}, n.name + "_flat");
    set_int(f, "axis", 1);
    if (!max && !m_.nodes[i].has_output_format) fail(n.name, "average pool without a format");
    finish(i, n.name + "_flat");
  }

  void flatten(size_t i) {
    const Node& n = m_.graph.at(i);
    onnx::NodeProto* f = node("Flatten", n.name, {input_tensor(i)}, n.name + "_flat");
    set_int(f, "axis", 1);
    finish(i, n.name + "_flat");
  }

  // The final tensor becomes the graph output "output".
  void name_output() {
    const size_t last = m_.graph.size() - 1;
    // Always the output of some node (the graph input itself is always quantized first), so
    // renaming it in place is enough.
    const std::string final_tensor = tensor_[last];
    for (auto& n : *g_->mutable_node()) {
      for (auto& in : *n.mutable_input())
        if (in == final_tensor) in = "output";
      for (auto& out : *n.mutable_output())
        if (out == final_tensor) out = "output";
    }
    onnx::ValueInfoProto* vi = g_->add_output();
    vi->set_name("output");
    vi->set_doc_string("dequantized output of '" + m_.graph.at(last).name + "'");
    set_shape(vi, m_.graph.shape_at(last));
  }

  const IntModel& m_;
  onnx::GraphProto* g_;
  std::vector<NodePlan> plan_;
  std::vector<std::string> tensor_;  // per graph node: the float tensor its consumers read
  bool relu6_bounds_ = false;
};

std::string graph_name(const IntModel& m) {
  // IntModel has no name of its own; the checkpoint file it came from is the best handle.
  std::string s = m.source;
  const size_t slash = s.find_last_of("/\\");
  if (slash != std::string::npos) s = s.substr(slash + 1);
  const size_t dot = s.find('.');
  if (dot != std::string::npos) s = s.substr(0, dot);
  return s.empty() ? "qat_model" : s;
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = model.add_metadata_props();
  e->set_key(key);
  e->set_value(value);
}

void validate(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    // The checker alone does not look at types and shapes across nodes; strict inference on a
    // copy catches e.g. a zero point whose type does not match its QuantizeLinear.
    onnx::ModelProto copy = model;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw ExportError(std::string("ONNX checker rejected the exported model: ") + e.what());
  }
}

// Opset 13 has no 4-bit or 2-bit tensor type: packed layers are written as int8 initializers
// holding their sub-byte values (exact, but the file does not shrink), and said so.
std::string sub_byte_note(const IntModel& m) {
  std::string layers;
  for (size_t i = 0; i < m.nodes.size(); ++i)
    if (m.graph.at(i).has_weights() && dtype_bits(m.nodes[i].weight_type) < 8)
      layers += (layers.empty() ? "" : ", ") + m.nodes[i].name + " (" +
                dtype_name(m.nodes[i].weight_type) + ")";
  if (layers.empty()) return "";
  return " Sub-byte weights are stored as int8 initializers holding their 4-bit / 2-bit values "
         "(ONNX opset 13 has no int4 type; the C export packs them): " +
         layers + ".";
}

}  // namespace

onnx::ModelProto to_onnx(const IntModel& m) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("qat");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);

  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph_name(m));
  Exporter(m, g).run();

  const std::string doc =
      "QDQ model exported by qat" + (m.source.empty() ? std::string() : " from " + m.source) +
      ". The input 'input' is the NORMALISED input (x - input_mean) / input_std per channel, "
      "float [N, C, ...] channel-first; input_mean and input_std are in the metadata. " +
      kRoundingNote + sub_byte_note(m);
  model.set_doc_string(doc);
  g->set_doc_string(doc);

  add_metadata(model, "input_mean", json_array(m.input_mean));
  add_metadata(model, "input_std", json_array(m.input_std));
  add_metadata(model, "head", nlohmann::json(m.head).dump());
  add_metadata(model, "metric", m.metric);
  add_metadata(model, "rounding",
               "half_up (toolkit); ties shifted before QuantizeLinear (round half to even) "
               "where the requantization is exact: nodes <layer>_out_tie");

  validate(model);
  return model;
}

void write_onnx(const IntModel& m, const std::string& path) {
  const onnx::ModelProto model = to_onnx(m);
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw ExportError(path + ": cannot serialise the ONNX model (larger than 2 GB?)");
  try {
    write_file_atomic(path, bytes);
  } catch (const std::exception& e) {
    throw ExportError(path + ": cannot write the ONNX model: " + e.what());
  }
}

}  // namespace qat::exporter
