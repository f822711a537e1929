// Program: an IntModel turned into the exact sequence of qk kernel calls, with kernel-layout
// (channels-last) weights, constant parameter structs and a planned activation arena. The host
// engine executes a Program and the C generator prints the same Program, so what the host
// evaluates and what the MCU runs cannot drift apart.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "export/int_model.h"
#include "export/kernel_table.h"
#include "export/planner.h"

namespace qat::exporter {

struct FusedBlock;

// One activation buffer (a materialised tensor), channels-last [h][w][c]; or a fused block's
// window of one (window_bytes >= 0) or its work buffer.
struct Buffer {
  std::string name;  // graph node whose output it holds
  int64_t h = 1, w = 1, c = 1;
  DType type = DType::kInt8;  // int8 / int16
  // A copy in the other activation type, for a layer computing in it (the same codes).
  bool converted = false;
  // The model input: read in place from the caller's buffer (<name>_run's `input`), not in the
  // arena.
  bool external = false;
  // Placed in the arena at the offset of buffer `alias_of` + alias_offset, overlapping it on
  // purpose (an add writing over an input it reads for the last time); -1: placed freely.
  int alias_of = -1;
  int64_t alias_offset = 0;
  int first = 0, last = 0;  // lifetime in call indices (inclusive)
  // A fused block's window of the tensor (or its work buffer): the bytes it holds, which are
  // fewer than the tensor's; -1 for a whole tensor.
  int64_t window_bytes = -1;
  int64_t elements() const { return h * w * c; }
  int64_t bytes() const {
    return window_bytes >= 0 ? window_bytes : elements() * dtype_bytes(type);
  }
  bool whole() const { return window_bytes < 0; }
};

// One kernel call: the kernel-table row it runs, its parameters and, for conv / linear, the
// constants it reads from flash.
struct Call {
  const KernelEntry* kernel = nullptr;
  std::string node;         // graph node name
  std::vector<int> inputs;  // buffer indices
  int output = -1;
  KernelParams params;
  std::vector<int32_t> weights;  // kernel layout: [O][kh][kw][I/g] or [O][I]
  std::vector<uint8_t> packed;   // the weights as stored, when the kernel reads packed int4/int2
  std::vector<int32_t> bias;
  std::vector<int8_t> shift;
  std::vector<int32_t> mult;  // empty for power-of-two requantization
  int64_t macs = 0;
  int64_t scratch_bytes = 0;    // what the kernel needs for these parameters
  int64_t scratch_offset = -1;  // its place in the arena (alive during this call only); -1: none
  std::string formats;          // human-readable "in -> out" formats
  // A fused block (kind kFused): the calls it runs tile by tile (fusion.h).
  std::shared_ptr<FusedBlock> fused;

  CallKind kind() const { return kernel->kind; }
  bool weighted() const { return kernel->signature == Signature::kWeighted; }
  // Flash bytes of the weights, bias and requantization constants.
  int64_t constant_bytes() const;
  // The kernels' view of shift / mult (pointers into this call): per channel when there is more
  // than one shift, power of two when there is no multiplier.
  qk_requant requant() const;
};

// A block of calls run by qk_fused_run (kernels/qk.h, "Fused execution"; built by fusion.h).
struct FusedBlock {
  struct Tensor {
    int buffer = -1;  // program buffer: the whole tensor, or the window
    bool window = false;
  };
  struct Io {
    int in0 = -1, in1 = -1, out = -1;  // tensor indices of one layer
  };
  std::string name;  // C identifier of the block ("fused0", ...)
  std::vector<Tensor> tensors;
  std::vector<Call> layers;  // the calls, with their whole-tensor parameters
  std::vector<Io> io;        // per layer
  int output = -1;           // tensor index of the block output
  int tile_h = 1, tile_w = 1;
  bool retain = true;
  int work_buffer = -1;  // program buffer: executor state + staging
  int64_t work_bytes = 0;
  qk_fused_stats stats{};          // what a run does (qk_fused_plan)
  int64_t layerwise_macs = 0;      // the layers' MACs layer by layer
  int64_t in_place_distance = -1;  // the output lies this far below an input it overwrites; -1
};

struct Program {
  DType act_type = DType::kInt8;     // the widest activation type (per buffer: Buffer::type)
  DType weight_type = DType::kInt8;  // the widest weight storage (per call: its kernel's)
  std::vector<Buffer> buffers;
  std::vector<Call> calls;
  int input = 0, output = 0;  // buffer indices
  // One offset (bytes) per buffer, then one per call with scratch; the arena holds the
  // activations and the kernels' scratch, each alive only while needed. The external input
  // takes no arena space.
  ArenaPlan plan;
  int64_t scratch_bytes = 0;  // largest per-call scratch (part of the arena)

  int64_t input_elements() const { return buffers[static_cast<size_t>(input)].elements(); }
  int64_t input_bytes() const { return buffers[static_cast<size_t>(input)].bytes(); }
  int64_t output_elements() const { return buffers[static_cast<size_t>(output)].elements(); }
  DType input_type() const { return buffers[static_cast<size_t>(input)].type; }
  DType output_type() const { return buffers[static_cast<size_t>(output)].type; }
  int64_t weight_bytes() const;  // weights + bias + requantization constants
  int64_t macs() const;          // as executed (a fused block's recomputation included)
  // Every kernel call: the top-level calls, with each fused block replaced by its layers.
  std::vector<const Call*> kernel_calls() const;
  // "int8 activations, int4 weights"; a mixed-precision model lists each type used
  // ("int8 + int16 activations, int2 + int4 + int8 weights").
  std::string type_summary() const;
  // Per-layer table and totals (shapes, formats, weight bytes, MACs, arena, lower bound).
  std::string summary() const;
};

Program build_program(const IntModel& m);

// Places the buffers and the scratch areas in the arena (Program::plan, Call::scratch_offset)
// and checks the result (check_program_memory). build_program calls it; so does any pass that
// changes buffers or lifetimes afterwards.
void plan_memory(Program& p);

// Checks the arena plan: every buffer and scratch area inside the arena, and no two of them
// that are alive at the same step overlapping, except a declared alias (Buffer::alias_of) that
// the kernel reading and writing it allows (an element-wise call writing each element over the
// same element it reads). Throws ExportError naming both. build_program runs it.
void check_program_memory(const Program& p);

// Channels-last index order of a graph shape: [C] -> (1,1,C), [C,L] -> (1,L,C), [C,H,W] -> (H,W,C).
void hwc_of(const Shape& s, int64_t& h, int64_t& w, int64_t& c);
// Permutes one sample from channel-first (torch) to channels-last (kernels) and back.
std::vector<double> to_channels_last(const double* chw, const Shape& s);
std::vector<double> to_channels_first(const double* hwc, const Shape& s);

}  // namespace qat::exporter
