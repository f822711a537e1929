#include "qat/graph.h"

#include <algorithm>
#include <iomanip>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qat/errors.h"

namespace qat {
namespace {

struct OpInfo {
  OpType op;
  const char* name;
  int arity;
};

constexpr OpInfo kOps[] = {
    {OpType::kInput, "input", 0},
    {OpType::kConv, "conv", 1},
    {OpType::kLinear, "linear", 1},
    {OpType::kBatchNorm, "batchnorm", 1},
    {OpType::kAdd, "add", 2},
    {OpType::kRelu, "relu", 1},
    {OpType::kRelu6, "relu6", 1},
    {OpType::kMaxPool, "maxpool", 1},
    {OpType::kAvgPool, "avgpool", 1},
    {OpType::kGlobalMaxPool, "global_maxpool", 1},
    {OpType::kGlobalAvgPool, "global_avgpool", 1},
    {OpType::kFlatten, "flatten", 1},
};

const OpInfo& info(OpType op) {
  for (const auto& i : kOps)
    if (i.op == op) return i;
  throw GraphError("unknown op type");
}

std::string join(const std::vector<int64_t>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "x" : "") << v[i];
  return s.str();
}

int64_t product(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

}  // namespace

const char* op_name(OpType op) {
  return info(op).name;
}

OpType op_from_name(const std::string& name) {
  std::string allowed;
  for (const auto& i : kOps) {
    if (name == i.name) return i.op;
    allowed += std::string(allowed.empty() ? "" : ", ") + i.name;
  }
  throw std::invalid_argument("unknown op '" + name + "'; allowed: " + allowed);
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

const Node& Graph::add(Node node) {
  auto fail = [&](const std::string& why) {
    throw GraphError("graph node '" + node.name + "' (" + op_name(node.op) + "): " + why);
  };
  if (node.name.empty()) fail("empty node name");
  if (index_.count(node.name)) fail("duplicate node name");
  const int arity = info(node.op).arity;
  if (static_cast<int>(node.inputs.size()) != arity)
    fail("expects " + std::to_string(arity) + " input(s), got " +
         std::to_string(node.inputs.size()));
  for (const auto& in : node.inputs)
    if (!index_.count(in)) fail("input '" + in + "' is not defined before this node");
  if (node.op == OpType::kInput && !nodes_.empty()) fail("only the first node may be the input");
  if (node.op != OpType::kInput && nodes_.empty()) fail("the first node must be the input");

  Shape shape = infer_shape(node);
  // The kernels index tensors with 32-bit sizes; a graph from a hand-edited file could ask for
  // more than any MCU (or this process) holds.
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d > (int64_t{1} << 31) / elements) fail("output " + shape_str(shape) + " is too large");
    elements *= d;
  }
  if (node.has_weights()) {
    const Shape& in = shapes_.at(index_.at(node.inputs[0]));
    double weights = static_cast<double>(node.out_channels) *
                     static_cast<double>(in[0] / std::max<int64_t>(1, node.groups));
    for (int64_t d : node.kernel) weights *= static_cast<double>(d);
    if (weights > static_cast<double>(int64_t{1} << 31)) fail("too many weights");
  }
  index_[node.name] = nodes_.size();
  nodes_.push_back(std::move(node));
  shapes_.push_back(std::move(shape));
  return nodes_.back();
}

// Validates `node` against its inputs, fills default stride/padding, returns its output shape.
Shape Graph::infer_shape(Node& node) const {
  auto fail = [&](const std::string& why) -> Shape {
    throw GraphError("graph node '" + node.name + "' (" + op_name(node.op) + "): " + why);
  };
  if (node.op == OpType::kInput) {
    if (node.shape.empty() || node.shape.size() > 3)
      return fail("input shape must be [C], [C, L] or [C, H, W], got " + shape_str(node.shape));
    for (auto d : node.shape)
      if (d <= 0) return fail("input shape has a non-positive dimension " + shape_str(node.shape));
    return node.shape;
  }
  const Shape& in = shapes_.at(index_.at(node.inputs[0]));
  const int dims = static_cast<int>(in.size()) - 1;

  auto spatial_defaults = [&](bool padding_allowed) {
    if (dims < 1) fail("needs a spatial input ([C, L] or [C, H, W]), got " + shape_str(in));
    if (static_cast<int>(node.kernel.size()) != dims)
      fail("kernel has " + std::to_string(node.kernel.size()) + " entries, input " + shape_str(in) +
           " has " + std::to_string(dims) + " spatial dimension(s)");
    if (node.stride.empty())
      node.stride = node.op == OpType::kConv ? std::vector<int64_t>(dims, 1) : node.kernel;
    if (node.padding.empty()) node.padding = std::vector<int64_t>(dims, 0);
    if (static_cast<int>(node.stride.size()) != dims ||
        static_cast<int>(node.padding.size()) != dims)
      fail("stride and padding need " + std::to_string(dims) + " entries");
    for (int d = 0; d < dims; ++d) {
      if (node.kernel[d] < 1) fail("kernel must be >= 1");
      if (node.stride[d] < 1) fail("stride must be >= 1");
      if (node.padding[d] < 0) fail("padding must be >= 0");
      if (!padding_allowed && node.padding[d] != 0) fail("padding is not supported");
      if (node.op == OpType::kMaxPool && node.padding[d] * 2 > node.kernel[d])
        fail("padding must be at most half the kernel");
    }
    Shape out(in.size());
    for (int d = 0; d < dims; ++d) {
      const int64_t span = in[d + 1] + 2 * node.padding[d] - node.kernel[d];
      if (span < 0)
        fail("kernel " + join(node.kernel) + " larger than padded input " + shape_str(in));
      out[d + 1] = span / node.stride[d] + 1;
    }
    return out;
  };

  switch (node.op) {
    case OpType::kConv: {
      Shape out = spatial_defaults(true);
      const int64_t cin = in[0];
      if (node.out_channels < 1) fail("out_channels must be >= 1");
      if (node.groups < 1 || cin % node.groups || node.out_channels % node.groups)
        fail("groups " + std::to_string(node.groups) + " must divide in_channels " +
             std::to_string(cin) + " and out_channels " + std::to_string(node.out_channels));
      out[0] = node.out_channels;
      return out;
    }
    case OpType::kLinear:
      if (in.size() != 1)
        fail("needs a flat input, got " + shape_str(in) + " (add a flatten or global pool node)");
      if (node.out_channels < 1) fail("out_features must be >= 1");
      return Shape{node.out_channels};
    case OpType::kBatchNorm:
    case OpType::kRelu:
    case OpType::kRelu6:
      return in;
    case OpType::kAdd: {
      const Shape& b = shapes_.at(index_.at(node.inputs[1]));
      if (b != in)
        fail("input shapes differ: " + node.inputs[0] + " " + shape_str(in) + " vs " +
             node.inputs[1] + " " + shape_str(b));
      return in;
    }
    case OpType::kMaxPool:
    case OpType::kAvgPool: {
      Shape out = spatial_defaults(node.op == OpType::kMaxPool);
      out[0] = in[0];
      return out;
    }
    case OpType::kGlobalMaxPool:
    case OpType::kGlobalAvgPool:
      if (dims < 1) fail("needs a spatial input, got " + shape_str(in));
      return Shape{in[0]};
    case OpType::kFlatten:
      return Shape{product(in)};
    case OpType::kInput:
      break;
  }
  return fail("unsupported op");
}

std::string Graph::input(const std::string& name, Shape shape) {
  Node n;
  n.name = name;
  n.op = OpType::kInput;
  n.shape = std::move(shape);
  return add(std::move(n)).name;
}

std::string Graph::conv(const std::string& name, const std::string& in, int64_t out_channels,
                        std::vector<int64_t> kernel, std::vector<int64_t> stride,
                        std::vector<int64_t> padding, int64_t groups, bool bias) {
  Node n;
  n.name = name;
  n.op = OpType::kConv;
  n.inputs = {in};
  n.out_channels = out_channels;
  n.kernel = std::move(kernel);
  n.stride = std::move(stride);
  n.padding = std::move(padding);
  n.groups = groups;
  n.bias = bias;
  return add(std::move(n)).name;
}

std::string Graph::linear(const std::string& name, const std::string& in, int64_t out_features,
                          bool bias) {
  Node n;
  n.name = name;
  n.op = OpType::kLinear;
  n.inputs = {in};
  n.out_channels = out_features;
  n.bias = bias;
  return add(std::move(n)).name;
}

std::string Graph::batchnorm(const std::string& name, const std::string& in, double eps,
                             double momentum) {
  Node n;
  n.name = name;
  n.op = OpType::kBatchNorm;
  n.inputs = {in};
  n.eps = eps;
  n.momentum = momentum;
  return add(std::move(n)).name;
}

namespace {
Node simple(const std::string& name, OpType op, std::vector<std::string> inputs) {
  Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  return n;
}
}  // namespace

std::string Graph::add_node(const std::string& name, const std::string& a, const std::string& b) {
  return add(simple(name, OpType::kAdd, {a, b})).name;
}
std::string Graph::relu(const std::string& name, const std::string& in) {
  return add(simple(name, OpType::kRelu, {in})).name;
}
std::string Graph::relu6(const std::string& name, const std::string& in) {
  return add(simple(name, OpType::kRelu6, {in})).name;
}
std::string Graph::maxpool(const std::string& name, const std::string& in,
                           std::vector<int64_t> kernel, std::vector<int64_t> stride,
                           std::vector<int64_t> padding) {
  Node n = simple(name, OpType::kMaxPool, {in});
  n.kernel = std::move(kernel);
  n.stride = std::move(stride);
  n.padding = std::move(padding);
  return add(std::move(n)).name;
}
std::string Graph::avgpool(const std::string& name, const std::string& in,
                           std::vector<int64_t> kernel, std::vector<int64_t> stride) {
  Node n = simple(name, OpType::kAvgPool, {in});
  n.kernel = std::move(kernel);
  n.stride = std::move(stride);
  return add(std::move(n)).name;
}
std::string Graph::global_maxpool(const std::string& name, const std::string& in) {
  return add(simple(name, OpType::kGlobalMaxPool, {in})).name;
}
std::string Graph::global_avgpool(const std::string& name, const std::string& in) {
  return add(simple(name, OpType::kGlobalAvgPool, {in})).name;
}
std::string Graph::flatten(const std::string& name, const std::string& in) {
  return add(simple(name, OpType::kFlatten, {in})).name;
}

const Node& Graph::node(const std::string& name) const {
  return nodes_.at(index_of(name));
}

size_t Graph::index_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw GraphError("no node named '" + name + "' in the graph");
  return it->second;
}

const Node& Graph::input_node() const {
  if (nodes_.empty()) throw GraphError("empty graph");
  return nodes_.front();
}
const Node& Graph::output_node() const {
  if (nodes_.empty()) throw GraphError("empty graph");
  return nodes_.back();
}
const Shape& Graph::shape_of(const std::string& name) const {
  return shapes_.at(index_of(name));
}

int Graph::spatial_dims() const {
  return static_cast<int>(input_node().shape.size()) - 1;
}

std::vector<std::string> Graph::consumers(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& n : nodes_)
    for (const auto& in : n.inputs)
      if (in == name) {
        out.push_back(n.name);
        break;
      }
  return out;
}

int64_t Graph::in_channels(const Node& n) const {
  const Shape& in = shape_of(n.inputs.at(0));
  return in.at(0);
}

int64_t Graph::parameter_count(const Node& n) const {
  switch (n.op) {
    case OpType::kConv: {
      const int64_t k = product(n.kernel);
      return n.out_channels * (in_channels(n) / n.groups) * k + (n.bias ? n.out_channels : 0);
    }
    case OpType::kLinear:
      return n.out_channels * in_channels(n) + (n.bias ? n.out_channels : 0);
    case OpType::kBatchNorm:
      return 2 * in_channels(n);
    default:
      return 0;
  }
}

int64_t Graph::parameter_count() const {
  int64_t total = 0;
  for (const auto& n : nodes_) total += parameter_count(n);
  return total;
}

int64_t Graph::macs(const Node& n) const {
  const Shape& out = shape_of(n.name);
  switch (n.op) {
    case OpType::kConv:
      return product(out) * (in_channels(n) / n.groups) * product(n.kernel);
    case OpType::kLinear:
      return n.out_channels * in_channels(n);
    default:
      return 0;
  }
}

int64_t Graph::macs() const {
  int64_t total = 0;
  for (const auto& n : nodes_) total += macs(n);
  return total;
}

Graph Graph::without_nodes(const std::vector<std::string>& removed) const {
  const std::set<std::string> gone(removed.begin(), removed.end());
  std::map<std::string, std::string> redirect;
  Graph g;
  for (const auto& n : nodes_) {
    if (gone.count(n.name)) {
      if (n.inputs.size() != 1)
        throw GraphError("cannot remove node '" + n.name + "': it does not have one input");
      auto it = redirect.find(n.inputs[0]);
      redirect[n.name] = it == redirect.end() ? n.inputs[0] : it->second;
      continue;
    }
    Node copy = n;
    for (auto& in : copy.inputs) {
      auto it = redirect.find(in);
      if (it != redirect.end()) in = it->second;
    }
    g.add(std::move(copy));
  }
  return g;
}

nlohmann::json Graph::to_json() const {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : nodes_) {
    nlohmann::json j{{"name", n.name}, {"op", op_name(n.op)}, {"inputs", n.inputs}};
    switch (n.op) {
      case OpType::kInput:
        j["shape"] = n.shape;
        break;
      case OpType::kConv:
        j["out_channels"] = n.out_channels;
        j["kernel"] = n.kernel;
        j["stride"] = n.stride;
        j["padding"] = n.padding;
        j["groups"] = n.groups;
        j["bias"] = n.bias;
        break;
      case OpType::kLinear:
        j["out_features"] = n.out_channels;
        j["bias"] = n.bias;
        break;
      case OpType::kBatchNorm:
        j["eps"] = n.eps;
        j["momentum"] = n.momentum;
        break;
      case OpType::kMaxPool:
      case OpType::kAvgPool:
        j["kernel"] = n.kernel;
        j["stride"] = n.stride;
        j["padding"] = n.padding;
        break;
      default:
        break;
    }
    nodes.push_back(std::move(j));
  }
  return nlohmann::json{{"nodes", nodes}};
}

Graph Graph::from_json(const nlohmann::json& j) {
  Graph g;
  try {
    for (const auto& jn : j.at("nodes")) {
      Node n;
      n.name = jn.at("name").get<std::string>();
      n.op = op_from_name(jn.at("op").get<std::string>());
      n.inputs = jn.at("inputs").get<std::vector<std::string>>();
      n.shape = jn.value("shape", Shape{});
      n.kernel = jn.value("kernel", std::vector<int64_t>{});
      n.stride = jn.value("stride", std::vector<int64_t>{});
      n.padding = jn.value("padding", std::vector<int64_t>{});
      n.out_channels = jn.value("out_channels", jn.value("out_features", int64_t{0}));
      n.groups = jn.value("groups", int64_t{1});
      n.bias = jn.value("bias", true);
      n.eps = jn.value("eps", 1e-5);
      n.momentum = jn.value("momentum", 0.1);
      g.add(std::move(n));
    }
  } catch (const nlohmann::json::exception& e) {
    throw GraphError(std::string("malformed graph JSON: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw GraphError(std::string("malformed graph JSON: ") + e.what());
  }
  return g;
}

std::string Graph::summary() const {
  std::ostringstream o;
  o << std::left << std::setw(22) << "node" << std::setw(15) << "op" << std::setw(30) << "inputs"
    << std::setw(16) << "output" << std::right << std::setw(10) << "params" << std::setw(12)
    << "MACs"
    << "\n";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    std::string ins;
    for (const auto& in : n.inputs) ins += (ins.empty() ? "" : ",") + in;
    std::string op = op_name(n.op);
    if (!n.kernel.empty()) op += " " + join(n.kernel);
    o << std::left << std::setw(22) << n.name << std::setw(15) << op << std::setw(30) << ins
      << std::setw(16) << shape_str(shapes_[i]) << std::right << std::setw(10) << parameter_count(n)
      << std::setw(12) << macs(n) << "\n";
  }
  o << "total parameters " << parameter_count() << ", MACs " << macs() << "\n";
  return o.str();
}

Graph fold_batchnorm_graph(const Graph& graph) {
  std::vector<std::string> bns;
  for (const auto& n : graph.nodes()) {
    if (n.op != OpType::kBatchNorm) continue;
    const Node& prod = graph.node(n.inputs[0]);
    if (!prod.has_weights() || graph.consumers(prod.name).size() != 1)
      throw GraphError("batchnorm '" + n.name + "' cannot be folded: its input '" + prod.name +
                       "' is not a conv/linear read only by it");
    bns.push_back(n.name);
  }
  if (bns.empty()) return graph;
  // Producers get a bias (the folded BN shift).
  Graph g;
  for (Node n : graph.nodes()) {
    for (const auto& bn : bns)
      if (graph.node(bn).inputs[0] == n.name) n.bias = true;
    g.add(n);
  }
  return g.without_nodes(bns);
}

}  // namespace qat
