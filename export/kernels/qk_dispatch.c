/* Public entry points with optimized variants: dispatch to the optimized kernel when the library
 * is built with one, else to the portable reference (qk_ref_*). An Armv7E-M (Cortex-M4/M7/M33)
 * DSP variant slots in under `#if defined(QK_USE_DSP) && defined(__ARM_FEATURE_DSP)`; it must
 * match the reference bit for bit and may use the scratch buffer sized by *_scratch_size. */
#include "qk.h"

size_t qk_conv_s8_scratch_size(const qk_conv_params* p) {
  (void)p;
  return 0;
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
  (void)scratch;
  qk_ref_conv_s8(p, in, w, bias, rq, out);
}

void qk_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                  const qk_requant* rq, int8_t* out, void* scratch) {
  (void)scratch;
  qk_ref_linear_s8(p, in, w, bias, rq, out);
}
