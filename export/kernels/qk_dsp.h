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
 * dispatcher in qk_dispatch.c, which also chooses between them, then runs the portable
 * reference), so "bit-exact with the reference" holds for every input by construction of the
 * fallback and by test for the rest.
 */
#ifndef QK_DSP_H
#define QK_DSP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qk.h"
#include "qk_config.h"
#include "qk_internal.h"

#if defined(QK_USE_DSP) && defined(__ARM_FEATURE_DSP)
#define QK__DSP 1
#else
#define QK__DSP 0
#endif

/* ---------------------------------------------------------------------------------------------
 * Scratch layout (every platform).
 *
 * General / grouped / 1x1 convolution (qk_conv_s8_dsp.c), from the 8-byte aligned start:
 *   col   12 * Kp bytes  im2col of six output pixels, K = k_h * k_w * in_c / groups values per
 *                        pixel widened to int16, Kp = K rounded up to a multiple of 4, the six
 *                        columns interleaved by groups of four values (48 bytes per group);
 *   tab   12 * 64        per output channel of a chunk of up to 64 channels: bias - in_zp *
 *                        sum(weights) (the zero-point term), requantization multiplier, shift;
 *   tmp   6 * 64         outputs of the last, partial block of pixels;
 *   gb    Kp             int8 gather buffer, only when in_c / groups is not a multiple of 4;
 * (tab and tmp shrink to the channel count when it is below 64) plus 8 bytes of slack to align
 * the start: the generated model passes an int16_t array, which is only guaranteed 2-byte
 * alignment.
 *
 * Depthwise convolution (groups == in_c == out_c) with k_w == 3 and stride_w 1
 * (qk_dw3_s8_dsp.c): the int32 accumulators of one output row, the weight table of one channel
 * and k_h planar int16 input rows (qk__dsp_dw3_bytes), plus the slack. Other depthwise shapes
 * (qk_dw_s8_dsp.c): the weights of four channels widened and transposed to
 * [tap][(c, c+2), (c+1, c+3)], 8 * k_h * k_w bytes, plus the slack.
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

/* What both optimized convolutions need besides the shape: an input zero point inside int8 (it
 * is widened next to int8 data) and a scratch buffer. */
static inline int qk__dsp_conv_ok(const qk_conv_params* p, const void* scratch) {
  return qk__dsp_conv_shape_ok(p) && p->in_zp >= INT8_MIN && p->in_zp <= INT8_MAX &&
         scratch != NULL;
}

/* What the optimized fully connected kernels need: positive sizes and an input zero point inside
 * int8. */
static inline int qk__dsp_linear_s8_ok(const qk_linear_params* p) {
  return p->in_features > 0 && p->out_features > 0 && p->in_zp >= INT8_MIN && p->in_zp <= INT8_MAX;
}

/* What the int16 kernels need (qk_conv_s16_dsp.c): an input zero point of 0 (a padded value is
 * then 0, and x - zp needs no 17th bit), positive sizes, and for the convolution a scratch
 * buffer. */
static inline int qk__dsp_conv_s16_ok(const qk_conv_params* p, const void* scratch) {
  return qk__dsp_conv_shape_ok(p) && p->in_zp == 0 && scratch != NULL;
}

static inline int qk__dsp_linear_s16_ok(const qk_linear_params* p) {
  return p->in_features > 0 && p->out_features > 0 && p->in_zp == 0;
}

/* Values per im2col column, rounded up to a multiple of 4. */
static inline int32_t qk__dsp_conv_kp(const qk_conv_params* p) {
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  const int32_t k = p->k_h * p->k_w * (p->in_c / groups);
  return (k + 3) & ~3;
}

#define QK__DSP_SLACK 8u

/* Output channels per chunk (per-channel table size), output pixels per block. */
#define QK__DSP_CHUNK 64
#define QK__DSP_NPX 6

/* Depthwise with 3-wide kernels (qk_dw3_s8_dsp.c): stride_w 1 (stride 2: the four-channel
 * kernel is faster), at most QK__DW3_MAX_KH kernel rows (the ring holds k_h rows and the
 * weight tables k_h rotations: the bound keeps the scratch small) and
 * at least two blocks of four output pixels per row (narrower rows: the four-channel kernel,
 * whose per-row and per-channel costs are lower: 6.50 against 6.74 instructions per MAC at 6x6,
 * 5.89 against 4.93 the other way at 8x8). */
#define QK__DW3_MAX_KH 7

static inline int qk__dsp_dw3_shape(const qk_conv_params* p) {
  return qk__dsp_conv_is_depthwise(p) && p->k_w == 3 && p->stride_w == 1 &&
         p->k_h <= QK__DW3_MAX_KH && p->out_w >= 8;
}

/* Positions per row buffer: the last block of four pixels reads up to position
 * 4 ceil(out_w / 4) + 1; whole groups of four positions. */
static inline int32_t qk__dsp_dw3_row_len(const qk_conv_params* p) {
  return 4 * ((p->out_w + 3) / 4) + 4;
}

/* Scratch of the 3-wide kernel without the slack: the accumulators of one output row (four per
 * block), the k_h rotations of the weight table (three words per kernel row; padded to 8 bytes)
 * and the k_h row buffers of int16. */
static inline size_t qk__dsp_dw3_bytes(const qk_conv_params* p) {
  const size_t blocks = (size_t)((p->out_w + 3) / 4);
  return 16 * blocks + 4 * (size_t)(3 * p->k_h * p->k_h + (p->k_h & 1)) +
         2 * (size_t)p->k_h * (size_t)qk__dsp_dw3_row_len(p);
}

/* The 3-wide depthwise kernel: its shape and what every optimized convolution needs. */
static inline int qk__dsp_dw3_ok(const qk_conv_params* p, const void* scratch) {
  return qk__dsp_dw3_shape(p) && qk__dsp_conv_ok(p, scratch);
}

static inline size_t qk__dsp_conv_s8_scratch(const qk_conv_params* p) {
  int32_t groups, kp, ch;
  size_t bytes;
  if (!qk__dsp_conv_shape_ok(p)) return 0;
  if (qk__dsp_dw3_shape(p)) return qk__dsp_dw3_bytes(p) + QK__DSP_SLACK;
  if (qk__dsp_conv_is_depthwise(p)) return (size_t)8 * (size_t)(p->k_h * p->k_w) + QK__DSP_SLACK;
  groups = p->groups > 0 ? p->groups : 1;
  kp = qk__dsp_conv_kp(p);
  ch = p->out_c / groups < QK__DSP_CHUNK ? p->out_c / groups : QK__DSP_CHUNK;
  bytes = (size_t)(2 * QK__DSP_NPX) * (size_t)kp + (size_t)(12 + QK__DSP_NPX) * (size_t)ch;
  if ((p->in_c / groups) % 4 != 0) bytes += (size_t)kp;
  return bytes + QK__DSP_SLACK;
}

/* Packed 4-bit / 2-bit weights (qk_conv_s8_w4 / _w2): the int8 layout plus room to unpack the
 * weights the kernels read: one window row of K values (rounded up to 4) for the im2col kernel,
 * the 4 k_h k_w taps of a block of four channels for the depthwise kernel. */
static inline size_t qk__dsp_conv_s8_packed_scratch(const qk_conv_params* p) {
  const size_t base = qk__dsp_conv_s8_scratch(p);
  if (base == 0) return 0;
  if (qk__dsp_dw3_shape(p)) return base + (size_t)(3 * p->k_h);
  if (qk__dsp_conv_is_depthwise(p)) return base + (size_t)4 * (size_t)(p->k_h * p->k_w);
  return base + (size_t)qk__dsp_conv_kp(p);
}

/* int16 convolution (qk_conv_s16_dsp.c): the windows of two output pixels as int16 columns of
 * K = k_h k_w in_c / groups values each (K rounded up to even), plus the slack. */
static inline size_t qk__dsp_conv_s16_scratch(const qk_conv_params* p) {
  size_t k;
  if (!qk__dsp_conv_shape_ok(p)) return 0;
  k = (size_t)p->k_h * (size_t)p->k_w * (size_t)(p->in_c / (p->groups > 0 ? p->groups : 1));
  return 2 * (k + (k & 1)) * sizeof(int16_t) + QK__DSP_SLACK;
}

/* The scratch start aligned to 8 bytes (QK__DSP_SLACK covers the shift). */
static inline uint8_t* qk__dsp_align8(void* scratch) {
  return (uint8_t*)(((uintptr_t)scratch + 7u) & ~(uintptr_t)7u);
}

/* ---------------------------------------------------------------------------------------------
 * Requantization epilogue.
 *
 * The reference requantizes in 64 bits (qk__requantize + qk__apply_out_clamp). An int32
 * accumulator allows exact 32-bit shortcuts for the usual parameters, chosen once per call.
 * With t = floor(x / 2^(s-1)), round-half-up of x / 2^s is floor((t + 1) / 2), so:
 *   pow2,   shift s in [2, 31]:  y = ((acc >> (s - 1)) + 1) >> 1   (t + 1 cannot overflow);
 *   affine, shift s in [33, 62]: the 64-bit product x = acc * mult has |x| <= 2^62 (never
 *                                saturates); with hi = x >> 32 (one SMULL), x >> (s - 1) ==
 *                                hi >> (s - 33), so y = ((hi >> (s - 33)) + 1) >> 1;
 * and the clamp: y + out_zp saturated with one SSAT #8 when [act_min, act_max] covers int8, one
 * USAT #7 for [0, 127] (a ReLU at out_zp 0), else two compares on y (the reference's order).
 * |y| <= 2^29 and |out_zp| < 2^30 keep y + out_zp exact. Anything else (negative, zero, one or
 * huge shifts, absurd zero points) takes the reference's own helpers, per call. The kind is
 * chosen by plain C (every platform: exporters ask through qk_s8_epilogue_kind); qk_config.h
 * switches off the fast kinds a model does not use, which then take the generic path (still
 * exact, only slower).
 * ------------------------------------------------------------------------------------------- */

enum { QK__RQ_GENERIC = 0, QK__RQ_POW2 = 1, QK__RQ_AFFINE = 2 };
enum { QK__CL_RANGE = 0, QK__CL_S8 = 1, QK__CL_U7 = 2 };
/* Combined kinds, for switch statements over the specialised epilogues. */
enum {
  QK__EPI_GENERIC = QK_EPI_GENERIC,
  QK__EPI_POW2_RANGE = QK_EPI_POW2_RANGE,
  QK__EPI_POW2_S8 = QK_EPI_POW2_S8,
  QK__EPI_POW2_U7 = QK_EPI_POW2_U7,
  QK__EPI_AFFINE_RANGE = QK_EPI_AFFINE_RANGE,
  QK__EPI_AFFINE_S8 = QK_EPI_AFFINE_S8,
  QK__EPI_AFFINE_U7 = QK_EPI_AFFINE_U7
};

typedef struct {
  const qk_requant* rq;
  qk__out_clamp clamp; /* generic path */
  int32_t kind;        /* QK__EPI_* */
  int32_t lo, hi, zp;  /* QK__CL_RANGE: clamp y to [lo, hi], then add zp */
} qk__epi;

static inline qk__epi qk__epi_make(const qk_requant* rq, int32_t channels, int32_t out_zp,
                                   int32_t act_min, int32_t act_max) {
  qk__epi e;
  const int32_t n = rq->per_channel ? channels : 1;
  const int32_t s_lo = rq->mult == NULL ? 2 : 33, s_hi = rq->mult == NULL ? 31 : 62;
  const int32_t lo = act_min > INT8_MIN ? act_min : INT8_MIN;
  const int32_t hi = act_max < INT8_MAX ? act_max : INT8_MAX;
  int32_t i, mode, clamp;
  e.rq = rq;
  e.clamp = qk__make_out_clamp(out_zp, act_min, act_max, INT8_MIN, INT8_MAX);
  e.zp = out_zp;
  e.lo = e.hi = 0;
  mode = rq->mult == NULL ? QK__RQ_POW2 : QK__RQ_AFFINE;
  for (i = 0; i < n; ++i)
    if (rq->shift[i] < s_lo || rq->shift[i] > s_hi) mode = QK__RQ_GENERIC;
  /* |out_zp| < 2^30 keeps y + out_zp and the relative bounds within int32. */
  if (out_zp <= -(1 << 30) || out_zp >= (1 << 30)) mode = QK__RQ_GENERIC;
  if (mode == QK__RQ_GENERIC) {
    e.kind = QK__EPI_GENERIC;
    return e;
  }
  e.lo = (int32_t)e.clamp.lo;
  e.hi = (int32_t)e.clamp.hi;
  clamp = lo == INT8_MIN && hi == INT8_MAX ? QK__CL_S8
          : lo == 0 && hi == INT8_MAX      ? QK__CL_U7
                                           : QK__CL_RANGE;
  e.kind = 3 * mode + clamp;
  return e;
}

#if QK__DSP

#include <arm_acle.h>

/* The hot loops (a group of the matrix kernel, the widening of a column, a depthwise kernel
 * row) are GNU inline asm of the same DSP instructions as the ACLE versions next to them: GCC 12
 * compiles the intrinsic matrix kernel to 37-42 instead of 32 instructions per 32 MACs (register
 * spills in the unrolled loop, LDRD split into two LDR, no post-increment addressing); the asm
 * pins the instruction selection, the compiler still allocates registers and runs the loops.
 * The intrinsic versions are used when QK_DSP_NO_ASM is defined (compilers without GNU asm; the
 * emulator test checks both) and without optimization: at -O0 the 12 register operands of the
 * matrix kernel do not fit next to what GCC reserves. */
#if !defined(QK_DSP_NO_ASM) && (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__)
#define QK__DSP_ASM 1
#else
#define QK__DSP_ASM 0
#endif

/* The kernels (0: not handled, the caller runs the reference). */
int qk__dsp_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                    const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_dwconv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_dw3_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out);
/* int16 activations and weights (qk_conv_s16_dsp.c); input zero point 0. */
int qk__dsp_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w,
                     const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);
int qk__dsp_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                       const int32_t* bias, const qk_requant* rq, int16_t* out);
/* The same with packed `bits`-bit weights (4 or 2). */
int qk__dsp_conv_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                           int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
                           void* scratch);
int qk__dsp_dwconv_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                             int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
                             void* scratch);
int qk__dsp_dw3_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w, int32_t bits,
                          const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);
int qk__dsp_linear_s8_packed(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                             int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out);

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

/* ---------------------------------------------------------------------------------------------
 * Unpacking of packed 4-bit / 2-bit weights into int8, in order (qk.h, "Packed weights"). The
 * sub-byte kernels unpack what they are about to use into the scratch buffer and run the int8
 * kernels on it: a window row per block of six pixels (im2col conv), the taps of four channels
 * once per call (depthwise), a chunk of four rows (linear).
 *
 * A word of packed values is spread into bytes without a lookup table; 4-bit, per half-word of
 * four nibbles e3 e2 e1 e0 (e0 lowest):
 *   t = (x | x << 8) & 0x00FF00FF     bytes (e1 e0, 0, e3 e2, 0)
 *   t = (t | t << 4) & 0x0F0F0F0F     bytes (e0, e1, e2, e3), unsigned
 *   USUB8(t ^ 0x08080808, 0x08080808) sign-extends each byte (v ^ 8) - 8 without borrows
 * 2-bit, per byte of four crumbs: t = (x | x << 12) & 0x000F000F, t = (t | t << 6) &
 * 0x03030303, then USUB8(t ^ 0x02020202, 0x02020202). About two instructions per weight.
 * Words are only loaded where all four bytes belong to the values asked for (no read beyond the
 * weight array); the head up to a byte boundary and the tail are unpacked one by one.
 * ------------------------------------------------------------------------------------------- */

static inline int32_t qk__spread_w4(uint32_t x) {
  uint32_t t = (x | (x << 8)) & 0x00FF00FFu;
  t = (t | (t << 4)) & 0x0F0F0F0Fu;
  return (int32_t)__usub8(t ^ 0x08080808u, 0x08080808u);
}

static inline int32_t qk__spread_w2(uint32_t x) {
  uint32_t t = (x | (x << 12)) & 0x000F000Fu;
  t = (t | (t << 6)) & 0x03030303u;
  return (int32_t)__usub8(t ^ 0x02020202u, 0x02020202u);
}

/* dst[0..n) = values first .. first + n - 1 of the packed stream w (bits 4 or 2). */
static inline void qk__dsp_unpack(const uint8_t* w, int32_t first, int32_t n, int32_t bits,
                                  int8_t* dst) {
  int32_t i = 0;
  if (bits == 4) {
    if ((first & 1) && n > 0) {
      dst[i++] = (int8_t)qk__w4_at(w, first);
    }
    {
      const uint8_t* src = w + ((first + i) >> 1);
      for (; i + 8 <= n; i += 8, src += 4) {
        const uint32_t x = (uint32_t)qk__ld32(src);
        qk__st32(dst + i, qk__spread_w4(x & 0xFFFFu));
        qk__st32(dst + i + 4, qk__spread_w4(x >> 16));
      }
    }
    for (; i < n; ++i) dst[i] = (int8_t)qk__w4_at(w, first + i);
  } else {
    for (; ((first + i) & 3) && i < n; ++i) dst[i] = (int8_t)qk__w2_at(w, first + i);
    {
      const uint8_t* src = w + ((first + i) >> 2);
      for (; i + 16 <= n; i += 16, src += 4) {
        const uint32_t x = (uint32_t)qk__ld32(src);
        qk__st32(dst + i, qk__spread_w2(x & 0xFFu));
        qk__st32(dst + i + 4, qk__spread_w2((x >> 8) & 0xFFu));
        qk__st32(dst + i + 8, qk__spread_w2((x >> 16) & 0xFFu));
        qk__st32(dst + i + 12, qk__spread_w2(x >> 24));
      }
    }
    for (; i < n; ++i) dst[i] = (int8_t)qk__w2_at(w, first + i);
  }
}

/* Per output channel constants of the fast paths. */
typedef struct {
  int32_t mult, s1; /* s1: shift - 1 (pow2) or shift - 33 (affine) */
} qk__epi_ch;

static inline qk__epi_ch qk__epi_channel(const qk__epi* e, int32_t c) {
  qk__epi_ch k;
  const int32_t i = e->rq->per_channel ? c : 0;
  if (e->rq->mult != NULL) {
    k.mult = e->rq->mult[i];
    k.s1 = e->rq->shift[i] - 33;
  } else {
    k.mult = 0;
    k.s1 = e->rq->shift[i] - 1;
  }
  return k;
}

/* One output of the fast paths; mode / clamp are compile-time constants at every call. */
static inline __attribute__((always_inline)) int8_t qk__epi_fast(const qk__epi* e,
                                                                 const qk__epi_ch* k, int32_t acc,
                                                                 const int mode, const int clamp) {
  const int32_t x = mode == QK__RQ_AFFINE ? (int32_t)(((int64_t)acc * k->mult) >> 32) : acc;
  int32_t y = ((x >> k->s1) + 1) >> 1;
  if (clamp == QK__CL_S8) return (int8_t)__ssat(y + e->zp, 8);
  if (clamp == QK__CL_U7) return (int8_t)__usat(y + e->zp, 7);
  if (y > e->hi) y = e->hi;
  if (y < e->lo) y = e->lo;
  return (int8_t)(y + e->zp);
}

/* The reference's own requantization (slow path; one out-of-line copy in qk_conv_s8_dsp.c). */
int8_t qk__epi_generic(const qk__epi* e, int32_t acc, int32_t c);
/* Linked only when some call of the model needs it (QK_CONFIG_EPI_GENERIC): without it a call of
 * the generic kind would output 0, which the exporter's qk_config.h rules out. */
#if QK_CONFIG_EPI_GENERIC
#define QK__EPI_GENERIC_CALL(e, acc, c) qk__epi_generic(e, acc, c)
#else
#define QK__EPI_GENERIC_CALL(e, acc, c) ((void)(e), (void)(acc), (void)(c), (int8_t)0)
#endif

/* The cases of a switch over the fast epilogue kinds: BODY(mode, clamp) for each kind qk_config.h
 * keeps, then `break` (the caller adds the default: the generic epilogue). */
#if QK_CONFIG_EPI_POW2_RANGE
#define QK__EPI_CASE_POW2_RANGE(BODY) \
  case QK__EPI_POW2_RANGE:            \
    BODY(QK__RQ_POW2, QK__CL_RANGE);  \
    break;
#else
#define QK__EPI_CASE_POW2_RANGE(BODY)
#endif
#if QK_CONFIG_EPI_POW2_S8
#define QK__EPI_CASE_POW2_S8(BODY) \
  case QK__EPI_POW2_S8:            \
    BODY(QK__RQ_POW2, QK__CL_S8);  \
    break;
#else
#define QK__EPI_CASE_POW2_S8(BODY)
#endif
#if QK_CONFIG_EPI_POW2_U7
#define QK__EPI_CASE_POW2_U7(BODY) \
  case QK__EPI_POW2_U7:            \
    BODY(QK__RQ_POW2, QK__CL_U7);  \
    break;
#else
#define QK__EPI_CASE_POW2_U7(BODY)
#endif
#if QK_CONFIG_EPI_AFFINE_RANGE
#define QK__EPI_CASE_AFFINE_RANGE(BODY) \
  case QK__EPI_AFFINE_RANGE:            \
    BODY(QK__RQ_AFFINE, QK__CL_RANGE);  \
    break;
#else
#define QK__EPI_CASE_AFFINE_RANGE(BODY)
#endif
#if QK_CONFIG_EPI_AFFINE_S8
#define QK__EPI_CASE_AFFINE_S8(BODY) \
  case QK__EPI_AFFINE_S8:            \
    BODY(QK__RQ_AFFINE, QK__CL_S8);  \
    break;
#else
#define QK__EPI_CASE_AFFINE_S8(BODY)
#endif
#if QK_CONFIG_EPI_AFFINE_U7
#define QK__EPI_CASE_AFFINE_U7(BODY) \
  case QK__EPI_AFFINE_U7:            \
    BODY(QK__RQ_AFFINE, QK__CL_U7);  \
    break;
#else
#define QK__EPI_CASE_AFFINE_U7(BODY)
#endif
#define QK__EPI_FAST_CASES(BODY)  \
  QK__EPI_CASE_POW2_RANGE(BODY)   \
  QK__EPI_CASE_POW2_S8(BODY)      \
  QK__EPI_CASE_POW2_U7(BODY)      \
  QK__EPI_CASE_AFFINE_RANGE(BODY) \
  QK__EPI_CASE_AFFINE_S8(BODY)    \
  QK__EPI_CASE_AFFINE_U7(BODY)

/* One output, any kind (scalar tails; the block kernels switch once per channel instead). */
static inline int8_t qk__epi_one(const qk__epi* e, int32_t acc, int32_t c) {
  qk__epi_ch k;
  if (e->kind == QK__EPI_GENERIC) return QK__EPI_GENERIC_CALL(e, acc, c);
  k = qk__epi_channel(e, c);
  (void)k; /* unused when qk_config.h switches every fast kind off */
#define QK__EPI_ONE(mode, clamp) return qk__epi_fast(e, &k, acc, mode, clamp)
  switch (e->kind) {
    QK__EPI_FAST_CASES(QK__EPI_ONE)
    default:
      return QK__EPI_GENERIC_CALL(e, acc, c);
  }
#undef QK__EPI_ONE
}

/* Requantizes the accumulators a0..a3 of channel c (constants k) into o[0], o[os], o[2 os],
 * o[3 os]. The switch over the kind costs one table branch per four outputs; each case is a
 * straight line of 4-5 instructions per output plus the store. (Specialising whole loops per
 * kind instead saves ~10 instructions per four outputs for 2.4 KB more code.) */
static inline __attribute__((always_inline)) void qk__epi_store4(const qk__epi* e,
                                                                 const qk__epi_ch* k, int32_t c,
                                                                 int32_t a0, int32_t a1, int32_t a2,
                                                                 int32_t a3, int8_t* o,
                                                                 int32_t os) {
  (void)k; /* unused when qk_config.h switches every fast kind off */
  (void)a0, (void)a1, (void)a2, (void)a3, (void)o, (void)os, (void)c;
#define QK__STORE4(mode, clamp)                      \
  do {                                               \
    o[0] = qk__epi_fast(e, k, a0, mode, clamp);      \
    o[os] = qk__epi_fast(e, k, a1, mode, clamp);     \
    o[2 * os] = qk__epi_fast(e, k, a2, mode, clamp); \
    o[3 * os] = qk__epi_fast(e, k, a3, mode, clamp); \
  } while (0)
  switch (e->kind) {
    QK__EPI_FAST_CASES(QK__STORE4)
    default:
      o[0] = QK__EPI_GENERIC_CALL(e, a0, c);
      o[os] = QK__EPI_GENERIC_CALL(e, a1, c);
      o[2 * os] = QK__EPI_GENERIC_CALL(e, a2, c);
      o[3 * os] = QK__EPI_GENERIC_CALL(e, a3, c);
      break;
  }
#undef QK__STORE4
}

/* The same for two accumulators (o[0], o[os]). */
static inline __attribute__((always_inline)) void qk__epi_store2(const qk__epi* e,
                                                                 const qk__epi_ch* k, int32_t c,
                                                                 int32_t a0, int32_t a1, int8_t* o,
                                                                 int32_t os) {
  (void)k; /* unused when qk_config.h switches every fast kind off */
  (void)a0, (void)a1, (void)o, (void)os, (void)c;
#define QK__STORE2(mode, clamp)                  \
  do {                                           \
    o[0] = qk__epi_fast(e, k, a0, mode, clamp);  \
    o[os] = qk__epi_fast(e, k, a1, mode, clamp); \
  } while (0)
  switch (e->kind) {
    QK__EPI_FAST_CASES(QK__STORE2)
    default:
      o[0] = QK__EPI_GENERIC_CALL(e, a0, c);
      o[os] = QK__EPI_GENERIC_CALL(e, a1, c);
      break;
  }
#undef QK__STORE2
}

#endif /* QK__DSP */

#endif /* QK_DSP_H */
