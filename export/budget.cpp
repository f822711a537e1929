#include "export/budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "export/int_model.h"
#include "export/kernel_code.h"
#include "export/program.h"
#include "export/schedule.h"
#include "qat/errors.h"
#include "qat/quant_plan.h"

namespace qat::exporter {
namespace {

// A format of `spec` as calibration typically gives it, 2^-frac per step: what the sizes depend
// on (bits, signedness, granularity) and, through the requantization shift and the fused
// activation's clamp, which epilogue kind each optimized call links. Unit scales (shift 0, no
// clamp) sized the generic epilogue alone and missed the ReLU / ReLU6 kinds: 3 KB on MobileNetV1.
QFormat typical_format(const QuantSpec& spec, size_t channels, int frac) {
  const bool per_channel = spec.granularity == Granularity::kPerChannel && channels > 1;
  const size_t n = per_channel ? channels : 1;
  if (spec.scheme == Scheme::kPow2)
    return QFormat::pow2(spec.bits, std::vector<int>(n, frac), per_channel);
  return QFormat::affine(spec.bits, spec.is_signed, std::vector<double>(n, std::ldexp(1.0, -frac)),
                         std::vector<int64_t>(n, 0), per_channel);
}
// Activations in [-8, 8) (ReLU6's 6 inside the range: a clamp below qmax, as calibrated), weights
// in [-0.5, 0.5): the pow2 shift is the weights' bits (2..16), inside the fast range [2, 31].
QFormat typical_activation(const QuantSpec& spec) {
  return typical_format(spec, 1, spec.bits - 4);
}
QFormat typical_weights(const QuantSpec& spec, size_t channels) {
  return typical_format(spec, channels, spec.bits);
}

std::vector<int64_t> weight_shape(const Graph& g, const Node& n) {
  if (n.op == OpType::kLinear) return {n.out_channels, g.in_channels(n)};
  std::vector<int64_t> s{n.out_channels, g.in_channels(n) / n.groups};
  s.insert(s.end(), n.kernel.begin(), n.kernel.end());
  return s;
}

// The integer model `quant` gives `g` (folded), without values: the formats, shapes and storage
// types that decide every byte of the export.
IntModel shape_model(const Graph& g, const QuantConfig& quant) {
  const auto plan = make_quant_plan(g);
  IntModel m;
  m.graph = g;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& node = g.at(i);
    IntNode n;
    n.name = node.name;
    if (!plan[i].fused_away) {
      n.has_output_format = true;
      n.output = typical_activation(quant.activations_for(plan[i].format_from));
    }
    // The clamps as lower() sets them: the fused activation of a layer or add, a ReLU / ReLU6
    // node that no producer took.
    if (node.has_weights() || node.op == OpType::kAdd) n.activation = plan[i].fused;
    Activation clamp = n.activation;
    if (node.op == OpType::kRelu) clamp = Activation::kRelu;
    if (node.op == OpType::kRelu6) clamp = Activation::kRelu6;
    if (n.has_output_format) std::tie(n.act_min, n.act_max) = activation_bounds(n.output, clamp);
    if (node.has_weights()) {
      const size_t out_c = static_cast<size_t>(node.out_channels);
      n.weight_format = typical_weights(quant.weights_for(node.name), out_c);
      n.weight_shape = weight_shape(g, node);
      int64_t count = 1;
      for (int64_t d : n.weight_shape) count *= d;
      n.weights.assign(static_cast<size_t>(count), 0);
      n.bias.assign(out_c, 0);
      const QFormat in =
          typical_activation(quant.activations_for(plan[g.index_of(node.inputs[0])].format_from));
      n.requant = make_requant(in, n.weight_format, n.output, 1);
    }
    m.nodes.push_back(std::move(n));
  }
  for (size_t i = 0; i < g.size(); ++i) {
    if (!g.at(i).has_weights()) continue;
    IntNode& n = m.nodes[i];
    n.weight_type = DType::kInt8;
    n.weight_type = weight_storage(n.weight_format.bits, compute_type(m, i));
  }
  set_widest_types(m);
  return m;
}

// Parameter struct and call glue per kernel call in model.c (measured on the Cortex-M4 build of
// the UCI-HAR ResNetv1-6: about 24 bytes of argument set-up per call), plus _run's own code.
constexpr int64_t kBytesPerCall = 24, kRunBytes = 64, kRequantStructBytes = 12;
// The parts are measured one path at a time; linked together (alignment, literal pools, shared
// helpers) the deploy tests' images came out between 0.4% above and 3% below their sum plus the
// glue, so the kernel code gets a 1% margin: the budget errs on the side of fitting.
constexpr double kKernelCodeMargin = 1.01;

}  // namespace

const char* cut_order_name(CutOrder order) {
  switch (order) {
    case CutOrder::kLevels:
      return "levels";
    case CutOrder::kSensitivity:
      return "sensitivity";
    case CutOrder::kLargestShare:
      break;
  }
  return "largest_share";
}

double WeightSensitivity::at(const std::string& node, int bits) const {
  if (bits >= 8) return 0.0;
  const auto layer = loss_increase.find(node);
  if (layer == loss_increase.end())
    throw Error("weight sensitivity: layer '" + node + "' was not measured");
  const auto b = layer->second.find(bits);
  if (b == layer->second.end())
    throw Error("weight sensitivity: layer '" + node + "' was not measured at " +
                std::to_string(bits) + " bits");
  return b->second;
}

int64_t stack_reserve_bytes(const Program& p) {
  for (const Call& c : p.calls)
    if (c.fused) return kFusedStackReserveBytes;
  return kStackReserveBytes;
}

namespace {

// `calibration_unknown`: for a program of shapes, before calibration, the epilogue kinds that
// calibration may add are counted too: the generic one (a channel whose shift leaves the fast
// range) and, next to a ReLU6 clamp below qmax, the one at qmax (a ReLU6 whose calibrated range
// is below 6). On MobileNetV1 the trained model took both kinds.
int64_t code_bytes(const Program& p, bool calibration_unknown) {
  int64_t bytes = kRunBytes;
  const auto count = [&](const Call& c, bool in_block) {
    bytes += in_block ? static_cast<int64_t>(sizeof(qk_fused_layer)) : kBytesPerCall;
    if (c.kernel->params_type && !c.fused)
      bytes += std::visit([](const auto& v) { return static_cast<int64_t>(sizeof(v)); }, c.params);
    if (c.weighted()) bytes += kRequantStructBytes;
  };
  for (const Call& c : p.calls) {
    count(c, false);
    if (!c.fused) continue;
    // The block's description: tensors, layers (counted with them), the block struct.
    bytes += static_cast<int64_t>(sizeof(qk_fused_block) +
                                  c.fused->tensors.size() * sizeof(qk_fused_tensor));
    for (const Call& l : c.fused->layers) count(l, true);
  }
  // The kernels: the parts of the paths the export's qk_config.h links.
  KernelPaths paths = kernel_paths(p);
  if (calibration_unknown && !paths.epilogues.empty()) {
    paths.epilogues.insert(QK_EPI_GENERIC);
    if (paths.epilogues.count(QK_EPI_POW2_RANGE)) paths.epilogues.insert(QK_EPI_POW2_U7);
    if (paths.epilogues.count(QK_EPI_AFFINE_RANGE)) paths.epilogues.insert(QK_EPI_AFFINE_U7);
  }
  const double kernels = static_cast<double>(kernel_code_bytes(paths));
  return bytes + static_cast<int64_t>(kernels * kKernelCodeMargin + 0.5);
}

}  // namespace

int64_t estimate_code_bytes(const Program& p) {
  return code_bytes(p, false);
}

namespace {

struct Sized {
  IntModel model;
  Program program;
  MemoryEstimate memory;
};

// With a RAM budget, the arena is the one the fusion scheduler reaches for it (or the smallest it
// finds), and the code includes the fused executor: activation bits are only cut for what fusion
// cannot reach.
Sized size_of(const Graph& folded, const QuantConfig& quant,
              std::optional<int64_t> ram_budget = std::nullopt) {
  Sized s;
  s.model = shape_model(folded, quant);
  s.program = build_program(s.model);
  if (ram_budget && s.program.plan.arena_bytes + kStackReserveBytes > *ram_budget) {
    ScheduleOptions opt;
    opt.arena_budget = std::max<int64_t>(0, *ram_budget - kFusedStackReserveBytes);
    Schedule fused = schedule_fusion(s.program, opt);
    if (fused.arena < s.program.plan.arena_bytes) s.program = std::move(fused.program);
  }
  s.memory.weight_bytes = s.program.weight_bytes();
  s.memory.code_bytes = code_bytes(s.program, true);
  s.memory.arena_bytes = s.program.plan.arena_bytes;
  s.memory.scratch_bytes = s.program.scratch_bytes;
  s.memory.layer_weight_bytes.assign(folded.size(), 0);
  for (const Call* c : s.program.kernel_calls())
    if (c->weighted()) s.memory.layer_weight_bytes[folded.index_of(c->node)] += c->constant_bytes();
  return s;
}

std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

}  // namespace

std::string format_bytes(int64_t bytes) {
  char buf[64];
  if (bytes >= 1048576 && bytes % 1048576 == 0)
    std::snprintf(buf, sizeof buf, "%lld MiB", static_cast<long long>(bytes / 1048576));
  else if (bytes >= 1048576)
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / 1048576.0);
  else if (bytes >= 1024 && bytes % 1024 == 0)
    std::snprintf(buf, sizeof buf, "%lld KiB", static_cast<long long>(bytes / 1024));
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

MemoryEstimate estimate_memory(const Graph& graph, const QuantConfig& quant) {
  return size_of(fold_batchnorm_graph(graph), quant).memory;
}

std::vector<NodeOverride> PrecisionPlan::overrides(const QuantConfig& base) const {
  std::vector<NodeOverride> out;
  for (const LayerPrecision& l : layers) {
    NodeOverride o;
    o.pattern = l.node;
    o.where = "budget allocator";
    if (l.weight_bits > 0) {
      o.weights = base.weights_for(l.node);
      o.weights->bits = l.weight_bits;
    }
    if (l.activation_bits > 0) {
      o.activations = base.activations_for(l.node);
      o.activations->bits = l.activation_bits;
    }
    out.push_back(std::move(o));
  }
  return out;
}

QuantConfig PrecisionPlan::applied_to(const QuantConfig& base) const {
  QuantConfig q = base;
  for (auto& o : overrides(base)) q.overrides.push_back(std::move(o));
  return q;
}

std::string PrecisionPlan::table() const {
  std::ostringstream o;
  char line[512];
  if (preliminary)
    o << "(preliminary, by the levels order: budget.order sensitivity plans again after float "
         "training, from each layer's measured loss at 4 and 2 bits)\n";
  std::snprintf(line, sizeof line, "%-20s %7s %7s %12s %7s  %s\n", "layer", "weights", "output",
                "weight B", "share", "why");
  o << line;
  for (const LayerPrecision& l : layers) {
    const std::string wb = l.weight_bits ? std::to_string(l.weight_bits) + "b" : "-";
    const std::string ab = l.activation_bits ? std::to_string(l.activation_bits) + "b" : "-";
    std::string why;
    for (const auto& c : l.cuts) why += (why.empty() ? "" : "; ") + c;
    char share[16] = "";
    if (l.weight_bits) std::snprintf(share, sizeof share, "%.1f%%", 100.0 * l.weight_share);
    std::snprintf(line, sizeof line, "%-20s %7s %7s %12s %7s  %s\n", l.node.c_str(), wb.c_str(),
                  ab.c_str(), l.weight_bits ? thousands(l.weight_bytes).c_str() : "", share,
                  why.c_str());
    o << line;
  }
  o << "flash " << thousands(flash_bytes()) << " B (weights + constants " << thousands(weight_bytes)
    << " B, kernels ~" << thousands(code_bytes) << " B)";
  if (budget.flash) o << " of " << format_bytes(*budget.flash) << " budget";
  o << " | RAM " << thousands(ram_bytes()) << " B (arena " << thousands(arena_bytes)
    << " B: activations + scratch, largest scratch " << thousands(scratch_bytes) << " B; + "
    << thousands(stack_reserve_bytes) << " B stack reserve)";
  if (budget.ram) o << " of " << format_bytes(*budget.ram) << " budget";
  o << "\n";
  return o.str();
}

PrecisionPlan plan_precision(const Graph& graph, const QuantConfig& quant,
                             const MemoryBudget& budget, const WeightSensitivity* sensitivity) {
  const Graph g = fold_batchnorm_graph(graph);
  const auto qplan = make_quant_plan(g);
  PrecisionPlan plan;
  plan.budget = budget;
  const bool by_sensitivity = budget.order == CutOrder::kSensitivity && sensitivity != nullptr;
  plan.preliminary = budget.order == CutOrder::kSensitivity && sensitivity == nullptr;
  // The rule the share-based orders (and a preliminary sensitivity plan) follow.
  const CutOrder rule_order =
      budget.order == CutOrder::kLargestShare ? CutOrder::kLargestShare : CutOrder::kLevels;
  // The quantized nodes in graph order, starting at 8-bit weights and the configured
  // activation bits.
  std::map<std::string, size_t> row;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g.at(i);
    if (!n.has_weights() && !qplan[i].quantizes_output) continue;
    LayerPrecision l;
    l.node = n.name;
    if (n.has_weights()) l.weight_bits = 8;
    if (qplan[i].quantizes_output) l.activation_bits = quant.activations_for(n.name).bits;
    row[n.name] = plan.layers.size();
    plan.layers.push_back(l);
  }
  const auto config = [&] { return plan.applied_to(quant); };
  Sized s = size_of(g, config(), budget.ram);
  // Shares of the weight memory with every layer at 8 bits.
  int64_t total8 = 0;
  for (int64_t b : s.memory.layer_weight_bytes) total8 += b;
  for (LayerPrecision& l : plan.layers)
    l.weight_share = total8 > 0
                         ? static_cast<double>(s.memory.layer_weight_bytes[g.index_of(l.node)]) /
                               static_cast<double>(total8)
                         : 0.0;
  // RAM for one inference: the arena and the stack it runs on.
  const auto ram_of = [](const Sized& z) {
    return z.memory.arena_bytes + stack_reserve_bytes(z.program);
  };
  const auto flash_of = [](const Sized& z) { return z.memory.weight_bytes + z.memory.code_bytes; };
  // The smallest the model can get: activations at 8 bits and uniform 8-, 4- or 2-bit weights
  // where the kernels pack them, whichever takes the least flash (packed kernels add code, so a
  // small model can be smallest at 8 bits).
  const auto smallest = [&]() {
    std::optional<Sized> best;
    for (int bits : {8, 4, 2}) {
      PrecisionPlan low = plan;
      for (LayerPrecision& l : low.layers) {
        if (l.activation_bits > 8) l.activation_bits = 8;
        if (l.weight_bits > bits) l.weight_bits = bits;
      }
      Sized z = size_of(g, low.applied_to(quant), budget.ram);
      if (!best || flash_of(z) < flash_of(*best)) best = std::move(z);
    }
    return *best;
  };
  const auto infeasible = [&](const std::string& what, int64_t limit) {
    const Sized low = smallest();
    return InfeasibleBudget(
        what, format_bytes(limit) +
                  " cannot be met by this model: the smallest it reaches is flash " +
                  thousands(flash_of(low)) + " B (weights + constants " +
                  thousands(low.memory.weight_bytes) + " B, kernels ~" +
                  thousands(low.memory.code_bytes) + " B) and RAM " + thousands(ram_of(low)) +
                  " B (arena " + thousands(low.memory.arena_bytes) + " B with 8-bit activations" +
                  (budget.ram ? ", layers fused where it helps" : "") + ", including scratch " +
                  thousands(low.memory.scratch_bytes) + " B; + " +
                  thousands(stack_reserve_bytes(low.program)) +
                  " B stack reserve); raise the budget or shrink the model");
  };

  // RAM: cut the 16-bit tensors of the largest input + output pair.
  while (budget.ram && ram_of(s) > *budget.ram) {
    const Program& p = s.program;
    int64_t best = -1;
    std::vector<std::string> owners;
    for (const Call* call : p.kernel_calls()) {  // a fused block's layers one by one
      const Call& c = *call;
      if (c.kind() == CallKind::kCast) continue;
      // Whole tensors: inside a fused block they are windows, but the pair is the layer's.
      const auto whole = [&](int b) {
        const Buffer& bf = p.buffers[static_cast<size_t>(b)];
        return bf.elements() * dtype_bytes(bf.type);
      };
      int64_t bytes = whole(c.output);
      std::vector<std::string> wide;
      std::vector<int> touched = c.inputs;
      touched.push_back(c.output);
      for (int b : touched) {
        const std::string& owner =
            qplan[g.index_of(p.buffers[static_cast<size_t>(b)].name)].format_from;
        const auto it = row.find(owner);
        if (it != row.end() && plan.layers[it->second].activation_bits > 8 &&
            std::find(wide.begin(), wide.end(), owner) == wide.end())
          wide.push_back(owner);
      }
      for (int b : c.inputs) bytes += whole(b);
      if (!wide.empty() && bytes > best) {
        best = bytes;
        owners = wide;
      }
    }
    if (owners.empty()) throw infeasible("ram", *budget.ram);
    const int64_t before = ram_of(s);
    for (const std::string& o : owners) {
      LayerPrecision& l = plan.layers[row.at(o)];
      l.cuts.push_back("output " + std::to_string(l.activation_bits) + " -> 8 bits: RAM " +
                       thousands(before) + " B > " + format_bytes(*budget.ram) +
                       ", largest input + output pair " + thousands(best) + " B");
      l.activation_bits = 8;
    }
    s = size_of(g, config(), budget.ram);
  }

  const int64_t fusion_code =
      budget.ram ? s.memory.code_bytes - size_of(g, config()).memory.code_bytes : 0;
  // Weight bits do not move activations: the flash loop sizes layer by layer and adds the code
  // the fused blocks took (fusion is scheduled again once the bits are chosen).
  const auto resize = [&] {
    Sized z = size_of(g, config());
    z.memory.code_bytes += fusion_code;
    return z;
  };
  const auto packable = [&](const LayerPrecision& l) {
    return l.weight_bits > 2 && compute_type(s.model, g.index_of(l.node)) == DType::kInt8;
  };
  // A layer's next step down, 8 -> 4 -> 2, and the sizes with it (the layer keeps its bits).
  const auto next_bits = [](const LayerPrecision& l) { return l.weight_bits > 4 ? 4 : 2; };
  const auto sized_with_cut = [&](LayerPrecision& l) {
    const int from = l.weight_bits;
    l.weight_bits = next_bits(l);
    Sized trial = resize();
    l.weight_bits = from;
    return trial;
  };
  // The rule's next layer among `open`: the largest weight share (ties within 5% of it: the
  // earliest); by levels, only among the layers at the most bits.
  const auto rule_pick = [&](const std::vector<LayerPrecision*>& open) -> LayerPrecision* {
    int top = 0;
    for (const LayerPrecision* l : open) top = std::max(top, l->weight_bits);
    const auto at_level = [&](const LayerPrecision* l) {
      return rule_order == CutOrder::kLargestShare || l->weight_bits == top;
    };
    int64_t most = 0;
    for (const LayerPrecision* l : open)
      if (at_level(l)) most = std::max(most, s.memory.layer_weight_bytes[g.index_of(l->node)]);
    for (LayerPrecision* l : open)  // graph order
      if (at_level(l) && static_cast<double>(s.memory.layer_weight_bytes[g.index_of(l->node)]) >=
                             0.95 * static_cast<double>(most))
        return l;
    return nullptr;
  };
  // Flash: cut the weights of the layer the rule picks, 8 -> 4 -> 2. A cut that lowers no flash
  // (a small layer whose packed kernel brings more code than its weights save) is passed over
  // for the rule's next layer; only when no cut lowers the flash does the first one go ahead
  // (the first packed layers bring the kernel that later cuts share).
  // By sensitivity: every open cut is sized. The cut with the least loss per weight byte saved
  // goes next (weight bytes, not flash: the packed kernels' code comes with the first packed
  // layer and is shared by the later ones, so one cheap layer that saves no flash on its own is
  // not passed over for an expensive one that does). Unless a cut that makes the model fit costs
  // no more than that one: then the cheapest such cut ends the search (any other way on costs at
  // least as much, and a small cut that suffices beats a cheap-per-byte one that overshoots).
  const auto cut_by_sensitivity = [&] {
    const int64_t before = flash_of(s);
    struct Choice {
      LayerPrecision* layer = nullptr;
      int to = 0;
      double cost = 0.0;  // loss increase of the cut
      int64_t saved = 0;  // weight bytes
      double per_byte = 0.0;
      std::optional<Sized> sized;
    };
    std::optional<Choice> cheapest_per_byte, cheapest_fit;
    for (LayerPrecision& l : plan.layers) {  // graph order: ties go to the earliest
      const int64_t bytes = s.memory.layer_weight_bytes[g.index_of(l.node)];
      if (!packable(l) || bytes == 0) continue;
      Choice c;
      c.layer = &l;
      c.to = next_bits(l);
      // Single-layer measurements are noisy near zero: a cut never counts as a gain.
      c.cost =
          std::max(0.0, sensitivity->at(l.node, c.to) - sensitivity->at(l.node, l.weight_bits));
      Sized trial = sized_with_cut(l);
      c.saved = bytes - trial.memory.layer_weight_bytes[g.index_of(l.node)];
      c.per_byte = c.cost / static_cast<double>(std::max<int64_t>(1, c.saved));
      const bool fits = flash_of(trial) <= *budget.flash;
      c.sized = std::move(trial);
      if (fits && (!cheapest_fit || c.cost < cheapest_fit->cost)) cheapest_fit = c;
      if (!cheapest_per_byte || c.per_byte < cheapest_per_byte->per_byte)
        cheapest_per_byte = std::move(c);
    }
    if (!cheapest_per_byte) throw infeasible("flash", *budget.flash);
    const bool ends = cheapest_fit && cheapest_fit->cost <= cheapest_per_byte->cost;
    Choice& best = ends ? *cheapest_fit : *cheapest_per_byte;
    char cost[96];
    std::snprintf(cost, sizeof cost, "loss +%.4f for %s weight B", best.cost,
                  thousands(best.saved).c_str());
    best.layer->cuts.push_back(
        "weights " + std::to_string(best.layer->weight_bits) + " -> " + std::to_string(best.to) +
        " bits: flash " + thousands(before) + " B > " + format_bytes(*budget.flash) + ", " + cost +
        ", " + (ends ? "the cheapest cut that fits" : "the least loss per weight byte saved"));
    best.layer->weight_bits = best.to;
    s = std::move(*best.sized);
  };
  while (budget.flash && flash_of(s) > *budget.flash) {
    if (by_sensitivity) {
      cut_by_sensitivity();
      continue;
    }
    std::vector<LayerPrecision*> open;
    for (LayerPrecision& l : plan.layers)
      if (packable(l)) open.push_back(&l);
    const int64_t before = flash_of(s);
    LayerPrecision* pick = nullptr;  // the first in the rule's order whose cut lowers the flash
    std::optional<Sized> after;      // the sizes with that cut
    std::vector<LayerPrecision*> passed;  // the rule's earlier choices, whose cut did not
    while (!open.empty()) {
      LayerPrecision* l = rule_pick(open);
      if (l == nullptr || s.memory.layer_weight_bytes[g.index_of(l->node)] == 0) break;
      Sized trial = sized_with_cut(*l);
      if (flash_of(trial) < before) {
        pick = l;
        after = std::move(trial);
        break;
      }
      passed.push_back(l);
      open.erase(std::find(open.begin(), open.end(), l));
    }
    if (pick == nullptr && !passed.empty()) pick = passed.front();  // no cut pays on its own
    if (pick == nullptr) throw infeasible("flash", *budget.flash);
    const int to = next_bits(*pick);
    for (LayerPrecision* l : passed) {
      if (l == pick) continue;
      // A step of the search, not the layer's final bits: a later pass may still cut it.
      const std::string note =
          "passed over at " + std::to_string(l->weight_bits) +
          " bits: cutting them alone saved no flash (the packed kernel's code)";
      if (l->cuts.empty() || l->cuts.back() != note) l->cuts.push_back(note);
    }
    const int64_t bytes = s.memory.layer_weight_bytes[g.index_of(pick->node)];
    char share[32];
    std::snprintf(share, sizeof share, "%.1f%%",
                  100.0 * static_cast<double>(bytes) / static_cast<double>(s.memory.weight_bytes));
    std::string why = "weights " + std::to_string(pick->weight_bits) + " -> " + std::to_string(to) +
                      " bits: flash " + thousands(before) + " B > " + format_bytes(*budget.flash) +
                      ", weight share " + share;
    if (!passed.empty() && passed.front() != pick)
      why += " (the rule's first choice saved no flash)";
    else if (rule_order == CutOrder::kLevels)
      why += ", the largest of the layers at " + std::to_string(pick->weight_bits) + " bits";
    else
      why += ", the largest";
    pick->cuts.push_back(why);
    pick->weight_bits = to;
    s = after ? std::move(*after) : resize();
  }
  if (budget.ram) s = size_of(g, config(), budget.ram);

  for (LayerPrecision& l : plan.layers)
    if (l.weight_bits) l.weight_bytes = s.memory.layer_weight_bytes[g.index_of(l.node)];
  plan.weight_bytes = s.memory.weight_bytes;
  plan.code_bytes = s.memory.code_bytes;
  plan.arena_bytes = s.memory.arena_bytes;
  plan.scratch_bytes = s.memory.scratch_bytes;
  plan.stack_reserve_bytes = stack_reserve_bytes(s.program);
  return plan;
}

}  // namespace qat::exporter
