/* Element-wise kernels: add with rescaling, clamp. */
#include "qk.h"
#include "qk_internal.h"

/* out = clamp(out_zp + shift_round((a - a_zp) * a_mult + (b - b_zp) * b_mult, shift)) in 64 bits
 * (saturating products and sum, so extreme parameters cannot overflow). */
#define QK_ADD_BODY(T, TMIN, TMAX)                                       \
  const qk__out_clamp oc_clamp =                                         \
      qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, TMIN, TMAX); \
  int32_t i;                                                             \
  for (i = 0; i < p->size; ++i) {                                        \
    const int64_t ta = qk__mul_sat((int64_t)a[i] - p->a_zp, p->a_mult);  \
    const int64_t tb = qk__mul_sat((int64_t)b[i] - p->b_zp, p->b_mult);  \
    const int64_t y = qk__shift_round(qk__add_sat(ta, tb), p->shift);    \
    out[i] = (T)qk__apply_out_clamp(y, &oc_clamp);                       \
  }

void qk_add_s8(const qk_add_params* p, const int8_t* a, const int8_t* b, int8_t* out) {
  QK_ADD_BODY(int8_t, INT8_MIN, INT8_MAX)
}

void qk_add_s16(const qk_add_params* p, const int16_t* a, const int16_t* b, int16_t* out) {
  QK_ADD_BODY(int16_t, INT16_MIN, INT16_MAX)
}

void qk_clamp_s8(int32_t size, int32_t lo, int32_t hi, const int8_t* in, int8_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (int8_t)qk__clamp_type(in[i], lo, hi, INT8_MIN, INT8_MAX);
}

void qk_clamp_s16(int32_t size, int32_t lo, int32_t hi, const int16_t* in, int16_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (int16_t)qk__clamp_type(in[i], lo, hi, INT16_MIN, INT16_MAX);
}
