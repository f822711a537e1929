// One description per kernel call. Every qk function an exported model calls has one row here:
// its C name, the layer kind and types it computes, its argument signature, the C type of its
// parameter struct, its scratch size and the host entry that calls it. build_program() picks
// the row for a layer, the host Engine calls its `run`, and the C generator prints the call from
// the same row, so adding a kernel variant is one row in kernel_table.cpp plus the kernel (and
// its code size: bench/kernel_code_size.py, export/kernel_code.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "export/int_model.h"
#include "export/kernels/qk.h"

namespace qat::exporter {

enum class CallKind {
  kConv,
  kLinear,
  kAdd,
  kMaxPool,
  kAvgPool,
  kGlobalMaxPool,
  kGlobalAvgPool,
  kClamp,
  kCast,  // an int8 tensor as int16 or back (mixed-precision models)
  kFused  // a block of the above run tile by tile (qk_fused_run)
};
const char* call_kind_name(CallKind k);

// How a kernel takes its arguments (what the host entry unpacks and the C generator prints).
enum class Signature {
  kWeighted,    // f(&params, in, weights, bias, &requant, out, scratch)   conv, linear
  kBinary,      // f(&params, a, b, out)                                    add
  kUnary,       // f(&params, in, out)                                      windowed pools
  kGlobalPool,  // f(spatial, channels, in, out)
  kClamp,       // f(size, lo, hi, in, out)
  kCast,        // f(size, in, out)
  kFused,       // qk_fused_run(&block, data, work, scratch)
};

// Scalar arguments of the kernels without a parameter struct, as structs so that every call
// carries its parameters the same way.
struct GlobalPoolParams {
  int32_t spatial = 0, channels = 0;
};
struct ClampParams {
  int32_t size = 0, lo = 0, hi = 0;
};
struct CastParams {
  int32_t size = 0;
};
// A fused call's parameters are its block (Call::fused).
struct FusedParams {};
using KernelParams = std::variant<qk_conv_params, qk_linear_params, qk_add_params, qk_pool_params,
                                  GlobalPoolParams, ClampParams, CastParams, FusedParams>;

// The parameters as (field, value) pairs in declaration order: designated initializers for the
// structs in generated C, positional arguments for the scalar signatures.
std::vector<std::pair<const char*, int32_t>> param_fields(const KernelParams& p);
const void* param_data(const KernelParams& p);

// One host call's operands: pointers into the engine's arena, weights and scratch.
struct KernelArgs {
  const void* params = nullptr;
  const void* in[2] = {nullptr, nullptr};
  const void* weights = nullptr;
  const int32_t* bias = nullptr;
  const qk_requant* rq = nullptr;
  void* out = nullptr;
  void* scratch = nullptr;
};

struct KernelEntry {
  const char* name;  // the qk function
  CallKind kind;
  DType act;     // activation type (input and output; a cast's input)
  DType weight;  // weight storage of weighted kernels; a cast's output type
  Signature signature;
  const char* params_type;  // C type of the parameter struct; nullptr for scalar signatures
  size_t (*scratch)(const KernelParams&);  // scratch bytes of one call
  void (*run)(const KernelArgs&);          // the host call
};

const std::vector<KernelEntry>& kernel_table();
// The row of qk_fused_run.
const KernelEntry& fused_kernel();
// How a fused block calls this kernel: its qk_fused_kind (-1: it cannot be part of a block),
// the typed pointer to it, and the qk_fused_fn member the generated C initializes.
int fused_kind(const KernelEntry& e);
qk_fused_fn fused_function(const KernelEntry& e);
const char* fused_member(const KernelEntry& e);
// The row computing `kind` with these types; throws ExportError when no kernel does.
const KernelEntry& find_kernel(CallKind kind, DType act, DType weight);
// The conversion of a tensor from one activation type to the other.
const KernelEntry& find_cast(DType from, DType to);

}  // namespace qat::exporter
