// Static activation arena planner: places buffers with known lifetimes in one arena so that
// buffers alive at the same time never overlap, reusing memory of dead ones (greedy by size,
// lowest fitting offset). Also reports the lower bound: the largest total size of buffers alive
// at any one step, which no placement can beat.
//
// An item may be anchored to another: placed at a fixed distance from it, overlapping it on
// purpose (an in-place add writes over its input; a layer run band by band writes its output a
// few rows behind the input rows it still reads). Anchored items form a group that is placed as
// one block over the union of their lifetimes; the caller proves the overlap safe
// (check_program_memory in program.h).
#pragma once

#include <cstdint>
#include <vector>

namespace qat::exporter {

struct PlanItem {
  int64_t bytes = 0;
  int first = 0;  // first step the buffer is alive (written)
  int last = 0;   // last step it is read (inclusive)
  // offset(this) = offset(anchor) + anchor_offset when anchor >= 0 (an item of lower index or
  // not; anchors must not form a cycle).
  int anchor = -1;
  int64_t anchor_offset = 0;
};

struct ArenaPlan {
  std::vector<int64_t> offsets;  // per item
  int64_t arena_bytes = 0;
  int64_t lower_bound = 0;
};

// Throws std::invalid_argument for an anchor cycle or an out-of-range anchor.
ArenaPlan plan_arena(const std::vector<PlanItem>& items, int64_t alignment = 8);

// True when two items are alive at a common step.
inline bool lifetimes_overlap(const PlanItem& a, const PlanItem& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace qat::exporter
