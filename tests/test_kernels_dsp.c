/*
 * Bare-metal test of the optimized Armv7E-M kernels against the portable reference (C99), run
 * on QEMU's Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500) by the ctest kernels_dsp_emulator
 * (export/kernels/dsp_emulator_test.cmake builds it with -DQK_USE_DSP).
 *
 * qk_conv_s8 / qk_linear_s8 (the dispatchers, which select the DSP kernels in this build) are
 * compared with qk_ref_conv_s8 / qk_ref_linear_s8 on randomized parameter combinations from a
 * fixed-seed PRNG: 1D and 2D shapes, 1x1 / 3x3 / up to 5x5 kernels, depthwise with and without a
 * channel multiplier, grouped convolutions, strides 1-3, padding up to and beyond the kernel
 * size, input channel counts 1..7, 9, 15, 17 ... 64 and output channel counts up to 130 (more
 * than one chunk of 64), layers of the benchmarked networks, zero points (including out-of-int8
 * ones that the DSP kernels hand back to the reference, and absurd output zero points), bias or
 * none, per-tensor / per-channel, power-of-two
 * and affine requantization with negative, zero, small and huge shifts, saturation, fused ReLU /
 * ReLU6 clamps, inverted clamps, and unaligned input / weight / output / scratch pointers. Each
 * case also checks that nothing is written outside the output and that the kernel stays within
 * the scratch size qk_*_scratch_size() reports.
 *
 * Every convolution and linear case runs again with packed 4-bit or 2-bit weights (alternately):
 * qk_conv_s8_w4 / _w2 and qk_linear_s8_w4 / _w2 against qk_ref_conv_s8_w4 ... on the same
 * parameters, weights drawn as random bytes (every nibble / crumb value), rows starting at every
 * offset inside a byte.
 *
 * Every convolution and linear case runs a third time with int16 activations and weights:
 * qk_conv_s16 / qk_linear_s16 (the SMLALD kernels when the input zero point is 0, most draws)
 * against qk_ref_conv_s16 / qk_ref_linear_s16, full-range values, pow2 and affine shifts.
 *
 * Output (semihosting): one line per failing case (the first few), then
 *   QKTEST coverage conv2d <n> conv1d <n> conv1x1 <n> depthwise <n> ... zp-fallback <n>
 *   QKTEST summary cases <n> conv <c> linear <l> mismatches <m> overruns <o>
 * and exit status 0 only when m == o == 0.
 *
 * -DQK_TEST_BENCH additionally times representative layers (reference vs optimized) with SysTick;
 * under QEMU -icount shift=0 one tick is 40 instructions (docs/DEPLOY.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qk.h"
#include "semihost.h"
#include "systick.h"

#ifndef QK_TEST_CONV_CASES
#define QK_TEST_CONV_CASES 3000
#endif
#ifndef QK_TEST_LINEAR_CASES
#define QK_TEST_LINEAR_CASES 600
#endif
#define QK_TEST_MAX_MACS 120000
#define QK_TEST_REPORT 8 /* failing cases printed in full */

#define GUARD 64
#define GUARD_BYTE 0xA5u
#define BUF_BYTES 65536

static int8_t g_in[BUF_BYTES + 8];
static int8_t g_w[BUF_BYTES + 8];
static int8_t g_out_ref[BUF_BYTES + 8];
static int8_t g_out[BUF_BYTES + 2 * GUARD + 8];
static int16_t g_scratch[(BUF_BYTES + GUARD + 8) / 2];
static int32_t g_bias[4096];
static int32_t g_mult[4096];
static int8_t g_shift[4096];

/* xorshift32, fixed seed. */
static uint32_t g_rng = 0x2545F491u;

static uint32_t rnd_u32(void) {
  uint32_t x = g_rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  g_rng = x;
  return x;
}

/* Uniform in [lo, hi] (hi - lo < 2^32). */
static int32_t rnd(int32_t lo, int32_t hi) {
  const uint32_t span = (uint32_t)((int64_t)hi - lo + 1);
  return (int32_t)((int64_t)lo + (span == 0u ? rnd_u32() : rnd_u32() % span));
}

static int chance(int percent) {
  return rnd(0, 99) < percent;
}

static void fill_s8(int8_t* p, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) p[i] = (int8_t)rnd(-128, 127);
}

static void fill_s16(int16_t* p, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    p[i] = (int16_t)(chance(5) ? (chance(50) ? INT16_MIN : INT16_MAX) : rnd(INT16_MIN, INT16_MAX));
}

/* int16 layers: requantization that lands 64-bit accumulators of up to 2^30 K in int16 (shifts
 * 8..30, some saturating ones), clamps in int16 codes, mostly a zero input zero point (the DSP
 * kernels' condition; the others test the fallback). */
static void make_s16_layer(qk_requant* rq, int32_t channels, int32_t* in_zp, int32_t* out_zp,
                           int32_t* act_min, int32_t* act_max) {
  const int32_t n = channels > 1 && chance(50) ? channels : 1;
  const int affine = chance(30);
  int32_t i;
  for (i = 0; i < n; ++i) {
    g_shift[i] = (int8_t)(affine ? rnd(40, 60) : chance(90) ? rnd(8, 30) : rnd(-3, 7));
    g_mult[i] = affine ? rnd(1 << 28, INT32_MAX) : 0;
  }
  rq->mult = affine ? g_mult : NULL;
  rq->shift = g_shift;
  rq->per_channel = n > 1;
  *in_zp = chance(85) ? 0 : rnd(-300, 300);
  *out_zp = chance(70) ? 0 : rnd(-1000, 1000);
  switch (rnd(0, 3)) {
    case 0:
    case 1:
      *act_min = INT16_MIN;
      *act_max = INT16_MAX;
      break;
    case 2:
      *act_min = 0;
      *act_max = INT16_MAX;
      break;
    default:
      *act_min = rnd(INT16_MIN, INT16_MAX);
      *act_max = rnd(*act_min, INT16_MAX);
      break;
  }
}

/* Requantization parameters for `channels` output channels. */
static void make_requant(qk_requant* rq, int32_t channels) {
  const int32_t n = channels > 1 && chance(50) ? channels : 1;
  const int affine = chance(55);
  int32_t i;
  for (i = 0; i < n; ++i) {
    int32_t s;
    const int32_t r = rnd(0, 99);
    if (!affine) {
      /* Typical 4..14, and the edge cases: negative (saturating left shift), 0, 31/32, huge. */
      s = r < 70   ? rnd(4, 14)
          : r < 78 ? rnd(-6, -1)
          : r < 83 ? 0
          : r < 90 ? rnd(15, 31)
          : r < 95 ? rnd(32, 40)
                   : rnd(60, 127);
      g_mult[i] = 0;
    } else {
      /* Q31 multipliers with shifts 33..46 (what the exporter produces), and the rest. */
      s = r < 70   ? rnd(33, 46)
          : r < 76 ? rnd(1, 32)
          : r < 80 ? 0
          : r < 84 ? rnd(-4, -1)
          : r < 92 ? rnd(47, 62)
                   : rnd(63, 127);
      g_mult[i] = chance(85)   ? rnd(1 << 29, INT32_MAX)
                  : chance(50) ? rnd(-(1 << 30), -1)
                               : rnd(0, 1 << 12);
    }
    g_shift[i] = (int8_t)s;
  }
  rq->mult = affine ? g_mult : NULL;
  rq->shift = g_shift;
  rq->per_channel = n > 1 || (channels == 1 && chance(50)); /* per-channel of one channel */
}

static void make_zps_and_clamp(int32_t* in_zp, int32_t* out_zp, int32_t* act_min,
                               int32_t* act_max) {
  const int32_t r = rnd(0, 99);
  *in_zp = r < 30 ? 0 : r < 93 ? rnd(-128, 127) : chance(50) ? rnd(128, 600) : rnd(-600, -129);
  *out_zp = chance(25)   ? 0
            : chance(95) ? rnd(-128, 127)
            : chance(90) ? rnd(-100000, 100000)
                         : (chance(50) ? INT32_MAX - rnd(0, 1000) : INT32_MIN + rnd(0, 1000));
  switch (rnd(0, 6)) {
    case 0:
    case 1:
      *act_min = -128;
      *act_max = 127;
      break;
    case 2: /* fused ReLU */
      *act_min = *out_zp < -128 ? -128 : *out_zp > 127 ? 127 : *out_zp;
      *act_max = 127;
      break;
    case 3: /* fused ReLU6-like */
      *act_min = *out_zp < -128 ? -128 : *out_zp > 127 ? 127 : *out_zp;
      *act_max = *act_min + rnd(0, 100) > 127 ? 127 : *act_min + rnd(0, 100);
      break;
    case 4:
      *act_min = rnd(-128, 127);
      *act_max = rnd(*act_min, 127);
      break;
    case 5: /* beyond the type: the type range still saturates */
      *act_min = rnd(-100000, -129);
      *act_max = rnd(128, 100000);
      break;
    default: /* inverted */
      *act_min = rnd(-128, 127);
      *act_max = rnd(-128, 127);
      break;
  }
}

static uint32_t g_s16_cases;
static uint32_t g_cases, g_conv_cases, g_linear_cases, g_packed_cases, g_mismatches, g_overruns,
    g_reported;

/* Cases per kind, for the coverage line. */
static const char* const k_kinds[] = {"conv2d",      "conv1d",         "conv1x1",
                                      "depthwise",   "depthwise-mult", "grouped",
                                      "model-layer", "planar-3wide",   "zp-fallback"};
#define N_KINDS (sizeof k_kinds / sizeof k_kinds[0])
static uint32_t g_kind_cases[N_KINDS];

static void count_kind(const char* what, int32_t in_zp) {
  size_t i;
  for (i = 0; i < N_KINDS; ++i)
    if (strcmp(what, k_kinds[i]) == 0) ++g_kind_cases[i];
  /* The DSP kernels hand zero points outside int8 back to the reference. */
  if (in_zp < -128 || in_zp > 127) ++g_kind_cases[N_KINDS - 1];
}

/* Calls the 3-wide depthwise kernel on planar rows takes (qk_dw3_s8_dsp.c). */
static void count_path(const qk_conv_params* p) {
  if (qk_conv_s8_dsp_path(p) == QK_PATH_DSP_DEPTHWISE3) ++g_kind_cases[N_KINDS - 2];
}

static void print_conv(const char* what, const qk_conv_params* p, const qk_requant* rq,
                       uint32_t bad) {
  qat_line l;
  qat_line_begin(&l, "QKTEST FAIL ");
  qat_line_str(&l, what);
  qat_line_str(&l, " case ");
  qat_line_u64(&l, g_cases);
  qat_line_str(&l, " bad ");
  qat_line_u64(&l, bad);
  qat_line_end(&l);
  qat_line_begin(&l, "  in ");
  qat_line_u64(&l, (uint64_t)p->in_h);
  qat_line_str(&l, "x");
  qat_line_u64(&l, (uint64_t)p->in_w);
  qat_line_str(&l, "x");
  qat_line_u64(&l, (uint64_t)p->in_c);
  qat_line_str(&l, " out ");
  qat_line_u64(&l, (uint64_t)p->out_h);
  qat_line_str(&l, "x");
  qat_line_u64(&l, (uint64_t)p->out_w);
  qat_line_str(&l, "x");
  qat_line_u64(&l, (uint64_t)p->out_c);
  qat_line_str(&l, " k ");
  qat_line_u64(&l, (uint64_t)p->k_h);
  qat_line_str(&l, "x");
  qat_line_u64(&l, (uint64_t)p->k_w);
  qat_line_str(&l, " s ");
  qat_line_u64(&l, (uint64_t)p->stride_h);
  qat_line_str(&l, ",");
  qat_line_u64(&l, (uint64_t)p->stride_w);
  qat_line_str(&l, " pad ");
  qat_line_u64(&l, (uint64_t)p->pad_h);
  qat_line_str(&l, ",");
  qat_line_u64(&l, (uint64_t)p->pad_w);
  qat_line_str(&l, " g ");
  qat_line_u64(&l, (uint64_t)p->groups);
  qat_line_str(&l, " zp ");
  qat_line_hex(&l, (uint32_t)p->in_zp);
  qat_line_str(&l, " ");
  qat_line_hex(&l, (uint32_t)p->out_zp);
  qat_line_str(&l, rq->mult ? " affine" : " pow2");
  qat_line_str(&l, rq->per_channel ? " per-channel s0 " : " s0 ");
  qat_line_hex(&l, (uint32_t)(int32_t)rq->shift[0]);
  qat_line_end(&l);
}

/* Compares out (n bytes, guarded) with the reference; returns the number of differing bytes and
 * counts writes outside [out, out + n). */
static uint32_t compare(const int8_t* out, const int8_t* ref, int32_t n, int* overrun) {
  uint32_t bad = 0u;
  int32_t i;
  *overrun = 0;
  for (i = 0; i < n; ++i) bad += out[i] != ref[i];
  for (i = 1; i <= GUARD; ++i) {
    if ((uint8_t)out[-i] != GUARD_BYTE) *overrun = 1;
    if ((uint8_t)out[n - 1 + i] != GUARD_BYTE) *overrun = 1;
  }
  return bad;
}

/* The scratch filled with junk and followed by GUARD guard bytes; and whether a kernel wrote past
 * the scratch size it reported. */
static void guard_scratch(uint8_t* scr, size_t scratch) {
  memset(scr, 0x5A, scratch);
  memset(scr + scratch, (int)GUARD_BYTE, GUARD);
}

static int scratch_overran(const uint8_t* scr, size_t scratch) {
  size_t i;
  for (i = 0; i < GUARD; ++i)
    if (scr[scratch + i] != GUARD_BYTE) return 1;
  return 0;
}

/* Packed weight bytes of n values at `bits` (8: plain int8). */
static int32_t packed_bytes(int32_t n, int32_t bits) {
  return (n * bits + 7) / 8;
}

static void conv_under_test(const qk_conv_params* p, const int8_t* in, const int8_t* w,
                            int32_t bits, const int32_t* bias, const qk_requant* rq, int8_t* ref,
                            int8_t* out, void* scr) {
  const uint8_t* const wp = (const uint8_t*)w;
  if (bits == 4) {
    qk_ref_conv_s8_w4(p, in, wp, bias, rq, ref);
    qk_conv_s8_w4(p, in, wp, bias, rq, out, scr);
  } else if (bits == 2) {
    qk_ref_conv_s8_w2(p, in, wp, bias, rq, ref);
    qk_conv_s8_w2(p, in, wp, bias, rq, out, scr);
  } else {
    qk_ref_conv_s8(p, in, w, bias, rq, ref);
    qk_conv_s8(p, in, w, bias, rq, out, scr);
  }
}

static void run_conv(const qk_conv_params* p, const qk_requant* rq, int has_bias, const char* what,
                     int32_t bits) {
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  const int32_t in_n = p->in_h * p->in_w * p->in_c;
  const int32_t w_n = p->out_c * p->k_h * p->k_w * (p->in_c / groups);
  const int32_t out_n = p->out_h * p->out_w * p->out_c;
  const size_t scratch = bits == 4   ? qk_conv_s8_w4_scratch_size(p)
                         : bits == 2 ? qk_conv_s8_w2_scratch_size(p)
                                     : qk_conv_s8_scratch_size(p);
  /* Unaligned operands: the generated code places int8 buffers at any byte offset, and the
   * scratch buffer is an int16_t array (2-byte alignment only). */
  int8_t* const in = g_in + rnd(0, 3);
  int8_t* const w = g_w + rnd(0, 3);
  int8_t* const out = g_out + GUARD + rnd(0, 3);
  uint8_t* const scr = (uint8_t*)g_scratch + 2 * rnd(0, 1);
  int overrun, scratch_overrun;
  uint32_t bad;
  if (scratch + GUARD + 4 > sizeof g_scratch) {
    /* Cannot happen with the shapes drawn here; reported rather than overflowing g_scratch. */
    ++g_overruns;
    print_conv("scratch-larger-than-the-test-buffer", p, rq, 0);
    return;
  }
  fill_s8(in, in_n);
  fill_s8(w, packed_bytes(w_n, bits));
  memset(out - GUARD, (int)GUARD_BYTE, (size_t)(out_n + 2 * GUARD));
  guard_scratch(scr, scratch);
  conv_under_test(p, in, w, bits, has_bias ? g_bias : NULL, rq, g_out_ref, out, scr);
  bad = compare(out, g_out_ref, out_n, &overrun);
  scratch_overrun = scratch_overran(scr, scratch);
  ++g_cases;
  ++g_conv_cases;
  if (bits != 8) ++g_packed_cases;
  count_kind(what, p->in_zp);
  count_path(p);
  g_mismatches += bad;
  g_overruns += (uint32_t)(overrun + scratch_overrun);
  if ((bad || overrun || scratch_overrun) && g_reported < QK_TEST_REPORT) {
    ++g_reported;
    print_conv(overrun           ? "conv-output-overrun"
               : scratch_overrun ? "conv-scratch-overrun"
               : bits == 4       ? "packed-w4"
               : bits == 2       ? "packed-w2"
                                 : what,
               p, rq, bad);
  }
}

/* The same shape with int16 activations and weights: qk_conv_s16 (SMLALD kernel) against
 * qk_ref_conv_s16, int16 buffers at 2-byte offsets (word-misaligned rows). */
static void run_conv_s16(const qk_conv_params* shape, int has_bias) {
  qk_conv_params p = *shape;
  qk_requant rq;
  const int32_t groups = p.groups > 0 ? p.groups : 1;
  const int32_t in_n = p.in_h * p.in_w * p.in_c;
  const int32_t w_n = p.out_c * p.k_h * p.k_w * (p.in_c / groups);
  const int32_t out_n = p.out_h * p.out_w * p.out_c;
  const size_t scratch = qk_conv_s16_scratch_size(&p);
  int16_t* const in = (int16_t*)(void*)(g_in + 2 * rnd(0, 1));
  int16_t* const w = (int16_t*)(void*)(g_w + 2 * rnd(0, 1));
  int8_t* const out = g_out + GUARD + 2 * rnd(0, 1);
  uint8_t* const scr = (uint8_t*)g_scratch + 2 * rnd(0, 1);
  int overrun, scratch_overrun;
  uint32_t bad;
  if (2 * in_n + 4 > BUF_BYTES || 2 * w_n + 4 > BUF_BYTES || 2 * out_n + 4 > BUF_BYTES ||
      scratch + GUARD + 4 > sizeof g_scratch)
    return;
  make_s16_layer(&rq, p.out_c, &p.in_zp, &p.out_zp, &p.act_min, &p.act_max);
  fill_s16(in, in_n);
  fill_s16(w, w_n);
  memset(out - GUARD, (int)GUARD_BYTE, (size_t)(2 * out_n + 2 * GUARD));
  guard_scratch(scr, scratch);
  qk_ref_conv_s16(&p, in, w, has_bias ? g_bias : NULL, &rq, (int16_t*)(void*)g_out_ref);
  qk_conv_s16(&p, in, w, has_bias ? g_bias : NULL, &rq, (int16_t*)(void*)out, scr);
  bad = compare(out, g_out_ref, 2 * out_n, &overrun);
  scratch_overrun = scratch_overran(scr, scratch);
  ++g_cases;
  ++g_conv_cases;
  ++g_s16_cases;
  g_mismatches += bad;
  g_overruns += (uint32_t)(overrun + scratch_overrun);
  if ((bad || overrun || scratch_overrun) && g_reported < QK_TEST_REPORT) {
    ++g_reported;
    print_conv(overrun           ? "s16-output-overrun"
               : scratch_overrun ? "s16-scratch-overrun"
                                 : "s16",
               &p, &rq, bad);
  }
}

/* Alternates the packed width of the extra run of each case. */
static int32_t g_next_packed = 4;
static void run_conv_all(const qk_conv_params* p, const qk_requant* rq, int has_bias,
                         const char* what) {
  run_conv(p, rq, has_bias, what, 8);
  run_conv(p, rq, has_bias, what, g_next_packed);
  g_next_packed = 6 - g_next_packed;
  run_conv_s16(p, has_bias);
}

/* Output size for input n, kernel k, stride s, padding pad (top/left); the bottom/right padding
 * is implied and may be smaller than pad (asymmetric), or reach past the input. */
static int32_t out_size(int32_t n, int32_t k, int32_t s, int32_t pad) {
  const int32_t full = n + 2 * pad - k;
  int32_t o;
  if (full < 0) return 0;
  o = full / s + 1;
  if (o > 1 && chance(15)) --o;
  return o;
}

static const int32_t k_channels[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 32, 33, 64};
#define N_CHANNELS ((int32_t)(sizeof k_channels / sizeof k_channels[0]))
/* Output channel counts, including more than one chunk of 64 (the optimized kernel tabulates
 * per-channel constants 64 channels at a time). */
static const int32_t k_out_channels[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 24, 33, 64, 65, 96, 130};
#define N_OUT_CHANNELS ((int32_t)(sizeof k_out_channels / sizeof k_out_channels[0]))

/* One random convolution of the given kind. Returns 0 when the draw was too big (redraw). */
static int conv_case(int kind) {
  qk_conv_params p;
  qk_requant rq;
  int32_t icg, ocg, macs, i;
  const char* what = "conv2d";
  memset(&p, 0, sizeof p);
  p.in_c = k_channels[rnd(0, N_CHANNELS - 1)];
  p.k_h = rnd(1, 5);
  p.k_w = rnd(1, 5);
  p.stride_h = rnd(1, 3);
  p.stride_w = rnd(1, 3);
  p.groups = 1;
  switch (kind) {
    case 0: /* 2D */
      p.out_c = k_out_channels[rnd(0, N_OUT_CHANNELS - 1)];
      break;
    case 1: /* 1D */
      what = "conv1d";
      p.k_h = 1;
      p.stride_h = 1;
      p.out_c = k_channels[rnd(0, N_CHANNELS - 1)];
      break;
    case 2: /* pointwise */
      what = "conv1x1";
      p.k_h = p.k_w = 1;
      p.stride_h = p.stride_w = chance(70) ? 1 : 2;
      p.out_c = k_out_channels[rnd(0, N_OUT_CHANNELS - 1)];
      break;
    case 3: /* depthwise */
      what = "depthwise";
      p.k_h = p.k_w = chance(60) ? 3 : rnd(1, 5);
      /* 3-wide kernels of other heights (1D included) take the planar kernel too. */
      if (p.k_w == 3 && chance(30)) p.k_h = rnd(1, 5);
      p.groups = p.in_c;
      p.out_c = p.in_c;
      if (chance(10)) p.groups = 0; /* groups <= 0 means 1 in the reference */
      break;
    case 4: /* depthwise with a channel multiplier */
      what = "depthwise-mult";
      p.groups = p.in_c;
      p.out_c = p.in_c * rnd(2, 4);
      break;
    default: { /* grouped */
      int32_t g;
      what = "grouped";
      p.in_c = rnd(2, 8) * rnd(1, 6);
      do g = rnd(2, p.in_c);
      while (p.in_c % g != 0);
      p.groups = g;
      p.out_c = g * rnd(1, 5);
      break;
    }
  }
  if (kind == 1) {
    p.in_h = 1;
    p.in_w = rnd(1, 40);
  } else {
    p.in_h = rnd(1, 12);
    p.in_w = rnd(1, 12);
    /* Rows of two and more blocks of four pixels for the planar 3-wide depthwise kernel. */
    if (kind == 3 && p.k_w == 3 && chance(50)) p.in_w = rnd(8, 40);
  }
  /* Padding: none, "same"-like, up to the kernel size (windows entirely in the padding). */
  p.pad_h = kind == 1 ? 0 : chance(30) ? 0 : rnd(0, p.k_h);
  p.pad_w = chance(30) ? 0 : rnd(0, p.k_w);
  p.out_h = out_size(p.in_h, p.k_h, p.stride_h, p.pad_h);
  p.out_w = out_size(p.in_w, p.k_w, p.stride_w, p.pad_w);
  if (p.out_h <= 0 || p.out_w <= 0) return 0;
  icg = p.in_c / (p.groups > 0 ? p.groups : 1);
  ocg = p.out_c;
  macs = p.out_h * p.out_w * ocg * p.k_h * p.k_w * icg;
  if (macs > QK_TEST_MAX_MACS || p.in_h * p.in_w * p.in_c > BUF_BYTES ||
      p.out_h * p.out_w * p.out_c > BUF_BYTES || p.out_c * p.k_h * p.k_w * icg > BUF_BYTES)
    return 0;
  make_zps_and_clamp(&p.in_zp, &p.out_zp, &p.act_min, &p.act_max);
  make_requant(&rq, p.out_c);
  for (i = 0; i < p.out_c; ++i)
    g_bias[i] = chance(90) ? rnd(-(1 << 20), 1 << 20) : rnd(-(1 << 26), 1 << 26);
  run_conv_all(&p, &rq, chance(85), what);
  return 1;
}

/* Layers of the benchmarked networks (MLPerf Tiny ResNet-8, MobileNetV2, UCI-HAR ResNet). */
static void model_layer_cases(void) {
  static const int32_t shapes[][10] = {
      /* in_h, in_w, in_c, out_c, k, stride, pad, groups(0: 1, -1: depthwise) */
      {32, 32, 3, 16, 3, 1, 1, 0},   {32, 32, 16, 16, 3, 1, 1, 0},  {32, 32, 16, 32, 3, 2, 1, 0},
      {32, 32, 16, 32, 1, 2, 0, 0},  {16, 16, 32, 32, 3, 1, 1, 0},  {8, 8, 64, 64, 3, 1, 1, 0},
      {24, 24, 48, 48, 3, 1, 1, -1}, {24, 24, 48, 48, 3, 2, 1, -1}, {12, 12, 16, 96, 1, 1, 0, 0},
      {12, 12, 96, 16, 1, 1, 0, 0},  {3, 3, 336, 336, 3, 1, 1, -1}, {1, 128, 9, 16, 3, 1, 1, 0},
      {1, 64, 48, 48, 3, 1, 1, 0},   {6, 6, 24, 144, 1, 1, 0, 0},   {1, 32, 80, 80, 3, 1, 1, 0},
  };
  size_t s;
  int rep;
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    for (rep = 0; rep < 2; ++rep) {
      qk_conv_params p;
      qk_requant rq;
      int32_t i;
      memset(&p, 0, sizeof p);
      p.in_h = shapes[s][0];
      p.in_w = shapes[s][1];
      p.in_c = shapes[s][2];
      p.out_c = shapes[s][3];
      p.k_h = p.in_h == 1 ? 1 : shapes[s][4];
      p.k_w = shapes[s][4];
      p.stride_h = p.in_h == 1 ? 1 : shapes[s][5];
      p.stride_w = shapes[s][5];
      p.pad_h = p.in_h == 1 ? 0 : shapes[s][6];
      p.pad_w = shapes[s][6];
      p.groups = shapes[s][7] < 0 ? p.in_c : 1;
      p.out_h = (p.in_h + 2 * p.pad_h - p.k_h) / p.stride_h + 1;
      p.out_w = (p.in_w + 2 * p.pad_w - p.k_w) / p.stride_w + 1;
      make_zps_and_clamp(&p.in_zp, &p.out_zp, &p.act_min, &p.act_max);
      if (p.in_zp > 127 || p.in_zp < -128) p.in_zp = -128;
      make_requant(&rq, p.out_c);
      for (i = 0; i < p.out_c; ++i) g_bias[i] = rnd(-(1 << 20), 1 << 20);
      run_conv_all(&p, &rq, 1, "model-layer");
    }
  }
}

static void linear_run(const qk_linear_params* p, const qk_requant* rq, int has_bias,
                       int32_t bits) {
  int overrun;
  uint32_t bad;
  int8_t *in, *w, *out;
  in = g_in + rnd(0, 3);
  w = g_w + rnd(0, 3);
  out = g_out + GUARD + rnd(0, 3);
  fill_s8(in, p->in_features);
  fill_s8(w, packed_bytes(p->in_features * p->out_features, bits));
  memset(out - GUARD, (int)GUARD_BYTE, (size_t)(p->out_features + 2 * GUARD));
  if (bits == 4) {
    qk_ref_linear_s8_w4(p, in, (const uint8_t*)w, has_bias ? g_bias : NULL, rq, g_out_ref);
    qk_linear_s8_w4(p, in, (const uint8_t*)w, has_bias ? g_bias : NULL, rq, out, NULL);
  } else if (bits == 2) {
    qk_ref_linear_s8_w2(p, in, (const uint8_t*)w, has_bias ? g_bias : NULL, rq, g_out_ref);
    qk_linear_s8_w2(p, in, (const uint8_t*)w, has_bias ? g_bias : NULL, rq, out, NULL);
  } else {
    qk_ref_linear_s8(p, in, w, has_bias ? g_bias : NULL, rq, g_out_ref);
    /* qk_linear_s8_scratch_size() is 0: pass NULL like a caller that trusts it. */
    qk_linear_s8(p, in, w, has_bias ? g_bias : NULL, rq, out,
                 qk_linear_s8_scratch_size(p) ? g_scratch : NULL);
  }
  bad = compare(out, g_out_ref, p->out_features, &overrun);
  ++g_cases;
  ++g_linear_cases;
  if (bits != 8) ++g_packed_cases;
  g_mismatches += bad;
  g_overruns += (uint32_t)overrun;
  if ((bad || overrun) && g_reported < QK_TEST_REPORT) {
    qat_line l;
    ++g_reported;
    qat_line_begin(&l, overrun ? "QKTEST FAIL linear-overrun case " : "QKTEST FAIL linear case ");
    qat_line_u64(&l, g_cases);
    qat_line_str(&l, " bits ");
    qat_line_u64(&l, (uint64_t)bits);
    qat_line_str(&l, " in ");
    qat_line_u64(&l, (uint64_t)p->in_features);
    qat_line_str(&l, " out ");
    qat_line_u64(&l, (uint64_t)p->out_features);
    qat_line_str(&l, " zp ");
    qat_line_hex(&l, (uint32_t)p->in_zp);
    qat_line_str(&l, " bad ");
    qat_line_u64(&l, bad);
    qat_line_end(&l);
  }
}

/* int16 fully connected: qk_linear_s16 (SMLALD, two rows per input word) against the reference. */
static void linear_run_s16(const qk_linear_params* shape, int has_bias) {
  qk_linear_params p = *shape;
  qk_requant rq;
  int16_t* const in = (int16_t*)(void*)(g_in + 2 * rnd(0, 1));
  int16_t* const w = (int16_t*)(void*)(g_w + 2 * rnd(0, 1));
  int8_t* const out = g_out + GUARD + 2 * rnd(0, 1);
  int overrun;
  uint32_t bad;
  if (2 * p.in_features * p.out_features + 4 > BUF_BYTES) return;
  make_s16_layer(&rq, p.out_features, &p.in_zp, &p.out_zp, &p.act_min, &p.act_max);
  fill_s16(in, p.in_features);
  fill_s16(w, p.in_features * p.out_features);
  memset(out - GUARD, (int)GUARD_BYTE, (size_t)(2 * p.out_features + 2 * GUARD));
  qk_ref_linear_s16(&p, in, w, has_bias ? g_bias : NULL, &rq, (int16_t*)(void*)g_out_ref);
  qk_linear_s16(&p, in, w, has_bias ? g_bias : NULL, &rq, (int16_t*)(void*)out, NULL);
  bad = compare(out, g_out_ref, 2 * p.out_features, &overrun);
  ++g_cases;
  ++g_linear_cases;
  ++g_s16_cases;
  g_mismatches += bad;
  g_overruns += (uint32_t)overrun;
  if ((bad || overrun) && g_reported < QK_TEST_REPORT) {
    qat_line l;
    ++g_reported;
    qat_line_begin(&l, "QKTEST FAIL linear-s16 case ");
    qat_line_u64(&l, g_cases);
    qat_line_str(&l, " in ");
    qat_line_u64(&l, (uint64_t)p.in_features);
    qat_line_str(&l, " out ");
    qat_line_u64(&l, (uint64_t)p.out_features);
    qat_line_str(&l, " bad ");
    qat_line_u64(&l, bad);
    qat_line_end(&l);
  }
}

static void linear_case(void) {
  qk_linear_params p;
  qk_requant rq;
  int32_t i;
  const int has_bias = chance(85);
  p.in_features = chance(80) ? rnd(1, 300) : rnd(301, 1400);
  p.out_features = chance(80) ? rnd(1, 24) : rnd(25, 40);
  make_zps_and_clamp(&p.in_zp, &p.out_zp, &p.act_min, &p.act_max);
  make_requant(&rq, p.out_features);
  for (i = 0; i < p.out_features; ++i) g_bias[i] = rnd(-(1 << 20), 1 << 20);
  linear_run(&p, &rq, has_bias, 8);
  linear_run(&p, &rq, has_bias, g_next_packed);
  g_next_packed = 6 - g_next_packed;
  linear_run_s16(&p, has_bias);
}

#ifdef QK_TEST_BENCH
/* Instructions of one call (SysTick ticks x 40 under -icount shift=0). */
static void bench_layer(const char* name, const qk_conv_params* p) {
  qk_requant rq;
  static int32_t mult[1024];
  static int8_t shift[1024];
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  const int32_t macs = p->out_h * p->out_w * p->out_c * p->k_h * p->k_w * (p->in_c / groups);
  uint64_t t0, t_ref, t_opt, t_ref4, t_opt4, t_ref2, t_opt2;
  int32_t i;
  int exact;
  qat_line l;
  for (i = 0; i < p->out_c; ++i) {
    mult[i] = 1518500250;
    shift[i] = 40;
    g_bias[i] = rnd(-1000, 1000);
  }
  rq.mult = mult;
  rq.shift = shift;
  rq.per_channel = 1;
  fill_s8(g_in, p->in_h * p->in_w * p->in_c);
  fill_s8(g_w, p->out_c * p->k_h * p->k_w * (p->in_c / groups));
  t0 = qat_systick_now();
  qk_ref_conv_s8(p, g_in, g_w, g_bias, &rq, g_out_ref);
  t_ref = qat_systick_now() - t0;
  t0 = qat_systick_now();
  qk_conv_s8(p, g_in, g_w, g_bias, &rq, g_out, g_scratch);
  t_opt = qat_systick_now() - t0;
  exact = !memcmp(g_out, g_out_ref, (size_t)(p->out_h * p->out_w * p->out_c));
  /* The same layer with packed 4-bit and 2-bit weights (the same bytes read as packed). */
  t0 = qat_systick_now();
  qk_ref_conv_s8_w4(p, g_in, (const uint8_t*)g_w, g_bias, &rq, g_out_ref);
  t_ref4 = qat_systick_now() - t0;
  t0 = qat_systick_now();
  qk_conv_s8_w4(p, g_in, (const uint8_t*)g_w, g_bias, &rq, g_out, g_scratch);
  t_opt4 = qat_systick_now() - t0;
  exact = exact && !memcmp(g_out, g_out_ref, (size_t)(p->out_h * p->out_w * p->out_c));
  t0 = qat_systick_now();
  qk_ref_conv_s8_w2(p, g_in, (const uint8_t*)g_w, g_bias, &rq, g_out_ref);
  t_ref2 = qat_systick_now() - t0;
  t0 = qat_systick_now();
  qk_conv_s8_w2(p, g_in, (const uint8_t*)g_w, g_bias, &rq, g_out, g_scratch);
  t_opt2 = qat_systick_now() - t0;
  exact = exact && !memcmp(g_out, g_out_ref, (size_t)(p->out_h * p->out_w * p->out_c));
  qat_line_begin(&l, "QKBENCH ");
  qat_line_str(&l, name);
  qat_line_str(&l, " macs ");
  qat_line_u64(&l, (uint64_t)macs);
  qat_line_str(&l, " ref_instr ");
  qat_line_u64(&l, t_ref * 40u);
  qat_line_str(&l, " opt_instr ");
  qat_line_u64(&l, t_opt * 40u);
  qat_line_str(&l, " opt_x100_per_mac ");
  qat_line_u64(&l, t_opt * 4000u / (uint64_t)macs);
  qat_line_str(&l, " w4_ref_instr ");
  qat_line_u64(&l, t_ref4 * 40u);
  qat_line_str(&l, " w4_opt_instr ");
  qat_line_u64(&l, t_opt4 * 40u);
  qat_line_str(&l, " w2_ref_instr ");
  qat_line_u64(&l, t_ref2 * 40u);
  qat_line_str(&l, " w2_opt_instr ");
  qat_line_u64(&l, t_opt2 * 40u);
  qat_line_str(&l, exact ? " exact" : " MISMATCH");
  qat_line_end(&l);
}

static void bench(void) {
  static const struct {
    const char* name;
    qk_conv_params p;
  } layers[] = {
      {"r8_conv1_3x3x3", {32, 32, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, -128, -128, -128, 127}},
      {"r8_s1_3x3x16", {32, 32, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, -128, -128, -128, 127}},
      {"r8_s2_3x3x16_s2", {32, 32, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, -128, -128, -128, 127}},
      {"r8_s2_3x3x32", {16, 16, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, -128, -128, -128, 127}},
      {"r8_s3_3x3x64", {8, 8, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, -128, -128, -128, 127}},
      {"r8_proj_1x1_s2", {32, 32, 16, 16, 16, 32, 1, 1, 2, 2, 0, 0, 1, -128, -128, -128, 127}},
      {"mbv2_dw_48", {24, 24, 48, 24, 24, 48, 3, 3, 1, 1, 1, 1, 48, -128, -128, -128, 127}},
      {"mbv2_dw_48_s2", {24, 24, 48, 12, 12, 48, 3, 3, 2, 2, 1, 1, 48, -128, -128, -128, 127}},
      {"mbv2_dw_16_48x48", {48, 48, 16, 48, 48, 16, 3, 3, 1, 1, 1, 1, 16, -128, -128, -128, 127}},
      {"mbv2_dw_96_12x12", {12, 12, 96, 12, 12, 96, 3, 3, 1, 1, 1, 1, 96, -128, -128, -128, 127}},
      {"mbv2_dw_144_6x6", {6, 6, 144, 6, 6, 144, 3, 3, 1, 1, 1, 1, 144, -128, -128, -128, 127}},
      {"dw_128_8x8", {8, 8, 128, 8, 8, 128, 3, 3, 1, 1, 1, 1, 128, -128, -128, -128, 127}},
      {"mbv2_dw_336_3x3", {3, 3, 336, 3, 3, 336, 3, 3, 1, 1, 1, 1, 336, -128, -128, -128, 127}},
      {"mbv2_pw_16_96", {12, 12, 16, 12, 12, 96, 1, 1, 1, 1, 0, 0, 1, -128, -128, -128, 127}},
      {"mbv2_pw_96_16", {12, 12, 96, 12, 12, 16, 1, 1, 1, 1, 0, 0, 1, -128, -128, -128, 127}},
      {"har_conv_3x16", {1, 128, 16, 1, 128, 16, 1, 3, 1, 1, 0, 1, 1, 0, 0, -128, 127}},
  };
  size_t i;
  qat_systick_start();
  for (i = 0; i < sizeof layers / sizeof layers[0]; ++i) bench_layer(layers[i].name, &layers[i].p);
  qat_systick_stop();
}
#endif

int main(void) {
  qat_line l;
  int32_t n;
  qat_write("QKTEST begin\n");
#ifdef QK_TEST_BENCH
  bench();
#endif
  if (QK_TEST_CONV_CASES > 0) model_layer_cases();
  for (n = 0; n < QK_TEST_CONV_CASES;) n += conv_case((int)(n % 8 < 3 ? 0 : n % 8 - 2));
  for (n = 0; n < QK_TEST_LINEAR_CASES; ++n) linear_case();
  qat_line_begin(&l, "QKTEST coverage");
  for (n = 0; n < (int32_t)N_KINDS; ++n) {
    qat_line_str(&l, " ");
    qat_line_str(&l, k_kinds[n]);
    qat_line_str(&l, " ");
    qat_line_u64(&l, g_kind_cases[n]);
  }
  qat_line_end(&l);
  qat_line_begin(&l, "QKTEST summary cases ");
  qat_line_u64(&l, g_cases);
  qat_line_str(&l, " conv ");
  qat_line_u64(&l, g_conv_cases);
  qat_line_str(&l, " linear ");
  qat_line_u64(&l, g_linear_cases);
  qat_line_str(&l, " packed ");
  qat_line_u64(&l, g_packed_cases);
  qat_line_str(&l, " int16 ");
  qat_line_u64(&l, g_s16_cases);
  qat_line_str(&l, " mismatches ");
  qat_line_u64(&l, g_mismatches);
  qat_line_str(&l, " overruns ");
  qat_line_u64(&l, g_overruns);
  qat_line_end(&l);
  return g_mismatches == 0u && g_overruns == 0u ? 0 : 1;
}
