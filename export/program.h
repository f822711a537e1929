// Program: an IntModel turned into the exact sequence of qk kernel calls, with kernel-layout
// (channels-last) weights, constant parameter structs and a planned activation arena. The host
// engine executes a Program and the C generator prints the same Program, so what the host
// evaluates and what the MCU runs cannot drift apart.
#pragma once

#include <string>
#include <vector>

#include "export/int_model.h"
#include "export/kernel_table.h"
#include "export/planner.h"

namespace qat::exporter {

// One activation buffer (a materialised tensor), channels-last [h][w][c].
struct Buffer {
  std::string name;  // graph node whose output it holds
  int64_t h = 1, w = 1, c = 1;
  DType type = DType::kInt8;  // int8 / int16
  // A copy in the other activation type, for a layer computing in it (the same codes).
  bool converted = false;
  int first = 0, last = 0;  // lifetime in call indices (inclusive)
  int64_t elements() const { return h * w * c; }
  int64_t bytes() const { return elements() * dtype_bytes(type); }
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
  int64_t scratch_bytes = 0;
  std::string formats;  // human-readable "in -> out" formats

  CallKind kind() const { return kernel->kind; }
  bool weighted() const { return kernel->signature == Signature::kWeighted; }
  // Flash bytes of the weights, bias and requantization constants.
  int64_t constant_bytes() const;
};

struct Program {
  DType act_type = DType::kInt8;     // the widest activation type (per buffer: Buffer::type)
  DType weight_type = DType::kInt8;  // the widest weight storage (per call: its kernel's)
  std::vector<Buffer> buffers;
  std::vector<Call> calls;
  int input = 0, output = 0;  // buffer indices
  ArenaPlan plan;             // one offset (bytes) per buffer
  int64_t scratch_bytes = 0;  // largest per-call scratch (separate static buffer)

  int64_t input_elements() const { return buffers[static_cast<size_t>(input)].elements(); }
  int64_t output_elements() const { return buffers[static_cast<size_t>(output)].elements(); }
  DType input_type() const { return buffers[static_cast<size_t>(input)].type; }
  DType output_type() const { return buffers[static_cast<size_t>(output)].type; }
  int64_t weight_bytes() const;  // weights + bias + requantization constants
  int64_t macs() const;
  // "int8 activations, int4 weights"; a mixed-precision model lists each type used
  // ("int8 + int16 activations, int2 + int4 + int8 weights").
  std::string type_summary() const;
  // Per-layer table and totals (shapes, formats, weight bytes, MACs, arena, lower bound).
  std::string summary() const;
};

Program build_program(const IntModel& m);

// Channels-last index order of a graph shape: [C] -> (1,1,C), [C,L] -> (1,L,C), [C,H,W] -> (H,W,C).
void hwc_of(const Shape& s, int64_t& h, int64_t& w, int64_t& c);
// Permutes one sample from channel-first (torch) to channels-last (kernels) and back.
std::vector<double> to_channels_last(const double* chw, const Shape& s);
std::vector<double> to_channels_first(const double* hwc, const Shape& s);

}  // namespace qat::exporter
