// Program: an IntModel turned into the exact sequence of qk kernel calls, with kernel-layout
// (channels-last) weights, constant parameter structs and a planned activation arena. The host
// engine executes a Program and the C generator prints the same Program, so what the host
// evaluates and what the MCU runs cannot drift apart.
#pragma once

#include <string>
#include <vector>

#include "export/int_model.h"
#include "export/kernels/qk.h"
#include "export/planner.h"

namespace qat::exporter {

enum class CallKind {
  kConv,
  kLinear,
  kAdd,
  kMaxPool,
  kAvgPool,
  kGlobalMaxPool,
  kGlobalAvgPool,
  kClamp
};
const char* call_kind_name(CallKind k);

// One activation buffer (a materialised tensor), channels-last [h][w][c].
struct Buffer {
  std::string name;  // graph node that produces it
  int64_t h = 1, w = 1, c = 1;
  int first = 0, last = 0;  // lifetime in call indices (inclusive)
  int64_t elements() const { return h * w * c; }
};

struct Call {
  CallKind kind = CallKind::kConv;
  std::string node;         // graph node name
  std::vector<int> inputs;  // buffer indices
  int output = -1;
  qk_conv_params conv{};
  qk_linear_params linear{};
  qk_add_params add{};
  qk_pool_params pool{};
  int32_t spatial = 0, channels = 0;  // global pools
  int32_t size = 0, lo = 0, hi = 0;   // clamp
  std::vector<int32_t> weights;       // kernel layout: [O][kh][kw][I/g] or [O][I]
  std::vector<int32_t> bias;
  std::vector<int8_t> shift;
  std::vector<int32_t> mult;  // empty for power-of-two requantization
  int64_t macs = 0;
  int64_t scratch_bytes = 0;
  std::string formats;  // human-readable "in -> out" formats
};

struct Program {
  DType act_type = DType::kInt8;
  DType weight_type = DType::kInt8;
  std::vector<Buffer> buffers;
  std::vector<Call> calls;
  int input = 0, output = 0;  // buffer indices
  ArenaPlan plan;             // one offset (bytes) per buffer
  int64_t scratch_bytes = 0;  // largest per-call scratch (separate static buffer)

  int64_t input_elements() const { return buffers[static_cast<size_t>(input)].elements(); }
  int64_t output_elements() const { return buffers[static_cast<size_t>(output)].elements(); }
  int64_t weight_bytes() const;  // weights + bias + requantization constants
  int64_t macs() const;
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
