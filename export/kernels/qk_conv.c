/* Portable reference convolutions: int8, int16, int16 with int8 weights, and int8 with packed
 * 4-bit and 2-bit weights. One template (qk_conv.inc), one instantiation per combination. */
#include "qk.h"
#include "qk_internal.h"

#define QK_CONV_FN conv_s8
#define QK_IN_T int8_t
#define QK_W_T int8_t
#define QK_W QK_W_PLAIN
#define QK_ACC_T int32_t
#define QK_OUT_MIN INT8_MIN
#define QK_OUT_MAX INT8_MAX
#include "qk_conv.inc"
#undef QK_CONV_FN
#undef QK_W_T
#undef QK_W

#define QK_CONV_FN conv_s8_w4
#define QK_W_T uint8_t
#define QK_W QK_W_PACKED4
#include "qk_conv.inc"
#undef QK_CONV_FN
#undef QK_W

#define QK_CONV_FN conv_s8_w2
#define QK_W QK_W_PACKED2
#include "qk_conv.inc"
#undef QK_CONV_FN
#undef QK_IN_T
#undef QK_W_T
#undef QK_W
#undef QK_ACC_T
#undef QK_OUT_MIN
#undef QK_OUT_MAX

#define QK_CONV_FN conv_s16
#define QK_IN_T int16_t
#define QK_W_T int16_t
#define QK_W QK_W_PLAIN
#define QK_ACC_T int64_t
#define QK_OUT_MIN INT16_MIN
#define QK_OUT_MAX INT16_MAX
#include "qk_conv.inc"
#undef QK_CONV_FN
#undef QK_W_T

#define QK_CONV_FN conv_s16_w8
#define QK_W_T int8_t
#include "qk_conv.inc"
#undef QK_CONV_FN
#undef QK_IN_T
#undef QK_W_T
#undef QK_W
#undef QK_ACC_T
#undef QK_OUT_MIN
#undef QK_OUT_MAX

void qk_ref_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                    const qk_requant* rq, int8_t* out) {
  conv_s8(p, in, w, bias, rq, out);
}

void qk_ref_conv_s8_w4(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                       const int32_t* bias, const qk_requant* rq, int8_t* out) {
  conv_s8_w4(p, in, w, bias, rq, out);
}

void qk_ref_conv_s8_w2(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                       const int32_t* bias, const qk_requant* rq, int8_t* out) {
  conv_s8_w2(p, in, w, bias, rq, out);
}

void qk_ref_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w,
                     const int32_t* bias, const qk_requant* rq, int16_t* out) {
  conv_s16(p, in, w, bias, rq, out);
}

void qk_conv_s16_w8(const qk_conv_params* p, const int16_t* in, const int8_t* w,
                    const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch) {
  (void)scratch;
  conv_s16_w8(p, in, w, bias, rq, out);
}
