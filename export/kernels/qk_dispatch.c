/* Public entry points with optimized variants: dispatch to the optimized kernel when the library
 * is built with one, else to the portable reference (qk_ref_*). The Armv7E-M (Cortex-M4/M7/M33)
 * DSP kernels (qk_conv_s8_dsp.c, qk_dw_s8_dsp.c, qk_linear_s8_dsp.c) are selected under
 * `#if defined(QK_USE_DSP) && defined(__ARM_FEATURE_DSP)`; they match the reference bit for bit
 * and return 0 for the parameter combinations they leave to it.
 *
 * The scratch sizes are those of the optimized kernels on every platform: the host sizes the
 * export's scratch buffer with these functions, without DSP. */
#include "qk.h"
#include "qk_dsp.h"

size_t qk_conv_s8_scratch_size(const qk_conv_params* p) {
  return qk__dsp_conv_s8_scratch(p);
}

size_t qk_conv_s16_scratch_size(const qk_conv_params* p) {
  (void)p;
  return 0;
}

size_t qk_linear_s8_scratch_size(const qk_linear_params* p) {
  (void)p;
  return 0;
}

void qk_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                const qk_requant* rq, int8_t* out, void* scratch) {
#if QK__DSP
  /* Depthwise (groups == in_c == out_c): four channels per word, no im2col (qk_dw_s8_dsp.c);
   * every other conv, grouped and 1x1 included: im2col + SMLAD (qk_conv_s8_dsp.c). */
  if (qk__dsp_conv_is_depthwise(p) ? qk__dsp_dwconv_s8(p, in, w, bias, rq, out, scratch)
                                   : qk__dsp_conv_s8(p, in, w, bias, rq, out, scratch))
    return;
#else
  (void)scratch;
#endif
  qk_ref_conv_s8(p, in, w, bias, rq, out);
}

void qk_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                  const qk_requant* rq, int8_t* out, void* scratch) {
  (void)scratch;
#if QK__DSP
  if (qk__dsp_linear_s8(p, in, w, bias, rq, out)) return;
#endif
  qk_ref_linear_s8(p, in, w, bias, rq, out);
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
  if (qk__dsp_conv_is_depthwise(p)                                           \
          ? qk__dsp_dwconv_s8_packed(p, in, w, bits, bias, rq, out, scratch) \
          : qk__dsp_conv_s8_packed(p, in, w, bits, bias, rq, out, scratch))  \
    return;
#define QK__LINEAR_PACKED(bits) \
  if (qk__dsp_linear_s8_packed(p, in, w, bits, bias, rq, out)) return;
#else
#define QK__CONV_PACKED(bits) (void)scratch;
#define QK__LINEAR_PACKED(bits)
#endif

void qk_conv_s8_w4(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch) {
  QK__CONV_PACKED(4)
  qk_ref_conv_s8_w4(p, in, w, bias, rq, out);
}

void qk_conv_s8_w2(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch) {
  QK__CONV_PACKED(2)
  qk_ref_conv_s8_w2(p, in, w, bias, rq, out);
}

void qk_linear_s8_w4(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  (void)scratch;
  QK__LINEAR_PACKED(4)
  qk_ref_linear_s8_w4(p, in, w, bias, rq, out);
}

void qk_linear_s8_w2(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  (void)scratch;
  QK__LINEAR_PACKED(2)
  qk_ref_linear_s8_w2(p, in, w, bias, rq, out);
}
