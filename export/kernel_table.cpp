#include "export/kernel_table.h"

#include "qat/errors.h"

namespace qat::exporter {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// Host entries: unpack KernelArgs into the kernel's own signature.
template <class P, class T, class W,
          void (*F)(const P*, const T*, const W*, const int32_t*, const qk_requant*, T*, void*)>
void weighted(const KernelArgs& a) {
  F(static_cast<const P*>(a.params), static_cast<const T*>(a.in[0]),
    static_cast<const W*>(a.weights), a.bias, a.rq, static_cast<T*>(a.out), a.scratch);
}

template <class T, void (*F)(const qk_add_params*, const T*, const T*, T*)>
void binary(const KernelArgs& a) {
  F(static_cast<const qk_add_params*>(a.params), static_cast<const T*>(a.in[0]),
    static_cast<const T*>(a.in[1]), static_cast<T*>(a.out));
}

template <class T, void (*F)(const qk_pool_params*, const T*, T*)>
void unary(const KernelArgs& a) {
  F(static_cast<const qk_pool_params*>(a.params), static_cast<const T*>(a.in[0]),
    static_cast<T*>(a.out));
}

template <class T, void (*F)(int32_t, int32_t, const T*, T*)>
void global_pool(const KernelArgs& a) {
  const auto* p = static_cast<const GlobalPoolParams*>(a.params);
  F(p->spatial, p->channels, static_cast<const T*>(a.in[0]), static_cast<T*>(a.out));
}

template <class From, class To, void (*F)(int32_t, const From*, To*)>
void cast(const KernelArgs& a) {
  F(static_cast<const CastParams*>(a.params)->size, static_cast<const From*>(a.in[0]),
    static_cast<To*>(a.out));
}

template <class T, void (*F)(int32_t, int32_t, int32_t, const T*, T*)>
void clamp(const KernelArgs& a) {
  const auto* p = static_cast<const ClampParams*>(a.params);
  F(p->size, p->lo, p->hi, static_cast<const T*>(a.in[0]), static_cast<T*>(a.out));
}

size_t no_scratch(const KernelParams&) {
  return 0;
}
size_t conv_s8_scratch(const KernelParams& p) {
  return qk_conv_s8_scratch_size(&std::get<qk_conv_params>(p));
}
size_t conv_s16_scratch(const KernelParams& p) {
  return qk_conv_s16_scratch_size(&std::get<qk_conv_params>(p));
}
size_t conv_s8_w4_scratch(const KernelParams& p) {
  return qk_conv_s8_w4_scratch_size(&std::get<qk_conv_params>(p));
}
size_t conv_s8_w2_scratch(const KernelParams& p) {
  return qk_conv_s8_w2_scratch_size(&std::get<qk_conv_params>(p));
}
size_t linear_s8_scratch(const KernelParams& p) {
  return qk_linear_s8_scratch_size(&std::get<qk_linear_params>(p));
}

constexpr DType k8 = DType::kInt8, k16 = DType::kInt16, k4 = DType::kInt4, k2 = DType::kInt2;

}  // namespace

const char* call_kind_name(CallKind k) {
  switch (k) {
    case CallKind::kConv:
      return "conv";
    case CallKind::kLinear:
      return "linear";
    case CallKind::kAdd:
      return "add";
    case CallKind::kMaxPool:
      return "maxpool";
    case CallKind::kAvgPool:
      return "avgpool";
    case CallKind::kGlobalMaxPool:
      return "global_maxpool";
    case CallKind::kGlobalAvgPool:
      return "global_avgpool";
    case CallKind::kClamp:
      return "clamp";
    case CallKind::kCast:
      return "cast";
    case CallKind::kFused:
      return "fused";
  }
  return "?";
}

std::vector<std::pair<const char*, int32_t>> param_fields(const KernelParams& params) {
  return std::visit(
      Overloaded{
          [](const qk_conv_params& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"in_h", p.in_h},         {"in_w", p.in_w},      {"in_c", p.in_c},
                    {"out_h", p.out_h},       {"out_w", p.out_w},    {"out_c", p.out_c},
                    {"k_h", p.k_h},           {"k_w", p.k_w},        {"stride_h", p.stride_h},
                    {"stride_w", p.stride_w}, {"pad_h", p.pad_h},    {"pad_w", p.pad_w},
                    {"groups", p.groups},     {"in_zp", p.in_zp},    {"out_zp", p.out_zp},
                    {"act_min", p.act_min},   {"act_max", p.act_max}};
          },
          [](const qk_linear_params& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"in_features", p.in_features},
                    {"out_features", p.out_features},
                    {"in_zp", p.in_zp},
                    {"out_zp", p.out_zp},
                    {"act_min", p.act_min},
                    {"act_max", p.act_max}};
          },
          [](const qk_add_params& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"size", p.size},     {"a_zp", p.a_zp},       {"b_zp", p.b_zp},
                    {"out_zp", p.out_zp}, {"a_mult", p.a_mult},   {"b_mult", p.b_mult},
                    {"shift", p.shift},   {"act_min", p.act_min}, {"act_max", p.act_max}};
          },
          [](const qk_pool_params& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"in_h", p.in_h},      {"in_w", p.in_w},         {"c", p.c},
                    {"out_h", p.out_h},    {"out_w", p.out_w},       {"k_h", p.k_h},
                    {"k_w", p.k_w},        {"stride_h", p.stride_h}, {"stride_w", p.stride_w},
                    {"pad_h", p.pad_h},    {"pad_w", p.pad_w},       {"act_min", p.act_min},
                    {"act_max", p.act_max}};
          },
          [](const GlobalPoolParams& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"spatial", p.spatial}, {"channels", p.channels}};
          },
          [](const ClampParams& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"size", p.size}, {"lo", p.lo}, {"hi", p.hi}};
          },
          [](const CastParams& p) -> std::vector<std::pair<const char*, int32_t>> {
            return {{"size", p.size}};
          },
          [](const FusedParams&) -> std::vector<std::pair<const char*, int32_t>> { return {}; }},
      params);
}

const void* param_data(const KernelParams& p) {
  return std::visit([](const auto& v) -> const void* { return &v; }, p);
}

const std::vector<KernelEntry>& kernel_table() {
  using S = Signature;
  using K = CallKind;
  static const std::vector<KernelEntry> table = {
      {"qk_conv_s8", K::kConv, k8, k8, S::kWeighted, "qk_conv_params", conv_s8_scratch,
       weighted<qk_conv_params, int8_t, int8_t, qk_conv_s8>},
      {"qk_conv_s8_w4", K::kConv, k8, k4, S::kWeighted, "qk_conv_params", conv_s8_w4_scratch,
       weighted<qk_conv_params, int8_t, uint8_t, qk_conv_s8_w4>},
      {"qk_conv_s8_w2", K::kConv, k8, k2, S::kWeighted, "qk_conv_params", conv_s8_w2_scratch,
       weighted<qk_conv_params, int8_t, uint8_t, qk_conv_s8_w2>},
      {"qk_conv_s16_w8", K::kConv, k16, k8, S::kWeighted, "qk_conv_params", no_scratch,
       weighted<qk_conv_params, int16_t, int8_t, qk_conv_s16_w8>},
      {"qk_conv_s16", K::kConv, k16, k16, S::kWeighted, "qk_conv_params", conv_s16_scratch,
       weighted<qk_conv_params, int16_t, int16_t, qk_conv_s16>},
      {"qk_linear_s8", K::kLinear, k8, k8, S::kWeighted, "qk_linear_params", linear_s8_scratch,
       weighted<qk_linear_params, int8_t, int8_t, qk_linear_s8>},
      {"qk_linear_s8_w4", K::kLinear, k8, k4, S::kWeighted, "qk_linear_params", no_scratch,
       weighted<qk_linear_params, int8_t, uint8_t, qk_linear_s8_w4>},
      {"qk_linear_s8_w2", K::kLinear, k8, k2, S::kWeighted, "qk_linear_params", no_scratch,
       weighted<qk_linear_params, int8_t, uint8_t, qk_linear_s8_w2>},
      {"qk_linear_s16_w8", K::kLinear, k16, k8, S::kWeighted, "qk_linear_params", no_scratch,
       weighted<qk_linear_params, int16_t, int8_t, qk_linear_s16_w8>},
      {"qk_linear_s16", K::kLinear, k16, k16, S::kWeighted, "qk_linear_params", no_scratch,
       weighted<qk_linear_params, int16_t, int16_t, qk_linear_s16>},
      {"qk_add_s8", K::kAdd, k8, k8, S::kBinary, "qk_add_params", no_scratch,
       binary<int8_t, qk_add_s8>},
      {"qk_add_s16", K::kAdd, k16, k8, S::kBinary, "qk_add_params", no_scratch,
       binary<int16_t, qk_add_s16>},
      {"qk_maxpool_s8", K::kMaxPool, k8, k8, S::kUnary, "qk_pool_params", no_scratch,
       unary<int8_t, qk_maxpool_s8>},
      {"qk_maxpool_s16", K::kMaxPool, k16, k8, S::kUnary, "qk_pool_params", no_scratch,
       unary<int16_t, qk_maxpool_s16>},
      {"qk_avgpool_s8", K::kAvgPool, k8, k8, S::kUnary, "qk_pool_params", no_scratch,
       unary<int8_t, qk_avgpool_s8>},
      {"qk_avgpool_s16", K::kAvgPool, k16, k8, S::kUnary, "qk_pool_params", no_scratch,
       unary<int16_t, qk_avgpool_s16>},
      {"qk_global_maxpool_s8", K::kGlobalMaxPool, k8, k8, S::kGlobalPool, nullptr, no_scratch,
       global_pool<int8_t, qk_global_maxpool_s8>},
      {"qk_global_maxpool_s16", K::kGlobalMaxPool, k16, k8, S::kGlobalPool, nullptr, no_scratch,
       global_pool<int16_t, qk_global_maxpool_s16>},
      {"qk_global_avgpool_s8", K::kGlobalAvgPool, k8, k8, S::kGlobalPool, nullptr, no_scratch,
       global_pool<int8_t, qk_global_avgpool_s8>},
      {"qk_global_avgpool_s16", K::kGlobalAvgPool, k16, k8, S::kGlobalPool, nullptr, no_scratch,
       global_pool<int16_t, qk_global_avgpool_s16>},
      {"qk_clamp_s8", K::kClamp, k8, k8, S::kClamp, nullptr, no_scratch,
       clamp<int8_t, qk_clamp_s8>},
      {"qk_clamp_s16", K::kClamp, k16, k8, S::kClamp, nullptr, no_scratch,
       clamp<int16_t, qk_clamp_s16>},
      {"qk_cast_s8_s16", K::kCast, k8, k16, S::kCast, nullptr, no_scratch,
       cast<int8_t, int16_t, qk_cast_s8_s16>},
      {"qk_cast_s16_s8", K::kCast, k16, k8, S::kCast, nullptr, no_scratch,
       cast<int16_t, int8_t, qk_cast_s16_s8>},
  };
  return table;
}

const KernelEntry& fused_kernel() {
  // The host runs blocks itself (Engine), so `run` is empty.
  static const KernelEntry entry{"qk_fused_run",    CallKind::kFused, k8,         k8,
                                 Signature::kFused, "qk_fused_block", no_scratch, nullptr};
  return entry;
}

namespace {

struct FusedRow {
  const char* kernel;
  int kind;
  const char* member;
};

const FusedRow* fused_row(const KernelEntry& e) {
  static const FusedRow rows[] = {
      {"qk_conv_s8", QK_FUSED_CONV_S8, "conv_s8"},
      {"qk_conv_s8_w4", QK_FUSED_CONV_S8_PACKED, "conv_s8_packed"},
      {"qk_conv_s8_w2", QK_FUSED_CONV_S8_PACKED, "conv_s8_packed"},
      {"qk_conv_s16", QK_FUSED_CONV_S16, "conv_s16"},
      {"qk_conv_s16_w8", QK_FUSED_CONV_S16_W8, "conv_s16_w8"},
      {"qk_maxpool_s8", QK_FUSED_POOL_S8, "pool_s8"},
      {"qk_avgpool_s8", QK_FUSED_POOL_S8, "pool_s8"},
      {"qk_maxpool_s16", QK_FUSED_POOL_S16, "pool_s16"},
      {"qk_avgpool_s16", QK_FUSED_POOL_S16, "pool_s16"},
      {"qk_add_s8", QK_FUSED_ADD_S8, "add_s8"},
      {"qk_add_s16", QK_FUSED_ADD_S16, "add_s16"},
      {"qk_clamp_s8", QK_FUSED_CLAMP_S8, "clamp_s8"},
      {"qk_clamp_s16", QK_FUSED_CLAMP_S16, "clamp_s16"},
      {"qk_cast_s8_s16", QK_FUSED_CAST_S8_S16, "cast_s8_s16"},
      {"qk_cast_s16_s8", QK_FUSED_CAST_S16_S8, "cast_s16_s8"},
      {"qk_global_avgpool_s8", QK_FUSED_GAVGPOOL_S8, "gpool_s8"},
      {"qk_global_avgpool_s16", QK_FUSED_GAVGPOOL_S16, "gpool_s16"},
      {"qk_global_maxpool_s8", QK_FUSED_GMAXPOOL_S8, "gpool_s8"},
      {"qk_global_maxpool_s16", QK_FUSED_GMAXPOOL_S16, "gpool_s16"},
  };
  for (const FusedRow& r : rows)
    if (std::string(r.kernel) == e.name) return &r;
  return nullptr;
}

}  // namespace

int fused_kind(const KernelEntry& e) {
  const FusedRow* r = fused_row(e);
  return r ? r->kind : -1;
}

const char* fused_member(const KernelEntry& e) {
  const FusedRow* r = fused_row(e);
  if (!r) throw ExportError(std::string("kernel ") + e.name + " cannot run in a fused block");
  return r->member;
}

qk_fused_fn fused_function(const KernelEntry& e) {
  const std::string n = e.name;
  qk_fused_fn f{};
  if (n == "qk_conv_s8")
    f.conv_s8 = qk_conv_s8;
  else if (n == "qk_conv_s8_w4")
    f.conv_s8_packed = qk_conv_s8_w4;
  else if (n == "qk_conv_s8_w2")
    f.conv_s8_packed = qk_conv_s8_w2;
  else if (n == "qk_conv_s16")
    f.conv_s16 = qk_conv_s16;
  else if (n == "qk_conv_s16_w8")
    f.conv_s16_w8 = qk_conv_s16_w8;
  else if (n == "qk_maxpool_s8")
    f.pool_s8 = qk_maxpool_s8;
  else if (n == "qk_avgpool_s8")
    f.pool_s8 = qk_avgpool_s8;
  else if (n == "qk_maxpool_s16")
    f.pool_s16 = qk_maxpool_s16;
  else if (n == "qk_avgpool_s16")
    f.pool_s16 = qk_avgpool_s16;
  else if (n == "qk_add_s8")
    f.add_s8 = qk_add_s8;
  else if (n == "qk_add_s16")
    f.add_s16 = qk_add_s16;
  else if (n == "qk_clamp_s8")
    f.clamp_s8 = qk_clamp_s8;
  else if (n == "qk_clamp_s16")
    f.clamp_s16 = qk_clamp_s16;
  else if (n == "qk_cast_s8_s16")
    f.cast_s8_s16 = qk_cast_s8_s16;
  else if (n == "qk_global_avgpool_s8")
    f.gpool_s8 = qk_global_avgpool_s8;
  else if (n == "qk_global_maxpool_s8")
    f.gpool_s8 = qk_global_maxpool_s8;
  else if (n == "qk_global_avgpool_s16")
    f.gpool_s16 = qk_global_avgpool_s16;
  else if (n == "qk_global_maxpool_s16")
    f.gpool_s16 = qk_global_maxpool_s16;
  else if (n == "qk_cast_s16_s8")
    f.cast_s16_s8 = qk_cast_s16_s8;
  else
    throw ExportError("kernel " + n + " cannot run in a fused block");
  return f;
}

const KernelEntry& find_cast(DType from, DType to) {
  for (const KernelEntry& e : kernel_table())
    if (e.kind == CallKind::kCast && e.act == from && e.weight == to) return e;
  throw ExportError(std::string("no qk kernel converts ") + dtype_name(from) + " to " +
                    dtype_name(to));
}

const KernelEntry& find_kernel(CallKind kind, DType act, DType weight) {
  for (const KernelEntry& e : kernel_table()) {
    const bool weighted = e.signature == Signature::kWeighted;
    if (e.kind == kind && e.act == act && (!weighted || e.weight == weight)) return e;
  }
  throw ExportError(std::string("no qk kernel computes a ") + call_kind_name(kind) + " with " +
                    dtype_name(act) + " activations and " + dtype_name(weight) + " weights");
}

}  // namespace qat::exporter
