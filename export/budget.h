// Memory-driven mixed precision (Rusci et al., MLSys 2020): per-layer weight and activation bit
// widths chosen before training so that the exported model fits a flash and a RAM budget.
//
// The sizes are those of the real export: a shape-only integer model (the graph with the
// configured formats, zero weights) goes through build_program(), so packing, constants and the
// arena plan are what `qat export` will write; the kernels' code is estimated from the measured
// code_bytes of the kernel table.
//
//   RAM first (activation bits decide which layers compute in int16, and those cannot pack their
//   weights). The RAM of one inference is the arena (activations + scratch) + a stack reserve;
//   the arena is the one the fusion scheduler (export/schedule.h) reaches for the budget, so bits
//   are only cut for what fusion cannot reach. While it exceeds the budget, the kernel call with
//   the largest input +
//   output activation bytes that holds a 16-bit tensor has its 16-bit tensors cut to 8 bits.
//   Activations are not packed below 8 bits, so 8 is the floor.
//   Flash: every conv/linear starts at 8-bit weights; while weights + constants + kernel code
//   exceed the budget, the layer with the largest share of the weight memory (ties within 5% of
//   it: the earliest) is cut 8 -> 4 -> 2 (CutOrder::kLevels: the largest among the layers at the
//   most bits, so every layer reaches 4 before any reaches 2; CutOrder::kSensitivity: the cut
//   that costs the least measured loss per byte saved, see WeightSensitivity). Layers that cannot
//   pack (they compute in int16) are not cut: it would cost accuracy for no byte.
// An infeasible budget is an error before training that names the smallest flash and RAM the
// model can reach.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qat/errors.h"
#include "qat/graph.h"
#include "qat/quant_config.h"

namespace qat::exporter {

struct Program;

// The stack one inference takes on top of the static RAM, reserved from a RAM budget (which
// counts static RAM + stack): above the largest high-water mark `qat deploy` measured on the
// bundled and benchmark models at -O2 (layer by layer 624 B; with fused blocks, whose executor
// walks the block on the stack, up to 1,120 B on the benchmark models), docs/DEPLOY.md.
constexpr int64_t kStackReserveBytes = 768;
constexpr int64_t kFusedStackReserveBytes = 1280;
// kFusedStackReserveBytes when `program` runs fused blocks, else kStackReserveBytes.
int64_t stack_reserve_bytes(const Program& program);

// Which layer the flash loop cuts next. kLargestShare is the paper's rule; kLevels applies it
// among the layers at the most weight bits only, so no layer drops to 2 bits while another that
// can pack is still at 8 (a 2-bit layer tends to cost more accuracy than two 4-bit ones).
// kSensitivity ranks the cuts by the loss each one was measured to cost (WeightSensitivity): of
// the cuts that make the model fit, the cheapest; while none does, the cheapest per byte saved.
enum class CutOrder { kLargestShare, kLevels, kSensitivity };
// Its name in the config (`budget.order`) and in summary.json: "largest_share", "levels",
// "sensitivity".
const char* cut_order_name(CutOrder order);

// What each layer's weights cost at fewer bits: the increase of the training loss when that layer
// alone has 4- or 2-bit weights and the others 8-bit weights (activations as configured), after
// float training and calibration (train/sensitivity.h measures it). 8 bits cost 0 by definition.
struct WeightSensitivity {
  std::map<std::string, std::map<int, double>> loss_increase;  // node -> bits (4, 2) -> increase
  int64_t samples = 0;     // training images the losses were measured on
  double base_loss = 0.0;  // their loss with every measured layer at 8-bit weights
  // The measured increase, 0 for 8 bits; a layer or width that was not measured is an error.
  double at(const std::string& node, int bits) const;
};

struct MemoryBudget {
  std::optional<int64_t> flash, ram;  // bytes
  CutOrder order = CutOrder::kLargestShare;
  bool any() const { return flash || ram; }
};

// One quantized node of the plan: its weight bits (conv / linear; 0 otherwise) and the bits of
// the activation tensor it quantizes (0 when it owns none), the bytes at those bits, and why.
struct LayerPrecision {
  std::string node;
  int weight_bits = 0, activation_bits = 0;
  int64_t weight_bytes = 0;       // weights + bias + requantization constants
  double weight_share = 0.0;      // of all weight bytes with every layer at 8 bits
  std::vector<std::string> cuts;  // one line per cut, with the figures that caused it
};

struct PrecisionPlan {
  MemoryBudget budget;
  // budget.order sensitivity before the sensitivities are measured: the bits of the levels
  // order, which shows what fits; the training run plans again after float training.
  bool preliminary = false;
  std::vector<LayerPrecision> layers;
  int64_t weight_bytes = 0;   // weights + constants at the chosen bits
  int64_t code_bytes = 0;     // kernel code and parameter structs (estimate)
  int64_t arena_bytes = 0;    // activations and kernel scratch (the input is the caller's)
  int64_t scratch_bytes = 0;  // the largest kernel scratch, part of the arena
  int64_t flash_bytes() const { return weight_bytes + code_bytes; }
  int64_t stack_reserve_bytes = kStackReserveBytes;
  int64_t ram_bytes() const { return arena_bytes + stack_reserve_bytes; }  // + the stack

  // Per-node overrides that apply the plan to a quant config (appended after the user's).
  std::vector<NodeOverride> overrides(const QuantConfig& base) const;
  // `base` with those overrides appended: the quantization the plan's bits train with.
  QuantConfig applied_to(const QuantConfig& base) const;
  // The table for the log: node, bits, bytes, share, cuts; totals against the budget.
  std::string table() const;
};

// Flash and RAM of `graph` (batchnorm folded) quantized by `quant`, as exported.
struct MemoryEstimate {
  int64_t weight_bytes = 0, code_bytes = 0;
  int64_t arena_bytes = 0;    // static RAM: activations + scratch (the input is the caller's)
  int64_t scratch_bytes = 0;  // the largest kernel scratch, part of the arena
  std::vector<int64_t> layer_weight_bytes;  // per graph node (0 without weights)
};
MemoryEstimate estimate_memory(const Graph& graph, const QuantConfig& quant);

// A budget no choice of bits meets; `key` is "flash" or "ram", the message names the smallest
// flash and RAM the model reaches.
struct InfeasibleBudget : ConfigError {
  InfeasibleBudget(std::string key_, const std::string& message)
      : ConfigError(message), key(std::move(key_)) {}
  std::string key;
};

// Chooses the bits; throws InfeasibleBudget. With CutOrder::kSensitivity, `sensitivity` ranks
// the cuts; without it the plan is the levels order's, marked preliminary.
PrecisionPlan plan_precision(const Graph& graph, const QuantConfig& quant,
                             const MemoryBudget& budget,
                             const WeightSensitivity* sensitivity = nullptr);

// The flash a program's kernels and parameter structs take on a Cortex-M4: the parts of the
// kernel paths its qk_config.h links (export/kernel_code.h, sizes measured per part) plus the
// call glue of model.c; `qat deploy` measures the real figure.
int64_t estimate_code_bytes(const Program& program);

// "64 KiB", "1.5 MiB", "900 B".
std::string format_bytes(int64_t bytes);

}  // namespace qat::exporter
