/*
 * Optimized int8 depthwise convolution with 3-wide kernels (k_w == 3, stride_w 1, any k_h up to
 * QK__DW3_MAX_KH, any stride_h) for Armv7E-M: one channel at a time on planar int16 rows. Selected
 * by qk_conv_s8 (qk_dispatch.c) before the four-channel kernel of qk_dw_s8_dsp.c, which takes the
 * other depthwise shapes; compiles to nothing without QK_USE_DSP / __ARM_FEATURE_DSP.
 * Bit-identical to qk_ref_conv_s8 (see qk_dsp.h).
 *
 * Why planar: in the channel-interleaved input a word holds four channels of one position, and
 * channels cannot share SMLAD's sum, so every MAC is a single-lane SMLAxy (2 instructions per MAC
 * with the loads). Along one channel, neighbouring kernel taps can share it. Each input row of
 * the channel is copied once into a row buffer as x - in_zp in int16, zero in the padding; the
 * kernel row's weights (w0, w1, w2) are kept as the halfword pairs P = (w0, w1), Q = (w2, 0),
 * R = (w1, w2). Four output pixels of one kernel row from the words A, B, C of six consecutive
 * positions x0..x5 (stride 1):
 *   out0 = SMLAD(A, P) + SMLABB(B, Q)     x0 w0 + x1 w1 + x2 w2
 *   out1 = SMLATB(A, P) + SMLAD(B, R)     x1 w0 + x2 w1 + x3 w2
 *   out2 = SMLAD(B, P) + SMLABB(C, Q)
 *   out3 = SMLATB(B, P) + SMLAD(C, R)
 * 8 MAC instructions for 12 MACs. The padding holds zeros, so border pixels take the same code as
 * interior ones (the reference skips those taps: the same sum). With stride_w 2 an input value
 * serves half as many MACs, the copy into the rows no longer pays, and the four-channel kernel
 * is faster (4.79 against 5.91 instructions per MAC on a MobileNetV2 layer): stride_w 2 stays
 * there.
 *
 * Row buffers: a ring of k_h rows (input row iy in slot iy mod k_h, loaded once), interleaved by
 * groups of four positions: [group][slot][4 x int16]. A block of four output pixels then reads
 * all its kernel rows at constant offsets from one pointer (the three rows of a 3x3 kernel at
 * +0, +8, +16 bytes, the next group at +24), which leaves the registers to the accumulators and
 * the requantization; the weights of the kernel rows are stored in the slot order of the output
 * row (k_h rotations of the table).
 *
 * Per channel: the weight tables, then per output row the input rows it needs that are not yet in
 * the ring (rows of the vertical padding as zero rows) and the blocks of four pixels: for 3x3
 * kernels with a fast epilogue one asm block of 39 instructions for 36 MACs, requantized from
 * the registers; for other kernel heights, the generic epilogue or more than 3 rows of vertical
 * padding, kernel row by kernel row into an accumulator buffer.
 *
 * Exactness: |x - in_zp| <= 255 and |w| <= 128 fit the signed halfwords; SMLAD / SMLAxy add
 * modulo 2^32 and the exporter bounds every partial sum of the reference's int32 accumulation,
 * so the final sum (the same integer) is exact in any order.
 */
#include "qk_dsp.h"

#if QK__DSP

/* Accumulators of four consecutive output pixels, passed by value (registers once inlined). */
typedef struct {
  int32_t o0, o1, o2, o3;
} qk__dw3_acc;

#if QK__DSP_ASM
/* One kernel row, stride 1: A, B at p + xoff, C at p + coff (the next group); the weights P, Q,
 * R at w + woff. Three temporaries: C reuses A's register once A is done, Q and R reuse P's. The
 * first row of a block (acc = b) accumulates onto the bias register, which saves initializing
 * the accumulators. 13 instructions for 12 MACs. */
#define QK__DW3_S1(xoff, coff, woff, woff4, woff8, a0, a1, a2, a3) \
  "ldrd %[xa], %[xb], [%[p], #" xoff                               \
  "]\n\t"                                                          \
  "ldr %[wt], [%[w], #" woff                                       \
  "]\n\t"                                                          \
  "smlad %[o0], %[xa], %[wt], %[" a0                               \
  "]\n\t"                                                          \
  "smlatb %[o1], %[xa], %[wt], %[" a1                              \
  "]\n\t"                                                          \
  "smlad %[o2], %[xb], %[wt], %[" a2                               \
  "]\n\t"                                                          \
  "smlatb %[o3], %[xb], %[wt], %[" a3                              \
  "]\n\t"                                                          \
  "ldr %[xa], [%[p], #" coff                                       \
  "]\n\t"                                                          \
  "ldr %[wt], [%[w], #" woff4                                      \
  "]\n\t"                                                          \
  "smlabb %[o0], %[xb], %[wt], %[o0]\n\t"                          \
  "smlabb %[o2], %[xa], %[wt], %[o2]\n\t"                          \
  "ldr %[wt], [%[w], #" woff8                                      \
  "]\n\t"                                                          \
  "smlad %[o1], %[xb], %[wt], %[o1]\n\t"                           \
  "smlad %[o3], %[xa], %[wt], %[o3]\n\t"

#endif

/* The three kernel rows of a 3x3 kernel inside the input, one block of four pixels from the bias
 * b: *pp at the block's group (slots 0..2 in the output row's order), advanced to the next
 * block; w: the weight table rotated to the slot order. */
static inline __attribute__((always_inline)) qk__dw3_acc qk__dw3_block(int32_t b,
                                                                       const int16_t** pp,
                                                                       const int32_t* w) {
  qk__dw3_acc a;
  const int16_t* const p = *pp;
#if QK__DSP_ASM
  int32_t xa, xb, wt;
  __asm__(QK__DW3_S1("0", "24", "0", "4", "8", "b", "b", "b", "b")
              QK__DW3_S1("8", "32", "12", "16", "20", "o0", "o1", "o2", "o3")
                  QK__DW3_S1("16", "40", "24", "28", "32", "o0", "o1", "o2", "o3")
          : [o0] "=&r"(a.o0), [o1] "=&r"(a.o1), [o2] "=&r"(a.o2), [o3] "=&r"(a.o3), [xa] "=&r"(xa),
            [xb] "=&r"(xb), [wt] "=&r"(wt)
          : [p] "r"(p), [w] "r"(w), [b] "r"(b)
          /* Reads the row buffers and the table: a "memory" clobber (their address registers
           * would not fit next to the operands). */
          : "memory");
#else
  int32_t r;
  a.o0 = a.o1 = a.o2 = a.o3 = b;
  for (r = 0; r < 3; ++r, w += 3) {
    const int16_t* const x = p + 4 * r;
    const int32_t xa = qk__ld32(x), xb = qk__ld32(x + 2), xc = qk__ld32(x + 12);
    a.o0 = __smlad(xa, w[0], a.o0);
    a.o0 = __smlabb(xb, w[1], a.o0);
    a.o1 = __smlatb(xa, w[0], a.o1);
    a.o1 = __smlad(xb, w[2], a.o1);
    a.o2 = __smlad(xb, w[0], a.o2);
    a.o2 = __smlabb(xc, w[1], a.o2);
    a.o3 = __smlatb(xb, w[0], a.o3);
    a.o3 = __smlad(xc, w[2], a.o3);
  }
#endif
  *pp = p + 12; /* one group of three slots */
  return a;
}

/* One kernel row of any kernel height for a block (the row-by-row path): x at the row's slot
 * in the block's group, gs the group size in int16 (4 k_h), w: P, Q, R of the kernel row. */
static inline qk__dw3_acc qk__dw3_row(qk__dw3_acc a, const int16_t* x, int32_t gs,
                                      const int32_t* w) {
  const int32_t wp = w[0], wq = w[1], wr = w[2];
  const int32_t xa = qk__ld32(x), xb = qk__ld32(x + 2), xc = qk__ld32(x + gs);
  a.o0 = __smlabb(xb, wq, __smlad(xa, wp, a.o0));
  a.o1 = __smlad(xb, wr, __smlatb(xa, wp, a.o1));
  a.o2 = __smlabb(xc, wq, __smlad(xb, wp, a.o2));
  a.o3 = __smlad(xc, wr, __smlatb(xb, wp, a.o3));
  return a;
}

/* (lo, hi) as the low and high halfwords of a word (PKHBT; lo's upper bits are dropped). */
static inline int32_t qk__pkhbt16(int32_t lo, int32_t hi) {
#if QK__DSP_ASM
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
#else
  return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)hi << 16);
#endif
}

/* Requantizes the n accumulators of one output row of channel c into o, o + os, ... */
static void qk__dw3_store_row(const qk__epi* ep, const qk__epi_ch* kp, int32_t c,
                              const int32_t* acc, int32_t n, int8_t* o, int32_t os) {
  /* Local copies: the int8 stores may alias anything reached through a pointer. */
  const qk__epi e = *ep;
  const qk__epi_ch k = *kp;
  const int32_t* const end = acc + n;
  (void)k, (void)c; /* unused when qk_config.h switches kinds off */
#define QK__DW3_ROW(mode, clamp) \
  for (; acc != end; ++acc, o += os) *o = qk__epi_fast(&e, &k, *acc, mode, clamp)
  switch (e.kind) {
    QK__EPI_FAST_CASES(QK__DW3_ROW)
    default:
      for (; acc != end; ++acc, o += os) *o = QK__EPI_GENERIC_CALL(&e, *acc, c);
      break;
  }
#undef QK__DW3_ROW
}

/* ra + floor(a b / 2^32), exactly (SMMLA: the high word of ra * 2^32 + a b). */
static inline int32_t qk__smmla(int32_t a, int32_t b, int32_t ra) {
#if QK__DSP_ASM
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(ra));
  return r;
#else
  return (int32_t)((((int64_t)ra << 32) + (int64_t)a * b) >> 32);
#endif
}

/* qk__epi_fast with the affine rounding folded into the multiply: with hi = floor(acc mult /
 * 2^32) and rc = 2^(shift - 33), ((hi >> (shift - 33)) + 1) >> 1 == (hi + rc) >> (shift - 32)
 * (|hi| <= 2^30 and rc <= 2^29: no overflow), and SMMLA gives hi + rc in one instruction: one
 * fewer per output than the shared epilogue. k2 holds (mult, shift - 32). */
static inline __attribute__((always_inline)) int8_t qk__dw3_epi(const qk__epi* e,
                                                                const qk__epi_ch* k2, int32_t rc,
                                                                int32_t acc, const int mode,
                                                                const int clamp) {
  int32_t y;
  if (mode != QK__RQ_AFFINE) return qk__epi_fast(e, k2, acc, mode, clamp);
  y = qk__smmla(acc, k2->mult, rc) >> k2->s1;
  if (clamp == QK__CL_S8) return (int8_t)__ssat(y + e->zp, 8);
  if (clamp == QK__CL_U7) return (int8_t)__usat(y + e->zp, 7);
  if (y > e->hi) y = e->hi;
  if (y < e->lo) y = e->lo;
  return (int8_t)(y + e->zp);
}

/* One channel's view of a call: the input, the ring of row buffers, the weight tables, and how
 * an input row is laid into its slot (the same for every row). */
typedef struct {
  const int8_t* in;  /* channel c of input row 0 */
  int8_t* out;       /* channel c of output row 0 */
  int16_t* rows;     /* the ring, [group][slot][4] */
  int32_t* acc;      /* accumulators of one output row (the row-by-row path) */
  const int32_t* wt; /* the k_h rotations of the weight table */
  int32_t c, b, in_c, in_h, row_bytes, zp2, k_h, gs, out_w, nb, os, sh, ph;
  /* Row layout: the first input position's offset in slot 0, then `lead` positions up to a
   * group boundary, `groups` whole groups, `trail` positions. */
  int32_t first, lead, groups, trail;
} qk__dw3_ctx;

/* A row of the vertical padding: the positions an input row would take, as zeros. */
static __attribute__((noinline)) void qk__dw3_zero_row(const qk__dw3_ctx* x, int16_t* o) {
  int32_t i;
  for (i = x->lead; i > 0; --i) *o++ = 0;
  if (x->lead) o += x->gs - 4;
  for (i = x->groups; i > 0; --i, o += x->gs) {
    qk__st32(o, 0);
    qk__st32(o + 2, 0);
  }
  for (i = x->trail; i > 0; --i) *o++ = 0;
}

/* Loads input row `row` into the ring slot at o (rows + 4 slot + first): input position i goes
 * to position pl + i as x - zp; a row above or below the input (the vertical padding) as zeros.
 * The horizontal padding positions were zeroed once per call and are never written. */
static void qk__dw3_load(const qk__dw3_ctx* x, int32_t row, int16_t* o) {
  const int32_t in_c = x->in_c, step = 2 * in_c, gs = x->gs, zp2 = x->zp2, lead = x->lead;
  const int32_t groups = x->groups, trail = x->trail;
  const int16_t zp = (int16_t)zp2;
  const int8_t* src = x->in + row * x->row_bytes;
  int32_t i;
  if (row < 0 || row >= x->in_h) {
    qk__dw3_zero_row(x, o);
    return;
  }
  if (lead == 3) {
    /* pl = 1 mod 4 (a padding of 1, the usual case): the group's first position is padding
     * (zero), so the three values go out as two words. */
    qk__st32(o - 1, (int32_t)((uint32_t)(uint16_t)(src[0] - zp) << 16));
    qk__st32(o + 1, __ssub16(qk__pkhbt16(src[in_c], src[step]), zp2));
    src += step + in_c;
    o += gs - 1;
  } else {
    for (i = lead; i > 0; --i, src += in_c) *o++ = (int16_t)(*src - zp);
    if (lead) o += gs - 4; /* the same slot of the next group */
  }
  /* Whole groups: two byte loads packed into halfwords (PKHBT), one SSUB16, per word. */
  for (i = groups; i > 0; --i, o += gs, src += 2 * step) {
    qk__st32(o, __ssub16(qk__pkhbt16(src[0], src[in_c]), zp2));
    qk__st32(o + 2, __ssub16(qk__pkhbt16(src[step], src[step + in_c]), zp2));
  }
  for (i = trail; i > 0; --i, src += in_c) *o++ = (int16_t)(*src - zp);
}

/* Loads the rows [*next, until) not yet in the ring (slot: row mod k_h). */
static void qk__dw3_fill(const qk__dw3_ctx* x, int32_t* next, int32_t until) {
  int32_t row = *next, slot;
  if (row >= until) return;
  slot = (row % x->k_h + x->k_h) % x->k_h;
  for (; row < until; ++row) {
    qk__dw3_load(x, row, x->rows + 4 * slot + x->first);
    if (++slot == x->k_h) slot = 0;
  }
  *next = until;
}

/* The output rows [oy0, oy1) of a 3x3 kernel with a fast epilogue kind (rows in the vertical
 * padding are zero rows of the ring): per block of four pixels the three rows from the bias,
 * requantized straight from the registers. `mode` and `clamp` are constants at every call; the
 * epilogue's address is never taken, so its fields can stay in registers. */
static inline __attribute__((always_inline)) void qk__dw3_interior(
    const qk__dw3_ctx* x, const qk__epi* ep, const qk__epi_ch* kp, int32_t oy0, int32_t oy1,
    int32_t* next, const int mode, const int clamp) {
  const qk__epi e = *ep;
  /* The affine kinds: (mult, shift - 32) and the rounding constant (qk__dw3_epi). */
  const qk__epi_ch k = {kp->mult, mode == QK__RQ_AFFINE ? kp->s1 + 1 : kp->s1};
  const int32_t rc = mode == QK__RQ_AFFINE ? (int32_t)(1u << kp->s1) : 0;
  const int32_t out_w = x->out_w, os = x->os, b = x->b, rem = out_w & 3;
  int16_t* const ring = x->rows + x->first;
  int32_t oy, iy0 = oy0 * x->sh - x->ph, row = *next;
  int32_t slot = (row + 3) % 3; /* the slot of `row` (rows from -3 up) */
  for (oy = oy0; oy < oy1; ++oy, iy0 += x->sh) {
    const int16_t* g = x->rows;
    const int32_t* w;
    int8_t* o = x->out + oy * out_w * os;
    qk__dw3_acc v;
    int32_t j;
    if (row < iy0) { /* rows skipped by a stride above 3 */
      slot = (slot + iy0 - row) % 3;
      row = iy0;
    }
    for (; row < iy0 + 3; ++row) {
      qk__dw3_load(x, row, ring + 4 * slot);
      if (++slot == 3) slot = 0;
    }
    /* The slot after row iy0 + 2 is that of iy0: the table in this row's slot order. */
    w = x->wt + 9 * slot;
#define QK__DW3_BLOCK() qk__dw3_block(b, &g, w)
#define QK__DW3_PUT(acc)                            \
  do {                                              \
    *o = qk__dw3_epi(&e, &k, rc, acc, mode, clamp); \
    o += os;                                        \
  } while (0)
    for (j = out_w >> 2; j > 0; --j) {
      v = QK__DW3_BLOCK();
      QK__DW3_PUT(v.o0);
      QK__DW3_PUT(v.o1);
      QK__DW3_PUT(v.o2);
      QK__DW3_PUT(v.o3);
    }
    if (rem) {
      v = QK__DW3_BLOCK();
      QK__DW3_PUT(v.o0);
      if (rem > 1) QK__DW3_PUT(v.o1);
      if (rem > 2) QK__DW3_PUT(v.o2);
    }
#undef QK__DW3_PUT
#undef QK__DW3_BLOCK
  }
  *next = row;
}

/* The output rows [oy0, oy1) kernel row by kernel row into the accumulator buffer (rows at the
 * border, other kernel heights, the generic epilogue), then requantized. */
static void qk__dw3_rows_by_row(const qk__dw3_ctx* x, const qk__epi* e, const qk__epi_ch* k,
                                int32_t oy0, int32_t oy1, int32_t* next) {
  int32_t* const acc_end = x->acc + 4 * x->nb;
  int32_t oy;
  for (oy = oy0; oy < oy1; ++oy) {
    const int32_t iy0 = oy * x->sh - x->ph;
    const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
    const int32_t ky_hi = x->in_h - iy0 < x->k_h ? x->in_h - iy0 : x->k_h;
    int32_t ky, slot;
    int32_t* a;
    if (*next < iy0 + ky_lo) *next = iy0 + ky_lo; /* rows skipped by a stride above k_h */
    qk__dw3_fill(x, next, iy0 + ky_hi);
    for (a = x->acc; a != acc_end; a += 4) a[0] = a[1] = a[2] = a[3] = x->b;
    slot = ky_lo < ky_hi ? (iy0 + ky_lo) % x->k_h : 0;
    for (ky = ky_lo; ky < ky_hi; ++ky) {
      const int16_t* g = x->rows + 4 * slot;
      const int32_t* const w = x->wt + 3 * ky;
      if (++slot == x->k_h) slot = 0;
      for (a = x->acc; a != acc_end; a += 4, g += x->gs) {
        qk__dw3_acc v;
        v.o0 = a[0];
        v.o1 = a[1];
        v.o2 = a[2];
        v.o3 = a[3];
        v = qk__dw3_row(v, g, x->gs, w);
        a[0] = v.o0;
        a[1] = v.o1;
        a[2] = v.o2;
        a[3] = v.o3;
      }
    }
    qk__dw3_store_row(e, k, x->c, x->acc, x->out_w, x->out + oy * x->out_w * x->os, x->os);
  }
}

/* All output rows of a 3x3 kernel for the epilogue kind at hand (qk_config.h leaves out the
 * unused kinds). */
static void qk__dw3_interior_any(const qk__dw3_ctx* x, const qk__epi* e, const qk__epi_ch* k,
                                 int32_t oy0, int32_t oy1, int32_t* next) {
#define QK__DW3_INTERIOR(mode, clamp) qk__dw3_interior(x, e, k, oy0, oy1, next, mode, clamp)
  switch (e->kind) {
    QK__EPI_FAST_CASES(QK__DW3_INTERIOR)
    default:
      /* A kind qk_config.h switched off: the row-by-row path's generic epilogue, still exact. */
      qk__dw3_rows_by_row(x, e, k, oy0, oy1, next);
      break;
  }
#undef QK__DW3_INTERIOR
}

/* The weight tables of one channel (wc: k_h rows of three int8 weights): per kernel row
 * P = (w0, w1), Q = (w2, 0), R = (w1, w2); table t (t = 0..k_h-1) holds kernel row ky at slot
 * (ky + t) mod k_h, the order of an output row whose first input row is in slot t. */
static void qk__dw3_weights(const int8_t* wc, int32_t k_h, int32_t* wt) {
  int32_t ky, t;
  for (ky = 0; ky < k_h; ++ky, wc += 3) {
    const uint32_t w0 = (uint16_t)(int16_t)wc[0], w1 = (uint16_t)(int16_t)wc[1];
    const uint32_t w2 = (uint16_t)(int16_t)wc[2];
    for (t = 0; t < k_h; ++t) {
      int32_t* const d = wt + 3 * (t * k_h + (ky + t) % k_h);
      d[0] = (int32_t)(w0 | w1 << 16);
      d[1] = (int32_t)w2;
      d[2] = (int32_t)(w1 | w2 << 16);
    }
  }
}

/* All output pixels of channel c: weights at wc (int8, k_h x 3), scratch laid out as
 * qk__dsp_dw3_bytes says, the padding positions of its row buffers zero. */
static void qk__dw3_channel(const qk_conv_params* p, const int8_t* in, const int8_t* wc, int32_t b,
                            const qk__epi* ep, int32_t c, uint8_t* s, int8_t* out) {
  /* Local copies: the int8 output stores may alias anything reached through a pointer. */
  const qk__epi e = *ep;
  const int32_t len = qk__dsp_dw3_row_len(p), k_h = p->k_h;
  qk__epi_ch k = {0, 0};
  qk__dw3_ctx x;
  int32_t next = 0; /* the first input row not yet loaded */
  x.in = in + c;
  x.out = out + c;
  x.c = c;
  x.b = b;
  x.in_c = p->in_c;
  x.in_h = p->in_h;
  x.row_bytes = p->in_w * p->in_c;
  x.zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)p->in_zp * 0x10001u);
  x.k_h = k_h;
  x.gs = 4 * k_h; /* int16 per group of four positions of every slot */
  {
    const int32_t pl = p->pad_w < len ? p->pad_w : len;
    const int32_t n = p->in_w < len - pl ? p->in_w : len - pl; /* input positions a row holds */
    const int32_t lead = (4 - (pl & 3)) & 3;
    x.first = (pl >> 2) * x.gs + (pl & 3);
    x.lead = lead < n ? lead : n;
    x.groups = (n - x.lead) >> 2;
    x.trail = (n - x.lead) & 3;
  }
  x.out_w = p->out_w;
  x.nb = (p->out_w + 3) / 4;
  x.os = p->out_c;
  x.sh = p->stride_h;
  x.ph = p->pad_h;
  x.acc = (int32_t*)__builtin_assume_aligned(s, 8);
  x.wt = x.acc + 4 * x.nb;
  x.rows = (int16_t*)(x.acc + 4 * x.nb + 3 * k_h * k_h + (k_h & 1));
  if (e.kind != QK__EPI_GENERIC) k = qk__epi_channel(&e, c);
  qk__dw3_weights(wc, k_h, (int32_t*)x.wt);
  /* 3x3 with a fast epilogue kind and at most 3 rows of vertical padding (zero rows of the
   * ring): every output row in one asm block per four pixels. */
  if (e.kind != QK__EPI_GENERIC && k_h == 3 && p->pad_h <= 3) {
    next = -p->pad_h;
    qk__dw3_interior_any(&x, &e, &k, 0, p->out_h, &next);
  } else {
    qk__dw3_rows_by_row(&x, &e, &k, 0, p->out_h, &next);
  }
}

/* Both weight formats: w (int8), or wpk (packed, bits 4 / 2) unpacked per channel into the
 * scratch after the row buffers. `packed` is a constant at both calls. */
static inline __attribute__((always_inline)) int qk__dw3_any(const qk_conv_params* p,
                                                             const int8_t* in, const int8_t* w,
                                                             const uint8_t* wpk, const int packed,
                                                             int32_t bits, const int32_t* bias,
                                                             const qk_requant* rq, int8_t* out,
                                                             void* scratch) {
  const int32_t taps = 3 * p->k_h;
  uint8_t* const s = qk__dsp_align8(scratch);
  int8_t* const wu = (int8_t*)(s + qk__dsp_dw3_bytes(p));
  qk__epi e;
  int32_t c;
  if (!qk__dsp_dw3_ok(p, scratch)) return 0;
  /* The row buffers' padding positions stay zero for every row and channel. */
  memset(s, 0, qk__dsp_dw3_bytes(p));
  e = qk__epi_make(rq, p->out_c, p->out_zp, p->act_min, p->act_max);
  for (c = 0; c < p->in_c; ++c) {
    const int8_t* wc = wu;
    if (!packed)
      wc = w + c * taps;
    else
      qk__dsp_unpack(wpk, c * taps, taps, bits, wu);
    qk__dw3_channel(p, in, wc, bias != NULL ? bias[c] : 0, &e, c, s, out);
  }
  return 1;
}

int qk__dsp_dw3_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch) {
  return qk__dw3_any(p, in, w, NULL, 0, 8, bias, rq, out, scratch);
}

int qk__dsp_dw3_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w, int32_t bits,
                          const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  return qk__dw3_any(p, in, NULL, w, 1, bits, bias, rq, out, scratch);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__dw3_s8_dsp_unused;
#endif /* QK__DSP */
