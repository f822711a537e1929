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
 * (two values) feeds an SMLALD for each column: 3 loads + 2 SMLALD per 4 MACs (unrolled by four;
 * a 1D window inside the input is read in place, no gather). Taken when the
 * input zero point is 0 (a padded value is then 0, and x - zp needs no 17th bit).
 * Linear: two output rows share each input word: 3 loads + 2 SMLALD per 4 MACs, no scratch.
 * An odd K or in_features ends with one scalar product.
 */
#include "qk_dsp.h"

#if QK__DSP

static inline int64_t qk__smlald2(const int16_t* x, const int16_t* w, int64_t acc) {
  return __smlald((uint32_t)qk__ld32(x), (uint32_t)qk__ld32(w), acc);
}

/* The epilogue of one call: qk__requantize + qk__apply_out_clamp, with a 32-bit path for the
 * common case (power-of-two shift in [1, 31], clamp bounds relative to the zero point inside
 * int32, accumulator inside int32): arithmetic shifts of the sign-extended value give the 64-bit
 * result exactly. */
typedef struct {
  qk__out_clamp clamp;
  int32_t lo, hi, zp; /* the clamp in 32 bits, when `fast` */
  int fast;           /* power of two and 32-bit clamp bounds */
} qk__s16_epi;

static qk__s16_epi qk__s16_epi_make(int32_t act_min, int32_t act_max, int32_t out_zp,
                                    const qk_requant* rq) {
  qk__s16_epi e;
  e.clamp = qk__make_out_clamp(out_zp, act_min, act_max, INT16_MIN, INT16_MAX);
  e.fast = rq->mult == NULL && e.clamp.lo >= INT32_MIN && e.clamp.hi <= INT32_MAX;
  e.lo = e.fast ? (int32_t)e.clamp.lo : 0;
  e.hi = e.fast ? (int32_t)e.clamp.hi : 0;
  e.zp = e.clamp.zp;
  return e;
}

/* s: the channel's shift when the 32-bit path may apply (1..31), else 0. */
static inline __attribute__((always_inline)) int16_t qk__s16_out(int64_t acc, int32_t s,
                                                                 const qk__s16_epi* e,
                                                                 const qk_requant* rq, int32_t oc) {
  if (s != 0 && acc == (int64_t)(int32_t)acc) {
    const int32_t a = (int32_t)acc;
    int32_t y = (a >> s) + ((a >> (s - 1)) & 1);
    y = y > e->hi ? e->hi : y;
    return (int16_t)((y < e->lo ? e->lo : y) + e->zp);
  }
  return (int16_t)qk__apply_out_clamp(qk__requantize(acc, rq, oc), &e->clamp);
}

/* The same out of line, for the fully connected layer (few outputs: code size over speed). */
static QK__NOINLINE int16_t qk__s16_out_call(int64_t acc, int32_t s, const qk__s16_epi* e,
                                             const qk_requant* rq, int32_t oc) {
  return qk__s16_out(acc, s, e, rq, oc);
}

static inline int32_t qk__s16_fast_shift(const qk__s16_epi* e, const qk_requant* rq, int32_t oc) {
  const int32_t s = rq->shift[rq->per_channel ? oc : 0];
  return e->fast && s >= 1 && s <= 31 ? s : 0;
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

/* The window of pixel `pix` as one contiguous run of K values: in place in the input when it is
 * (a single kernel row inside the input, all channels: 1D convolutions), else gathered into
 * `col`. */
static const int16_t* qk__s16_window(const qk_conv_params* p, const int16_t* in_g, int32_t icg,
                                     int32_t pix, int16_t* col) {
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy = oy * p->stride_h - p->pad_h, ix = ox * p->stride_w - p->pad_w;
  if (p->k_h == 1 && icg == p->in_c && iy >= 0 && iy < p->in_h && ix >= 0 && ix + p->k_w <= p->in_w)
    return in_g + ((size_t)iy * p->in_w + ix) * p->in_c;
  qk__s16_gather(p, in_g, icg, pix, col);
  return col;
}

int qk__dsp_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w,
                     const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch) {
  int32_t groups, icg, ocg, k, k4, k8, ke, npix, g, pix, s_tensor;
  int16_t *buf0, *buf1;
  qk__s16_epi e;
  if (!qk__dsp_conv_s16_ok(p, scratch)) return 0;
  groups = p->groups > 0 ? p->groups : 1;
  icg = p->in_c / groups;
  ocg = p->out_c / groups;
  k = p->k_h * p->k_w * icg;
  k4 = k & ~3;
  k8 = k & ~7;
  ke = k + (k & 1);
  buf0 = (int16_t*)qk__dsp_align8(scratch);
  buf1 = buf0 + ke;
  e = qk__s16_epi_make(p->act_min, p->act_max, p->out_zp, rq);
  s_tensor = qk__s16_fast_shift(&e, rq, 0); /* per-tensor requantization: one shift */
  npix = p->out_h * p->out_w;
  for (g = 0; g < groups; ++g) {
    const int16_t* in_g = in + g * icg;
    for (pix = 0; pix < npix; pix += 2) {
      const int two = pix + 1 < npix;
      const int16_t* const col0 = qk__s16_window(p, in_g, icg, pix, buf0);
      const int16_t* const col1 = two ? qk__s16_window(p, in_g, icg, pix + 1, buf1) : buf1;
      int32_t oc;
      for (oc = g * ocg; oc < (g + 1) * ocg; ++oc) {
        const int16_t* wr = w + (size_t)oc * k;
        const int32_t s = rq->per_channel ? qk__s16_fast_shift(&e, rq, oc) : s_tensor;
        int64_t a0 = bias != NULL ? bias[oc] : 0, a1 = a0;
        int32_t i = 0;
        if (two) {
          for (; i < k8; i += 8) {
            a0 = qk__smlald2(col0 + i, wr + i, a0);
            a1 = qk__smlald2(col1 + i, wr + i, a1);
            a0 = qk__smlald2(col0 + i + 2, wr + i + 2, a0);
            a1 = qk__smlald2(col1 + i + 2, wr + i + 2, a1);
            a0 = qk__smlald2(col0 + i + 4, wr + i + 4, a0);
            a1 = qk__smlald2(col1 + i + 4, wr + i + 4, a1);
            a0 = qk__smlald2(col0 + i + 6, wr + i + 6, a0);
            a1 = qk__smlald2(col1 + i + 6, wr + i + 6, a1);
          }
          if (i < k4) {
            a0 = qk__smlald2(col0 + i, wr + i, a0);
            a1 = qk__smlald2(col1 + i, wr + i, a1);
            a0 = qk__smlald2(col0 + i + 2, wr + i + 2, a0);
            a1 = qk__smlald2(col1 + i + 2, wr + i + 2, a1);
            i += 4;
          }
          if (k4 < k) { /* the last 1..3 values */
            for (; i + 1 < k; i += 2) {
              a0 = qk__smlald2(col0 + i, wr + i, a0);
              a1 = qk__smlald2(col1 + i, wr + i, a1);
            }
            if (i < k) {
              a0 += (int64_t)col0[i] * wr[i];
              a1 += (int64_t)col1[i] * wr[i];
            }
          }
          out[(size_t)(pix + 1) * p->out_c + oc] = qk__s16_out(a1, s, &e, rq, oc);
        } else {
          for (; i + 1 < k; i += 2) a0 = qk__smlald2(col0 + i, wr + i, a0);
          if (i < k) a0 += (int64_t)col0[i] * wr[i];
        }
        out[(size_t)pix * p->out_c + oc] = qk__s16_out(a0, s, &e, rq, oc);
      }
    }
  }
  return 1;
}

int qk__dsp_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                       const int32_t* bias, const qk_requant* rq, int16_t* out) {
  const int32_t n = p->in_features, m = p->out_features;
  qk__s16_epi e;
  int32_t o;
  if (!qk__dsp_linear_s16_ok(p)) return 0;
  e = qk__s16_epi_make(p->act_min, p->act_max, p->out_zp, rq);
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
    out[o] = qk__s16_out_call(a0, qk__s16_fast_shift(&e, rq, o), &e, rq, o);
    out[o + 1] = qk__s16_out_call(a1, qk__s16_fast_shift(&e, rq, o + 1), &e, rq, o + 1);
  }
  if (o < m) {
    const int16_t* w0 = w + (size_t)o * n;
    int64_t a0 = bias != NULL ? bias[o] : 0;
    int32_t i = 0;
    for (; i + 1 < n; i += 2) a0 = qk__smlald2(in + i, w0 + i, a0);
    if (i < n) a0 += (int64_t)in[i] * w0[i];
    out[o] = qk__s16_out_call(a0, qk__s16_fast_shift(&e, rq, o), &e, rq, o);
  }
  return 1;
}

#endif
