// IntModel: the integer model, i.e. the integer checkpoint. Everything the integer engine, the
// C generator and the ONNX writer need, and nothing of the float model: the (batchnorm-folded)
// graph, per node the output format, integer weights in torch layout, integer bias in the
// accumulator scale, requantization, fused activations, and the input normalisation.
// Saved as JSON (docs/INT_CHECKPOINT.md); reloadable without retraining.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qat/graph.h"
#include "qat/model_head.h"
#include "qat/number_format.h"
#include "qat/quant_plan.h"

namespace qat::exporter {

// Storage types. Activations are int8 or int16; weights also packed int4 / int2 (two or four
// per byte, export/packing.h).
enum class DType { kInt8, kInt16, kInt4, kInt2 };
const char* dtype_name(DType t);  // "int8", "int16", "int4", "int2"
int dtype_bits(DType t);
int dtype_bytes(DType t);  // bytes of one activation (int8 / int16)
// Bytes of `count` values stored as t (packed types: ceil(count * bits / 8)).
int64_t storage_bytes(DType t, int64_t count);
// The activation storage of a format: int8 up to 8 bits, else int16.
DType activation_storage(const QFormat& f);

struct IntNode {
  std::string name;  // graph node
  bool has_output_format = false;
  QFormat output;  // format of the node's output tensor
  // conv / linear
  Activation activation = Activation::kNone;
  QFormat weight_format;
  // How the weights are stored and which kernel reads them: int2 / int4 (packed) / int8 with
  // int8 activations, int8 / int16 with int16 ones (see compute_type()).
  DType weight_type = DType::kInt8;
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
  // The widest activation and weight storage in the model (per tensor: activation_storage() of
  // its format; per layer: IntNode::weight_type).
  DType activation_type = DType::kInt8;
  DType weight_type = DType::kInt8;
  std::vector<double> input_mean, input_std;  // raw input -> (x - mean) / std per channel
  ModelHead head;      // what the output means (classification / detection layout)
  std::string metric;  // "acc" / "mAP50"
  std::string source;  // where it came from (checkpoint path, run)
  // The memory budget the run chose its bits for (config `budget:`), bytes; `qat deploy` checks
  // the measured flash and static RAM against it.
  std::optional<int64_t> budget_flash, budget_ram;

  const IntNode& node(const std::string& name) const { return nodes.at(graph.index_of(name)); }
  const QFormat& input_format() const { return nodes.front().output; }
  const QFormat& output_format() const { return nodes.back().output; }
  int64_t weight_count() const;

  nlohmann::json to_json() const;
  // Validates everything (check_structure, check_representable); throws ExportError.
  static IntModel from_json(const nlohmann::json& j);
  void save(const std::string& path) const;  // atomic
  static IntModel load(const std::string& path);

 private:
  static IntModel parse_int_model(const nlohmann::json& j);
};

// The activation type a layer's kernel computes in: int16 when its input or output is stored as
// int16 or its weights are int16, else int8 (the other tensors are converted to it, exactly).
DType compute_type(const IntModel& m, size_t node);
// The smallest weight storage for `weight_bits` in a layer computing in `compute`: packed int2 /
// int4 only with int8 activations (there are no 16 x 4 kernels; 4-bit weights of an int16 layer
// are stored as int8, which is exact), int16 only above 8 bits.
DType weight_storage(int weight_bits, DType compute);

// Throws ExportError naming the node and the field when a length does not match the graph
// (weights, bias, per-channel lists), a code is outside its declared type, a format is unusable
// or the input normalisation does not fit the input: what must hold before anything indexes an
// array with these values. IntModel::from_json and lower() run it.
void check_structure(const IntModel& m);

// Sets activation_type / weight_type to the widest storage of the model's tensors and layers.
void set_widest_types(IntModel& m);

// Checks that every requantization, bias and accumulator fits the kernels' integer types and
// throws ExportError naming the layer otherwise ("refuses rather than emitting code that can
// overflow"). Called by lower() and when loading a checkpoint.
void check_representable(const IntModel& m);

}  // namespace qat::exporter
