#include "qat/quant_plan.h"

#include <algorithm>

#include "qat/errors.h"

namespace qat {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
    default:
      return "none";
  }
}

std::vector<NodePlan> make_quant_plan(const Graph& graph) {
  std::vector<NodePlan> plan(graph.size());
  for (size_t i = 0; i < graph.size(); ++i) {
    const Node& n = graph.at(i);
    NodePlan& p = plan[i];
    switch (n.op) {
      case OpType::kBatchNorm:
        throw GraphError("batchnorm node '" + n.name +
                         "' must be folded into its conv/linear before quantization");
      case OpType::kInput:
        p.quantizes_output = true;
        p.format_from = n.name;
        break;
      case OpType::kConv:
      case OpType::kLinear:
      case OpType::kAdd: {
        p.quantizes_output = true;
        p.format_from = n.name;
        const auto consumers = graph.consumers(n.name);
        if (consumers.size() == 1) {
          const size_t c = graph.index_of(consumers[0]);
          const OpType op = graph.at(c).op;
          if (op == OpType::kRelu || op == OpType::kRelu6) {
            p.fused = op == OpType::kRelu ? Activation::kRelu : Activation::kRelu6;
            plan[c].fused_away = true;
          }
        }
        break;
      }
      default:
        // Pass-through nodes carry their (first) input's format. Fused-away relus were marked
        // by their producer, which comes earlier in topological order.
        p.format_from = plan[graph.index_of(n.inputs.at(0))].format_from;
        break;
    }
  }
  return plan;
}

std::pair<int64_t, int64_t> activation_bounds(const QFormat& f, Activation a) {
  int64_t lo = f.qmin(), hi = f.qmax();
  if (a != Activation::kNone) lo = std::max(lo, f.zero_point[0]);
  if (a == Activation::kRelu6) hi = std::min(hi, f.quantize(6.0));
  return {lo, hi};
}

}  // namespace qat
