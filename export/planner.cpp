#include "export/planner.h"

#include <algorithm>
#include <numeric>

namespace qat::exporter {

ArenaPlan plan_arena(const std::vector<PlanItem>& items, int64_t alignment) {
  ArenaPlan plan;
  plan.offsets.assign(items.size(), -1);
  const auto aligned = [&](int64_t v) { return (v + alignment - 1) / alignment * alignment; };
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by earlier start, then index, so the plan is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (items[a].bytes != items[b].bytes) return items[a].bytes > items[b].bytes;
    return items[a].first < items[b].first;
  });
  std::vector<size_t> placed;
  for (size_t idx : order) {
    const PlanItem& it = items[idx];
    // Intervals [offset, offset + bytes) of placed buffers alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed)
      if (lifetimes_overlap(items[p], it))
        busy.emplace_back(plan.offsets[p], plan.offsets[p] + items[p].bytes);
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + it.bytes <= lo) break;  // fits in the gap before this one
      offset = std::max(offset, aligned(hi));
    }
    plan.offsets[idx] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + it.bytes);
    placed.push_back(idx);
  }
  plan.arena_bytes = aligned(plan.arena_bytes);
  int last_step = 0;
  for (const auto& it : items) last_step = std::max(last_step, it.last);
  for (int t = 0; t <= last_step; ++t) {
    int64_t live = 0;
    for (const auto& it : items)
      if (it.first <= t && t <= it.last) live += it.bytes;
    plan.lower_bound = std::max(plan.lower_bound, live);
  }
  return plan;
}

}  // namespace qat::exporter
