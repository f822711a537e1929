// The one model representation (DESIGN.md): a small DAG of named nodes, each naming its inputs.
// Model builders emit it, GraphModule executes it for training, the exporter, the ONNX writer and
// the memory planner walk it. It is torch-free on purpose: only shapes and hyper-parameters live
// here, parameters live in GraphModule / IntModel.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qat {

enum class OpType {
  kInput,
  kConv,       // conv1d / conv2d, groups (depthwise when groups == in_channels)
  kLinear,     // fully connected on a flat input
  kBatchNorm,  // follows a conv/linear; folded before quantization
  kAdd,        // element-wise sum of two tensors of the same shape
  kRelu,
  kRelu6,
  kMaxPool,        // maxpool1d / maxpool2d
  kAvgPool,        // avgpool1d / avgpool2d (no padding)
  kGlobalMaxPool,  // -> [C]
  kGlobalAvgPool,  // -> [C]
  kFlatten,        // -> [C*H*W], channel-major (torch order)
};

// Name used in JSON, YAML overrides and messages ("conv", "linear", "add", ...).
const char* op_name(OpType op);
OpType op_from_name(const std::string& name);  // throws std::invalid_argument listing names

// Shape of one sample, channel-first as in torch: [C], [C, L] or [C, H, W].
using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);

struct Node {
  std::string name;
  OpType op = OpType::kInput;
  std::vector<std::string> inputs;

  // conv / pools: one entry per spatial dimension (1 for 1D, 2 for 2D).
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding;
  // conv / linear
  int64_t out_channels = 0;
  int64_t groups = 1;
  bool bias = true;
  // batchnorm
  double eps = 1e-5;
  double momentum = 0.1;
  // input
  Shape shape;

  bool has_weights() const { return op == OpType::kConv || op == OpType::kLinear; }
};

// A validated DAG. Nodes are stored in insertion order, which is a topological order because a
// node may only name inputs that already exist. The first node is the single input; the last
// node is the output.
class Graph {
 public:
  Graph() = default;

  // Appends a node after checking its name is unique, its inputs exist, its arity and
  // hyper-parameters are valid and its output shape can be inferred. Throws GraphError.
  const Node& add(Node node);

  // Convenience builders used by model builders and tests; each returns the node name.
  std::string input(const std::string& name, Shape shape);
  std::string conv(const std::string& name, const std::string& in, int64_t out_channels,
                   std::vector<int64_t> kernel, std::vector<int64_t> stride,
                   std::vector<int64_t> padding, int64_t groups = 1, bool bias = true);
  std::string linear(const std::string& name, const std::string& in, int64_t out_features,
                     bool bias = true);
  std::string batchnorm(const std::string& name, const std::string& in, double eps = 1e-5,
                        double momentum = 0.1);
  std::string add_node(const std::string& name, const std::string& a, const std::string& b);
  std::string relu(const std::string& name, const std::string& in);
  std::string relu6(const std::string& name, const std::string& in);
  std::string maxpool(const std::string& name, const std::string& in, std::vector<int64_t> kernel,
                      std::vector<int64_t> stride, std::vector<int64_t> padding = {});
  std::string avgpool(const std::string& name, const std::string& in, std::vector<int64_t> kernel,
                      std::vector<int64_t> stride);
  std::string global_maxpool(const std::string& name, const std::string& in);
  std::string global_avgpool(const std::string& name, const std::string& in);
  std::string flatten(const std::string& name, const std::string& in);

  const std::vector<Node>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  const Node& node(const std::string& name) const;
  const Node& at(size_t i) const { return nodes_.at(i); }
  size_t index_of(const std::string& name) const;
  bool contains(const std::string& name) const { return index_.count(name) != 0; }

  const Node& input_node() const;
  const Node& output_node() const;
  const Shape& shape_of(const std::string& name) const;
  const Shape& shape_at(size_t i) const { return shapes_.at(i); }
  int spatial_dims() const;  // 1 or 2 (from the input shape)

  // Names of the nodes that read `name`, in topological order.
  std::vector<std::string> consumers(const std::string& name) const;

  // Parameter count per node and in total, as torch would count them (BN: gamma and beta).
  int64_t parameter_count(const Node& n) const;
  int64_t parameter_count() const;
  // Multiply-accumulates of one inference (conv and linear only).
  int64_t macs(const Node& n) const;
  int64_t macs() const;

  // Input channels of a conv/linear/batchnorm node (from its input shape).
  int64_t in_channels(const Node& n) const;

  // Returns a copy without the given single-input nodes: their consumers read their input.
  Graph without_nodes(const std::vector<std::string>& removed) const;

  nlohmann::json to_json() const;
  static Graph from_json(const nlohmann::json& j);

  std::string summary() const;  // human-readable table: name, op, inputs, shape, params

 private:
  Shape infer_shape(Node& n) const;
  std::vector<Node> nodes_;
  std::vector<Shape> shapes_;
  std::map<std::string, size_t> index_;
};

// The topology after folding every batchnorm into the conv/linear before it (which gains a
// bias): what a model becomes before quantization. Throws GraphError when a batchnorm does not
// follow a conv/linear read only by it.
Graph fold_batchnorm_graph(const Graph& g);

}  // namespace qat
