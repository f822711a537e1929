#include "export/schedule.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

#include "export/budget.h"

namespace qat::exporter {
namespace {

// Instructions one more kernel invocation costs on a Cortex-M4, fitted to `qat deploy` of fused
// UCI-HAR ResNets (docs/DEPLOY.md): the executor's walk of the block per tile and the kernel's
// per-call setup, which for the DSP convolution includes folding the zero point into the bias
// (a pass over the weights) and per-layer prologues; and per byte moved by memmove/memcpy.
constexpr double kConvCallOverhead = 1500.0;
constexpr double kConvCallPerWeight = 3.0;
constexpr double kOtherCallOverhead = 400.0;
constexpr double kPerByteMoved = 0.25;
constexpr int kWholeWidth = 1 << 30;

// The tensor a block's tiles cover (its output, or what its closing global pool reduces).
const Buffer& block_output(const Program& p, const BlockChoice& c) {
  return p.buffers[static_cast<size_t>(block_tile_buffer(p, c.last))];
}

bool is_2d(const Program& p, const BlockChoice& c) {
  return block_output(p, c).h > 1;
}

// The tiles tried for a block, small to large: 2D row bands with line buffers of the given
// heights (up to the height of the tensor the tiles cover) and square patches of the given sizes
// (2 and more, below its width); 1D column bands of the given widths (up to its width).
std::vector<BlockChoice> tiles_of(const Program& p, BlockChoice c, std::initializer_list<int> rows,
                                  std::initializer_list<int> patches,
                                  std::initializer_list<int> columns) {
  std::vector<BlockChoice> out;
  const Buffer& o = block_output(p, c);
  if (is_2d(p, c)) {
    for (int t : rows) {
      if (t > o.h) continue;
      c.retain = true;
      c.tile_h = t;
      c.tile_w = kWholeWidth;
      out.push_back(c);
    }
    for (int t : patches) {
      if (t < 2 || t >= o.w) continue;
      c.retain = false;
      c.tile_h = c.tile_w = t;
      out.push_back(c);
    }
  } else {
    for (int t : columns) {
      if (t > o.w) continue;
      c.retain = true;
      c.tile_h = 1;
      c.tile_w = t;
      out.push_back(c);
    }
  }
  return out;
}

// The tiles that keep the least in RAM: one-row (one-column in 1D) line buffers, and for 2D small
// patches, which hold less than full-width rows when the image is wide.
std::vector<BlockChoice> smallest_tiles(const Program& p, const BlockChoice& c) {
  return tiles_of(p, c, {1}, {2, 4}, {1});
}

// Every tile worth trying for a block.
std::vector<BlockChoice> all_tiles(const Program& p, const BlockChoice& c) {
  return tiles_of(p, c, {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256},
                  {2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256},
                  {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256});
}

// The tiles of the dynamic program: fewer than all_tiles, it tries every range of calls.
std::vector<BlockChoice> chain_tiles(const Program& p, const BlockChoice& c) {
  return tiles_of(p, c, {1, 2, 4, 8}, {2, 4, 8}, {1, 2, 4, 8, 16, 32});
}

struct Candidate {
  std::vector<BlockChoice> choices;
  Program program;
  double cost = 0;
  int64_t area = 0;  // sum of the per-call peaks: lower when a tied peak step was lowered
  int64_t arena() const { return program.plan.arena_bytes; }
};

std::optional<Candidate> evaluate(const Program& lw, std::vector<BlockChoice> choices) {
  std::sort(choices.begin(), choices.end(),
            [](const BlockChoice& a, const BlockChoice& b) { return a.first < b.first; });
  try {
    Candidate c;
    c.program = choices.empty() ? lw : fuse(lw, choices);
    c.cost = fusion_cost(c.program);
    for (int64_t v : step_peaks(c.program)) c.area += v;
    c.choices = std::move(choices);
    return c;
  } catch (const ExportError&) {
    return std::nullopt;  // a tile the executor cannot walk, or an in-place the checker refuses
  }
}

// How the growth picks among candidates that do not meet the budget yet: the smallest arena
// (deep blocks early), or the most bytes saved per estimated instruction added (cheap blocks
// first). The scheduler runs both and keeps the better schedule.
enum class Policy { kSmallestArena, kBytesPerCost };

// Better for the budget: meets it at lower cost, or (neither meets it) is preferred by the policy
// over `base`, the schedule both grow from.
bool better(const Candidate& a, const Candidate& b, int64_t budget, const Candidate& base,
            Policy policy) {
  const bool fa = a.arena() <= budget, fb = b.arena() <= budget;
  if (fa != fb) return fa;
  if (fa) return a.cost < b.cost || (a.cost == b.cost && a.arena() < b.arena());
  if (policy == Policy::kBytesPerCost) {
    const auto ratio = [&](const Candidate& c) {
      const double saved = static_cast<double>(base.arena() - c.arena()) +
                           1e-3 * static_cast<double>(base.area - c.area);
      return saved / (std::max(0.0, c.cost - base.cost) + 1000.0);
    };
    const double ra = ratio(a), rb = ratio(b);
    if (ra != rb) return ra > rb;
  }
  if (a.arena() != b.arena()) return a.arena() < b.arena();
  return a.area < b.area || (a.area == b.area && a.cost < b.cost);
}

// Progress for the greedy growth: a smaller arena, or the same with a peak step lowered.
bool lower(const Candidate& a, const Candidate& b) {
  return a.arena() < b.arena() || (a.arena() == b.arena() && a.area < b.area);
}

// The layer-by-layer call range of each call of the program `choices` makes.
std::vector<std::pair<int, int>> call_ranges(const Program& lw,
                                             const std::vector<BlockChoice>& choices) {
  std::vector<std::pair<int, int>> ranges;
  size_t k = 0;
  for (int i = 0; i < static_cast<int>(lw.calls.size());) {
    if (k < choices.size() && choices[k].first == i) {
      ranges.emplace_back(choices[k].first, choices[k].last);
      i = choices[k].last + 1;
      ++k;
    } else {
      ranges.emplace_back(i, i);
      ++i;
    }
  }
  return ranges;
}

}  // namespace

double fusion_cost(const Program& fused) {
  double cost = 0;
  for (const Call& c : fused.calls) {
    if (!c.fused) continue;
    const FusedBlock& b = *c.fused;
    cost += static_cast<double>(b.stats.macs - b.layerwise_macs) +
            kPerByteMoved * static_cast<double>(b.stats.moved_bytes + b.stats.staged_bytes);
    for (size_t l = 0; l < b.layers.size(); ++l) {
      const Call& layer = b.layers[l];
      const double extra_calls = std::max(0, b.stats.layer_calls[l] - 1);
      // Weights = MACs per output pixel (also on the scheduler's weightless copies).
      const Buffer& out = fused.buffers[static_cast<size_t>(layer.output)];
      const double weights = static_cast<double>(layer.macs) * static_cast<double>(out.c) /
                             static_cast<double>(std::max<int64_t>(1, out.elements()));
      const double per_call = layer.kind() == CallKind::kConv
                                  ? kConvCallOverhead + kConvCallPerWeight * weights
                                  : kOtherCallOverhead;
      cost += extra_calls * per_call;
    }
  }
  return cost;
}

std::vector<int64_t> step_peaks(const Program& p) {
  std::vector<int64_t> peak(p.calls.size(), 0);
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const Buffer& bf = p.buffers[b];
    if (bf.external || bf.bytes() == 0) continue;
    const int64_t top = p.plan.offsets[b] + bf.bytes();
    for (int s = std::max(0, bf.first); s <= bf.last && s < static_cast<int>(peak.size()); ++s)
      peak[static_cast<size_t>(s)] = std::max(peak[static_cast<size_t>(s)], top);
  }
  for (size_t ci = 0; ci < p.calls.size(); ++ci)
    if (p.calls[ci].scratch_bytes > 0)
      peak[ci] = std::max(peak[ci], p.calls[ci].scratch_offset + p.calls[ci].scratch_bytes);
  return peak;
}

std::vector<int64_t> step_live_bytes(const Program& p) {
  std::vector<std::vector<std::pair<int64_t, int64_t>>> at(p.calls.size());
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const Buffer& bf = p.buffers[b];
    if (bf.external || bf.bytes() == 0) continue;
    const int64_t lo = p.plan.offsets[b];
    for (int s = std::max(0, bf.first); s <= bf.last && s < static_cast<int>(at.size()); ++s)
      at[static_cast<size_t>(s)].emplace_back(lo, lo + bf.bytes());
  }
  for (size_t ci = 0; ci < p.calls.size(); ++ci)
    if (p.calls[ci].scratch_bytes > 0)
      at[ci].emplace_back(p.calls[ci].scratch_offset,
                          p.calls[ci].scratch_offset + p.calls[ci].scratch_bytes);
  std::vector<int64_t> live(p.calls.size(), 0);
  for (size_t s = 0; s < at.size(); ++s) {
    auto& v = at[s];
    std::sort(v.begin(), v.end());
    int64_t hi = std::numeric_limits<int64_t>::min();
    for (const auto& [l, h] : v) {
      if (l >= hi) {
        live[s] += h - l;
        hi = h;
      } else if (h > hi) {
        live[s] += h - hi;
        hi = h;
      }
    }
  }
  return live;
}

namespace {

// The layer-by-layer program without weights: the scheduler evaluates thousands of fusions,
// and sizing never reads them.
Program weightless(const Program& lw) {
  Program p = lw;
  for (Call& c : p.calls) {
    c.weights.clear();
    c.weights.shrink_to_fit();
    c.packed.clear();
    c.packed.shrink_to_fit();
  }
  return p;
}

// One way to run calls [first, last]: layer by layer (a single call, no block) or a block.
struct SegmentOption {
  bool block = false;
  BlockChoice choice;
  int64_t live = 0;  // bytes in use while it runs
  double cost = 0;
};

// Dynamic programming over the call chain. The bytes in use while a call or block runs depend
// only on how that call or block runs: a buffer alive across it was produced before and is read
// after, so it is whole whatever the other blocks are. Hence the smallest peak and the cheapest
// schedule under a budget are found exactly (for the tiles tried), up to the planner's
// fragmentation, which schedule_fusion corrects by tightening the budget.
class ChainSearch {
 public:
  // light: the layer-by-layer program without weights (weightless()).
  ChainSearch(const Program& light, int max_block_calls) : light_(light) {
    const int n = static_cast<int>(light.calls.size());
    const std::vector<int64_t> single = step_live_bytes(light);
    ends_.resize(static_cast<size_t>(n));
    for (int last = 0; last < n; ++last) {
      auto& opts = ends_[static_cast<size_t>(last)];
      for (int first = last; first >= 0 && last - first < max_block_calls; --first) {
        if (first == last) {
          SegmentOption o;
          o.choice.first = o.choice.last = last;
          o.live = single[static_cast<size_t>(last)];
          opts.push_back(o);
        }
        if (!fusable(light_, first, last).empty()) continue;
        BlockChoice base;
        base.first = first;
        base.last = last;
        std::vector<SegmentOption> found;
        for (BlockChoice c : chain_tiles(light_, base))
          for (bool in_place : {false, true}) {
            if (first == last && !in_place) continue;
            c.in_place = in_place;
            try {
              const Program f = fuse(light_, {c});
              SegmentOption o;
              o.block = true;
              o.choice = c;
              o.live = step_live_bytes(f)[static_cast<size_t>(first)];
              o.cost = fusion_cost(f);
              found.push_back(o);
            } catch (const ExportError&) {
            }
          }
        // Keep the Pareto front (less live memory for more cost).
        std::sort(found.begin(), found.end(), [](const SegmentOption& a, const SegmentOption& b) {
          return a.live < b.live || (a.live == b.live && a.cost < b.cost);
        });
        double cheapest = std::numeric_limits<double>::max();
        for (const SegmentOption& o : found)
          if (o.cost < cheapest) {
            opts.push_back(o);
            cheapest = o.cost;
          }
      }
    }
  }

  // The smallest peak any schedule reaches.
  int64_t smallest_peak() const {
    const int n = static_cast<int>(ends_.size());
    std::vector<int64_t> m(static_cast<size_t>(n) + 1, std::numeric_limits<int64_t>::max());
    m[0] = 0;
    for (int i = 1; i <= n; ++i)
      for (const SegmentOption& o : ends_[static_cast<size_t>(i - 1)]) {
        const int64_t before = m[static_cast<size_t>(o.choice.first)];
        if (before == std::numeric_limits<int64_t>::max()) continue;
        m[static_cast<size_t>(i)] = std::min(m[static_cast<size_t>(i)], std::max(before, o.live));
      }
    return m[static_cast<size_t>(n)];
  }

  // The cheapest blocks with every call and block within `budget` bytes; nullopt if none.
  std::optional<std::vector<BlockChoice>> cheapest(int64_t budget) const {
    const int n = static_cast<int>(ends_.size());
    const double none = std::numeric_limits<double>::max();
    std::vector<double> c(static_cast<size_t>(n) + 1, none);
    std::vector<const SegmentOption*> via(static_cast<size_t>(n) + 1, nullptr);
    c[0] = 0;
    for (int i = 1; i <= n; ++i)
      for (const SegmentOption& o : ends_[static_cast<size_t>(i - 1)]) {
        const double before = c[static_cast<size_t>(o.choice.first)];
        if (o.live > budget || before == none) continue;
        if (before + o.cost < c[static_cast<size_t>(i)]) {
          c[static_cast<size_t>(i)] = before + o.cost;
          via[static_cast<size_t>(i)] = &o;
        }
      }
    if (c[static_cast<size_t>(n)] == none) return std::nullopt;
    std::vector<BlockChoice> out;
    for (int i = n; i > 0;) {
      const SegmentOption& o = *via[static_cast<size_t>(i)];
      if (o.block) out.push_back(o.choice);
      i = o.choice.first;
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  const Program& light_;
  std::vector<std::vector<SegmentOption>> ends_;  // per last call: the ways to end there
};

}  // namespace

namespace {

// The greedy growth from the peak, then cheaper tiles and fewer blocks; lw is the layer-by-layer
// program (schedule_fusion passes its weightless copy).
Candidate search(const Program& lw, const ScheduleOptions& opt, Policy policy) {
  const int64_t budget = opt.arena_budget;
  const int n = static_cast<int>(lw.calls.size());
  Candidate best = *evaluate(lw, {});
  // 1. Grow blocks at the peak until the budget is met or nothing lowers the arena.
  while (best.arena() > budget) {
    const std::vector<int64_t> peaks = step_peaks(best.program);
    const auto ranges = call_ranges(lw, best.choices);
    const size_t at =
        static_cast<size_t>(std::max_element(peaks.begin(), peaks.end()) - peaks.begin());
    const auto [a, b] = ranges.at(at);
    std::optional<Candidate> step;
    for (int first = std::max(0, b - opt.max_block_calls + 1); first <= a; ++first)
      for (int last = b; last < n && last - first < opt.max_block_calls; ++last) {
        // Blocks already chosen must lie inside the new one or outside it.
        std::vector<BlockChoice> kept;
        bool crosses = false;
        for (const BlockChoice& c : best.choices) {
          if (c.last < first || c.first > last)
            kept.push_back(c);
          else if (c.first < first || c.last > last)
            crosses = true;
        }
        if (crosses || !fusable(lw, first, last).empty()) continue;
        BlockChoice base;
        base.first = first;
        base.last = last;
        for (const BlockChoice& tile : smallest_tiles(lw, base))
          for (bool in_place : {false, true}) {
            if (first == last && !in_place) continue;  // a one-call block only helps in place
            BlockChoice c = tile;
            c.in_place = in_place;
            std::vector<BlockChoice> choices = kept;
            choices.push_back(c);
            auto cand = evaluate(lw, choices);
            if (cand && lower(*cand, best) && (!step || better(*cand, *step, budget, best, policy)))
              step = std::move(cand);
          }
      }
    // A block at the peak may hold too much in its windows: try it as two blocks, the tensor
    // between them whole.
    for (size_t k = 0; k < best.choices.size(); ++k) {
      const BlockChoice whole = best.choices[k];
      if (whole.first != a || whole.last != b || a == b) continue;
      for (int split = a; split < b; ++split) {
        BlockChoice left = whole, right = whole;
        left.last = split;
        right.first = split + 1;
        if (!fusable(lw, left.first, left.last).empty() ||
            !fusable(lw, right.first, right.last).empty())
          continue;
        for (BlockChoice l : smallest_tiles(lw, left))
          for (BlockChoice r : smallest_tiles(lw, right))
            for (int places = 0; places < 4; ++places) {
              l.in_place = places & 1;
              r.in_place = (places & 2) != 0;
              if ((l.first == l.last && !l.in_place) || (r.first == r.last && !r.in_place))
                continue;
              std::vector<BlockChoice> choices = best.choices;
              choices[k] = l;
              choices.push_back(r);
              auto cand = evaluate(lw, choices);
              if (cand && lower(*cand, best) &&
                  (!step || better(*cand, *step, budget, best, policy)))
                step = std::move(cand);
            }
      }
    }
    if (!step) break;
    best = std::move(*step);
  }
  // 2. Cheaper tiles and fewer blocks while the budget holds (or the arena does not grow, when
  //    it cannot be met).
  const auto acceptable = [&](const Candidate& c) {
    return best.arena() <= budget ? c.arena() <= budget : c.arena() <= best.arena();
  };
  for (size_t k = 0; k < best.choices.size(); ++k) {
    for (const BlockChoice& tile : all_tiles(lw, best.choices[k]))
      for (bool in_place : {false, true}) {
        std::vector<BlockChoice> choices = best.choices;
        choices[k] = tile;
        choices[k].in_place = in_place;
        if (tile.first == tile.last && !in_place) continue;
        auto cand = evaluate(lw, choices);
        if (cand && acceptable(*cand) && cand->cost < best.cost) best = std::move(*cand);
      }
  }
  for (size_t k = best.choices.size(); k-- > 0;) {
    std::vector<BlockChoice> choices = best.choices;
    choices.erase(choices.begin() + static_cast<std::ptrdiff_t>(k));
    auto cand = evaluate(lw, choices);
    if (cand && acceptable(*cand) && cand->cost <= best.cost) best = std::move(*cand);
  }
  return best;
}

}  // namespace

Schedule schedule_fusion(const Program& lw, const ScheduleOptions& opt) {
  const int64_t budget = opt.arena_budget;
  // Every search evaluates fusions of one weightless copy; the chosen one is fused from `lw`.
  const Program light = weightless(lw);
  std::optional<Candidate> best;
  const auto consider = [&](std::optional<Candidate> c) {
    if (!c) return;
    if (!best) {
      best = std::move(c);
      return;
    }
    const bool fb = best->arena() <= budget, fc = c->arena() <= budget;
    if ((fc && (!fb || c->cost < best->cost)) || (!fc && !fb && c->arena() < best->arena()))
      best = std::move(c);
  };
  consider(evaluate(light, {}));
  if (lw.plan.arena_bytes > budget) {
    // Exact over the chain: the cheapest schedule whose every step fits; the planner may place
    // the buffers less tightly than their live bytes, so the budget is tightened until the real
    // arena fits too (or cannot be tightened further).
    const ChainSearch chain(light, opt.max_block_calls);
    const int64_t floor = chain.smallest_peak();
    int64_t target = budget;
    for (int round = 0; round < 6 && target >= floor; ++round) {
      const auto choices = chain.cheapest(target);
      if (!choices) break;
      std::optional<Candidate> c = evaluate(light, *choices);
      if (!c) break;
      const int64_t over = c->arena() - budget;
      consider(std::move(c));
      if (over <= 0) break;
      target -= over + 8;
    }
    if (!best || best->arena() > budget) {
      const auto smallest = chain.cheapest(floor);
      if (smallest) consider(evaluate(light, *smallest));
    }
    // The greedy growth from the peak, for what the chain view misses (blocks absorbing blocks
    // while the arena is placed).
    consider(search(light, opt, Policy::kSmallestArena));
    consider(search(light, opt, Policy::kBytesPerCost));
  }
  Candidate& chosen = *best;
  chosen.program = chosen.choices.empty() ? lw : fuse(lw, chosen.choices);
  Schedule s;
  s.budget = budget;
  s.layerwise_arena = lw.plan.arena_bytes;
  s.layerwise_macs = lw.macs();
  s.arena = chosen.arena();
  s.macs = chosen.program.macs();
  s.extra_cost = chosen.cost;
  const std::vector<int64_t> lw_peaks = step_peaks(lw);
  const std::vector<int64_t> peaks = step_peaks(chosen.program);
  for (size_t ci = 0; ci < chosen.program.calls.size(); ++ci) {
    const Call& c = chosen.program.calls[ci];
    if (!c.fused) continue;
    const FusedBlock& fb = *c.fused;
    ScheduledBlock r;
    for (const BlockChoice& ch : chosen.choices)
      if (lw.calls[static_cast<size_t>(ch.first)].node == fb.layers.front().node) r.choice = ch;
    r.first_node = fb.layers.front().node;
    r.last_node = fb.layers.back().node;
    r.layers = static_cast<int>(fb.layers.size());
    r.peak_bytes = peaks[ci];
    for (int k = r.choice.first; k <= r.choice.last; ++k)
      r.layerwise_peak_bytes = std::max(r.layerwise_peak_bytes, lw_peaks[static_cast<size_t>(k)]);
    r.extra_macs = fb.stats.macs - fb.layerwise_macs;
    r.kernel_calls = fb.stats.kernel_calls;
    r.moved_bytes = fb.stats.moved_bytes;
    r.staged_bytes = fb.stats.staged_bytes;
    s.blocks.push_back(r);
  }
  s.program = std::move(chosen.program);
  return s;
}

Schedule schedule_or_throw(const Program& lw, const ScheduleOptions& opt) {
  Schedule s = schedule_fusion(lw, opt);
  if (!s.feasible())
    throw InfeasibleRamBudget(
        "RAM budget " + format_bytes(opt.arena_budget) + " (" + std::to_string(opt.arena_budget) +
            " B for the arena) cannot be met: the smallest arena the fusion scheduler found is " +
            std::to_string(s.arena) + " B (layer by layer " + std::to_string(s.layerwise_arena) +
            " B); raise the budget, or lower activation bits / the input size",
        s.arena);
  return s;
}

Program program_for_budget(const Program& lw, const FusionRequest& req, std::string* report) {
  if (report) report->clear();
  if (!req.ram_budget) return lw;
  const int64_t budget = *req.ram_budget;
  const auto kib = [](int64_t b) { return std::to_string(b) + " B"; };
  if (lw.plan.arena_bytes + kStackReserveBytes <= budget) {
    if (report)
      *report = "RAM budget " + format_bytes(budget) + ": layer by layer fits (arena " +
                kib(lw.plan.arena_bytes) + " + " + kib(kStackReserveBytes) + " stack reserve)\n";
    return lw;
  }
  if (!req.fuse) {
    if (report)
      *report = "warning: RAM budget " + format_bytes(budget) +
                " is not met layer by layer (arena " + kib(lw.plan.arena_bytes) + " + " +
                kib(kStackReserveBytes) + " stack reserve) and fusion is off (--fuse off)\n";
    return lw;
  }
  const int64_t arena_budget = budget - kFusedStackReserveBytes;
  if (arena_budget <= 0)
    throw InfeasibleRamBudget("RAM budget " + kib(budget) + " does not cover the " +
                                  kib(kFusedStackReserveBytes) +
                                  " reserved for the stack of a fused inference (the budget counts "
                                  "static RAM + stack)",
                              0);
  ScheduleOptions opt;
  opt.arena_budget = arena_budget;
  Schedule s = schedule_fusion(lw, opt);
  if (!s.feasible())
    throw InfeasibleRamBudget(
        "RAM budget " + format_bytes(budget) + " (" + kib(budget) + " = arena " +
            kib(arena_budget) + " + " + kib(kFusedStackReserveBytes) +
            " stack reserve) cannot be met: the smallest arena the fusion scheduler found is " +
            kib(s.arena) + " (layer by layer " + kib(lw.plan.arena_bytes) +
            "), so the smallest "
            "budget is " +
            kib(s.arena + kFusedStackReserveBytes) +
            "; raise the budget, or lower activation bits / the input size",
        s.arena);
  if (report)
    *report = "RAM budget " + format_bytes(budget) + " = arena " + kib(arena_budget) + " + " +
              kib(kFusedStackReserveBytes) + " stack reserve\n" + s.report();
  return std::move(s.program);
}

std::string Schedule::report() const {
  std::string r;
  char line[512];
  if (blocks.empty()) {
    std::snprintf(line, sizeof line,
                  "fusion: none needed (arena %lld B layer by layer, budget %lld B)\n",
                  static_cast<long long>(layerwise_arena), static_cast<long long>(budget));
    return line;
  }
  r += "fusion schedule (budget " + std::to_string(budget) + " B for the arena):\n";
  r += "  block    calls                              layers  tile            in place  peak (B)   "
       "     extra MACs  kernel calls\n";
  for (size_t k = 0; k < blocks.size(); ++k) {
    const ScheduledBlock& b = blocks[k];
    std::string tile;
    if (!b.choice.retain)
      tile = "patch " + std::to_string(b.choice.tile_h) + "x" + std::to_string(b.choice.tile_w);
    else if (b.choice.tile_w >= kWholeWidth)
      tile = "rows " + std::to_string(b.choice.tile_h);
    else
      tile = "columns " + std::to_string(b.choice.tile_w);
    const std::string calls = b.first_node + " .. " + b.last_node;
    const std::string peak =
        std::to_string(b.peak_bytes) + " (was " + std::to_string(b.layerwise_peak_bytes) + ")";
    std::snprintf(line, sizeof line, "  fused%-3zu %-34s %6d  %-15s %-9s %-15s %10lld  %12lld\n", k,
                  calls.c_str(), b.layers, tile.c_str(), b.choice.in_place ? "yes" : "no",
                  peak.c_str(), static_cast<long long>(b.extra_macs),
                  static_cast<long long>(b.kernel_calls));
    r += line;
  }
  std::snprintf(
      line, sizeof line,
      "  arena %lld B (layer by layer %lld B, %.2fx smaller); MACs %lld (+%.2f%%); estimated "
      "extra instructions %.0f\n",
      static_cast<long long>(arena), static_cast<long long>(layerwise_arena),
      arena > 0 ? static_cast<double>(layerwise_arena) / static_cast<double>(arena) : 0.0,
      static_cast<long long>(macs),
      layerwise_macs > 0
          ? 100.0 * static_cast<double>(macs - layerwise_macs) / static_cast<double>(layerwise_macs)
          : 0.0,
      extra_cost);
  r += line;
  return r;
}

}  // namespace qat::exporter
