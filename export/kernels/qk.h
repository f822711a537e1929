/*
 * qk — the portable integer kernel library of the QAT toolkit (C99).
 *
 * This library is the single source of truth for integer inference: the toolkit's host engine
 * (`qat eval --engine int`) links it, and every exported model.c calls it on the target.
 *
 * Conventions (every function below follows them unless its documentation says otherwise)
 *   - Activations are channels-last: a 2D tensor is [H][W][C], a 1D tensor [1][L][C].
 *   - Conv weights are [out_c][k_h][k_w][in_c / groups]; linear weights are [out][in].
 *   - Accumulators: int32 when activations are int8, int64 when they are int16. The caller
 *     guarantees that no partial sum of an int32 accumulation overflows (the exporter proves the
 *     worst-case bound |bias| + sum |w| * max |x - in_zp| < 2^31 from the actual weights and
 *     refuses models that could overflow; int16 models are bounded below 2^47).
 *   - Bias is int32, already in the accumulator scale (s_in * s_w); NULL means no bias.
 *   - One rounding rule: round half up. A right shift by s rounds as (x + 2^(s-1)) >> s with an
 *     arithmetic shift (checked at compile time).
 *   - Requantization, per output channel c (see qk_requant):
 *       power of two (mult == NULL): y = round_half_up(acc * 2^-shift[c]); shift < 0 is an exact,
 *                                    saturating left shift
 *       affine       (mult != NULL): y = (acc * mult[c] + 2^(shift[c]-1)) >> shift[c] in 64 bits
 *     then y += out_zp and y is clamped to [act_min, act_max] intersected with the output type's
 *     range (this clamp also implements a fused ReLU / ReLU6 and the saturation).
 *   - Sizes are counts of elements; a size <= 0 computes nothing (pools: see each function).
 *   - No malloc, no floating point, no global state (reentrant), no undefined behaviour for any
 *     parameter values within the documented ranges.
 *   - Buffers: no output may overlap an input, the weights, the bias or the scratch buffer
 *     unless the function says so. Inputs may overlap each other. Any alignment of int8 / int16
 *     data is accepted (the Cortex-M DSP kernels load unaligned words, which Cortex-M4/M7 allow
 *     unless UNALIGN_TRP is set).
 *   - Optimized variants: with QK_USE_DSP on a core with the DSP extension (__ARM_FEATURE_DSP:
 *     Cortex-M4/M7/M33/M55/M85) qk_conv_s8 and qk_linear_s8 run the Armv7E-M SIMD kernels where
 *     their fast path applies and the portable reference elsewhere; results are identical bit
 *     for bit (tests/test_kernels_dsp.c on the emulated cores).
 */
#ifndef QK_H
#define QK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QK_VERSION_MAJOR 1
#define QK_VERSION_MINOR 1

/* Requantization parameters of one conv / linear layer.
 *   mult         NULL: power-of-two requantization; else one Q31-style multiplier per entry,
 *                range [1, 2^31 - 1] (the exporter emits [2^30, 2^31 - 1]).
 *   shift        power of two: any int8 value; s > 0 rounds right by s (s >= 63 gives 0), s == 0
 *                keeps acc, s < 0 shifts left exactly by min(-s, 30) after clamping acc to
 *                [-2^32, 2^32] (which saturates every output type anyway). The exporter emits
 *                [-31, 62]. Affine: [1, 62]; the product acc * mult is formed in 64 bits and
 *                saturates rather than overflows.
 *   per_channel  non-zero: mult / shift hold one entry per output channel; 0: a single entry. */
typedef struct {
  const int32_t* mult;
  const int8_t* shift;
  int32_t per_channel;
} qk_requant;

/* Convolution geometry and output clamp.
 *   in_h, in_w, in_c     input [in_h][in_w][in_c]; 1D: in_h = 1
 *   out_h, out_w, out_c  output [out_h][out_w][out_c]; 1D: out_h = 1
 *   k_h, k_w             kernel size, >= 1; 1D: k_h = 1
 *   stride_h, stride_w   >= 1; 1D: stride_h = 1
 *   pad_h, pad_w         top / left padding, >= 0; bottom / right padding is implied by the
 *                        output size. Positions outside the input read as in_zp (contribute 0).
 *   groups               in_c and out_c are split into `groups` equal parts (both divisible;
 *                        <= 0 means 1); output channel oc belongs to group oc / (out_c / groups).
 *                        Depthwise: groups == in_c (out_c = m * in_c for a channel multiplier m).
 *   in_zp, out_zp        zero points of input and output (0 for power-of-two formats)
 *   act_min, act_max     output clamp in output codes, e.g. [out_zp, type max] for a fused ReLU */
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

/* Fully connected layer: out[out_features] = requant(bias + W[out][in] (x - in_zp)). */
typedef struct {
  int32_t in_features, out_features;
  int32_t in_zp, out_zp;
  int32_t act_min, act_max;
} qk_linear_params;

/* Element-wise add of two tensors of `size` elements in their own formats:
 *   y = clamp(out_zp + round_shift((a - a_zp) * a_mult + (b - b_zp) * b_mult, shift))
 * in 64 bits with saturating products and sum; a_mult, b_mult >= 0 (the exporter emits
 * [0, 2^31 - 1]); shift as qk_requant's power-of-two shift (negative: left). */
typedef struct {
  int32_t size;
  int32_t a_zp, b_zp, out_zp;
  int32_t a_mult, b_mult;
  int32_t shift;
  int32_t act_min, act_max;
} qk_add_params;

/* Max / average pooling over [in_h][in_w][c] to [out_h][out_w][c]; window, stride and top/left
 * padding as for convolutions. The output keeps the input's format; act_min / act_max clamp the
 * result (pass the type's range for a plain pool). */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t out_h, out_w;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t act_min, act_max;
} qk_pool_params;

/* ----------------------------------------------------------------------------------------------
 * Scratch sizes
 * ------------------------------------------------------------------------------------------- */

/* Bytes of the `scratch` buffer qk_conv_s8 needs for these parameters: what the optimized
 * Cortex-M kernels use, returned on every platform so a host can size a target's buffer (the
 * portable kernels need none). With K = k_h k_w in_c / groups rounded up to a multiple of 4 and
 * C = min(64, out_c / groups): 12 K + 18 C + 8 (+ K when in_c / groups is not a multiple of 4);
 * depthwise (groups == in_c == out_c): 8 k_h k_w + 8; 0 for parameters the optimized kernels do
 * not take. The buffer needs no particular alignment (the kernels align inside it). */
size_t qk_conv_s8_scratch_size(const qk_conv_params* p);
/* Bytes of the scratch qk_conv_s16 uses: 2 x 2 K bytes (K = k_h k_w in_c / groups, rounded up to
 * even) + 8; 0 for shapes the optimized kernel does not take. qk_conv_s16_w8 needs none (0). */
size_t qk_conv_s16_scratch_size(const qk_conv_params* p);
size_t qk_conv_s16_w8_scratch_size(const qk_conv_params* p);
/* 0: the int8 fully connected layer needs no scratch. */
size_t qk_linear_s8_scratch_size(const qk_linear_params* p);

/* ----------------------------------------------------------------------------------------------
 * int8 activations: int8 weights, int32 accumulators
 * ------------------------------------------------------------------------------------------- */

/* 2D / 1D convolution, grouped and depthwise included.
 *   p        geometry (qk_conv_params); in_zp any int32 value
 *   in       [in_h][in_w][in_c] int8
 *   w        [out_c][k_h][k_w][in_c / groups] int8
 *   bias     [out_c] int32 in the accumulator scale, or NULL
 *   rq       requantization (qk_requant), per tensor or per output channel
 *   out      [out_h][out_w][out_c] int8; must not overlap in, w, bias or scratch
 *   scratch  qk_conv_s8_scratch_size(p) bytes, or NULL (then the portable kernel runs)
 * Fast paths with QK_USE_DSP (Armv7E-M): depthwise (groups == in_c == out_c): four channels per
 * word, SMLABB / SMLATT, 3x3 rows unrolled; every other conv: im2col of six output pixels into
 * int16 and an SMLAD kernel (1x1 without padding skips the window logic). Both need in_zp in
 * [-128, 127], a non-NULL scratch and windows k_h k_w in_c / groups <= 2^20; else the reference
 * runs. Requantization runs in 32 bits for pow2 shifts in [2, 31] and affine shifts in [33, 62],
 * in the reference's 64-bit helpers otherwise. */
void qk_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                const qk_requant* rq, int8_t* out, void* scratch);

/* Fully connected layer.
 *   p        qk_linear_params; in_zp any int32 value
 *   in       [in_features] int8 (a flattened tensor in channels-last order)
 *   w        [out_features][in_features] int8
 *   bias     [out_features] int32, or NULL
 *   rq       requantization, per tensor or per output feature
 *   out      [out_features] int8; must not overlap in, w or bias
 *   scratch  unused (qk_linear_s8_scratch_size() is 0); may be NULL
 * Fast path with QK_USE_DSP: four rows share each widened input word (SMLAD), when in_zp is in
 * [-128, 127] and both sizes are positive. */
void qk_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                  const qk_requant* rq, int8_t* out, void* scratch);

/* Element-wise add with rescaling (qk_add_params), p->size elements.
 *   a, b     int8 inputs in their own formats (may be the same buffer)
 *   out      int8; may be the same buffer as a or b (each element is read before it is written,
 *            at the same index), must not overlap them otherwise */
void qk_add_s8(const qk_add_params* p, const int8_t* a, const int8_t* b, int8_t* out);

/* Which loop qk_add_s8 / qk_add_s16 run for these parameters (all give the same result; see
 * qk_eltwise.c): 32-bit when nothing can exceed int32 (power-of-two formats), 64-bit without
 * saturation when the zero points are inside the type and the shift is in [1, 62] (affine),
 * else the saturating general loop (linked only when qk_config.h asks for it). */
enum { QK_ADD_PATH_INT32 = 0, QK_ADD_PATH_INT64 = 1, QK_ADD_PATH_SATURATING = 2 };
int qk_add_s8_path(const qk_add_params* p);
int qk_add_s16_path(const qk_add_params* p);

/* Max pooling (qk_pool_params). Window positions outside the input (padding, or a window over
 * the bottom / right edge) are ignored; an empty window gives INT8_MIN before the clamp.
 *   in   [in_h][in_w][c] int8;  out  [out_h][out_w][c] int8, must not overlap in */
void qk_maxpool_s8(const qk_pool_params* p, const int8_t* in, int8_t* out);

/* Average pooling (qk_pool_params): the mean of the window positions inside the input, rounded
 * half up as floor((2 sum + n) / (2 n)) (1.5 -> 2, -1.5 -> -1); an empty window gives 0 before
 * the clamp. Sums are 32-bit: windows up to 2^23 elements.
 *   in   [in_h][in_w][c] int8;  out  [out_h][out_w][c] int8, must not overlap in */
void qk_avgpool_s8(const qk_pool_params* p, const int8_t* in, int8_t* out);

/* Global max pooling [spatial][c] -> [c]; spatial <= 0 gives zeros. No clamp.
 *   in   [spatial][c] int8;  out  [c] int8, must not overlap in */
void qk_global_maxpool_s8(int32_t spatial, int32_t c, const int8_t* in, int8_t* out);

/* Global average pooling [spatial][c] -> [c], rounded half up as qk_avgpool_s8 (32-bit sums:
 * spatial up to 2^23); spatial <= 0 gives zeros. No clamp.
 *   in   [spatial][c] int8;  out  [c] int8, must not overlap in */
void qk_global_avgpool_s8(int32_t spatial, int32_t c, const int8_t* in, int8_t* out);

/* out[i] = clamp(in[i], max(lo, INT8_MIN), min(hi, INT8_MAX)) for i < size: a standalone ReLU /
 * ReLU6 in output codes. In place allowed (in == out); no other overlap. */
void qk_clamp_s8(int32_t size, int32_t lo, int32_t hi, const int8_t* in, int8_t* out);

/* ----------------------------------------------------------------------------------------------
 * int8 activations with packed 4-bit (_w4) or 2-bit (_w2) weights, int32 accumulators
 *
 * Packed weights: the weight array in its usual order ([out_c][k_h][k_w][in_c / groups] or
 * [out][in]) as one little-endian stream of two's complement values, two per byte (4-bit,
 * range [-8, 7]) or four per byte (2-bit, [-2, 1]). Value i is in byte i * bits / 8 at bits
 * (i * bits) % 8 upwards: the first value in the lowest bits of byte 0. Rows are not padded
 * (a row may start inside a byte); the array is ceil(count * bits / 8) bytes, the unused high
 * bits of its last byte zero. This is CMSIS-NN's int4 order (low nibble first).
 * ------------------------------------------------------------------------------------------- */

/* Scratch bytes of qk_conv_s8_w4 / _w2: qk_conv_s8_scratch_size(p) plus the unpacked weights the
 * optimized kernels read (K = k_h k_w in_c / groups rounded up to 4 for a window row; 4 k_h k_w
 * for the four channels of a depthwise block); 0 for parameters the optimized kernels do not
 * take. No alignment needed. */
size_t qk_conv_s8_w4_scratch_size(const qk_conv_params* p);
size_t qk_conv_s8_w2_scratch_size(const qk_conv_params* p);

/* Convolution with packed weights: parameters, layouts, ranges, aliasing and fast paths as
 * qk_conv_s8, with w the packed weights (ceil(out_c k_h k_w in_c / groups * bits / 8) bytes,
 * any alignment). The optimized kernels unpack each window row (im2col conv, per block of six
 * output pixels) or the taps of four channels (depthwise, once per call) into the scratch
 * buffer and run the int8 inner loops on it. */
void qk_conv_s8_w4(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch);
void qk_conv_s8_w2(const qk_conv_params* p, const int8_t* in, const uint8_t* w, const int32_t* bias,
                   const qk_requant* rq, int8_t* out, void* scratch);

/* Fully connected with packed weights: as qk_linear_s8 with w packed ([out][in] as one stream;
 * a row starts inside a byte when in * bits is not a multiple of 8). scratch unused, may be
 * NULL; the optimized kernel unpacks four rows at a time in chunks of 64 values on its stack
 * (256 bytes). */
void qk_linear_s8_w4(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);
void qk_linear_s8_w2(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                     const int32_t* bias, const qk_requant* rq, int8_t* out, void* scratch);

/* out[0..n) = values first .. first + n - 1 of a packed stream of `bits`-bit values (4 or 2; 8
 * reads plain int8). out must not overlap packed. */
void qk_unpack_s8(const uint8_t* packed, int32_t bits, int32_t first, int32_t n, int8_t* out);

/* ----------------------------------------------------------------------------------------------
 * Conversions between int8 and int16 tensors (mixed-precision models)
 * ------------------------------------------------------------------------------------------- */

/* out[i] = in[i] for i < size: an int8 tensor as int16, same format. No overlap. */
void qk_cast_s8_s16(int32_t size, const int8_t* in, int16_t* out);
/* out[i] = in[i] saturated to int8, for i < size: an int16 tensor whose values already fit the
 * int8 format (the exporter only converts tensors of 8-bit formats) stored as int8. In place
 * allowed (out == (int8_t*)in); no other overlap. */
void qk_cast_s16_s8(int32_t size, const int16_t* in, int8_t* out);

/* ----------------------------------------------------------------------------------------------
 * int16 activations: int16 weights, or int8 weights (_w8); int64 accumulators
 * ------------------------------------------------------------------------------------------- */

/* Convolution, int16 activations and weights; products are formed in 64 bits. Parameters,
 * layouts, ranges and aliasing as qk_conv_s8 with int16 data; the output clamp saturates to
 * int16. scratch: qk_conv_s16_scratch_size() bytes, any alignment (the windows of two output
 * pixels), or NULL for the portable kernel. Fast path with QK_USE_DSP: SMLALD (two products into
 * a 64-bit accumulator, exact) when in_zp == 0 and scratch is given. */
void qk_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w, const int32_t* bias,
                 const qk_requant* rq, int16_t* out, void* scratch);

/* Convolution, int16 activations with int8 weights (16x8): as qk_conv_s16 with w int8. */
void qk_conv_s16_w8(const qk_conv_params* p, const int16_t* in, const int8_t* w,
                    const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);

/* Fully connected, int16 activations and weights: as qk_linear_s8 with int16 data and int64
 * accumulators; scratch unused, may be NULL. Fast path with QK_USE_DSP: two rows per input word
 * (SMLALD) when in_zp == 0. */
void qk_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                   const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);

/* Fully connected, int16 activations with int8 weights: as qk_linear_s16 with w int8. */
void qk_linear_s16_w8(const qk_linear_params* p, const int16_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int16_t* out, void* scratch);

/* Element-wise add, int16: as qk_add_s8 (out may be a or b). */
void qk_add_s16(const qk_add_params* p, const int16_t* a, const int16_t* b, int16_t* out);

/* Pools and clamp, int16: as their _s8 counterparts with int16 data; the average pools sum in
 * 64 bits (no window limit); qk_clamp_s16 may run in place. */
void qk_maxpool_s16(const qk_pool_params* p, const int16_t* in, int16_t* out);
void qk_avgpool_s16(const qk_pool_params* p, const int16_t* in, int16_t* out);
void qk_global_maxpool_s16(int32_t spatial, int32_t c, const int16_t* in, int16_t* out);
void qk_global_avgpool_s16(int32_t spatial, int32_t c, const int16_t* in, int16_t* out);
void qk_clamp_s16(int32_t size, int32_t lo, int32_t hi, const int16_t* in, int16_t* out);

/* ----------------------------------------------------------------------------------------------
 * Fused execution (qk_fused.c): a block of layers computed tile by tile
 *
 * A block is a chain (or small DAG: residual adds) of convolutions, pools, adds, clamps and
 * casts whose intermediate tensors never exist whole. The block output (a whole tensor) is
 * computed in tiles of tile_h x tile_w output positions, in row-major tile order. For each
 * tile the executor works out the region of every intermediate tensor the tile needs (a
 * window's rows and columns, clamped to the tensor), computes what is missing of it with the
 * ordinary kernels above (their parameters describing the sub-tensor: its rows, the padding it
 * still has, the tile's output size) and keeps it in the tensor's window buffer:
 *   - retain = 1 (line buffers, "fused-layer"): tiles span the whole output width (1D: tiles
 *     along the length), each window keeps the rows (1D: positions) that later tiles still
 *     need, moved to the front of its buffer, so nothing is computed twice;
 *   - retain = 0 (patches, "patch-based"): every tile computes its whole region from the
 *     block inputs; neighbouring tiles recompute the halo they share.
 * Every output element is computed by the same kernel code from the same input values as in
 * layer-by-layer execution: the results are identical bit for bit.
 *
 * A conv / pool whose input region does not start at the first column its source holds
 * (patches of a whole tensor, or of a window wider than this layer needs) reads it through the
 * staging area of the work buffer (a copy); a result that is not contiguous in its destination
 * (a patch of the whole block output) is computed one output row per call.
 * ------------------------------------------------------------------------------------------- */

#define QK_FUSED_MAX_TENSORS 64 /* qk_fused_plan's limit; qk_fused_run has none */

/* Error codes of qk_fused_run / qk_fused_plan. */
#define QK_FUSED_OK 0
#define QK_FUSED_E_BLOCK -1    /* inconsistent block description */
#define QK_FUSED_E_REGION -2   /* a layer needs input the block does not hold */
#define QK_FUSED_E_CAPACITY -3 /* a window or the work buffer is too small */

/* How a tensor of the block is stored. */
typedef enum {
  QK_FUSED_WHOLE = 0, /* the whole tensor: a block input (read only) or the block output */
  QK_FUSED_WINDOW = 1 /* an intermediate: the region the current tile needs, channels-last, in
                         a buffer of `capacity` bytes */
} qk_fused_storage;

/* A tensor of a block: its full extent [h][w][c] (1D: h = 1) and storage. */
typedef struct {
  int32_t h, w, c;
  int32_t elem_bytes; /* 1: int8, 2: int16 */
  int32_t storage;    /* qk_fused_storage */
  int32_t capacity;   /* QK_FUSED_WINDOW: bytes of the window buffer (from qk_fused_plan) */
} qk_fused_tensor;

/* The kernel a layer runs, selecting the member of qk_fused_fn it calls through. */
typedef enum {
  QK_FUSED_CONV_S8 = 0,        /* fn.conv_s8: qk_conv_s8 */
  QK_FUSED_CONV_S8_PACKED = 1, /* fn.conv_s8_packed: qk_conv_s8_w4 / _w2 */
  QK_FUSED_CONV_S16 = 2,       /* fn.conv_s16: qk_conv_s16 */
  QK_FUSED_CONV_S16_W8 = 3,    /* fn.conv_s16_w8: qk_conv_s16_w8 */
  QK_FUSED_POOL_S8 = 4,        /* fn.pool_s8: qk_maxpool_s8 / qk_avgpool_s8 */
  QK_FUSED_POOL_S16 = 5,       /* fn.pool_s16 */
  QK_FUSED_ADD_S8 = 6,         /* fn.add_s8: qk_add_s8 */
  QK_FUSED_ADD_S16 = 7,        /* fn.add_s16 */
  QK_FUSED_CLAMP_S8 = 8,       /* fn.clamp_s8: qk_clamp_s8 */
  QK_FUSED_CLAMP_S16 = 9,      /* fn.clamp_s16 */
  QK_FUSED_CAST_S8_S16 = 10,   /* fn.cast_s8_s16: qk_cast_s8_s16 */
  QK_FUSED_CAST_S16_S8 = 11,   /* fn.cast_s16_s8: qk_cast_s16_s8 */
  /* Global pools, only as the last layer, reading a window: the block is tiled over the pool's
   * input instead of its output, and the executor accumulates per-channel sums (avg: int32 for
   * int8, int64 for int16, then the kernel's rounded mean) or maxima across tiles, so the
   * result is qk_global_*pool's. fn names that kernel (not called). */
  QK_FUSED_GAVGPOOL_S8 = 12,  /* fn.gpool_s8: qk_global_avgpool_s8 */
  QK_FUSED_GAVGPOOL_S16 = 13, /* fn.gpool_s16: qk_global_avgpool_s16 */
  QK_FUSED_GMAXPOOL_S8 = 14,  /* fn.gpool_s8: qk_global_maxpool_s8 */
  QK_FUSED_GMAXPOOL_S16 = 15  /* fn.gpool_s16: qk_global_maxpool_s16 */
} qk_fused_kind;

/* The kernel, typed (a block only links the kernels its layers name). */
typedef union {
  void (*conv_s8)(const qk_conv_params*, const int8_t*, const int8_t*, const int32_t*,
                  const qk_requant*, int8_t*, void*);
  void (*conv_s8_packed)(const qk_conv_params*, const int8_t*, const uint8_t*, const int32_t*,
                         const qk_requant*, int8_t*, void*);
  void (*conv_s16)(const qk_conv_params*, const int16_t*, const int16_t*, const int32_t*,
                   const qk_requant*, int16_t*, void*);
  void (*conv_s16_w8)(const qk_conv_params*, const int16_t*, const int8_t*, const int32_t*,
                      const qk_requant*, int16_t*, void*);
  void (*pool_s8)(const qk_pool_params*, const int8_t*, int8_t*);
  void (*pool_s16)(const qk_pool_params*, const int16_t*, int16_t*);
  void (*add_s8)(const qk_add_params*, const int8_t*, const int8_t*, int8_t*);
  void (*add_s16)(const qk_add_params*, const int16_t*, const int16_t*, int16_t*);
  void (*clamp_s8)(int32_t, int32_t, int32_t, const int8_t*, int8_t*);
  void (*clamp_s16)(int32_t, int32_t, int32_t, const int16_t*, int16_t*);
  void (*cast_s8_s16)(int32_t, const int8_t*, int16_t*);
  void (*cast_s16_s8)(int32_t, const int16_t*, int8_t*);
  void (*gpool_s8)(int32_t, int32_t, const int8_t*, int8_t*);
  void (*gpool_s16)(int32_t, int32_t, const int16_t*, int16_t*);
} qk_fused_fn;

/* Bounds of a standalone clamp layer, in codes. */
typedef struct {
  int32_t lo, hi;
} qk_fused_clamp_params;

/* One layer of a block. params describes the layer on its whole tensors, as for a
 * layer-by-layer call: qk_conv_params, qk_pool_params, qk_add_params (size is ignored),
 * qk_fused_clamp_params, or NULL for casts. weights / bias / rq as the conv kernels take them.
 * in0 / in1 / out index the block's tensors (in1 = -1 except for adds); a layer reads whole
 * tensors or windows of earlier layers and writes a window or the block output. */
typedef struct {
  int32_t kind; /* qk_fused_kind */
  qk_fused_fn fn;
  const void* params;
  const void* weights;
  const int32_t* bias;
  const qk_requant* rq;
  int32_t in0, in1, out;
} qk_fused_layer;

/* A block: tensors, layers in execution order, the output tensor (QK_FUSED_WHOLE), the tile
 * size in output positions (tile_h = 1 for 1D; values beyond the output clamp to it), retain
 * (see above; 2D retaining blocks need tile_w >= the output width) and the bytes of the work
 * buffer (qk_fused_state_size() plus the largest staged input, from qk_fused_plan). */
typedef struct {
  const qk_fused_tensor* tensors;
  int32_t n_tensors;
  const qk_fused_layer* layers;
  int32_t n_layers;
  int32_t output;
  int32_t tile_h, tile_w;
  int32_t retain;
  int32_t work_bytes;
} qk_fused_block;

/* Bytes of the executor's state at the start of the work buffer (n_tensors * 32, + 8 per
 * output channel when the block ends in a global pool: its accumulators). */
size_t qk_fused_state_size(const qk_fused_block* b);

/* Runs a block.
 *   data     per tensor: the whole tensor, or the tensor's window buffer (capacity bytes)
 *   work     b->work_bytes bytes, 8-byte aligned: executor state (and a closing global pool's int64
 *            accumulators), then the staging area
 *   scratch  for the kernels: the largest scratch any of the block's conv calls needs (their
 *            scratch size depends on channels and kernel size only, as layer by layer), or NULL
 * Returns QK_FUSED_OK, or a QK_FUSED_E_* code for a block the planner did not size (nothing is
 * computed beyond that point). Windows, work and scratch must not overlap each other or any
 * tensor; the block output may overlap a block input it is the last reader of only where the
 * exporter proved, from qk_fused_plan's trace, that no byte is written before its last read. */
int32_t qk_fused_run(const qk_fused_block* b, void* const* data, void* work, void* scratch);

/* What one run of a block does, from qk_fused_plan (host side: sizing and cost). */
typedef struct {
  int32_t window_bytes[QK_FUSED_MAX_TENSORS]; /* the most each window holds (0: whole tensors) */
  int32_t stage_bytes;                        /* the largest staged input */
  int64_t macs;                               /* MACs of the conv calls, recomputation included */
  int64_t moved_bytes;                        /* window bytes moved to keep retained rows */
  int64_t staged_bytes;                       /* input bytes copied to the staging area */
  int64_t kernel_calls;
  int32_t layer_calls[QK_FUSED_MAX_TENSORS]; /* kernel calls per layer (layers < tensors) */
  int32_t error;                             /* QK_FUSED_OK or a QK_FUSED_E_* code */
} qk_fused_stats;

/* One access of a run to a whole tensor: bytes [lo, hi) of tensor `tensor` read (write = 0) or
 * written by kernel call number `call` (0, 1, ... in execution order), an element-wise call
 * (elementwise = 1: each element is read before the element at the same index is written) or a
 * conv / pool call. A call's reads come before its write. */
typedef void (*qk_fused_trace_fn)(void* ctx, int64_t call, int32_t tensor, int32_t write,
                                  int64_t lo, int64_t hi, int32_t elementwise);

/* Walks the block as qk_fused_run would, without data or kernels (window capacities are not
 * checked: stats reports what they must be). state: qk_fused_state_size(b) bytes, 4-byte
 * aligned. trace may be NULL. Returns stats->error. At most QK_FUSED_MAX_TENSORS tensors. */
int32_t qk_fused_plan(const qk_fused_block* b, void* state, qk_fused_stats* stats,
                      qk_fused_trace_fn trace, void* ctx);

/* ----------------------------------------------------------------------------------------------
 * Portable references and scalar helpers (tests compare the optimized kernels with these)
 * ------------------------------------------------------------------------------------------- */

/* Code paths of the int8 convolution and fully connected kernels in a QK_USE_DSP build on an
 * Armv7E-M core, decided by the parameters alone (plain C, every platform): an exporter asks for
 * each call and writes the export's qk_config.h so its image links only these paths. The packed
 * 4-bit / 2-bit variants take the same paths as their int8 kernel. */
enum {
  QK_PATH_REFERENCE = 0,     /* the portable kernel */
  QK_PATH_DSP_GENERAL = 1,   /* im2col + SMLAD (qk_conv_s8_dsp.c) */
  QK_PATH_DSP_DEPTHWISE = 2, /* qk_dw_s8_dsp.c: depthwise, four channels per word */
  QK_PATH_DSP_LINEAR = 3,    /* qk_linear_s8_dsp.c */
  QK_PATH_DSP_DEPTHWISE3 = 4 /* qk_dw3_s8_dsp.c: depthwise, k_w 3, stride_w 1 */
};
int qk_conv_s8_dsp_path(const qk_conv_params* p);
int qk_linear_s8_dsp_path(const qk_linear_params* p);
/* The requantization epilogue the optimized int8 kernels choose for these parameters (per call):
 * a 32-bit power-of-two or affine form with an int8-range (S8), ReLU (U7) or general (RANGE)
 * clamp, or the generic 64-bit one. Exporters switch off the unused kinds in qk_config.h. */
enum {
  QK_EPI_GENERIC = 0,
  QK_EPI_POW2_RANGE = 3,
  QK_EPI_POW2_S8 = 4,
  QK_EPI_POW2_U7 = 5,
  QK_EPI_AFFINE_RANGE = 6,
  QK_EPI_AFFINE_S8 = 7,
  QK_EPI_AFFINE_U7 = 8
};
int qk_s8_epilogue_kind(const qk_requant* rq, int32_t channels, int32_t out_zp, int32_t act_min,
                        int32_t act_max);
/* The same for qk_conv_s16 / qk_linear_s16 (QK_PATH_DSP_GENERAL / _LINEAR or QK_PATH_REFERENCE). */
int qk_conv_s16_dsp_path(const qk_conv_params* p);
int qk_linear_s16_dsp_path(const qk_linear_params* p);

/* qk_conv_s8 / qk_linear_s8 without the optimized variants (no scratch). Same parameters,
 * ranges and aliasing rules. */
void qk_ref_conv_s8(const qk_conv_params* p, const int8_t* in, const int8_t* w, const int32_t* bias,
                    const qk_requant* rq, int8_t* out);
void qk_ref_linear_s8(const qk_linear_params* p, const int8_t* in, const int8_t* w,
                      const int32_t* bias, const qk_requant* rq, int8_t* out);
/* The int16 kernels without the optimized variants. */
void qk_ref_conv_s16(const qk_conv_params* p, const int16_t* in, const int16_t* w,
                     const int32_t* bias, const qk_requant* rq, int16_t* out);
void qk_ref_linear_s16(const qk_linear_params* p, const int16_t* in, const int16_t* w,
                       const int32_t* bias, const qk_requant* rq, int16_t* out);
/* The packed-weight kernels without the optimized variants. */
void qk_ref_conv_s8_w4(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                       const int32_t* bias, const qk_requant* rq, int8_t* out);
void qk_ref_conv_s8_w2(const qk_conv_params* p, const int8_t* in, const uint8_t* w,
                       const int32_t* bias, const qk_requant* rq, int8_t* out);
void qk_ref_linear_s8_w4(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                         const int32_t* bias, const qk_requant* rq, int8_t* out);
void qk_ref_linear_s8_w2(const qk_linear_params* p, const int8_t* in, const uint8_t* w,
                         const int32_t* bias, const qk_requant* rq, int8_t* out);

/* The rounding rule: s > 0: floor((x + 2^(s-1)) / 2^s) without overflow (s >= 63 gives 0);
 * s == 0: x; s < 0: clamp(x, -2^32, 2^32) * 2^min(-s, 30). Bit-identical to qat::shift_round. */
int64_t qk_shift_round(int64_t x, int32_t shift);
/* The requantization of qk_requant for output channel `channel` (entry 0 unless per_channel),
 * before the zero point and the clamp. */
int64_t qk_requantize(int64_t acc, const qk_requant* rq, int32_t channel);

#ifdef __cplusplus
}
#endif

#endif /* QK_H */
