// Static activation arena planner: places buffers with known lifetimes in one arena so that
// buffers alive at the same time never overlap, reusing memory of dead ones (greedy by size,
// lowest fitting offset). Also reports the lower bound: the largest total size of buffers alive
// at any one step, which no placement can beat.
#pragma once

#include <cstdint>
#include <vector>

namespace qat::exporter {

struct PlanItem {
  int64_t bytes = 0;
  int first = 0;  // first step the buffer is alive (written)
  int last = 0;   // last step it is read (inclusive)
};

struct ArenaPlan {
  std::vector<int64_t> offsets;  // per item
  int64_t arena_bytes = 0;
  int64_t lower_bound = 0;
};

ArenaPlan plan_arena(const std::vector<PlanItem>& items, int64_t alignment = 8);

// True when two items are alive at a common step.
inline bool lifetimes_overlap(const PlanItem& a, const PlanItem& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace qat::exporter
