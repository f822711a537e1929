#include "export/planner.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace qat::exporter {
namespace {

// Anchored items grouped: each group is placed as one block; members sit at fixed offsets in it.
struct Group {
  std::vector<size_t> members;
  std::vector<int64_t> rel;  // member offset inside the block (>= 0)
  int64_t bytes = 0;         // block extent
  int first = 0, last = 0;   // union of the members' lifetimes
};

std::vector<Group> group_items(const std::vector<PlanItem>& items) {
  const size_t n = items.size();
  // Root of each item and its offset from the root, following anchors (with cycle detection).
  std::vector<size_t> root(n);
  std::vector<int64_t> from_root(n, 0);
  for (size_t i = 0; i < n; ++i) {
    size_t r = i;
    int64_t off = 0;
    for (size_t steps = 0; items[r].anchor >= 0; ++steps) {
      if (steps > n)
        throw std::invalid_argument("plan_arena: anchor cycle at item " + std::to_string(i));
      if (static_cast<size_t>(items[r].anchor) >= n)
        throw std::invalid_argument("plan_arena: item " + std::to_string(r) +
                                    " anchored to a missing item");
      off += items[r].anchor_offset;
      r = static_cast<size_t>(items[r].anchor);
    }
    root[i] = r;
    from_root[i] = off;
  }
  std::vector<Group> groups;
  std::vector<int> group_of(n, -1);
  for (size_t i = 0; i < n; ++i) {
    if (group_of[root[i]] < 0) {
      group_of[root[i]] = static_cast<int>(groups.size());
      groups.emplace_back();
    }
    groups[static_cast<size_t>(group_of[root[i]])].members.push_back(i);
  }
  for (Group& g : groups) {
    int64_t lo = 0, hi = 0;
    bool any = false;
    for (size_t m : g.members) {
      lo = any ? std::min(lo, from_root[m]) : from_root[m];
      hi = any ? std::max(hi, from_root[m] + items[m].bytes) : from_root[m] + items[m].bytes;
      g.first = any ? std::min(g.first, items[m].first) : items[m].first;
      g.last = any ? std::max(g.last, items[m].last) : items[m].last;
      any = true;
    }
    for (size_t m : g.members) g.rel.push_back(from_root[m] - lo);
    g.bytes = hi - lo;
  }
  return groups;
}

}  // namespace

ArenaPlan plan_arena(const std::vector<PlanItem>& items, int64_t alignment) {
  ArenaPlan plan;
  plan.offsets.assign(items.size(), -1);
  const auto aligned = [&](int64_t v) { return (v + alignment - 1) / alignment * alignment; };
  const std::vector<Group> groups = group_items(items);
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by earlier start, then index, so the plan is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (groups[a].bytes != groups[b].bytes) return groups[a].bytes > groups[b].bytes;
    return groups[a].first < groups[b].first;
  });
  const auto overlap = [](const Group& a, const Group& b) {
    return a.first <= b.last && b.first <= a.last;
  };
  std::vector<int64_t> group_offset(groups.size(), -1);
  std::vector<size_t> placed;
  for (size_t gi : order) {
    const Group& g = groups[gi];
    // Intervals [offset, offset + bytes) of placed groups alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed)
      if (overlap(groups[p], g))
        busy.emplace_back(group_offset[p], group_offset[p] + groups[p].bytes);
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + g.bytes <= lo) break;  // fits in the gap before this one
      offset = std::max(offset, aligned(hi));
    }
    group_offset[gi] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + g.bytes);
    placed.push_back(gi);
    for (size_t k = 0; k < g.members.size(); ++k) plan.offsets[g.members[k]] = offset + g.rel[k];
  }
  plan.arena_bytes = aligned(plan.arena_bytes);
  // Lower bound: at each step, the bytes alive, counting a group's overlapping members once
  // (the extent of its members alive then).
  int last_step = 0;
  for (const auto& it : items) last_step = std::max(last_step, it.last);
  for (int t = 0; t <= last_step; ++t) {
    int64_t live = 0;
    for (const Group& g : groups) {
      int64_t lo = 0, hi = 0;
      bool any = false;
      for (size_t k = 0; k < g.members.size(); ++k) {
        const PlanItem& it = items[g.members[k]];
        if (it.first > t || t > it.last || it.bytes == 0) continue;
        lo = any ? std::min(lo, g.rel[k]) : g.rel[k];
        hi = any ? std::max(hi, g.rel[k] + it.bytes) : g.rel[k] + it.bytes;
        any = true;
      }
      if (any) live += hi - lo;
    }
    plan.lower_bound = std::max(plan.lower_bound, live);
  }
  return plan;
}

}  // namespace qat::exporter
