// Where a quantized model quantizes: derived from the graph, shared by GraphModule (training and
// the double-precision evaluation mode) and the exporter, so both fuse the same way.
//   - the input, every conv/linear and every add own an activation quantizer;
//   - a relu/relu6 that is the only consumer of a conv/linear/add is fused into it (the integer
//     kernel clamps after requantization) and becomes the identity;
//   - other nodes keep their input's format (max pools, flatten, standalone relu) or round
//     into it (average pools).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qat/graph.h"
#include "qat/number_format.h"

namespace qat {

enum class Activation { kNone, kRelu, kRelu6 };
const char* activation_name(Activation a);

struct NodePlan {
  bool quantizes_output = false;         // owns an activation quantizer
  Activation fused = Activation::kNone;  // conv/linear/add: activation fused into it
  bool fused_away = false;               // relu/relu6 done by its producer: identity
  std::string format_from;               // node whose quantizer defines this output's format
};

// Throws GraphError when the graph still holds batchnorm nodes (fold them first).
std::vector<NodePlan> make_quant_plan(const Graph& graph);

// Integer activation bounds of a fused activation in format f: [max(qmin, zp), ...].
std::pair<int64_t, int64_t> activation_bounds(const QFormat& f, Activation a);

}  // namespace qat
