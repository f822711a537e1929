/*
 * Optimized int8 convolution for Armv7E-M (Cortex-M4/M7/M33): im2col + 1x6 SMLAD kernel.
 * Selected by qk_conv_s8 (qk_dispatch.c) when built with QK_USE_DSP for a core with the DSP
 * extension; compiles to nothing elsewhere. Bit-identical to qk_ref_conv_s8 (see qk_dsp.h).
 *
 * Per block of six output pixels (QK__DSP_NPX, raster order) and group:
 *   1. im2col: the six receptive fields (k_h x k_w x in_c/groups values each) are widened to
 *      int16, padded positions as in_zp. Each group of four consecutive values x0..x3 is stored as
 *      the words (x0, x2), (x1, x3): the lane order SXTB16 / SXTB16 ROR #8 produce from a word of
 *      four int8 weights, so the weights need no reordering and a column is built with the same
 *      two instructions (LDR, 2 SXTB16, STRD per four values). The six columns are interleaved by
 *      groups (48 bytes per group), so the kernel walks a single pointer.
 *   2. kernel: one output channel x six pixels in six int32 accumulators; per four values one
 *      LDR + two SXTB16 for the weights (shared by the six pixels), six LDRD for the columns and
 *      twelve SMLAD: 21 instructions for 24 MACs, unrolled twice (44 per 48 MACs with the loop).
 *      Six accumulators + column and weight pointers + four temporaries + the loop bound fill the
 *      13 registers the compiler can give it; a wider block would spill.
 *   3. epilogue: the reference's requantization with 32-bit shortcuts (qk_dsp.h), specialised
 *      per call (one table branch per channel and six outputs).
 * Output channels are processed in chunks of up to 64 (QK__DSP_CHUNK), whose per-channel
 * constants (zero-point correction, multiplier, shift) are tabulated once per chunk; layers with
 * more channels redo the im2col per chunk, which keeps the scratch buffer independent of out_c.
 *
 * The input zero point is not subtracted in the columns: sum((x - zp) w) = sum(x w) - zp sum(w),
 * and bias - zp sum(w) is computed once per call and channel. The padding stores zp itself, so
 * padded taps cancel exactly as in the reference (which skips them).
 *
 * Exactness: SMLAD adds modulo 2^32 and the exporter guarantees that every partial sum of the
 * reference's int32 accumulation fits int32, so the final sum (the same integer) is exact in
 * any order, correction term included.
 *
 * 1x1 convolutions (and every layer whose in_c / groups is a multiple of 4) widen whole window
 * rows word by word (for a 1x1 the window is one run of in_c values, no padding logic); other
 * channel counts (e.g. the 3 of an RGB input) gather the window into an int8 buffer first.
 */

#include "qk_dsp.h"

#if QK__DSP

/* One group of four values of the QK__DSP_NPX columns: 8 bytes per pixel, pixel i at 8 i. */
#define QK__COL_GROUP (8 * QK__DSP_NPX)

/* Fills `groups` groups of one column with the zero point (padding). */
static inline uint8_t* qk__col_pad(uint8_t* dst, int32_t groups, int32_t zp2) {
  for (; groups > 0; --groups, dst += QK__COL_GROUP) {
    qk__st32(dst, zp2);
    qk__st32(dst + 4, zp2);
  }
  return dst;
}

/* Widens 4 * groups contiguous int8 values into one column: LDR, SXTB16, SXTB16 ROR #8, STRD
 * per four values. */
static inline uint8_t* qk__col_run(uint8_t* dst, const int8_t* src, int32_t groups) {
#if QK__DSP_ASM
  for (; groups > 0; --groups) {
    uint8_t* const d = dst;
    int32_t x, lo;
    __asm__(
        "ldr %[x], [%[s]], #4\n\t"
        "sxtb16 %[lo], %[x]\n\t"
        "sxtb16 %[x], %[x], ror #8\n\t"
        "strd %[lo], %[x], [%[d]], %[step]"
        : [x] "=&r"(x), [lo] "=&r"(lo), [s] "+r"(src), [d] "+r"(dst), "=m"(*(uint8_t(*)[8])d)
        : "m"(*(const int8_t(*)[4])src), [step] "i"(QK__COL_GROUP));
  }
#else
  for (; groups > 0; --groups, src += 4, dst += QK__COL_GROUP) {
    const int32_t x = qk__ld32(src);
    qk__st32(dst, __sxtb16(x));
    qk__st32(dst + 4, qk__sxtb16_ror8(x));
  }
#endif
  return dst;
}

/* Window of one output pixel: input row / column of its top-left tap (possibly in the padding)
 * and the kernel columns [kx_lo, kx_hi) that fall inside the input (possibly none). */
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
 * group boundary. in_g points at the group's first channel, dst at the pixel's column slot. */
static void qk__im2col_direct(const qk_conv_params* p, const int8_t* in_g, int32_t icg,
                              const qk__window* v, uint8_t* dst, int32_t zp2) {
  const int32_t cg = icg / 4; /* column groups per kernel position */
  const int32_t row_groups = p->k_w * cg;
  const int32_t valid = v->kx_hi - v->kx_lo;
  int32_t ky;
  dst = (uint8_t*)__builtin_assume_aligned(dst, 8);
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = v->iy0 + ky;
    const int8_t* src;
    if (iy < 0 || iy >= p->in_h || valid == 0) {
      dst = qk__col_pad(dst, row_groups, zp2);
      continue;
    }
    dst = qk__col_pad(dst, v->kx_lo * cg, zp2);
    src = in_g + ((int32_t)iy * p->in_w + v->ix0 + v->kx_lo) * p->in_c;
    if (icg == p->in_c) {
      /* One group: the valid kernel columns are one contiguous run of channels. */
      dst = qk__col_run(dst, src, valid * cg);
    } else {
      int32_t kx;
      for (kx = 0; kx < valid; ++kx, src += p->in_c) dst = qk__col_run(dst, src, cg);
    }
    dst = qk__col_pad(dst, (p->k_w - v->kx_hi) * cg, zp2);
  }
}

/* im2col of one pixel for other channel counts: gather the window into the int8 buffer gb (kp
 * bytes; padding and the tail up to kp as in_zp), then widen it. */
static void qk__im2col_gather(const qk_conv_params* p, const int8_t* in_g, int32_t icg,
                              const qk__window* v, int8_t* gb, int32_t kp, uint8_t* dst) {
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
  qk__col_run(dst, gb, kp / 4);
}

/* The last kr (1..3) weights of a row as a word with zero upper bytes (never reads past the
 * row: the last row ends the weight array). */
static inline int32_t qk__ld_tail(const int8_t* w, int32_t kr) {
  uint32_t v = (uint8_t)w[0];
  if (kr > 1) v |= (uint32_t)(uint8_t)w[1] << 8;
  if (kr > 2) v |= (uint32_t)(uint8_t)w[2] << 16;
  return (int32_t)v;
}

/* Six accumulators (one channel, six pixels), passed by value so that they stay in registers
 * once inlined. */
typedef struct {
  int32_t a0, a1, a2, a3, a4, a5;
} qk__acc6;

/* One group of four values, one channel, the six pixels: a_i += sum_j w[j] * col_i[j], with the
 * weight word r widened once (SXTB16, SXTB16 ROR #8) for the six pixels. */
static inline qk__acc6 qk__mac_1x6(qk__acc6 a, const uint8_t* c, int32_t r) {
  const int32_t wl = __sxtb16(r), wh = qk__sxtb16_ror8(r);
  a.a0 = __smlad(wl, qk__ld32(c), a.a0);
  a.a0 = __smlad(wh, qk__ld32(c + 4), a.a0);
  a.a1 = __smlad(wl, qk__ld32(c + 8), a.a1);
  a.a1 = __smlad(wh, qk__ld32(c + 12), a.a1);
  a.a2 = __smlad(wl, qk__ld32(c + 16), a.a2);
  a.a2 = __smlad(wh, qk__ld32(c + 20), a.a2);
  a.a3 = __smlad(wl, qk__ld32(c + 24), a.a3);
  a.a3 = __smlad(wh, qk__ld32(c + 28), a.a3);
  a.a4 = __smlad(wl, qk__ld32(c + 32), a.a4);
  a.a4 = __smlad(wh, qk__ld32(c + 36), a.a4);
  a.a5 = __smlad(wl, qk__ld32(c + 40), a.a5);
  a.a5 = __smlad(wh, qk__ld32(c + 44), a.a5);
  return a;
}

/* The same for the next weight word at *pw and the group at *pc, advancing both: 21
 * instructions for 24 MACs in the GNU asm version (LDR and LDRD with post-increment). */
static inline __attribute__((always_inline)) qk__acc6 qk__group_1x6(qk__acc6 a, const uint8_t** pc,
                                                                    const int8_t** pw) {
#if QK__DSP_ASM
  const uint8_t* c = *pc;
  const int8_t* w = *pw;
  int32_t r, wl, x0, x1;
  __asm__(
      "ldr %[r], [%[w]], #4\n\t"
      "ldrd %[x0], %[x1], [%[c]], %[g]\n\t"
      "sxtb16 %[wl], %[r]\n\t"
      "sxtb16 %[r], %[r], ror #8\n\t"
      "smlad %[a0], %[wl], %[x0], %[a0]\n\t"
      "smlad %[a0], %[r], %[x1], %[a0]\n\t"
      "ldrd %[x0], %[x1], [%[c], %[m5]]\n\t"
      "smlad %[a1], %[wl], %[x0], %[a1]\n\t"
      "smlad %[a1], %[r], %[x1], %[a1]\n\t"
      "ldrd %[x0], %[x1], [%[c], %[m4]]\n\t"
      "smlad %[a2], %[wl], %[x0], %[a2]\n\t"
      "smlad %[a2], %[r], %[x1], %[a2]\n\t"
      "ldrd %[x0], %[x1], [%[c], %[m3]]\n\t"
      "smlad %[a3], %[wl], %[x0], %[a3]\n\t"
      "smlad %[a3], %[r], %[x1], %[a3]\n\t"
      "ldrd %[x0], %[x1], [%[c], %[m2]]\n\t"
      "smlad %[a4], %[wl], %[x0], %[a4]\n\t"
      "smlad %[a4], %[r], %[x1], %[a4]\n\t"
      "ldrd %[x0], %[x1], [%[c], %[m1]]\n\t"
      "smlad %[a5], %[wl], %[x0], %[a5]\n\t"
      "smlad %[a5], %[r], %[x1], %[a5]"
      : [a0] "+r"(a.a0), [a1] "+r"(a.a1), [a2] "+r"(a.a2), [a3] "+r"(a.a3), [a4] "+r"(a.a4),
        [a5] "+r"(a.a5), [c] "+r"(c), [w] "+r"(w), [r] "=&r"(r), [wl] "=&r"(wl), [x0] "=&r"(x0),
        [x1] "=&r"(x1)
      : [g] "i"(QK__COL_GROUP), [m5] "i"(8 - QK__COL_GROUP), [m4] "i"(16 - QK__COL_GROUP),
        [m3] "i"(24 - QK__COL_GROUP), [m2] "i"(32 - QK__COL_GROUP), [m1] "i"(40 - QK__COL_GROUP)
      /* Reads the column group and the weight word. A "memory" clobber rather than memory
       * operands: their address registers would not fit next to the 12 register operands at
       * -O0 or with a frame pointer. */
      : "memory");
  *pc = c;
  *pw = w;
  return a;
#else
  a = qk__mac_1x6(a, *pc, qk__ld32(*pw));
  *pc += QK__COL_GROUP;
  *pw += 4;
  return a;
#endif
}

/* All K values of one channel: the column block from col (pairs of groups up to end2), one more
 * full group when `odd`, then kr (0..3) values with zero weights beyond them. */
static inline __attribute__((always_inline)) qk__acc6 qk__mm_1x6(qk__acc6 a, const uint8_t* col,
                                                                 const uint8_t* end2,
                                                                 const int8_t* w, int32_t odd,
                                                                 int32_t kr) {
  const uint8_t* c = col;
  while (c != end2) {
    a = qk__group_1x6(a, &c, &w);
    a = qk__group_1x6(a, &c, &w);
  }
  if (odd) a = qk__group_1x6(a, &c, &w);
  if (kr) a = qk__mac_1x6(a, c, qk__ld_tail(w, kr));
  return a;
}

#if QK_CONFIG_EPI_GENERIC
int8_t qk__epi_generic(const qk__epi* e, int32_t acc, int32_t c) {
  return (int8_t)qk__apply_out_clamp(qk__requantize((int64_t)acc, e->rq, c), &e->clamp);
}
#endif

/* What the channel loop needs, gathered so that it runs with few live values. */
typedef struct {
  int32_t k, g4, kr;
  int32_t pairs_bytes; /* column bytes of the paired groups: 2 * 32 * (g4 / 2) */
  qk__epi e;
} qk__conv_ctx;

/* Per channel table entry (12 bytes in the scratch): corr = bias - in_zp * sum(w) (modulo 2^32;
 * |in_zp * sum(w)| < 2^14 K), then the fast-path multiplier and shift (qk__epi_ch). */
#define QK__TAB 12

/* The weights of the table's / kernel's channel c: the int8 row itself, or (packed, bits 4 / 2)
 * the packed row unpacked into rb. `packed` is a constant at every call, so the int8 entry point
 * compiles to the int8 code alone and both packed widths share one copy. */
static inline __attribute__((always_inline)) const int8_t* qk__row_of(const int8_t* wc,
                                                                      const uint8_t* wpk,
                                                                      const int packed,
                                                                      int32_t bits, int32_t c,
                                                                      int32_t k, int8_t* rb) {
  if (!packed) return wc;
  qk__dsp_unpack(wpk, c * k, k, bits, rb);
  return rb;
}

static inline __attribute__((always_inline)) void qk__conv_table_any(
    const qk__conv_ctx* x, const int8_t* w, const uint8_t* wpk, const int packed, int32_t bits,
    int8_t* rb, const int32_t* bias, int32_t zp, int32_t c0, int32_t n, uint8_t* tab) {
  const int32_t k = x->k;
  int32_t c, i;
  for (c = c0; c < c0 + n; ++c, tab += QK__TAB) {
    int32_t sum = 0;
    qk__epi_ch ch = {0, 0};
    const uint32_t b = bias != NULL ? (uint32_t)bias[c] : 0u;
    if (zp != 0) {
      const int8_t* const r = qk__row_of(w, wpk, packed, bits, c, k, rb);
      /* sum(w) = sum(w + 128) - 128 k: USADA8 adds four unsigned bytes (w ^ 0x80 = w + 128). */
      uint32_t u = 0u;
      for (i = 0; i + 4 <= k; i += 4) u = __usada8((uint32_t)qk__ld32(r + i) ^ 0x80808080u, 0u, u);
      sum = (int32_t)u - 128 * (k & ~3);
      for (; i < k; ++i) sum += r[i];
    }
    if (x->e.kind != QK__EPI_GENERIC) ch = qk__epi_channel(&x->e, c);
    qk__st32(tab, (int32_t)(b - (uint32_t)zp * (uint32_t)sum));
    qk__st32(tab + 4, ch.mult);
    qk__st32(tab + 8, ch.s1);
    if (!packed) w += k;
  }
}

static void qk__conv_table(const qk__conv_ctx* x, const int8_t* w, const int32_t* bias, int32_t zp,
                           int32_t c0, int32_t n, uint8_t* tab) {
  qk__conv_table_any(x, w, NULL, 0, 8, NULL, bias, zp, c0, n, tab);
}

static void qk__conv_table_packed(const qk__conv_ctx* x, const uint8_t* wpk, int32_t bits,
                                  int8_t* rb, const int32_t* bias, int32_t zp, int32_t c0,
                                  int32_t n, uint8_t* tab) {
  qk__conv_table_any(x, NULL, wpk, 1, bits, rb, bias, zp, c0, n, tab);
}

/* n output channels from c (weights wc, table tab) of one block of six pixels: pixel i's
 * output of channel c + j goes to o[i * os + j]. Packed weights (bits 4 / 2) are unpacked a row
 * at a time into rb. */
static inline __attribute__((always_inline)) void qk__conv_channels_any(
    const qk__conv_ctx* x, const uint8_t* col, const int8_t* wc, const uint8_t* wpk,
    const int packed, int32_t bits, int8_t* rb, const uint8_t* tab, int32_t c, int32_t n, int8_t* o,
    int32_t os) {
  const int32_t k = x->k, odd = x->g4 & 1, kr = x->kr;
  const uint8_t* const end2 = col + x->pairs_bytes;
  const int8_t* const end = o + n;
  /* A local copy: the int8 output stores may alias anything reached through a pointer, which
   * would reload every epilogue constant after each store. */
  const qk__epi e = x->e;
  col = (const uint8_t*)__builtin_assume_aligned(col, 8);
  for (; o != end; ++o, ++c, tab += QK__TAB) {
    qk__acc6 a;
    qk__epi_ch ch;
    a.a0 = a.a1 = a.a2 = a.a3 = a.a4 = a.a5 = qk__ld32(tab);
    ch.mult = qk__ld32(tab + 4);
    ch.s1 = qk__ld32(tab + 8);
    a = qk__mm_1x6(a, col, end2, qk__row_of(wc, wpk, packed, bits, c, k, rb), odd, kr);
    if (!packed) wc += k;
    /* Keeps o[os], o[2 os] ... as addressing modes of one pointer: GCC would otherwise turn them
     * into six induction variables and spill them. */
    __asm__("" : "+r"(os));
    qk__epi_store4(&e, &ch, c, a.a0, a.a1, a.a2, a.a3, o, os);
    qk__epi_store2(&e, &ch, c, a.a4, a.a5, o + 4 * os, os);
  }
}

static void qk__conv_channels(const qk__conv_ctx* x, const uint8_t* col, const int8_t* wc,
                              const uint8_t* tab, int32_t c, int32_t n, int8_t* o, int32_t os) {
  qk__conv_channels_any(x, col, wc, NULL, 0, 8, NULL, tab, c, n, o, os);
}

static void qk__conv_channels_packed(const qk__conv_ctx* x, const uint8_t* col, const uint8_t* wpk,
                                     int32_t bits, int8_t* rb, const uint8_t* tab, int32_t c,
                                     int32_t n, int8_t* o, int32_t os) {
  qk__conv_channels_any(x, col, NULL, wpk, 1, bits, rb, tab, c, n, o, os);
}

/* The driver of both weight formats: w (int8) or wpk (packed, bits 4 / 2); `packed` is a
 * constant at both calls, so each entry point compiles to its own straight code. */
static inline __attribute__((always_inline)) int qk__conv_s8_any(
    const qk_conv_params* p, const int8_t* in, const int8_t* w, const uint8_t* wpk,
    const int packed, int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
    void* scratch) {
  int32_t groups, icg, ocg, kp, zp2, npix, g, chunk;
  int pointwise;
  uint8_t *col, *tab;
  int8_t *tmp, *gb, *rb;
  qk__conv_ctx x;
  if (!qk__dsp_conv_ok(p, scratch)) return 0;

  groups = p->groups > 0 ? p->groups : 1;
  icg = p->in_c / groups;
  ocg = p->out_c / groups;
  kp = qk__dsp_conv_kp(p);
  chunk = ocg < QK__DSP_CHUNK ? ocg : QK__DSP_CHUNK;
  col = qk__dsp_align8(scratch);
  tab = col + 2 * QK__DSP_NPX * kp;
  tmp = (int8_t*)(tab + QK__TAB * chunk);
  gb = tmp + QK__DSP_NPX * chunk;
  rb = gb + ((p->in_c / (p->groups > 0 ? p->groups : 1)) % 4 != 0 ? kp : 0);
  x.k = p->k_h * p->k_w * icg;
  x.g4 = x.k >> 2;
  x.kr = x.k & 3;
  x.pairs_bytes = 2 * QK__COL_GROUP * (x.g4 >> 1);
  x.e = qk__epi_make(rq, p->out_c, p->out_zp, p->act_min, p->act_max);
  /* in_zp in both halfwords: the padding value of a column. */
  zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)p->in_zp * 0x10001u);
  npix = p->out_h * p->out_w;
  pointwise = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0 && icg % 4 == 0 &&
              (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;

  for (g = 0; g < groups; ++g) {
    const int8_t* const in_g = in + g * icg;
    int32_t c0;
    for (c0 = 0; c0 < ocg; c0 += chunk) {
      const int32_t c = g * ocg + c0, n = ocg - c0 < chunk ? ocg - c0 : chunk;
      const int8_t* const wc = packed ? NULL : w + (int32_t)c * x.k;
      int32_t pix, oy = 0, ox = 0;
      if (!packed)
        qk__conv_table(&x, wc, bias, p->in_zp, c, n, tab);
      else
        qk__conv_table_packed(&x, wpk, bits, rb, bias, p->in_zp, c, n, tab);
      for (pix = 0; pix < npix; pix += QK__DSP_NPX) {
        const int32_t m = npix - pix < QK__DSP_NPX ? npix - pix : QK__DSP_NPX;
        int32_t i;
        for (i = 0; i < m; ++i) {
          if (pointwise) {
            /* 1x1 without padding: the window is the pixel's in_c / groups channels. */
            qk__col_run(col + 8 * i,
                        in_g + ((int32_t)oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c,
                        icg / 4);
          } else {
            const qk__window v = qk__window_at(p, oy, ox);
            if (icg % 4 == 0)
              qk__im2col_direct(p, in_g, icg, &v, col + 8 * i, zp2);
            else
              qk__im2col_gather(p, in_g, icg, &v, gb, kp, col + 8 * i);
          }
          if (++ox == p->out_w) {
            ox = 0;
            ++oy;
          }
        }
        if (m == QK__DSP_NPX) {
          /* The pixels of a block are consecutive in the output. */
          if (!packed)
            qk__conv_channels(&x, col, wc, tab, c, n, out + (int32_t)pix * p->out_c + c, p->out_c);
          else
            qk__conv_channels_packed(&x, col, wpk, bits, rb, tab, c, n,
                                     out + (int32_t)pix * p->out_c + c, p->out_c);
        } else {
          /* Last, partial block: absent pixels get zero columns, the outputs go through tmp. */
          int32_t j;
          for (i = m; i < QK__DSP_NPX; ++i) qk__col_pad(col + 8 * i, kp / 4, 0);
          if (!packed)
            qk__conv_channels(&x, col, wc, tab, c, n, tmp, chunk);
          else
            qk__conv_channels_packed(&x, col, wpk, bits, rb, tab, c, n, tmp, chunk);
          for (i = 0; i < m; ++i)
            for (j = 0; j < n; ++j) out[(int32_t)(pix + i) * p->out_c + c + j] = tmp[i * chunk + j];
        }
      }
    }
  }
  return 1;
}

int qk__dsp_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                    const qk_requant* rq, int8_t* out, void* scratch) {
  return qk__conv_s8_any(p, in, w, NULL, 0, 8, bias, rq, out, scratch);
}

int qk__dsp_conv_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                           int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
                           void* scratch) {
  return qk__conv_s8_any(p, in, NULL, w, 1, bits, bias, rq, out, scratch);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__conv_s8_dsp_unused;
#endif /* QK__DSP */
