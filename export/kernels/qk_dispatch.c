/* Public entry points with optimized variants: dispatch to the optimized kernel when the library
 * is built with one, else to the portable reference (qk_ref_*). The Armv7E-M (Cortex-M4/M7/M33)
 * DSP kernels (qk_conv_s8_dsp.c, qk_dw3_s8_dsp.c, qk_dw_s8_dsp.c, qk_linear_s8_dsp.c) are
 * selected under
 * `#if defined(QK_USE_DSP) && defined(__ARM_FEATURE_DSP)`; they match the reference bit for bit
 * and return 0 for the parameter combinations they leave to it.
 *
 * The scratch sizes are those of the optimized kernels on every platform: the host sizes the
 * export's scratch buffer with these functions, without DSP. */
#include "qk.h"
#include "qk_config.h"
#include "qk_dsp.h"

size_t qk_conv_s8_scratch_size(const qk_conv_params* p) {
  return qk__dsp_conv_s8_scratch(p);
}

size_t qk_conv_s16_scratch_size(const qk_conv_params* p) {
  return qk__dsp_conv_s16_scratch(p);
}

size_t qk_conv_s16_w8_scratch_size(const qk_conv_params* p) {
  (void)p;
  return 0;
}

size_t qk_linear_s8_scratch_size(const qk_linear_params* p) {
  (void)p;
  return 0;
}

/* The code path of a call in a DSP build; plain C, so that an exporter can ask on the host. */
int qk_conv_s8_dsp_path(const qk_conv_params* p) {
  /* The generated code passes a scratch buffer exactly when the scratch size is positive. */
  const void* scratch = qk__dsp_conv_s8_scratch(p) > 0 ? (const void*)p : NULL;
  if (!qk__dsp_conv_ok(p, scratch)) return QK_PATH_REFERENCE;
  if (qk__dsp_dw3_ok(p, scratch)) return QK_PATH_DSP_DEPTHWISE3;
  return qk__dsp_conv_is_depthwise(p) ? QK_PATH_DSP_DEPTHWISE : QK_PATH_DSP_GENERAL;
}

int qk_s8_epilogue_kind(const qk_requant* rq, int32_t channels, int32_t out_zp, int32_t act_min,
                        int32_t act_max) {
  return qk__epi_make(rq, channels, out_zp, act_min, act_max).kind;
}

int qk_linear_s8_dsp_path(const qk_linear_params* p) {
  return qk__dsp_linear_s8_ok(p) ? QK_PATH_DSP_LINEAR : QK_PATH_REFERENCE;
}

/* A path switched off in qk_config.h leaves some parameters unused. */
#define QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch) \
  (void)p;                                              \
  (void)(in);                                           \
  (void)(w);                                            \
  (void)(bias);                                         \
  (void)(rq);                                           \
  (void)(out);                                          \
  (void)(scratch);

/* The DSP kernels return 0 for the parameters they do not take; qk_config.h says which paths
 * this build links (the export's own file: only the ones its calls take). */
#if QK__DSP
#if QK_CONFIG_CONV_S8_DSP_DEPTHWISE3
#define QK__DW3(call) \
  if (call) return;
#else
#define QK__DW3(call)
#endif
#if QK_CONFIG_CONV_S8_DSP_DEPTHWISE
#define QK__DW(call) \
  if (call) return;
#else
#define QK__DW(call)
#endif
#if QK_CONFIG_CONV_S8_DSP_GENERAL
#define QK__GEMM(call) \
  if (call) return;
#else
#define QK__GEMM(call)
#endif
#if QK_CONFIG_LINEAR_S8_DSP
#define QK__LIN(call) \
  if (call) return;
#else
#define QK__LIN(call)
#endif
#if QK_CONFIG_CONV_S8_REFERENCE
#define QK__CONV_REF(call) call;
#else
#define QK__CONV_REF(call)
#endif
#if QK_CONFIG_LINEAR_S8_REFERENCE
#define QK__LINEAR_REF(call) call;
#else
#define QK__LINEAR_REF(call)
#endif
#else
#define QK__CONV_REF(call) call;
#define QK__LINEAR_REF(call) call;
#endif

void qk_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
#if QK__DSP
  /* Depthwise (groups == in_c == out_c): 3-wide kernels on planar rows (qk_dw3_s8_dsp.c), the
   * others four channels per word (qk_dw_s8_dsp.c); every other conv, grouped and 1x1
   * included: im2col + SMLAD (qk_conv_s8_dsp.c). */
  if (qk__dsp_conv_is_depthwise(p)) {
    QK__DW3(qk__dsp_dw3_s8(p, in, w, bias, rq, out, scratch))
    QK__DW(qk__dsp_dwconv_s8(p, in, w, bias, rq, out, scratch))
  } else {
    QK__GEMM(qk__dsp_conv_s8(p, in, w, bias, rq, out, scratch))
  }
#else
  (void)scratch;
#endif
  QK__CONV_REF(qk_ref_conv_s8(p, in, w, bias, rq, out))
}

void qk_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                  const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
#if QK__DSP
  QK__LIN(qk__dsp_linear_s8(p, in, w, bias, rq, out))
#endif
  QK__LINEAR_REF(qk_ref_linear_s8(p, in, w, bias, rq, out))
}

/* Packed 4-bit / 2-bit weights: the same kernels after unpacking what they read (qk_dsp.h). */
size_t qk_conv_s8_w4_scratch_size(const qk_conv_params* p) {
  return qk__dsp_conv_s8_packed_scratch(p);
}

size_t qk_conv_s8_w2_scratch_size(const qk_conv_params* p) {
  return qk__dsp_conv_s8_packed_scratch(p);
}

#if QK__DSP
#define QK__CONV_PACKED(bits)                                                \
  if (qk__dsp_conv_is_depthwise(p)) {                                        \
    QK__DW3(qk__dsp_dw3_s8_packed(p, in, w, bits, bias, rq, out, scratch))   \
    QK__DW(qk__dsp_dwconv_s8_packed(p, in, w, bits, bias, rq, out, scratch)) \
  } else {                                                                   \
    QK__GEMM(qk__dsp_conv_s8_packed(p, in, w, bits, bias, rq, out, scratch)) \
  }
#define QK__LINEAR_PACKED(bits) QK__LIN(qk__dsp_linear_s8_packed(p, in, w, bits, bias, rq, out))
#else
#define QK__CONV_PACKED(bits)
#define QK__LINEAR_PACKED(bits)
#endif

void qk_conv_s8_w4(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
  QK__CONV_PACKED(4)
  QK__CONV_REF(qk_ref_conv_s8_w4(p, in, w, bias, rq, out))
}

void qk_conv_s8_w2(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
  QK__CONV_PACKED(2)
  QK__CONV_REF(qk_ref_conv_s8_w2(p, in, w, bias, rq, out))
}

void qk_linear_s8_w4(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
  QK__LINEAR_PACKED(4)
  QK__LINEAR_REF(qk_ref_linear_s8_w4(p, in, w, bias, rq, out))
}

void qk_linear_s8_w2(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
  QK__LINEAR_PACKED(2)
  QK__LINEAR_REF(qk_ref_linear_s8_w2(p, in, w, bias, rq, out))
}

/* int16: SMLALD kernels (qk_conv_s16_dsp.c) when the input zero point is 0. */
int qk_conv_s16_dsp_path(const qk_conv_params* p) {
  /* The generated code passes a scratch buffer exactly when the scratch size is positive. */
  const void* scratch = qk__dsp_conv_s16_scratch(p) > 0 ? (const void*)p : NULL;
  return qk__dsp_conv_s16_ok(p, scratch) ? QK_PATH_DSP_GENERAL : QK_PATH_REFERENCE;
}

int qk_linear_s16_dsp_path(const qk_linear_params* p) {
  return qk__dsp_linear_s16_ok(p) ? QK_PATH_DSP_LINEAR : QK_PATH_REFERENCE;
}

void qk_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w, const int32_t* bias,
                 const qk_requant* rq, int16_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
#if QK__DSP
  if (qk__dsp_conv_s16(p, in, w, bias, rq, out, scratch)) return;
#if QK_CONFIG_CONV_S16_REFERENCE
  qk_ref_conv_s16(p, in, w, bias, rq, out);
#endif
#else
  qk_ref_conv_s16(p, in, w, bias, rq, out);
#endif
}

void qk_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                   const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch) {
  QK__MAYBE_UNUSED(in, w, bias, rq, out, scratch)
#if QK__DSP
  if (qk__dsp_linear_s16(p, in, w, bias, rq, out)) return;
#if QK_CONFIG_LINEAR_S16_REFERENCE
  qk_ref_linear_s16(p, in, w, bias, rq, out);
#endif
#else
  qk_ref_linear_s16(p, in, w, bias, rq, out);
#endif
}
