/*
 * Optimized int8 convolution for Armv7E-M (Cortex-M4/M7/M33): im2col + 2x2 SMLAD matrix kernel.
 * Selected by qk_conv_s8 (qk_dispatch.c) when built with QK_USE_DSP for a core with the DSP
 * extension; compiles to nothing elsewhere. Bit-identical to qk_ref_conv_s8 (see qk_dsp.h).
 *
 * Scheme, per pair of output pixels (raster order) and group:
 *   1. im2col: the two receptive fields (k_h x k_w x in_c/groups values each, padded positions
 *      as in_zp) are widened to int16 with in_zp subtracted, so padding becomes 0 and the inner
 *      loop has no zero-point term. |x - in_zp| <= 255 fits an int16 lane exactly. Each group of
 *      four consecutive values x0..x3 is stored as the words (x0, x2) and (x1, x3), which is the
 *      lane order SXTB16 / SXTB16 ROR #8 produce from a word of four int8 weights: the weights
 *      need no reordering, the columns are built with the same two instructions.
 *   2. matrix kernel: two output channels x two pixels in four int32 accumulators; per four
 *      values, two LDRD (both pixels' columns are interleaved), two LDR (the weight rows), four
 *      SXTB16 and eight SMLAD: 16 instructions for 16 MACs, unrolled twice.
 *   3. epilogue: the reference's requantization with 32-bit shortcuts (qk_dsp.h).
 * The widening of a column is shared by all output channels of the group, the widening of the
 * weights by the two pixels.
 *
 * Accumulation order differs from the reference, which is exact: SMLAD adds modulo 2^32 and the
 * exporter guarantees that the worst case of every partial sum fits int32, so the final sum
 * equals the reference's.
 *
 * 1x1 convolutions (and any layer whose in_c / groups is a multiple of 4) take the direct
 * im2col: whole rows of the window are contiguous channels and are widened word by word. Other
 * channel counts (e.g. the 3 of an RGB input) gather the window into an int8 buffer first.
 */
#include "qk_dsp.h"

#if QK__DSP

/* One group of four values of both columns: 16 bytes. */
#define QK__COL_GROUP 16

/* Widens the word x = four int8 values into the column lane order, minus the zero point. */
static inline void qk__widen4(uint8_t* dst, int32_t x, int32_t zp2) {
  qk__st32(dst, __ssub16(__sxtb16(x), zp2));
  qk__st32(dst + 4, __ssub16(qk__sxtb16_ror8(x), zp2));
}

static inline uint8_t* qk__col_zero(uint8_t* dst, int32_t groups) {
  for (; groups > 0; --groups, dst += QK__COL_GROUP) {
    qk__st32(dst, 0);
    qk__st32(dst + 4, 0);
  }
  return dst;
}

/* Widens 4 * groups contiguous int8 values. */
static inline uint8_t* qk__col_run(uint8_t* dst, const int8_t* src, int32_t groups, int32_t zp2) {
  if (zp2 == 0) {
    for (; groups >= 2; groups -= 2, src += 8, dst += 2 * QK__COL_GROUP) {
      const int32_t x0 = qk__ld32(src), x1 = qk__ld32(src + 4);
      qk__st32(dst, __sxtb16(x0));
      qk__st32(dst + 4, qk__sxtb16_ror8(x0));
      qk__st32(dst + QK__COL_GROUP, __sxtb16(x1));
      qk__st32(dst + QK__COL_GROUP + 4, qk__sxtb16_ror8(x1));
    }
  } else {
    for (; groups >= 2; groups -= 2, src += 8, dst += 2 * QK__COL_GROUP) {
      qk__widen4(dst, qk__ld32(src), zp2);
      qk__widen4(dst + QK__COL_GROUP, qk__ld32(src + 4), zp2);
    }
  }
  if (groups > 0) {
    qk__widen4(dst, qk__ld32(src), zp2);
    dst += QK__COL_GROUP;
  }
  return dst;
}

/* Window geometry of one output pixel: the kernel columns [kx_lo, kx_hi) fall inside the input
 * (possibly none). */
typedef struct {
  int32_t iy0, ix0, kx_lo, kx_hi;
} qk__window;

static inline qk__window qk__window_at(const qk_conv_params* p, int32_t oy, int32_t ox) {
  qk__window v;
  v.iy0 = oy * p->stride_h - p->pad_h;
  v.ix0 = ox * p->stride_w - p->pad_w;
  v.kx_lo = v.ix0 < 0 ? -v.ix0 : 0;
  v.kx_hi = p->in_w - v.ix0 < p->k_w ? p->in_w - v.ix0 : p->k_w;
  if (v.kx_lo > p->k_w) v.kx_lo = p->k_w;
  if (v.kx_hi < v.kx_lo) v.kx_hi = v.kx_lo;
  return v;
}

/* im2col of one pixel when in_c / groups is a multiple of 4: every run of the window starts on a
 * group boundary. in_g points at the group's first channel. */
static void qk__im2col_direct(const qk_conv_params* p, const int8_t* in_g, int32_t icg,
                              const qk__window* v, uint8_t* dst, int32_t zp2) {
  const int32_t cg = icg / 4; /* column groups per kernel position */
  const int32_t row_groups = p->k_w * cg;
  const int32_t valid = v->kx_hi - v->kx_lo;
  int32_t ky;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = v->iy0 + ky;
    const int8_t* src;
    if (iy < 0 || iy >= p->in_h || valid == 0) {
      dst = qk__col_zero(dst, row_groups);
      continue;
    }
    dst = qk__col_zero(dst, v->kx_lo * cg);
    src = in_g + ((int32_t)iy * p->in_w + v->ix0 + v->kx_lo) * p->in_c;
    if (icg == p->in_c) {
      /* One group: the valid kernel columns are one contiguous run of channels. */
      dst = qk__col_run(dst, src, valid * cg, zp2);
    } else {
      int32_t kx;
      for (kx = 0; kx < valid; ++kx, src += p->in_c) dst = qk__col_run(dst, src, cg, zp2);
    }
    dst = qk__col_zero(dst, (p->k_w - v->kx_hi) * cg);
  }
}

/* im2col of one pixel for other channel counts: gather the window into the int8 buffer gb
 * (kp bytes, padding and the tail up to kp as in_zp, which widens to 0), then widen it. */
static void qk__im2col_gather(const qk_conv_params* p, const int8_t* in_g, int32_t icg,
                              const qk__window* v, int8_t* gb, int32_t kp, uint8_t* dst,
                              int32_t zp2) {
  const int8_t zp = (int8_t)p->in_zp;
  const int32_t row = p->k_w * icg;
  const int32_t valid = v->kx_hi - v->kx_lo;
  int8_t* g = gb;
  int32_t ky, j;
  for (ky = 0; ky < p->k_h; ++ky, g += row) {
    const int32_t iy = v->iy0 + ky;
    const int8_t* src;
    if (iy < 0 || iy >= p->in_h || valid == 0) {
      memset(g, zp, (size_t)row);
      continue;
    }
    if (v->kx_lo > 0) memset(g, zp, (size_t)(v->kx_lo * icg));
    if (v->kx_hi < p->k_w) memset(g + v->kx_hi * icg, zp, (size_t)((p->k_w - v->kx_hi) * icg));
    src = in_g + ((int32_t)iy * p->in_w + v->ix0 + v->kx_lo) * p->in_c;
    if (icg == p->in_c) {
      memcpy(g + v->kx_lo * icg, src, (size_t)(valid * icg));
    } else {
      int32_t kx;
      for (kx = 0; kx < valid; ++kx, src += p->in_c)
        memcpy(g + (v->kx_lo + kx) * icg, src, (size_t)icg);
    }
  }
  for (j = (int32_t)(g - gb); j < kp; ++j) gb[j] = zp;
  for (j = 0; j < kp; j += 4, dst += QK__COL_GROUP) qk__widen4(dst, qk__ld32(gb + j), zp2);
}

/* The last kr (1..3) weights of a row as a word with zero upper bytes (never reads past the
 * row: the last row ends the weight array). */
static inline int32_t qk__ld_tail(const int8_t* w, int32_t kr) {
  uint32_t v = (uint8_t)w[0];
  if (kr > 1) v |= (uint32_t)(uint8_t)w[1] << 8;
  if (kr > 2) v |= (uint32_t)(uint8_t)w[2] << 16;
  return (int32_t)v;
}

/* Matrix kernels over one column pair. g4 full groups of four values, then kr (0..3) values in
 * a last group whose unused column lanes are 0. acc: [channel][pixel]. */
typedef struct {
  int32_t a00, a01, a10, a11;
} qk__acc4;

static inline void qk__mac_2x2(qk__acc4* a, const uint8_t* col, int32_t r0, int32_t r1) {
  const int32_t x0l = qk__ld32(col), x0h = qk__ld32(col + 4);
  const int32_t x1l = qk__ld32(col + 8), x1h = qk__ld32(col + 12);
  const int32_t w0l = __sxtb16(r0), w0h = qk__sxtb16_ror8(r0);
  const int32_t w1l = __sxtb16(r1), w1h = qk__sxtb16_ror8(r1);
  a->a00 = __smlad(w0l, x0l, a->a00);
  a->a00 = __smlad(w0h, x0h, a->a00);
  a->a01 = __smlad(w0l, x1l, a->a01);
  a->a01 = __smlad(w0h, x1h, a->a01);
  a->a10 = __smlad(w1l, x0l, a->a10);
  a->a10 = __smlad(w1h, x0h, a->a10);
  a->a11 = __smlad(w1l, x1l, a->a11);
  a->a11 = __smlad(w1h, x1h, a->a11);
}

static inline void qk__mm_2x2(qk__acc4* a, const uint8_t* col, const int8_t* w0,
                              const int8_t* w1, int32_t g4, int32_t kr) {
  const uint8_t* c = (const uint8_t*)__builtin_assume_aligned(col, 4);
  int32_t n;
  for (n = g4 >> 1; n > 0; --n) {
    qk__mac_2x2(a, c, qk__ld32(w0), qk__ld32(w1));
    qk__mac_2x2(a, c + QK__COL_GROUP, qk__ld32(w0 + 4), qk__ld32(w1 + 4));
    c += 2 * QK__COL_GROUP;
    w0 += 8;
    w1 += 8;
  }
  if (g4 & 1) {
    qk__mac_2x2(a, c, qk__ld32(w0), qk__ld32(w1));
    c += QK__COL_GROUP;
    w0 += 4;
    w1 += 4;
  }
  if (kr) qk__mac_2x2(a, c, qk__ld_tail(w0, kr), qk__ld_tail(w1, kr));
}

/* One channel, two pixels (odd channel count of a group). */
static inline void qk__mac_1x2(qk__acc4* a, const uint8_t* col, int32_t r0) {
  const int32_t w0l = __sxtb16(r0), w0h = qk__sxtb16_ror8(r0);
  a->a00 = __smlad(w0l, qk__ld32(col), a->a00);
  a->a00 = __smlad(w0h, qk__ld32(col + 4), a->a00);
  a->a01 = __smlad(w0l, qk__ld32(col + 8), a->a01);
  a->a01 = __smlad(w0h, qk__ld32(col + 12), a->a01);
}

static inline void qk__mm_1x2(qk__acc4* a, const uint8_t* col, const int8_t* w0, int32_t g4,
                              int32_t kr) {
  const uint8_t* c = (const uint8_t*)__builtin_assume_aligned(col, 4);
  int32_t n;
  for (n = g4; n > 0; --n, c += QK__COL_GROUP, w0 += 4) qk__mac_1x2(a, c, qk__ld32(w0));
  if (kr) qk__mac_1x2(a, c, qk__ld_tail(w0, kr));
}

/* Two channels, one pixel (the last pixel when there is an odd number). */
static inline void qk__mac_2x1(qk__acc4* a, const uint8_t* col, int32_t r0, int32_t r1) {
  const int32_t x0l = qk__ld32(col), x0h = qk__ld32(col + 4);
  a->a00 = __smlad(__sxtb16(r0), x0l, a->a00);
  a->a00 = __smlad(qk__sxtb16_ror8(r0), x0h, a->a00);
  a->a10 = __smlad(__sxtb16(r1), x0l, a->a10);
  a->a10 = __smlad(qk__sxtb16_ror8(r1), x0h, a->a10);
}

static inline void qk__mm_2x1(qk__acc4* a, const uint8_t* col, const int8_t* w0,
                              const int8_t* w1, int32_t g4, int32_t kr) {
  const uint8_t* c = (const uint8_t*)__builtin_assume_aligned(col, 4);
  int32_t n;
  for (n = g4; n > 0; --n, c += QK__COL_GROUP, w0 += 4, w1 += 4)
    qk__mac_2x1(a, c, qk__ld32(w0), qk__ld32(w1));
  if (kr) qk__mac_2x1(a, c, qk__ld_tail(w0, kr), qk__ld_tail(w1, kr));
}

static inline void qk__mm_1x1(qk__acc4* a, const uint8_t* col, const int8_t* w0, int32_t g4,
                              int32_t kr) {
  const uint8_t* c = (const uint8_t*)__builtin_assume_aligned(col, 4);
  int32_t n;
  for (n = g4; n > 0; --n, c += QK__COL_GROUP, w0 += 4) {
    const int32_t r0 = qk__ld32(w0);
    a->a00 = __smlad(__sxtb16(r0), qk__ld32(c), a->a00);
    a->a00 = __smlad(qk__sxtb16_ror8(r0), qk__ld32(c + 4), a->a00);
  }
  if (kr) {
    const int32_t r0 = qk__ld_tail(w0, kr);
    a->a00 = __smlad(__sxtb16(r0), qk__ld32(c), a->a00);
    a->a00 = __smlad(qk__sxtb16_ror8(r0), qk__ld32(c + 4), a->a00);
  }
}

/* Requantizes and stores channels c (a00, a01) and c + 1 (a10, a11) of pixels o0 / o1 (NULL:
 * that pixel or channel is absent; `two_ch`: channel c + 1 present). */
static inline void qk__store_block(const qk__epi* e, const qk__acc4* a, int32_t c, int two_ch,
                                   int8_t* o0, int8_t* o1) {
  if (e->mode == QK__EPI_POW2) {
    const qk__epi_ch k0 = qk__epi_channel(e, c);
    o0[0] = qk__epi_pow2(e, &k0, a->a00);
    if (o1) o1[0] = qk__epi_pow2(e, &k0, a->a01);
    if (two_ch) {
      const qk__epi_ch k1 = qk__epi_channel(e, c + 1);
      o0[1] = qk__epi_pow2(e, &k1, a->a10);
      if (o1) o1[1] = qk__epi_pow2(e, &k1, a->a11);
    }
  } else if (e->mode == QK__EPI_AFFINE) {
    const qk__epi_ch k0 = qk__epi_channel(e, c);
    o0[0] = qk__epi_affine(e, &k0, a->a00);
    if (o1) o1[0] = qk__epi_affine(e, &k0, a->a01);
    if (two_ch) {
      const qk__epi_ch k1 = qk__epi_channel(e, c + 1);
      o0[1] = qk__epi_affine(e, &k1, a->a10);
      if (o1) o1[1] = qk__epi_affine(e, &k1, a->a11);
    }
  } else {
    o0[0] = qk__epi_generic(e, a->a00, c);
    if (o1) o1[0] = qk__epi_generic(e, a->a01, c);
    if (two_ch) {
      o0[1] = qk__epi_generic(e, a->a10, c + 1);
      if (o1) o1[1] = qk__epi_generic(e, a->a11, c + 1);
    }
  }
}

int qk__dsp_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                    const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  int32_t groups, icg, ocg, k, kp, g4, kr, zp2, npix, pix, oy, ox;
  uint8_t* col;
  int8_t* gb;
  qk__epi e;
  if (!qk__dsp_conv_shape_ok(p) || p->in_zp < INT8_MIN || p->in_zp > INT8_MAX || scratch == NULL)
    return 0;
  if (qk__dsp_conv_is_depthwise(p)) return qk__dsp_dwconv_s8(p, in, w, bias, rq, out, scratch);

  groups = p->groups > 0 ? p->groups : 1;
  icg = p->in_c / groups;
  ocg = p->out_c / groups;
  k = p->k_h * p->k_w * icg;
  kp = qk__dsp_conv_kp(p);
  g4 = k >> 2;
  kr = k & 3;
  /* in_zp in both halfwords, for SSUB16. */
  zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)p->in_zp * 0x10001u);
  col = (uint8_t*)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
  gb = (int8_t*)(col + 4 * kp);
  e = qk__epi_make(rq, p->out_c, p->out_zp, p->act_min, p->act_max);

  npix = p->out_h * p->out_w;
  oy = 0;
  ox = 0;
  for (pix = 0; pix < npix; pix += 2) {
    const int two = pix + 1 < npix;
    /* Coordinates of the second pixel of the pair (the next one in raster order). */
    const int32_t oy1 = ox + 1 < p->out_w ? oy : oy + 1, ox1 = ox + 1 < p->out_w ? ox + 1 : 0;
    const qk__window v0 = qk__window_at(p, oy, ox), v1 = qk__window_at(p, oy1, ox1);
    int8_t* const o0 = out + (int32_t)pix * p->out_c;
    int8_t* const o1 = two ? o0 + p->out_c : NULL;
    int32_t g;
    for (g = 0; g < groups; ++g) {
      const int8_t* const in_g = in + g * icg;
      const int8_t* wo = w + (int32_t)g * ocg * k;
      const int32_t c0 = g * ocg;
      int32_t c;
      if (icg % 4 == 0) {
        qk__im2col_direct(p, in_g, icg, &v0, col, zp2);
        if (two) qk__im2col_direct(p, in_g, icg, &v1, col + 8, zp2);
      } else {
        qk__im2col_gather(p, in_g, icg, &v0, gb, kp, col, zp2);
        if (two) qk__im2col_gather(p, in_g, icg, &v1, gb, kp, col + 8, zp2);
      }
      for (c = 0; c + 1 < ocg; c += 2, wo += 2 * k) {
        qk__acc4 a;
        a.a00 = a.a01 = bias != NULL ? bias[c0 + c] : 0;
        a.a10 = a.a11 = bias != NULL ? bias[c0 + c + 1] : 0;
        if (two)
          qk__mm_2x2(&a, col, wo, wo + k, g4, kr);
        else
          qk__mm_2x1(&a, col, wo, wo + k, g4, kr);
        qk__store_block(&e, &a, c0 + c, 1, o0 + c0 + c, two ? o1 + c0 + c : NULL);
      }
      if (c < ocg) {
        qk__acc4 a;
        a.a00 = a.a01 = bias != NULL ? bias[c0 + c] : 0;
        a.a10 = a.a11 = 0;
        if (two)
          qk__mm_1x2(&a, col, wo, g4, kr);
        else
          qk__mm_1x1(&a, col, wo, g4, kr);
        qk__store_block(&e, &a, c0 + c, 0, o0 + c0 + c, two ? o1 + c0 + c : NULL);
      }
    }
    oy = oy1 + (ox1 + 1 < p->out_w ? 0 : 1);
    ox = ox1 + 1 < p->out_w ? ox1 + 1 : 0;
  }
  return 1;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__conv_s8_dsp_unused;
#endif /* QK__DSP */
