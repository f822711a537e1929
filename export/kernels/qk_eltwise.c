/* Element-wise kernels: add with rescaling, clamp. */
#include "qk.h"
#include "qk_config.h"
#include "qk_internal.h"

/* out = clamp(out_zp + shift_round((a - a_zp) * a_mult + (b - b_zp) * b_mult, shift)) in 64 bits
 * (saturating products and sum, so extreme parameters cannot overflow). Three loops compute it:
 *
 *   32-bit   zero points inside the type, shift in [0, 30], (2 TMAX + 1)(|a_mult| + |b_mult|) +
 *            2^(shift-1) < 2^31 and the clamp bounds minus out_zp inside int32: the sum, its
 *            rounding offset and the shifted value fit an int32, and floor((x + 2^(s-1)) / 2^s)
 *            is one arithmetic shift. Power-of-two formats (multipliers 1, 2, 4 ...).
 *   64-bit   zero points inside the type and shift in [1, 62]: |x - zp| < 2^17 and |mult| <= 2^31
 *            bound the sum below 2^49, so nothing saturates and the rounding shift is two
 *            shifts. Affine formats (multipliers near 2^30, shifts 30..50).
 *   general  everything else, with the saturating helpers of the contract.
 *
 * The first two give the general loop's result exactly; qk_config.h links the 64-bit and the
 * general loop only when some call needs them (QK_CONFIG_ADD_INT64, QK_CONFIG_ADD_SATURATING). */
static int qk__add_zps_inside(const qk_add_params* p, int32_t type_min, int32_t type_max) {
  return p->a_zp >= type_min && p->a_zp <= type_max && p->b_zp >= type_min && p->b_zp <= type_max;
}

static int qk__add_fits_int32(const qk_add_params* p, int32_t type_min, int32_t type_max) {
  const int64_t span = 2 * (int64_t)type_max + 1;
  const int64_t am = p->a_mult < 0 ? -(int64_t)p->a_mult : p->a_mult;
  const int64_t bm = p->b_mult < 0 ? -(int64_t)p->b_mult : p->b_mult;
  const qk__out_clamp c = qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, type_min, type_max);
  if (!qk__add_zps_inside(p, type_min, type_max)) return 0;
  if (p->shift < 0 || p->shift > 30) return 0;
  if (c.lo < INT32_MIN || c.lo > INT32_MAX || c.hi < INT32_MIN || c.hi > INT32_MAX) return 0;
  return span * (am + bm) + (p->shift > 0 ? ((int64_t)1 << (p->shift - 1)) : 0) <
         ((int64_t)1 << 31);
}

static int qk__add_fits_int64(const qk_add_params* p, int32_t type_min, int32_t type_max) {
  return qk__add_zps_inside(p, type_min, type_max) && p->shift >= 1 && p->shift <= 62;
}

/* The 32-bit form: y = clamp((a am + b bm + c) >> s, lo, hi) + zp with
 * c = 2^(s-1) - az am - bz bm and the clamp bounds relative to zp. Every partial sum is bounded
 * by the condition above, so nothing overflows. */
typedef struct {
  int32_t am, bm, c, s, lo, hi, zp;
} qk__add_int32;

static qk__add_int32 qk__make_add_int32(const qk_add_params* p, int32_t type_min,
                                        int32_t type_max) {
  const qk__out_clamp c = qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, type_min, type_max);
  qk__add_int32 k;
  k.am = p->a_mult;
  k.bm = p->b_mult;
  k.s = p->shift;
  k.c =
      (p->shift > 0 ? (int32_t)1 << (p->shift - 1) : 0) - p->a_zp * p->a_mult - p->b_zp * p->b_mult;
  k.lo = (int32_t)c.lo;
  k.hi = (int32_t)c.hi;
  k.zp = c.zp;
  return k;
}

/* Each loop in a function of its own so that the other paths' state does not crowd the
 * registers. */
#define QK_ADD_INT32_LOOP(T)                                \
  const int32_t am = k->am, bm = k->bm, c = k->c, s = k->s; \
  const int32_t lo = k->lo, hi = k->hi, zp = k->zp;         \
  int32_t i;                                                \
  for (i = 0; i < n; ++i) {                                 \
    int32_t y = (a[i] * am + b[i] * bm + c) >> s;           \
    y = y > hi ? hi : y;                                    \
    out[i] = (T)((y < lo ? lo : y) + zp);                   \
  }

static QK__NOINLINE void qk__add_s8_int32(const qk__add_int32* k, int32_t n, const int8_t* a,
                                          const int8_t* b, int8_t* out) {
  QK_ADD_INT32_LOOP(int8_t)
}

static QK__NOINLINE void qk__add_s16_int32(const qk__add_int32* k, int32_t n, const int16_t* a,
                                           const int16_t* b, int16_t* out) {
  QK_ADD_INT32_LOOP(int16_t)
}

/* The 64-bit form: t = x >> (s - 1), y = (t >> 1) + (t & 1) = shift_round(x, s). */
#define QK_ADD_INT64_LOOP(T, TMIN, TMAX)                                                     \
  const qk__out_clamp c = qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, TMIN, TMAX); \
  const int32_t am = p->a_mult, bm = p->b_mult, az = p->a_zp, bz = p->b_zp;                  \
  const int32_t s1 = p->shift - 1;                                                           \
  int32_t i;                                                                                 \
  for (i = 0; i < p->size; ++i) {                                                            \
    const int64_t t = ((int64_t)(a[i] - az) * am + (int64_t)(b[i] - bz) * bm) >> s1;         \
    int64_t y = (t >> 1) + (t & 1);                                                          \
    y = y > c.hi ? c.hi : y;                                                                 \
    out[i] = (T)((y < c.lo ? c.lo : y) + c.zp);                                              \
  }

#if QK_CONFIG_ADD_INT64
static QK__NOINLINE void qk__add_s8_int64(const qk_add_params* p, const int8_t* a, const int8_t* b,
                                          int8_t* out) {
  QK_ADD_INT64_LOOP(int8_t, INT8_MIN, INT8_MAX)
}

static QK__NOINLINE void qk__add_s16_int64(const qk_add_params* p, const int16_t* a,
                                           const int16_t* b, int16_t* out) {
  QK_ADD_INT64_LOOP(int16_t, INT16_MIN, INT16_MAX)
}
#define QK_ADD_INT64_CALL(SUFFIX, TMIN, TMAX) \
  if (qk__add_fits_int64(p, TMIN, TMAX)) {    \
    qk__add_##SUFFIX##_int64(p, a, b, out);   \
    return;                                   \
  }
#else
#define QK_ADD_INT64_CALL(SUFFIX, TMIN, TMAX)
#endif

#if QK_CONFIG_ADD_SATURATING
#define QK_ADD_GENERAL_LOOP(T, TMIN, TMAX)                               \
  const qk__out_clamp oc_clamp =                                         \
      qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, TMIN, TMAX); \
  int32_t i;                                                             \
  for (i = 0; i < p->size; ++i) {                                        \
    const int64_t ta = qk__mul_sat((int64_t)a[i] - p->a_zp, p->a_mult);  \
    const int64_t tb = qk__mul_sat((int64_t)b[i] - p->b_zp, p->b_mult);  \
    const int64_t y = qk__shift_round(qk__add_sat(ta, tb), p->shift);    \
    out[i] = (T)qk__apply_out_clamp(y, &oc_clamp);                       \
  }
#else
#define QK_ADD_GENERAL_LOOP(T, TMIN, TMAX)
#endif

#define QK_ADD_BODY(T, SUFFIX, TMIN, TMAX)                     \
  if (qk__add_fits_int32(p, TMIN, TMAX)) {                     \
    const qk__add_int32 k = qk__make_add_int32(p, TMIN, TMAX); \
    qk__add_##SUFFIX##_int32(&k, p->size, a, b, out);          \
    return;                                                    \
  }                                                            \
  QK_ADD_INT64_CALL(SUFFIX, TMIN, TMAX)                        \
  QK_ADD_GENERAL_LOOP(T, TMIN, TMAX)

int qk_add_s8_path(const qk_add_params* p) {
  return qk__add_fits_int32(p, INT8_MIN, INT8_MAX)   ? QK_ADD_PATH_INT32
         : qk__add_fits_int64(p, INT8_MIN, INT8_MAX) ? QK_ADD_PATH_INT64
                                                     : QK_ADD_PATH_SATURATING;
}

int qk_add_s16_path(const qk_add_params* p) {
  return qk__add_fits_int32(p, INT16_MIN, INT16_MAX)   ? QK_ADD_PATH_INT32
         : qk__add_fits_int64(p, INT16_MIN, INT16_MAX) ? QK_ADD_PATH_INT64
                                                       : QK_ADD_PATH_SATURATING;
}

void qk_add_s8(const qk_add_params* p, const int8_t* a, const int8_t* b, int8_t* out) {
  QK_ADD_BODY(int8_t, s8, INT8_MIN, INT8_MAX)
}

void qk_add_s16(const qk_add_params* p, const int16_t* a, const int16_t* b, int16_t* out) {
  QK_ADD_BODY(int16_t, s16, INT16_MIN, INT16_MAX)
}

void qk_clamp_s8(int32_t size, int32_t lo, int32_t hi, const int8_t* in, int8_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (int8_t)qk__clamp_type(in[i], lo, hi, INT8_MIN, INT8_MAX);
}

void qk_clamp_s16(int32_t size, int32_t lo, int32_t hi, const int16_t* in, int16_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (int16_t)qk__clamp_type(in[i], lo, hi, INT16_MIN, INT16_MAX);
}
