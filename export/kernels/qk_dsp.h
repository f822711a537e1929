/*
 * Internal header of the optimized Armv7E-M (Cortex-M4/M7/M33 with the DSP extension) int8
 * kernels (not part of the public API). See README.md, "Optimized Cortex-M kernels".
 *
 * Two parts:
 *   - scratch layout: plain C, compiled on every platform, because the host computes an export's
 *     scratch buffer with qk_*_scratch_size() (no DSP there) and the target must get what the
 *     optimized kernels need;
 *   - the DSP kernels and their helpers, only when QK_USE_DSP is defined and the compiler targets
 *     a core with the DSP extension (__ARM_FEATURE_DSP). Everywhere else the kernel files compile
 *     to nothing.
 *
 * Every optimized kernel returns 0 when it does not handle a parameter combination (the
 * dispatcher then runs the portable reference), so "bit-exact with the reference" holds for
 * every input by construction of the fallback and by test for the rest.
 */
#ifndef QK_DSP_H
#define QK_DSP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qk.h"
#include "qk_internal.h"

#if defined(QK_USE_DSP) && defined(__ARM_FEATURE_DSP)
#define QK__DSP 1
#else
#define QK__DSP 0
#endif

/* ---------------------------------------------------------------------------------------------
 * Scratch layout (every platform).
 *
 * General / grouped / 1x1 convolution: im2col of two output pixels into int16, K = k_h * k_w *
 * in_c / groups values per pixel rounded up to a multiple of 4 (Kp). The two columns are
 * interleaved by groups of four values (16 bytes: pixel 0 two words, pixel 1 two words), so the
 * matrix kernel walks one pointer and loads both pixels with two LDRD. When in_c / groups is not
 * a multiple of 4 the window is first gathered into an int8 buffer of Kp bytes (then expanded
 * four values at a time). 4 bytes of slack let the kernel align the buffer to a word: the
 * generated model passes an int16_t array, which is only guaranteed 2-byte alignment.
 *
 * Depthwise convolution (groups == in_c == out_c): the weights of four channels, widened to int16
 * and transposed to [tap][channel] (2 words per tap), 8 * k_h * k_w bytes + slack.
 *
 * Linear: no scratch (the input vector is widened on the fly, four rows at a time).
 * ------------------------------------------------------------------------------------------- */

/* Shape checks shared by the scratch size and the kernels: 0 when the optimized kernels do not
 * handle the parameters (the reference does). */
static inline int qk__dsp_conv_shape_ok(const qk_conv_params* p) {
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  if (p->in_h <= 0 || p->in_w <= 0 || p->in_c <= 0 || p->out_h <= 0 || p->out_w <= 0 ||
      p->out_c <= 0 || p->k_h <= 0 || p->k_w <= 0 || p->stride_h <= 0 || p->stride_w <= 0)
    return 0;
  if (p->in_c % groups != 0 || p->out_c % groups != 0) return 0;
  /* Windows beyond 2^20 values would not fit a sane scratch buffer (nor an MCU). */
  if ((int64_t)p->k_h * p->k_w * (p->in_c / groups) > ((int64_t)1 << 20)) return 0;
  return 1;
}

static inline int qk__dsp_conv_is_depthwise(const qk_conv_params* p) {
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  return groups == p->in_c && p->out_c == p->in_c;
}

/* Values per im2col column, rounded up to a multiple of 4. */
static inline int32_t qk__dsp_conv_kp(const qk_conv_params* p) {
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  const int32_t k = p->k_h * p->k_w * (p->in_c / groups);
  return (k + 3) & ~3;
}

static inline size_t qk__dsp_conv_s8_scratch(const qk_conv_params* p) {
  int32_t groups, kp;
  size_t bytes;
  if (!qk__dsp_conv_shape_ok(p)) return 0;
  if (qk__dsp_conv_is_depthwise(p)) return (size_t)8 * (size_t)(p->k_h * p->k_w) + 4u;
  groups = p->groups > 0 ? p->groups : 1;
  kp = qk__dsp_conv_kp(p);
  bytes = (size_t)4 * (size_t)kp + 4u; /* two interleaved int16 columns */
  if ((p->in_c / groups) % 4 != 0) bytes += (size_t)kp; /* int8 gather buffer */
  return bytes;
}

#if QK__DSP

#include <arm_acle.h>

/* The kernels (0: not handled, the caller runs the reference). */
int qk__dsp_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                    const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_dwconv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out);

/* Word access to int8 / int16 data through memcpy: no strict-aliasing violation, and GCC / clang
 * turn it into one LDR / STR (Armv7E-M loads and stores words at any alignment; the compiler only
 * pairs them into LDRD / STRD where it can prove word alignment). */
static inline int32_t qk__ld32(const void* p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void qk__st32(void* p, int32_t v) {
  memcpy(p, &v, sizeof v);
}

/* SXTB16 with its built-in rotation: bytes 1 and 3 sign-extended into the two halfwords. ACLE
 * has no intrinsic for the rotated form, and GCC 12 does not fuse a rotate into __sxtb16, so
 * without this one instruction every widened word would cost three instead of two. */
static inline int32_t qk__sxtb16_ror8(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* Byte b of word v (0 = lowest address) as a signed value. */
static inline int32_t qk__byte(int32_t v, int b) {
  return (int32_t)(int8_t)(uint8_t)((uint32_t)v >> (8 * b));
}

/* ---------------------------------------------------------------------------------------------
 * Requantization epilogue.
 *
 * The reference requantizes in 64 bits (qk__requantize + qk__apply_out_clamp). An int32
 * accumulator allows exact 32-bit shortcuts for the common parameters, chosen once per call:
 *   pow2, shift s in [1, 31]:    (acc >> s) + ((acc >> (s - 1)) & 1) is qk__shift_round(acc, s)
 *                                (the int64 of an int32 has the same low 32 bits and sign);
 *   affine, shift s in [33, 62]: |acc * mult| < 2^62 (never saturates), and with hi the upper
 *                                word of the 64-bit product, x >> s == hi >> (s - 32) and bit
 *                                s - 1 of x is bit s - 33 of hi;
 * and the clamp bounds relative to out_zp fit int32 (they do unless out_zp is absurd). Anything
 * else (negative / zero / huge shifts) takes the reference's own helpers.
 * ------------------------------------------------------------------------------------------- */

enum { QK__EPI_GENERIC = 0, QK__EPI_POW2 = 1, QK__EPI_AFFINE = 2 };

typedef struct {
  const qk_requant* rq;
  qk__out_clamp clamp; /* generic path */
  int32_t mode;
  int32_t lo, hi, zp; /* fast paths: clamp y to [lo, hi], then add zp */
} qk__epi;

static inline qk__epi qk__epi_make(const qk_requant* rq, int32_t channels, int32_t out_zp,
                                   int32_t act_min, int32_t act_max) {
  qk__epi e;
  const int32_t n = rq->per_channel ? channels : 1;
  const int32_t s_lo = rq->mult == NULL ? 1 : 33, s_hi = rq->mult == NULL ? 31 : 62;
  int32_t i;
  e.rq = rq;
  e.clamp = qk__make_out_clamp(out_zp, act_min, act_max, INT8_MIN, INT8_MAX);
  e.mode = rq->mult == NULL ? QK__EPI_POW2 : QK__EPI_AFFINE;
  for (i = 0; i < n; ++i)
    if (rq->shift[i] < s_lo || rq->shift[i] > s_hi) e.mode = QK__EPI_GENERIC;
  if (e.clamp.lo < INT32_MIN || e.clamp.hi > INT32_MAX || e.clamp.lo > INT32_MAX ||
      e.clamp.hi < INT32_MIN)
    e.mode = QK__EPI_GENERIC;
  e.lo = (int32_t)e.clamp.lo;
  e.hi = (int32_t)e.clamp.hi;
  e.zp = out_zp;
  return e;
}

/* Per output channel constants of the fast paths: shift (pow2) or mult + shift - 32 (affine). */
typedef struct {
  int32_t mult, s;
} qk__epi_ch;

static inline qk__epi_ch qk__epi_channel(const qk__epi* e, int32_t c) {
  qk__epi_ch k;
  const int32_t i = e->rq->per_channel ? c : 0;
  k.s = e->rq->shift[i];
  k.mult = 0;
  if (e->mode == QK__EPI_AFFINE) {
    k.mult = e->rq->mult[i];
    k.s -= 32;
  }
  return k;
}

static inline int8_t qk__epi_clamp(const qk__epi* e, int32_t y) {
  if (y > e->hi) y = e->hi;
  if (y < e->lo) y = e->lo;
  return (int8_t)(y + e->zp);
}

static inline int8_t qk__epi_pow2(const qk__epi* e, const qk__epi_ch* k, int32_t acc) {
  return qk__epi_clamp(e, (acc >> k->s) + ((acc >> (k->s - 1)) & 1));
}

static inline int8_t qk__epi_affine(const qk__epi* e, const qk__epi_ch* k, int32_t acc) {
  const int32_t hi = (int32_t)(((int64_t)acc * k->mult) >> 32);
  return qk__epi_clamp(e, (hi >> k->s) + ((hi >> (k->s - 1)) & 1));
}

static inline int8_t qk__epi_generic(const qk__epi* e, int32_t acc, int32_t c) {
  return (int8_t)qk__apply_out_clamp(qk__requantize((int64_t)acc, e->rq, c), &e->clamp);
}

/* One output; the block kernels hoist the mode test out of their loops instead. */
static inline int8_t qk__epi_one(const qk__epi* e, int32_t acc, int32_t c) {
  qk__epi_ch k;
  if (e->mode == QK__EPI_GENERIC) return qk__epi_generic(e, acc, c);
  k = qk__epi_channel(e, c);
  return e->mode == QK__EPI_POW2 ? qk__epi_pow2(e, &k, acc) : qk__epi_affine(e, &k, acc);
}

#endif /* QK__DSP */

#endif /* QK_DSP_H */
