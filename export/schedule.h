// The fusion scheduler: which calls of a layer-by-layer Program to fuse into blocks
// (export/fusion.h), and with which tiles, so that the arena fits a RAM budget with the least
// extra work.
//
// Greedy, from layer by layer: while the arena exceeds the budget, the step where it peaks is
// found, and every fusable range of calls around it (up to max_block_calls, absorbing the blocks
// it contains) is tried with the tiles that use the least RAM (one-row line buffers; patches for
// 2D) and with the block output in place or not. When some candidates meet the budget the
// cheapest is taken, else the one with the smallest arena. Then each block's tile is enlarged
// (fewer kernel calls, less halo) and blocks that are not needed are dropped, as long as the
// budget holds. The cost is an instruction estimate: extra MACs (halo recomputation) + a fixed
// overhead per extra kernel call + the bytes moved to keep rows and staged for kernels; the
// export report prints the MACs and `qat deploy` measures the instructions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "export/budget.h"
#include "export/fusion.h"
#include "export/program.h"
#include "qat/errors.h"

namespace qat::exporter {

struct ScheduleOptions {
  int64_t arena_budget = 0;  // bytes the arena may take
  int max_block_calls = 16;  // the longest block tried
};

// One block of a schedule, for the report.
struct ScheduledBlock {
  BlockChoice choice;
  std::string first_node, last_node;
  int layers = 0;
  int64_t peak_bytes = 0;            // the arena's high-water mark while the block runs
  int64_t layerwise_peak_bytes = 0;  // the same over its calls, layer by layer
  int64_t extra_macs = 0;            // recomputed halos
  int64_t kernel_calls = 0;          // kernel invocations of one run (layer by layer: layers)
  int64_t moved_bytes = 0, staged_bytes = 0;
};

struct Schedule {
  Program program;  // the fused program (layer by layer when no block was needed)
  std::vector<ScheduledBlock> blocks;
  int64_t budget = 0;
  int64_t layerwise_arena = 0, arena = 0;
  int64_t layerwise_macs = 0, macs = 0;
  double extra_cost = 0;  // estimated extra instructions
  bool feasible() const { return arena <= budget; }
  // Per block: calls, tile, in place, peak, extra MACs; totals against layer by layer.
  std::string report() const;
};

// Estimated extra instructions of running `fused` instead of layer by layer.
double fusion_cost(const Program& fused);

// The bytes in use at each call (live buffers and the call's scratch, overlaps counted once).
std::vector<int64_t> step_live_bytes(const Program& p);

// The arena's high-water mark at each call (buffers alive there and the call's scratch).
std::vector<int64_t> step_peaks(const Program& p);

// The schedule for options.arena_budget; when no schedule meets it, the one with the smallest
// arena found (feasible() false: the caller decides whether that is an error).
Schedule schedule_fusion(const Program& layerwise, const ScheduleOptions& options);

// A RAM budget below the smallest peak the scheduler reaches.
struct InfeasibleRamBudget : ExportError {
  InfeasibleRamBudget(const std::string& message, int64_t smallest_)
      : ExportError(message), smallest(smallest_) {}
  int64_t smallest;
};

// schedule_fusion, throwing InfeasibleRamBudget (naming the smallest arena found and the
// layer-by-layer one) when the budget cannot be met.
Schedule schedule_or_throw(const Program& layerwise, const ScheduleOptions& options);

// A RAM budget for the whole inference (static RAM + stack), and whether fusion may be used
// to meet it.
struct FusionRequest {
  std::optional<int64_t> ram_budget;
  bool fuse = true;
};

// The program to export: `layerwise` when there is no budget or it fits it (arena + the stack
// reserve), else the schedule for it (its report in *report). With fuse off, a program that
// does not fit is returned as it is, with a warning in *report (`qat deploy` then reports it
// over budget). Throws InfeasibleRamBudget, or ExportError when the budget does not even cover
// the stack reserve.
Program program_for_budget(const Program& layerwise, const FusionRequest& request,
                           std::string* report);

}  // namespace qat::exporter
