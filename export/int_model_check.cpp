// Structural validation of an integer model (a loaded integer checkpoint, or what lower()
// produced): every length against the graph's shapes, every code against its declared type,
// every per-channel list non-empty and of the right count, before anything indexes an array
// with them. check_representable() then checks the arithmetic (accumulators, multipliers).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "export/int_model.h"
#include "qat/errors.h"
#include "qat/quant_plan.h"

namespace qat::exporter {
namespace {

[[noreturn]] void fail(const IntNode& n, const std::string& field, const std::string& why) {
  throw ExportError("node '" + n.name + "' field '" + field + "': " + why);
}

std::string count_str(size_t n) {
  return std::to_string(n) + (n == 1 ? " value" : " values");
}

// A format is usable by the kernels: bits, scales, zero points, one entry or one per channel.
void check_format(const IntNode& n, const std::string& field, const QFormat& f, size_t channels) {
  if (f.bits < 2 || f.bits > 16) fail(n, field, "bits " + std::to_string(f.bits) + " not in 2..16");
  const size_t want = f.per_channel ? channels : 1;
  if (f.scale.size() != want)
    fail(n, field,
         count_str(f.scale.size()) + " of scale, expected " + std::to_string(want) +
             (f.per_channel ? " (one per channel)" : " (per tensor)"));
  if (f.zero_point.size() != want)
    fail(n, field,
         count_str(f.zero_point.size()) + " of zero_point, expected " + std::to_string(want));
  if (f.scheme == Scheme::kPow2) {
    if (f.frac_bits.size() != want)
      fail(n, field,
           count_str(f.frac_bits.size()) + " of frac_bits, expected " + std::to_string(want));
    for (int fb : f.frac_bits)
      if (fb < -64 || fb > 64)
        fail(n, field, "frac_bits " + std::to_string(fb) + " not in -64..64");
  }
  for (double s : f.scale)
    if (!(s > 0.0) || !std::isfinite(s))
      fail(n, field, "scale " + std::to_string(s) + " is not > 0");
  for (int64_t zp : f.zero_point)
    if (zp < f.qmin() || zp > f.qmax())
      fail(n, field,
           "zero point " + std::to_string(zp) + " outside the format's range [" +
               std::to_string(f.qmin()) + ", " + std::to_string(f.qmax()) + "]");
}

std::vector<int64_t> expected_weight_shape(const Graph& g, const Node& node) {
  if (node.op == OpType::kLinear) return {node.out_channels, g.in_channels(node)};
  std::vector<int64_t> s{node.out_channels, g.in_channels(node) / node.groups};
  s.insert(s.end(), node.kernel.begin(), node.kernel.end());
  return s;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

void check_weights(const Graph& g, const Node& node, const IntNode& n) {
  const size_t out_c = static_cast<size_t>(node.out_channels);
  check_format(n, "weight_format", n.weight_format, out_c);
  const auto want = expected_weight_shape(g, node);
  if (n.weight_shape != want)
    fail(n, "weight_shape",
         shape_text(n.weight_shape) + " does not match the graph's " + shape_text(want));
  int64_t count = 1;
  for (int64_t d : want) count *= d;
  if (static_cast<int64_t>(n.weights.size()) != count)
    fail(n, "weights",
         count_str(n.weights.size()) + ", the weight shape " + shape_text(want) + " needs " +
             std::to_string(count));
  const int64_t lo = n.weight_format.qmin(), hi = n.weight_format.qmax();
  for (size_t i = 0; i < n.weights.size(); ++i)
    if (n.weights[i] < lo || n.weights[i] > hi)
      fail(n, "weights",
           "code " + std::to_string(n.weights[i]) + " at index " + std::to_string(i) +
               " outside the " + std::to_string(n.weight_format.bits) + "-bit range [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  if (n.bias.size() != out_c)
    fail(n, "bias",
         count_str(n.bias.size()) + ", expected one per output channel (" + std::to_string(out_c) +
             ")");
  const size_t channels = n.weight_format.per_channel ? out_c : 1;
  if (n.requant.scheme != n.weight_format.scheme)
    fail(n, "requant",
         std::string(scheme_name(n.requant.scheme)) + " requantization of " +
             scheme_name(n.weight_format.scheme) + " weights");
  if (n.requant.scheme == Scheme::kPow2) {
    if (n.requant.shift.size() != channels)
      fail(n, "requant.shift",
           count_str(n.requant.shift.size()) + ", expected " + std::to_string(channels));
    if (!n.requant.multiplier.empty())
      fail(n, "requant.multiplier", "a pow2 requantization has no multipliers");
  } else {
    if (n.requant.multiplier.size() != channels)
      fail(n, "requant.multiplier",
           count_str(n.requant.multiplier.size()) + ", expected " + std::to_string(channels));
  }
  if (n.acc_bound < 0) fail(n, "acc_bound", "negative");
}

// The worst-case |accumulator| of a layer, from its codes: the int8 kernels rely on it (int32
// partial sums), so a file may not understate it.
void check_acc_bound(const IntNode& n, const QFormat& in) {
  const int64_t x_max = std::max(in.qmax() - in.zero_point[0], in.zero_point[0] - in.qmin());
  const size_t out_c = n.bias.size();
  const size_t per_channel = out_c ? n.weights.size() / out_c : 0;
  int64_t bound = 0;
  for (size_t c = 0; c < out_c; ++c) {
    int64_t sum = 0;
    for (size_t k = 0; k < per_channel; ++k)
      sum += std::abs(int64_t{n.weights[c * per_channel + k]});
    if (n.bias[c] > INT32_MAX || n.bias[c] < INT32_MIN)
      fail(n, "bias",
           "value " + std::to_string(n.bias[c]) +
               " does not fit int32 (the kernels' bias, in the accumulator scale)");
    const int64_t b = n.bias[c] < 0 ? -n.bias[c] : n.bias[c];
    bound = std::max(bound, sum * x_max + b);
  }
  if (n.acc_bound < bound)
    fail(n, "acc_bound",
         std::to_string(n.acc_bound) + " understates the worst case " + std::to_string(bound) +
             " of these weights, bias and input format");
}

}  // namespace

void check_structure(const IntModel& m) {
  const Graph& g = m.graph;
  if (m.nodes.size() != g.size())
    throw ExportError(std::to_string(m.nodes.size()) + " nodes for a graph of " +
                      std::to_string(g.size()));
  if (g.empty()) throw ExportError("empty graph");
  const std::vector<NodePlan> plan = make_quant_plan(g);  // throws on batchnorm
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& node = g.at(i);
    const IntNode& n = m.nodes[i];
    if (n.name != node.name)
      throw ExportError("node " + std::to_string(i) + " is '" + n.name + "', the graph's is '" +
                        node.name + "'");
    if (n.has_output_format != !plan[i].fused_away)
      fail(n, "output",
           plan[i].fused_away ? "present on a relu fused into its producer"
                              : "missing (every tensor needs its format)");
    if (n.has_output_format) check_format(n, "output", n.output, 1);
    if (n.act_min > n.act_max)
      fail(n, "act_min", std::to_string(n.act_min) + " above act_max " + std::to_string(n.act_max));
    if (n.act_min < -32768 || n.act_max > 32767)
      fail(n, "act_min",
           "clamp [" + std::to_string(n.act_min) + ", " + std::to_string(n.act_max) +
               "] outside int16");
    if (node.has_weights()) {
      check_weights(g, node, n);
      const IntNode& producer = m.nodes[g.index_of(plan[g.index_of(node.inputs[0])].format_from)];
      if (producer.has_output_format) check_acc_bound(n, producer.output);
    }
  }
  if (!m.nodes.front().has_output_format) throw ExportError("the input node has no format");
  if (m.input_mean.size() != static_cast<size_t>(g.input_node().shape[0]) ||
      m.input_std.size() != m.input_mean.size())
    throw ExportError("input normalisation has " + std::to_string(m.input_mean.size()) +
                      " means and " + std::to_string(m.input_std.size()) +
                      " standard deviations for " + std::to_string(g.input_node().shape[0]) +
                      " input channels");
  for (size_t c = 0; c < m.input_std.size(); ++c)
    if (!(m.input_std[c] > 0.0) || !std::isfinite(m.input_std[c]) ||
        !std::isfinite(m.input_mean[c]))
      throw ExportError("input channel " + std::to_string(c) + " has mean " +
                        std::to_string(m.input_mean[c]) + " and std " +
                        std::to_string(m.input_std[c]) + " (std must be > 0 and finite)");
}

}  // namespace qat::exporter
