// Test helper shared by tests/test_fusion.cpp and tests/test_deploy.cpp: a program's calls cut
// into back-to-back blocks, each the longest fusable run from where it starts.
#pragma once

#include <vector>

#include "export/fusion.h"

namespace qat::exporter {

// From each call that can start a block, the longest fusable run of at most max_calls calls;
// calls no block can start stay layer by layer.
inline std::vector<BlockChoice> maximal_blocks(const Program& p, int tile_h, int tile_w,
                                               bool retain, bool in_place,
                                               int max_calls = 1 << 30) {
  std::vector<BlockChoice> out;
  const int n = static_cast<int>(p.calls.size());
  for (int i = 0; i < n;) {
    int best = -1;
    for (int j = i; j < n && j - i < max_calls; ++j)
      if (fusable(p, i, j).empty()) best = j;
    if (best < 0) {
      ++i;
      continue;
    }
    out.push_back({i, best, tile_h, tile_w, retain, in_place});
    i = best + 1;
  }
  return out;
}

}  // namespace qat::exporter
