/*
 * Internal helpers of the qk kernel library (not part of the public API).
 *
 * Everything here is integer-only C99 without undefined behaviour: no left shift of negative
 * values (multiply instead), no signed overflow (64-bit intermediates, saturating products).
 */
#ifndef QK_INTERNAL_H
#define QK_INTERNAL_H

#include <stdint.h>

#include "qk.h"

/* The rounding rule relies on an arithmetic right shift of negative values (implementation
 * defined in C99): refuse to compile where it does not hold. */
typedef char qk__arithmetic_shift_check
    [((-1 >> 1) == -1 && ((int64_t)-1 >> 1) == -1 && ((int64_t)-5 >> 1) == -3) ? 1 : -1];

#define QK__2P32 ((int64_t)4294967296) /* 2^32 */

/* Keeps a hot loop in a function of its own (its own register allocation) where the compiler
 * would inline it into a caller with many live values. */
#if defined(__GNUC__) || defined(__clang__)
#define QK__NOINLINE __attribute__((noinline))
#else
#define QK__NOINLINE
#endif

/* Round-half-up shift (see qk_shift_round). */
static inline int64_t qk__shift_round(int64_t x, int32_t shift) {
  if (shift > 0) {
    if (shift >= 63) return 0;
    /* floor((x + 2^(s-1)) / 2^s) without the overflowing addition: with x = q 2^s + r,
     * 0 <= r < 2^s, the result is q + (r >= 2^(s-1)), and bit s-1 of x tells the latter. */
    return (x >> shift) + ((x >> (shift - 1)) & 1);
  }
  if (shift == 0) return x;
  {
    /* Exact left shift: clamp to [-2^32, 2^32] first (saturates every output type anyway) and
     * cap the shift at 30, so the product stays below 2^62. */
    const int32_t k = shift < -30 ? 30 : -shift;
    if (x > QK__2P32) x = QK__2P32;
    if (x < -QK__2P32) x = -QK__2P32;
    return x * ((int64_t)1 << k);
  }
}

/* a * b, saturated to [-INT64_MAX, INT64_MAX] instead of overflowing. */
static inline int64_t qk__mul_sat(int64_t a, int32_t b) {
  int64_t lim;
  int64_t bb;
  /* |a| < 2^32 and |b| <= 2^31: |a * b| < 2^63, the fast and common path. */
  if (a > -QK__2P32 && a < QK__2P32) return a * b;
  if (b == 0) return 0;
  bb = b < 0 ? -(int64_t)b : (int64_t)b;
  lim = INT64_MAX / bb;
  if (a > lim || a < -lim) return ((a < 0) != (b < 0)) ? -INT64_MAX : INT64_MAX;
  return a * b;
}

/* a + b, saturated to [-INT64_MAX, INT64_MAX] instead of overflowing. */
static inline int64_t qk__add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < -INT64_MAX - b) return -INT64_MAX;
  return a + b;
}

/* Requantization of one accumulator for output channel `channel` (see qk_requantize). */
static inline int64_t qk__requantize(int64_t acc, const qk_requant* rq, int32_t channel) {
  const int32_t i = rq->per_channel ? channel : 0;
  if (rq->mult == NULL) return qk__shift_round(acc, rq->shift[i]);
  return qk__shift_round(qk__mul_sat(acc, rq->mult[i]), rq->shift[i]);
}

/* Output clamp bounds relative to the zero point: y is clamped to [lo, hi] before out_zp is added
 * (no overflow however large y is). The type range is enforced as well, so an act_min/act_max
 * outside the output type still saturates to the type. */
typedef struct {
  int64_t lo, hi; /* bounds on (y) before adding zp */
  int32_t zp;
} qk__out_clamp;

static inline qk__out_clamp qk__make_out_clamp(int32_t zp, int32_t act_min, int32_t act_max,
                                               int32_t type_min, int32_t type_max) {
  qk__out_clamp c;
  const int32_t lo = act_min > type_min ? act_min : type_min;
  const int32_t hi = act_max < type_max ? act_max : type_max;
  c.lo = (int64_t)lo - zp;
  c.hi = (int64_t)hi - zp;
  c.zp = zp;
  return c;
}

static inline int32_t qk__apply_out_clamp(int64_t y, const qk__out_clamp* c) {
  if (y > c->hi) y = c->hi;
  if (y < c->lo) y = c->lo;
  return (int32_t)(y + c->zp);
}

/* Plain clamp to [lo, hi] intersected with the type range [type_min, type_max]. */
static inline int32_t qk__clamp_type(int64_t v, int32_t lo, int32_t hi, int32_t type_min,
                                     int32_t type_max) {
  if (lo < type_min) lo = type_min;
  if (hi > type_max) hi = type_max;
  if (v > hi) v = hi;
  if (v < lo) v = lo;
  return (int32_t)v;
}

/* Round-half-up mean floor((2 sum + count) / (2 count)) with floor division; count > 0. */
static inline int32_t qk__rounded_mean32(int32_t sum, int32_t count) {
  const int32_t num = 2 * sum + count, den = 2 * count;
  int32_t q = num / den;
  if (num % den != 0 && num < 0) --q;
  return q;
}

static inline int64_t qk__rounded_mean64(int64_t sum, int64_t count) {
  const int64_t num = 2 * sum + count, den = 2 * count;
  int64_t q = num / den;
  if (num % den != 0 && num < 0) --q;
  return q;
}

/* Packed sub-byte weights (qk.h, "Packed weights"): element i of a little-endian stream of
 * `bits`-bit two's complement values, the first in the lowest bits of byte 0. */
static inline int32_t qk__w4_at(const uint8_t* w, int32_t i) {
  return (int32_t)((((uint32_t)w[i >> 1] >> ((uint32_t)(i & 1) << 2)) & 15u) ^ 8u) - 8;
}

static inline int32_t qk__w2_at(const uint8_t* w, int32_t i) {
  return (int32_t)((((uint32_t)w[i >> 2] >> ((uint32_t)(i & 3) << 1)) & 3u) ^ 2u) - 2;
}

/* Weight access of the kernel templates (qk_conv.inc, qk_linear.inc). */
#define QK_W_PLAIN(w, i) ((w)[i])
#define QK_W_PACKED4(w, i) qk__w4_at((w), (i))
#define QK_W_PACKED2(w, i) qk__w2_at((w), (i))

#endif /* QK_INTERNAL_H */
