/*
 * Optimized int8 fully connected layer for Armv7E-M. Selected by qk_linear_s8 (qk_dispatch.c)
 * with QK_USE_DSP on a core with the DSP extension; compiles to nothing elsewhere. Bit-identical
 * to qk_ref_linear_s8 (see qk_dsp.h).
 *
 * One input vector, so there is nothing to amortize an im2col over: four output rows at a time
 * share each widened input word. Per four inputs: LDR + 2 SXTB16 + 2 SSUB16 (x - in_zp, in the
 * lane order of SXTB16 / SXTB16 ROR #8), then per row LDR + 2 SXTB16 + 2 SMLAD: 25 instructions
 * for 16 MACs, no scratch. Remaining rows one at a time, the last in_features % 4 values scalar.
 *
 * Packed 4-bit / 2-bit weights (qk__dsp_linear_s8_packed): the four rows are unpacked in chunks
 * of 64 values into a stack buffer (256 bytes), then the same loop runs on the chunk. The
 * unpacking costs about two instructions per weight, which the rows cannot amortize (each
 * weight is used once): a sub-byte linear layer runs at about twice the int8 one's
 * instructions per MAC.
 */
#include "qk_dsp.h"

#if QK__DSP

static inline int32_t qk__row4(const int8_t* w, int32_t xl, int32_t xh, int32_t acc) {
  const int32_t r = qk__ld32(w);
  acc = __smlad(__sxtb16(r), xl, acc);
  return __smlad(qk__sxtb16_ror8(r), xh, acc);
}

int qk__dsp_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out) {
  const int32_t n = p->in_features, m = p->out_features, zp = p->in_zp;
  const int32_t n4 = n >> 2, nr = n & 3;
  int32_t zp2, o;
  qk__epi e;
  if (!qk__dsp_linear_s8_ok(p)) return 0;
  zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)zp * 0x10001u);
  e = qk__epi_make(rq, m, p->out_zp, p->act_min, p->act_max);

  for (o = 0; o + 4 <= m; o += 4) {
    const int8_t* w0 = w + o * n;
    const int8_t* src = in;
    int32_t a0 = bias != NULL ? bias[o] : 0, a1 = bias != NULL ? bias[o + 1] : 0;
    int32_t a2 = bias != NULL ? bias[o + 2] : 0, a3 = bias != NULL ? bias[o + 3] : 0;
    int32_t i;
    for (i = n4; i > 0; --i, src += 4, w0 += 4) {
      const int32_t x = qk__ld32(src);
      const int32_t xl = __ssub16(__sxtb16(x), zp2), xh = __ssub16(qk__sxtb16_ror8(x), zp2);
      a0 = qk__row4(w0, xl, xh, a0);
      a1 = qk__row4(w0 + n, xl, xh, a1);
      a2 = qk__row4(w0 + 2 * n, xl, xh, a2);
      a3 = qk__row4(w0 + 3 * n, xl, xh, a3);
    }
    for (i = 0; i < nr; ++i) {
      const int32_t x = (int32_t)src[i] - zp;
      a0 += x * w0[i];
      a1 += x * w0[n + i];
      a2 += x * w0[2 * n + i];
      a3 += x * w0[3 * n + i];
    }
    out[o] = qk__epi_one(&e, a0, o);
    out[o + 1] = qk__epi_one(&e, a1, o + 1);
    out[o + 2] = qk__epi_one(&e, a2, o + 2);
    out[o + 3] = qk__epi_one(&e, a3, o + 3);
  }
  for (; o < m; ++o) {
    const int8_t* w0 = w + o * n;
    const int8_t* src = in;
    int32_t a0 = bias != NULL ? bias[o] : 0, i;
    for (i = n4; i > 0; --i, src += 4, w0 += 4) {
      const int32_t x = qk__ld32(src);
      a0 = qk__row4(w0, __ssub16(__sxtb16(x), zp2), __ssub16(qk__sxtb16_ror8(x), zp2), a0);
    }
    for (i = 0; i < nr; ++i) a0 += ((int32_t)src[i] - zp) * w0[i];
    out[o] = qk__epi_one(&e, a0, o);
  }
  return 1;
}

/* Values per row of one unpacked chunk (a multiple of 4). */
#define QK__LIN_CHUNK 64

int qk__dsp_linear_s8_packed(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                             int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* out) {
  const int32_t n = p->in_features, m = p->out_features, zp = p->in_zp;
  int8_t rb[4 * QK__LIN_CHUNK];
  int32_t zp2, o;
  qk__epi e;
  if (!qk__dsp_linear_s8_ok(p)) return 0;
  zp2 = (int32_t)((uint32_t)(uint16_t)(int16_t)zp * 0x10001u);
  e = qk__epi_make(rq, m, p->out_zp, p->act_min, p->act_max);

  for (o = 0; o < m; o += 4) {
    const int32_t rows = m - o < 4 ? m - o : 4;
    int32_t a[4] = {0, 0, 0, 0}, r, i0;
    for (r = 0; r < rows; ++r) a[r] = bias != NULL ? bias[o + r] : 0;
    for (i0 = 0; i0 < n; i0 += QK__LIN_CHUNK) {
      const int32_t len = n - i0 < QK__LIN_CHUNK ? n - i0 : QK__LIN_CHUNK;
      const int8_t* src = in + i0;
      const int8_t* w0 = rb;
      int32_t i;
      for (r = 0; r < rows; ++r)
        qk__dsp_unpack(w, (o + r) * n + i0, len, bits, rb + r * QK__LIN_CHUNK);
      if (rows == 4) {
        for (i = len >> 2; i > 0; --i, src += 4, w0 += 4) {
          const int32_t x = qk__ld32(src);
          const int32_t xl = __ssub16(__sxtb16(x), zp2), xh = __ssub16(qk__sxtb16_ror8(x), zp2);
          a[0] = qk__row4(w0, xl, xh, a[0]);
          a[1] = qk__row4(w0 + QK__LIN_CHUNK, xl, xh, a[1]);
          a[2] = qk__row4(w0 + 2 * QK__LIN_CHUNK, xl, xh, a[2]);
          a[3] = qk__row4(w0 + 3 * QK__LIN_CHUNK, xl, xh, a[3]);
        }
      } else {
        for (i = len >> 2; i > 0; --i, src += 4, w0 += 4) {
          const int32_t x = qk__ld32(src);
          const int32_t xl = __ssub16(__sxtb16(x), zp2), xh = __ssub16(qk__sxtb16_ror8(x), zp2);
          for (r = 0; r < rows; ++r) a[r] = qk__row4(w0 + r * QK__LIN_CHUNK, xl, xh, a[r]);
        }
      }
      for (i = 0; i < (len & 3); ++i) {
        const int32_t x = (int32_t)src[i] - zp;
        for (r = 0; r < rows; ++r) a[r] += x * w0[r * QK__LIN_CHUNK + i];
      }
    }
    for (r = 0; r < rows; ++r) out[o + r] = qk__epi_one(&e, a[r], o + r);
  }
  return 1;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int qk__linear_s8_dsp_unused;
#endif /* QK__DSP */
