/*
 * Optimized int16 convolution and fully connected layer (int16 activations and weights, pow2
 * Qm.n or symmetric affine) for Armv7E-M. Selected by qk_conv_s16 / qk_linear_s16
 * (qk_dispatch.c) with QK_USE_DSP on a core with the DSP extension; compiles to nothing
 * elsewhere. Bit-identical to qk_ref_conv_s16 / qk_ref_linear_s16: SMLALD adds two 16 x 16
 * products to a 64-bit accumulator exactly, which is the reference's int64 accumulation; the
 * requantization and clamp are the reference's functions.
 *
 * Convolution: the windows of two output pixels are gathered into the scratch as int16 columns
 * (K = k_h k_w in_c / groups values, padding as 0), then per output channel one weight word
 * (two values) feeds an SMLALD for each column: 3 loads + 2 SMLALD per 4 MACs. Taken when the
 * input zero point is 0 (a padded value is then 0, and x - zp needs no 17th bit).
 * Linear: two output rows share each input word: 3 loads + 2 SMLALD per 4 MACs, no scratch.
 * An odd K or in_features ends with one scalar product.
 */
#include "qk_dsp.h"

#if QK__DSP

static inline int64_t qk__smlald2(const int16_t* x, const int16_t* w, int64_t acc) {
  return __smlald((uint32_t)qk__ld32(x), (uint32_t)qk__ld32(w), acc);
}

/* qk__requantize + qk__apply_out_clamp of one accumulator, with a 32-bit path for the common case
 * (power-of-two shift in [1, 31] and an accumulator inside int32): arithmetic shifts of the
 * sign-extended value give the 64-bit result exactly. */
static inline int16_t qk__s16_out(int64_t acc, const qk_requant* rq, int32_t oc,
                                  const qk__out_clamp* c) {
  const int32_t s = rq->shift[rq->per_channel ? oc : 0];
  if (rq->mult == NULL && s >= 1 && s <= 31 && acc == (int64_t)(int32_t)acc) {
    const int32_t a = (int32_t)acc;
    const int64_t y = (int64_t)((a >> s) + ((a >> (s - 1)) & 1));
    return (int16_t)((y > c->hi ? c->hi : y < c->lo ? c->lo : y) + c->zp);
  }
  return (int16_t)qk__apply_out_clamp(qk__requantize(acc, rq, oc), c);
}

/* The window of output pixel `pix` (row-major over out_h x out_w) of group input `in_g`. */
static void qk__s16_gather(const qk_conv_params* p, const int16_t* in_g, int32_t icg, int32_t pix,
                           int16_t* col) {
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
  const size_t row_bytes = (size_t)icg * sizeof(int16_t);
  int32_t ky, kx;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = iy0 + ky;
    if (iy < 0 || iy >= p->in_h) {
      memset(col, 0, row_bytes * (size_t)p->k_w);
      col += icg * p->k_w;
      continue;
    }
    for (kx = 0; kx < p->k_w; ++kx, col += icg) {
      const int32_t ix = ix0 + kx;
      if (ix < 0 || ix >= p->in_w)
        memset(col, 0, row_bytes);
      else
        memcpy(col, in_g + ((size_t)iy * p->in_w + ix) * p->in_c, row_bytes);
    }
  }
}

int qk__dsp_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w,
                     const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch) {
  int32_t groups, icg, ocg, k, ke, npix, g, pix;
  int16_t *col0, *col1;
  qk__out_clamp clamp;
  if (!qk__dsp_conv_shape_ok(p) || p->in_zp != 0 || scratch == NULL) return 0;
  groups = p->groups > 0 ? p->groups : 1;
  icg = p->in_c / groups;
  ocg = p->out_c / groups;
  k = p->k_h * p->k_w * icg;
  ke = k + (k & 1);
  col0 = (int16_t*)qk__dsp_align8(scratch);
  col1 = col0 + ke;
  clamp = qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, INT16_MIN, INT16_MAX);
  npix = p->out_h * p->out_w;
  for (g = 0; g < groups; ++g) {
    const int16_t* in_g = in + g * icg;
    for (pix = 0; pix < npix; pix += 2) {
      const int two = pix + 1 < npix;
      int32_t oc;
      qk__s16_gather(p, in_g, icg, pix, col0);
      if (two) qk__s16_gather(p, in_g, icg, pix + 1, col1);
      for (oc = g * ocg; oc < (g + 1) * ocg; ++oc) {
        const int16_t* wr = w + (size_t)oc * k;
        int64_t a0 = bias != NULL ? bias[oc] : 0, a1 = a0;
        int32_t i = 0;
        if (two) {
          for (; i + 3 < k; i += 4) {
            a0 = qk__smlald2(col0 + i, wr + i, a0);
            a1 = qk__smlald2(col1 + i, wr + i, a1);
            a0 = qk__smlald2(col0 + i + 2, wr + i + 2, a0);
            a1 = qk__smlald2(col1 + i + 2, wr + i + 2, a1);
          }
          for (; i + 1 < k; i += 2) {
            a0 = qk__smlald2(col0 + i, wr + i, a0);
            a1 = qk__smlald2(col1 + i, wr + i, a1);
          }
          if (i < k) {
            a0 += (int64_t)col0[i] * wr[i];
            a1 += (int64_t)col1[i] * wr[i];
          }
          out[(size_t)(pix + 1) * p->out_c + oc] = qk__s16_out(a1, rq, oc, &clamp);
        } else {
          for (; i + 1 < k; i += 2) a0 = qk__smlald2(col0 + i, wr + i, a0);
          if (i < k) a0 += (int64_t)col0[i] * wr[i];
        }
        out[(size_t)pix * p->out_c + oc] = qk__s16_out(a0, rq, oc, &clamp);
      }
    }
  }
  return 1;
}

int qk__dsp_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                       const int32_t* bias, const qk_requant* rq, int16_t* out) {
  const int32_t n = p->in_features, m = p->out_features;
  qk__out_clamp clamp;
  int32_t o;
  if (n <= 0 || m <= 0 || p->in_zp != 0) return 0;
  clamp = qk__make_out_clamp(p->out_zp, p->act_min, p->act_max, INT16_MIN, INT16_MAX);
  for (o = 0; o + 1 < m; o += 2) {
    const int16_t *w0 = w + (size_t)o * n, *w1 = w0 + n;
    int64_t a0 = bias != NULL ? bias[o] : 0, a1 = bias != NULL ? bias[o + 1] : 0;
    int32_t i = 0;
    for (; i + 1 < n; i += 2) {
      const uint32_t x = (uint32_t)qk__ld32(in + i);
      a0 = __smlald(x, (uint32_t)qk__ld32(w0 + i), a0);
      a1 = __smlald(x, (uint32_t)qk__ld32(w1 + i), a1);
    }
    if (i < n) {
      a0 += (int64_t)in[i] * w0[i];
      a1 += (int64_t)in[i] * w1[i];
    }
    out[o] = qk__s16_out(a0, rq, o, &clamp);
    out[o + 1] = qk__s16_out(a1, rq, o + 1, &clamp);
  }
  if (o < m) {
    const int16_t* w0 = w + (size_t)o * n;
    int64_t a0 = bias != NULL ? bias[o] : 0;
    int32_t i = 0;
    for (; i + 1 < n; i += 2) a0 = qk__smlald2(in + i, w0 + i, a0);
    if (i < n) a0 += (int64_t)in[i] * w0[i];
    out[o] = qk__s16_out(a0, rq, o, &clamp);
  }
  return 1;
}

#endif
