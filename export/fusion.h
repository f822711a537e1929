// Fused execution of a Program: consecutive calls turned into one fused block that the qk
// executor (qk_fused_run, kernels/qk_fused.c) computes tile by tile, so its intermediate
// tensors only exist as small windows. The transformation keeps the Program the one description
// of what runs: the host Engine and the generated model.c both execute the fused call, and the
// integers computed are those of layer-by-layer execution (tests/test_fusion.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "export/program.h"

namespace qat::exporter {

// How one block runs: the calls [first, last] of the layer-by-layer Program, the output tile
// and whether windows keep rows across tiles (line buffers) or every tile recomputes its halo
// (patches). in_place: the block output overlaps the whole input it reads for the last time,
// placed below it by the distance the executor's access trace proves safe.
struct BlockChoice {
  int first = 0, last = 0;
  int tile_h = 1, tile_w = 1 << 30;
  bool retain = true;
  bool in_place = false;
};

// Whether calls [first, last] of `p` can form a block: only convs, windowed pools, adds, clamps
// and casts, and a global pool at the end; every tensor produced inside read only inside (the last
// call's output excepted) and not the model output. Empty when they can; else why not.
std::string fusable(const Program& p, int first, int last);

// Calls that can be part of a block (conv, windowed pool, add, clamp, cast; a global pool as
// the last call, reducing a tensor the block computes).
bool fusable_call(const Call& c);
bool is_global_pool(const Call& c);

// The buffer a block ending at call `last` is tiled over: the output of that call, or the
// input of a global pool that ends it.
int block_tile_buffer(const Program& p, int last);

// `layerwise` with each choice's calls replaced by one fused call; windows, work buffer and
// scratch sized by qk_fused_plan, the arena planned again. Choices must not overlap; throws
// ExportError for a choice that cannot be fused.
Program fuse(const Program& layerwise, const std::vector<BlockChoice>& choices);

// The distance below whole input `input` (a tensor index of the block) at which the block output
// can start so that no write lands on a byte a later (or the same non-element-wise) call still
// reads, from the executor's trace; a multiple of 8.
int64_t in_place_distance(const FusedBlock& block, const Program& p, int input);

// The executor's description of a block (qk_fused_block and what it points to), with the
// kernels' function pointers and parameters; weights are left NULL for the caller (the host
// engine) to fill. Movable (the pointers are into its own heap storage), not copyable.
struct FusedDescriptor {
  std::vector<qk_fused_tensor> tensors;
  std::vector<qk_fused_layer> layers;
  std::vector<qk_requant> rq;                // per layer
  std::vector<qk_fused_clamp_params> clamp;  // per layer
  qk_fused_block block{};
  FusedDescriptor() = default;
  FusedDescriptor(FusedDescriptor&&) = default;
  FusedDescriptor& operator=(FusedDescriptor&&) = default;
  FusedDescriptor(const FusedDescriptor&) = delete;
  FusedDescriptor& operator=(const FusedDescriptor&) = delete;
};
FusedDescriptor describe(const FusedBlock& block, const Program& p);

}  // namespace qat::exporter
