// IntModel: the integer model, i.e. the integer checkpoint. Everything the integer engine, the
// C generator and the ONNX writer need, and nothing of the float model: the (batchnorm-folded)
// graph, per node the output format, integer weights in torch layout, integer bias in the
// accumulator scale, requantization, fused activations, and the input normalisation.
// Saved as JSON (docs/INT_CHECKPOINT.md); reloadable without retraining.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qat/graph.h"
#include "qat/model_head.h"
#include "qat/number_format.h"
#include "qat/quant_plan.h"

namespace qat::exporter {

enum class DType { kInt8, kInt16 };
const char* dtype_name(DType t);  // "int8" / "int16"
int dtype_bytes(DType t);

struct IntNode {
  std::string name;  // graph node
  bool has_output_format = false;
  QFormat output;  // format of the node's output tensor
  // conv / linear
  Activation activation = Activation::kNone;
  QFormat weight_format;
  std::vector<int64_t> weight_shape;  // torch layout: [O, I/g, k...] or [O, I]
  std::vector<int32_t> weights;       // integer codes, torch layout
  std::vector<int64_t> bias;          // accumulator scale (fits int32 when exported)
  Requant requant;
  int64_t acc_bound = 0;
  // add
  AddRescale add;
  // clamp bounds of relu / relu6 / fused activations, in output codes
  int64_t act_min = 0, act_max = 0;
};

struct IntModel {
  Graph graph;                 // folded topology
  std::vector<IntNode> nodes;  // one per graph node, same order
  DType activation_type = DType::kInt8;
  DType weight_type = DType::kInt8;
  std::vector<double> input_mean, input_std;  // raw input -> (x - mean) / std per channel
  ModelHead head;      // what the output means (classification / detection layout)
  std::string metric;  // "acc" / "mAP50"
  std::string source;  // where it came from (checkpoint path, run)

  const IntNode& node(const std::string& name) const { return nodes.at(graph.index_of(name)); }
  const QFormat& input_format() const { return nodes.front().output; }
  const QFormat& output_format() const { return nodes.back().output; }
  int64_t weight_count() const;

  nlohmann::json to_json() const;
  static IntModel from_json(const nlohmann::json& j);
  void save(const std::string& path) const;  // atomic
  static IntModel load(const std::string& path);
};

// Checks that every requantization, bias and accumulator fits the kernels' integer types and
// throws ExportError naming the layer otherwise ("refuses rather than emitting code that can
// overflow"). Called by lower() and when loading a checkpoint.
void check_representable(const IntModel& m);

}  // namespace qat::exporter
