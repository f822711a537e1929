/*
 * Optimized int8 depthwise convolution (groups == in_c == out_c) for Armv7E-M. Selected by
 * qk_conv_s8 (qk_dispatch.c); compiles to nothing without QK_USE_DSP / __ARM_FEATURE_DSP.
 * Bit-identical to qk_ref_conv_s8 (see qk_dsp.h). A channel multiplier above 1 takes the grouped
 * im2col path of qk_conv_s8_dsp.c instead.
 *
 * Channels are independent, so SMLAD (which adds its two lane products) does not apply along the
 * channel dimension. Four channels are processed at once with the single-lane multiply-
 * accumulates SMLABB / SMLATT: one word load brings channels c..c+3 of one input position,
 * SXTB16 / SXTB16 ROR #8 split it into (c, c+2) and (c+1, c+3), and the weights of the block are
 * pre-widened and transposed into the scratch buffer ([tap][(c, c+2), (c+1, c+3)]), one LDRD per
 * tap: LDR, LDRD, 2 SXTB16, 4 SMLAxy = 8 instructions per tap and four channels. Loop order:
 * block of four channels, then output pixels, so the weights are packed once per call.
 *
 * Zero point: at pixels whose window lies inside the input (the common case), sum((x - zp) w) is
 * computed as sum(x w) - zp sum(w) with the correction folded into the initial accumulator
 * (exact modulo 2^32, like the reference's int32 sum whose partial sums the exporter bounds), and
 * a 3-wide kernel row is unrolled. Windows that touch the padding visit only the taps inside the
 * input and subtract zp per value (2 SSUB16), exactly as the reference. Channels beyond the last
 * multiple of four take a scalar loop.
 */
#include "qk_dsp.h"

#if QK__DSP

/* Widens and transposes the weights of channels c..c+3 ([c][tap], int8) into wp: per tap the
 * words (w[c], w[c+2]) and (w[c+1], w[c+3]). */
static void qk__dw_pack(const int8_t* w, int32_t taps, uint8_t* wp) {
  int32_t t;
  for (t = 0; t < taps; ++t, wp += 8) {
    const uint32_t w0 = (uint16_t)(int16_t)w[t], w1 = (uint16_t)(int16_t)w[taps + t];
    const uint32_t w2 = (uint16_t)(int16_t)w[2 * taps + t];
    const uint32_t w3 = (uint16_t)(int16_t)w[3 * taps + t];
    qk__st32(wp, (int32_t)(w0 | w2 << 16));
    qk__st32(wp + 4, (int32_t)(w1 | w3 << 16));
  }
}

/* Accumulators of channels c, c+1, c+2, c+3, passed by value (registers once inlined). */
typedef struct {
  int32_t c0, c1, c2, c3;
} qk__dw_acc;

/* One tap of four channels: xe / xo hold the widened input of channels c, c+2 / c+1, c+3, the
 * packed weights at wt are (c, c+2) then (c+1, c+3). */
static inline __attribute__((always_inline)) qk__dw_acc qk__dw_mac(qk__dw_acc a, int32_t xe,
                                                                   int32_t xo, const uint8_t* wt) {
  const int32_t we = qk__ld32(wt), wo = qk__ld32(wt + 4);
  a.c0 = __smlabb(xe, we, a.c0);
  a.c2 = __smlatt(xe, we, a.c2);
  a.c1 = __smlabb(xo, wo, a.c1);
  a.c3 = __smlatt(xo, wo, a.c3);
  return a;
}

/* One tap at s without the zero point (interior pixels). */
static inline qk__dw_acc qk__dw_tap(qk__dw_acc a, const int8_t* s, const uint8_t* wt) {
  const int32_t x = qk__ld32(s);
  return qk__dw_mac(a, __sxtb16(x), qk__sxtb16_ror8(x), wt);
}

/* One tap at s minus the zero point (windows touching the padding). */
static inline qk__dw_acc qk__dw_tap_zp(qk__dw_acc a, const int8_t* s, const uint8_t* wt,
                                       int32_t zp2) {
  const int32_t x = qk__ld32(s);
  return qk__dw_mac(a, __ssub16(__sxtb16(x), zp2), __ssub16(qk__sxtb16_ror8(x), zp2), wt);
}

#if QK__DSP_ASM
/* One tap: input word at s + off, packed weights at wt + woff (assembler immediates). */
#define QK__DW_TAP(off, woff)             \
  "ldr %[x], [%[s], " off                 \
  "]\n\t"                                 \
  "ldrd %[we], %[wo], [%[wt], #" woff     \
  "]\n\t"                                 \
  "sxtb16 %[xo], %[x], ror #8\n\t"        \
  "sxtb16 %[x], %[x]\n\t"                 \
  "smlabb %[a0], %[x], %[we], %[a0]\n\t"  \
  "smlatt %[a2], %[x], %[we], %[a2]\n\t"  \
  "smlabb %[a1], %[xo], %[wo], %[a1]\n\t" \
  "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
#endif

/* One 3-wide kernel row inside the input: taps at s, s + c1, s + 2 c1, weights at wt (24 bytes).
 * 24 instructions for 12 MACs; 11 register operands, which also fit at -O0 and with a frame
 * pointer. */
static inline __attribute__((always_inline)) qk__dw_acc qk__dw_row3(qk__dw_acc a, const int8_t* s,
                                                                    int32_t c1, const uint8_t* wt) {
#if QK__DSP_ASM
  int32_t x, xo, we, wo;
  /* The taps are not described as memory operands (their address registers would not fit):
   * "memory" tells the compiler the asm reads memory. */
  __asm__(QK__DW_TAP("#0", "0") QK__DW_TAP("%[c1]", "8") QK__DW_TAP("%[c1], lsl #1", "16")
          : [a0] "+r"(a.c0), [a1] "+r"(a.c1), [a2] "+r"(a.c2), [a3] "+r"(a.c3), [x] "=&r"(x),
            [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)
          : [s] "r"(s), [c1] "r"(c1), [wt] "r"(wt)
          : "memory");
  return a;
#else
  int32_t j;
  for (j = 0; j < 3; ++j, s += c1, wt += 8) a = qk__dw_tap(a, s, wt);
  return a;
#endif
}

/* A 3x3 window inside the input: rows at s, s + row, s + 2 row, weights at wt (72 bytes). */
static inline __attribute__((always_inline)) qk__dw_acc qk__dw_3x3(qk__dw_acc a, const int8_t* s,
                                                                   int32_t row, int32_t c1,
                                                                   const uint8_t* wt) {
  a = qk__dw_row3(a, s, c1, wt);
  a = qk__dw_row3(a, s + row, c1, wt + 24);
  return qk__dw_row3(a, s + 2 * row, c1, wt + 48);
}

/* Requantizes the accumulators of channels cb..cb+3 of one pixel into o[0..3]. */
static inline __attribute__((always_inline)) void qk__dw_store(const qk__epi* e,
                                                               const qk__epi_ch k[4], int32_t cb,
                                                               qk__dw_acc a, int8_t* o) {
  (void)k, (void)cb, (void)a, (void)o; /* unused when qk_config.h switches the kinds off */
#define QK__DW4(mode, clamp)                          \
  do {                                                \
    o[0] = qk__epi_fast(e, &k[0], a.c0, mode, clamp); \
    o[1] = qk__epi_fast(e, &k[1], a.c1, mode, clamp); \
    o[2] = qk__epi_fast(e, &k[2], a.c2, mode, clamp); \
    o[3] = qk__epi_fast(e, &k[3], a.c3, mode, clamp); \
  } while (0)
  switch (e->kind) {
    QK__EPI_FAST_CASES(QK__DW4)
    default:
      o[0] = QK__EPI_GENERIC_CALL(e, a.c0, cb);
      o[1] = QK__EPI_GENERIC_CALL(e, a.c1, cb + 1);
      o[2] = QK__EPI_GENERIC_CALL(e, a.c2, cb + 2);
      o[3] = QK__EPI_GENERIC_CALL(e, a.c3, cb + 3);
      break;
  }
#undef QK__DW4
}

/* One output pixel computed tap by tap (windows that touch the padding, or kernels that are not
 * 3x3): the taps [ky_lo, ky_hi) x [kx_lo, kx_hi) inside the input, zero point subtracted per
 * value when `sub` (else the initial accumulators hold the correction). */
static qk__dw_acc qk__dw_taps(qk__dw_acc a, const qk_conv_params* p, const int8_t* in,
                              const uint8_t* wp, int32_t cb, int32_t oy, int32_t ox, int sub) {
  const int32_t ch = p->in_c;
  const int32_t zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)p->in_zp * 0x10001u);
  const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
  const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
  const int32_t ky_hi = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
  const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
  const int32_t kx_hi = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
  int32_t ky, kx;
  for (ky = ky_lo; ky < ky_hi && kx_lo < kx_hi; ++ky) {
    const int8_t* s = in + ((int32_t)(iy0 + ky) * p->in_w + ix0 + kx_lo) * ch + cb;
    const uint8_t* wt = wp + 8 * (ky * p->k_w + kx_lo);
    for (kx = kx_lo; kx < kx_hi; ++kx, s += ch, wt += 8)
      a = sub ? qk__dw_tap_zp(a, s, wt, zp2) : qk__dw_tap(a, s, wt);
  }
  return a;
}

/* All output pixels of channels cb..cb+3 (weights packed at wp, bias b, correction corr). */
static void qk__dw_block(const qk_conv_params* p, const int8_t* in, const uint8_t* wp,
                         const int32_t b[4], const int32_t corr[4], const qk__epi* ep,
                         const qk__epi_ch k[4], int32_t cb, int8_t* out) {
  const int32_t ch = p->in_c, row = p->in_w * ch, step = p->stride_w * ch;
  /* Output columns whose window lies inside the input horizontally: [ox_lo, ox_hi). */
  const int32_t ox_lo = (p->pad_w + p->stride_w - 1) / p->stride_w;
  const int32_t ox_last =
      (p->in_w - p->k_w + p->pad_w) >= 0 ? (p->in_w - p->k_w + p->pad_w) / p->stride_w + 1 : 0;
  const int32_t ox_hi = ox_last < p->out_w ? ox_last : p->out_w;
  const int fast3 = p->k_h == 3 && p->k_w == 3;
  /* A local copy: the int8 output stores may alias anything reached through a pointer. */
  const qk__epi e = *ep;
  int32_t oy, ox;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int rows_in = iy0 >= 0 && iy0 + p->k_h <= p->in_h;
    int8_t* o = out + (int32_t)oy * p->out_w * p->out_c + cb;
    for (ox = 0; ox < p->out_w; ++ox, o += p->out_c) {
      qk__dw_acc a;
      if (rows_in && ox >= ox_lo && ox < ox_hi) {
        if (fast3) {
          /* The interior run of the row: one 3x3 block per pixel, stepping the input pointer. */
          const int8_t* s = in + ((int32_t)iy0 * p->in_w + ox * p->stride_w - p->pad_w) * ch + cb;
          for (; ox < ox_hi; ++ox, o += p->out_c, s += step) {
            a.c0 = corr[0];
            a.c1 = corr[1];
            a.c2 = corr[2];
            a.c3 = corr[3];
            a = qk__dw_3x3(a, s, row, ch, wp);
            qk__dw_store(&e, k, cb, a, o);
          }
          --ox;
          o -= p->out_c;
          continue;
        }
        a.c0 = corr[0];
        a.c1 = corr[1];
        a.c2 = corr[2];
        a.c3 = corr[3];
        a = qk__dw_taps(a, p, in, wp, cb, oy, ox, 0);
      } else {
        a.c0 = b[0];
        a.c1 = b[1];
        a.c2 = b[2];
        a.c3 = b[3];
        a = qk__dw_taps(a, p, in, wp, cb, oy, ox, 1);
      }
      qk__dw_store(&e, k, cb, a, o);
    }
  }
}

/* Both weight formats: w (int8), or wpk (packed, bits 4 / 2) whose taps are unpacked per block
 * of four channels into wu, after the widened weights in the scratch. `packed` is a constant at
 * both calls. */
static inline __attribute__((always_inline)) int qk__dwconv_s8_any(
    const qk_conv_params* p, const int8_t* in, const int8_t* w, const uint8_t* wpk,
    const int packed, int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
    void* scratch) {
  const int32_t ch = p->in_c, taps = p->k_h * p->k_w, zp = p->in_zp;
  uint8_t* const wp = qk__dsp_align8(scratch);
  int8_t* const wu = (int8_t*)(wp + 8 * taps);
  qk__epi e;
  int32_t cb, oy, ox;
  if (!qk__dsp_conv_ok(p, scratch)) return 0;
  e = qk__epi_make(rq, p->out_c, p->out_zp, p->act_min, p->act_max);

  for (cb = 0; cb + 4 <= ch; cb += 4) {
    int32_t b[4], corr[4], i, t;
    qk__epi_ch k[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    const int8_t* wb = wu;
    if (!packed)
      wb = w + cb * taps;
    else
      qk__dsp_unpack(wpk, cb * taps, 4 * taps, bits, wu);
    qk__dw_pack(wb, taps, wp);
    for (i = 0; i < 4; ++i) {
      int32_t sw = 0;
      for (t = 0; t < taps; ++t) sw += wb[i * taps + t];
      b[i] = bias != NULL ? bias[cb + i] : 0;
      /* bias - zp * sum(w), modulo 2^32 (|zp * sum(w)| < 2^14 * taps). */
      corr[i] = (int32_t)((uint32_t)b[i] - (uint32_t)zp * (uint32_t)sw);
      if (e.kind != QK__EPI_GENERIC) k[i] = qk__epi_channel(&e, cb + i);
    }
    qk__dw_block(p, in, wp, b, corr, &e, k, cb, out);
  }

  /* Remaining channels, one at a time (the reference loop restricted to them). */
  for (; cb < ch; ++cb) {
    const int8_t* wc = wu;
    if (!packed)
      wc = w + cb * taps;
    else
      qk__dsp_unpack(wpk, cb * taps, taps, bits, wu);
    const int32_t b = bias != NULL ? bias[cb] : 0;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
      const int32_t ky_hi = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
        const int32_t kx_hi = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
        int32_t acc = b, ky, kx;
        for (ky = ky_lo; ky < ky_hi; ++ky)
          for (kx = kx_lo; kx < kx_hi; ++kx)
            acc += ((int32_t)in[((iy0 + ky) * p->in_w + ix0 + kx) * ch + cb] - zp) *
                   wc[ky * p->k_w + kx];
        out[((int32_t)oy * p->out_w + ox) * p->out_c + cb] = qk__epi_one(&e, acc, cb);
      }
    }
  }
  return 1;
}

int qk__dsp_dwconv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  return qk__dwconv_s8_any(p, in, w, NULL, 0, 8, bias, rq, out, scratch);
}

int qk__dsp_dwconv_s8_packed(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                             int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out,
                             void* scratch) {
  return qk__dwconv_s8_any(p, in, NULL, w, 1, bits, bias, rq, out, scratch);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__dw_s8_dsp_unused;
#endif /* QK__DSP */
