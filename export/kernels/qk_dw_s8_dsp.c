/*
 * Optimized int8 depthwise convolution (groups == in_c == out_c) for Armv7E-M. Called by
 * qk__dsp_conv_s8; compiles to nothing without QK_USE_DSP / __ARM_FEATURE_DSP. Bit-identical to
 * qk_ref_conv_s8 (see qk_dsp.h).
 *
 * Channels are independent, so SMLAD (which adds its two lane products) does not apply along
 * the channel dimension. Instead four channels are processed at once with the single-lane
 * multiply-accumulates SMLABB / SMLATT: one word load brings channels c..c+3 of one input
 * position, SXTB16 / SXTB16 ROR #8 split it into (c, c+2) and (c+1, c+3), and the weights of the
 * block are pre-widened and transposed into the scratch buffer ([tap][(c, c+2), (c+1, c+3)]), one
 * LDRD per tap. Per tap and four channels: LDR, 2 SXTB16, LDRD, 4 SMLAxy (+ 2 SSUB16 when the
 * input zero point must be subtracted).
 *
 * Zero point: at pixels whose window lies fully inside the input, sum((x - zp) w) is computed as
 * sum(x w) - zp sum(w) with the correction folded into the initial accumulator (exact modulo
 * 2^32, like the reference's int32 sum whose partial sums the exporter bounds); windows that
 * touch the padding skip the missing taps and subtract zp per value, exactly as the reference.
 * Channels beyond the last multiple of four take a scalar loop.
 */
#include "qk_dsp.h"

#if QK__DSP

/* Widens and transposes the weights of channels c..c+3 ([c][tap], int8) into wp: per tap the
 * words (w[c], w[c+2]) and (w[c+1], w[c+3]). */
static void qk__dw_pack(const int8_t* w, int32_t taps, uint8_t* wp) {
  int32_t t;
  for (t = 0; t < taps; ++t, wp += 8) {
    const uint32_t w0 = (uint16_t)(int16_t)w[t], w1 = (uint16_t)(int16_t)w[taps + t];
    const uint32_t w2 = (uint16_t)(int16_t)w[2 * taps + t], w3 = (uint16_t)(int16_t)w[3 * taps + t];
    qk__st32(wp, (int32_t)(w0 | w2 << 16));
    qk__st32(wp + 4, (int32_t)(w1 | w3 << 16));
  }
}

typedef struct {
  int32_t c0, c1, c2, c3;
} qk__dw_acc;

/* One tap of four channels: x = the four input values, wt = the tap's two packed weight words. */
static inline __attribute__((always_inline)) void qk__dw_tap(qk__dw_acc* a, int32_t x,
                                                            const uint8_t* wt, int32_t zp2,
                                                            const int sub_zp) {
  int32_t xe = __sxtb16(x), xo = qk__sxtb16_ror8(x);
  const int32_t we = qk__ld32(wt), wo = qk__ld32(wt + 4);
  if (sub_zp) {
    xe = __ssub16(xe, zp2);
    xo = __ssub16(xo, zp2);
  }
  a->c0 = __smlabb(xe, we, a->c0);
  a->c2 = __smlatt(xe, we, a->c2);
  a->c1 = __smlabb(xo, wo, a->c1);
  a->c3 = __smlatt(xo, wo, a->c3);
}

/* Taps [ky_lo, ky_hi) x [kx_lo, kx_hi) of one pixel. src: input at (iy0, ix0), channel c. */
static inline __attribute__((always_inline)) void qk__dw_taps(
    qk__dw_acc* a, const qk_conv_params* p, const int8_t* src, const uint8_t* wp, int32_t ky_lo,
    int32_t ky_hi, int32_t kx_lo, int32_t kx_hi, int32_t zp2, const int sub_zp) {
  const int32_t c = p->in_c, row = p->in_w * p->in_c;
  int32_t ky, kx;
  for (ky = ky_lo; ky < ky_hi; ++ky) {
    const int8_t* s = src + ky * row + kx_lo * c;
    const uint8_t* wt = wp + 8 * (ky * p->k_w + kx_lo);
    if (kx_hi - kx_lo == 3) {
      /* The common 3-wide row, unrolled. */
      qk__dw_tap(a, qk__ld32(s), wt, zp2, sub_zp);
      qk__dw_tap(a, qk__ld32(s + c), wt + 8, zp2, sub_zp);
      qk__dw_tap(a, qk__ld32(s + 2 * c), wt + 16, zp2, sub_zp);
    } else {
      for (kx = kx_lo; kx < kx_hi; ++kx, s += c, wt += 8) qk__dw_tap(a, qk__ld32(s), wt, zp2, sub_zp);
    }
  }
}

int qk__dsp_dwconv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch) {
  const int32_t ch = p->in_c, taps = p->k_h * p->k_w, zp = p->in_zp;
  const int32_t zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)zp * 0x10001u);
  uint8_t* const wp = (uint8_t*)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
  const qk__epi e = qk__epi_make(rq, p->out_c, p->out_zp, p->act_min, p->act_max);
  int32_t cb, oy, ox;

  for (cb = 0; cb + 4 <= ch; cb += 4) {
    int32_t b[4], corr[4], i, t;
    qk__epi_ch k[4];
    qk__dw_pack(w + cb * taps, taps, wp);
    for (i = 0; i < 4; ++i) {
      int32_t sw = 0;
      for (t = 0; t < taps; ++t) sw += w[(cb + i) * taps + t];
      b[i] = bias != NULL ? bias[cb + i] : 0;
      /* bias - zp * sum(w), modulo 2^32 (|zp * sum(w)| < 2^15 * taps). */
      corr[i] = (int32_t)((uint32_t)b[i] - (uint32_t)(zp * sw));
      if (e.mode != QK__EPI_GENERIC) k[i] = qk__epi_channel(&e, cb + i);
    }
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
      const int32_t ky_hi = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
        const int32_t kx_hi = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
        int8_t* const o = out + ((int32_t)oy * p->out_w + ox) * p->out_c + cb;
        qk__dw_acc a;
        if (ky_lo == 0 && kx_lo == 0 && ky_hi == p->k_h && kx_hi == p->k_w) {
          const int8_t* src = in + ((int32_t)iy0 * p->in_w + ix0) * ch + cb;
          a.c0 = corr[0];
          a.c1 = corr[1];
          a.c2 = corr[2];
          a.c3 = corr[3];
          qk__dw_taps(&a, p, src, wp, 0, p->k_h, 0, p->k_w, zp2, 0);
        } else {
          a.c0 = b[0];
          a.c1 = b[1];
          a.c2 = b[2];
          a.c3 = b[3];
          if (ky_lo < ky_hi && kx_lo < kx_hi) {
            /* Only the taps inside the input, with the zero point subtracted per value. */
            const int8_t* s0 = in + ((int32_t)(iy0 + ky_lo) * p->in_w + ix0 + kx_lo) * ch + cb;
            int32_t ky, kx;
            for (ky = ky_lo; ky < ky_hi; ++ky, s0 += p->in_w * ch) {
              const int8_t* s = s0;
              const uint8_t* wt = wp + 8 * (ky * p->k_w + kx_lo);
              for (kx = kx_lo; kx < kx_hi; ++kx, s += ch, wt += 8)
                qk__dw_tap(&a, qk__ld32(s), wt, zp2, 1);
            }
          }
        }
        if (e.mode == QK__EPI_POW2) {
          o[0] = qk__epi_pow2(&e, &k[0], a.c0);
          o[1] = qk__epi_pow2(&e, &k[1], a.c1);
          o[2] = qk__epi_pow2(&e, &k[2], a.c2);
          o[3] = qk__epi_pow2(&e, &k[3], a.c3);
        } else if (e.mode == QK__EPI_AFFINE) {
          o[0] = qk__epi_affine(&e, &k[0], a.c0);
          o[1] = qk__epi_affine(&e, &k[1], a.c1);
          o[2] = qk__epi_affine(&e, &k[2], a.c2);
          o[3] = qk__epi_affine(&e, &k[3], a.c3);
        } else {
          o[0] = qk__epi_generic(&e, a.c0, cb);
          o[1] = qk__epi_generic(&e, a.c1, cb + 1);
          o[2] = qk__epi_generic(&e, a.c2, cb + 2);
          o[3] = qk__epi_generic(&e, a.c3, cb + 3);
        }
      }
    }
  }

  /* Remaining channels, one at a time (the reference loop restricted to them). */
  for (; cb < ch; ++cb) {
    const int8_t* const wc = w + cb * taps;
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

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__dw_s8_dsp_unused;
#endif /* QK__DSP */
