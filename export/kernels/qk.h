/*
 * qk — the portable integer kernel library of the QAT toolkit (C99).
 *
 * This library is the single source of truth for integer inference: the toolkit's host engine
 * (`qat eval --engine int`) links it, and every exported model.c calls it on the target.
 *
 * Conventions
 *   - Activations are channels-last: a 2D tensor is [H][W][C], a 1D tensor [1][L][C].
 *   - Conv weights are [out_c][k_h][k_w][in_c / groups]; linear weights are [out][in].
 *   - Accumulators: int32 when activations are int8, int64 when they are int16.
 *   - Bias is int32, already in the accumulator scale (s_in * s_w).
 *   - One rounding rule: round half up. A right shift by s rounds as (x + 2^(s-1)) >> s with an
 *     arithmetic shift (checked at compile time).
 *   - Requantization, per output channel c (see qk_requant):
 *       power of two (mult == NULL): y = round_half_up(acc * 2^-shift[c]); shift < 0 is an exact,
 *                                    saturating left shift
 *       affine       (mult != NULL): y = (acc * mult[c] + 2^(shift[c]-1)) >> shift[c] in 64 bits
 *     then y += out_zp and y is clamped to [act_min, act_max] (this clamp also implements a fused
 *     ReLU / ReLU6 and the saturation to the output type).
 *   - No malloc, no floating point, no undefined behaviour. Inputs and outputs never alias
 *     unless a function says so.
 */
#ifndef QK_H
#define QK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QK_VERSION_MAJOR 1
#define QK_VERSION_MINOR 0

/* Requantization parameters of one layer. shift/mult hold one entry per output channel when
 * per_channel is non-zero, else a single entry. */
typedef struct {
  const int32_t* mult; /* NULL: power-of-two requantization */
  const int8_t* shift;
  int32_t per_channel;
} qk_requant;

/* 2D convolution (1D: in_h = out_h = k_h = stride_h = 1, pad_h = 0). Groups split input and
 * output channels into `groups` equal parts (depthwise: groups == in_c). Padding is top/left;
 * bottom/right padding is implied by the output size. Padded input reads as in_zp. */
typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t groups;
  int32_t in_zp, out_zp;
  int32_t act_min, act_max;
} qk_conv_params;

typedef struct {
  int32_t in_features, out_features;
  int32_t in_zp, out_zp;
  int32_t act_min, act_max;
} qk_linear_params;

/* y = clamp(out_zp + round_shift((a - a_zp) * a_mult + (b - b_zp) * b_mult, shift)), 64-bit. */
typedef struct {
  int32_t size;
  int32_t a_zp, b_zp, out_zp;
  int32_t a_mult, b_mult;
  int32_t shift;
  int32_t act_min, act_max;
} qk_add_params;

/* Max / average pooling over [in_h][in_w][c]. Max pooling ignores padded positions; average
 * pooling has no padding and rounds the mean half up. The output keeps the input's format;
 * act_min/act_max clamp the result (pass the type's range for a plain pool). */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t out_h, out_w;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t act_min, act_max;
} qk_pool_params;

/* Scratch bytes the conv / linear kernels need (0 for the reference kernels; the optimized
 * Cortex-M kernels use it for im2col). `scratch` may be NULL when the size is 0. */
size_t qk_conv_s8_scratch_size(const qk_conv_params* p);
size_t qk_conv_s16_scratch_size(const qk_conv_params* p);
size_t qk_linear_s8_scratch_size(const qk_linear_params* p);

/* int8 activations, int8 weights, int32 accumulators. */
void qk_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                const qk_requant* rq, int8_t* out, void* scratch);
void qk_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                  const qk_requant* rq, int8_t* out, void* scratch);
void qk_add_s8(const qk_add_params* p, const int8_t* a, const int8_t* b, int8_t* out);
void qk_maxpool_s8(const qk_pool_params* p, const int8_t* in, int8_t* out);
void qk_avgpool_s8(const qk_pool_params* p, const int8_t* in, int8_t* out);
void qk_global_maxpool_s8(int32_t spatial, int32_t c, const int8_t* in, int8_t* out);
void qk_global_avgpool_s8(int32_t spatial, int32_t c, const int8_t* in, int8_t* out);
/* In place allowed (in == out). */
void qk_clamp_s8(int32_t size, int32_t lo, int32_t hi, const int8_t* in, int8_t* out);

/* int16 activations with int16 weights, or with int8 weights (_w8); int64 accumulators. */
void qk_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w, const int32_t* bias,
                 const qk_requant* rq, int16_t* out, void* scratch);
void qk_conv_s16_w8(const qk_conv_params* p, const int16_t* in, const int8_t* w,
                    const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);
void qk_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                   const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);
void qk_linear_s16_w8(const qk_linear_params* p, const int16_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);
void qk_add_s16(const qk_add_params* p, const int16_t* a, const int16_t* b, int16_t* out);
void qk_maxpool_s16(const qk_pool_params* p, const int16_t* in, int16_t* out);
void qk_avgpool_s16(const qk_pool_params* p, const int16_t* in, int16_t* out);
void qk_global_maxpool_s16(int32_t spatial, int32_t c, const int16_t* in, int16_t* out);
void qk_global_avgpool_s16(int32_t spatial, int32_t c, const int16_t* in, int16_t* out);
void qk_clamp_s16(int32_t size, int32_t lo, int32_t hi, const int16_t* in, int16_t* out);

/* The portable reference implementations. qk_conv_s8 & co. dispatch to optimized variants
 * when the library is built with them (QK_USE_DSP on Armv7E-M) and fall back to these;
 * tests compare the two bit for bit. */
void qk_ref_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                    const qk_requant* rq, int8_t* out);
void qk_ref_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out);

/* Scalar helpers shared by the kernels (exposed for tests). */
int64_t qk_shift_round(int64_t x, int32_t shift);
int64_t qk_requantize(int64_t acc, const qk_requant* rq, int32_t channel);

#ifdef __cplusplus
}
#endif

#endif /* QK_H */
