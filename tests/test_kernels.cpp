// The C kernel library (export/kernels, qk.h) against naive references written here. The
// references use a different data layout (channel-first, explicitly padded with the zero point)
// and the toolkit's own arithmetic (qat::shift_round, qat::apply_multiplier, qat::rounded_mean)
// as the oracle, so the kernels are checked bit for bit against the training-side contract.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "export/packing.h"
#include "qat/errors.h"
#include "qat/number_format.h"
#include "qk.h"

namespace {

template <typename T>
constexpr int32_t tmin() {
  return std::numeric_limits<T>::min();
}
template <typename T>
constexpr int32_t tmax() {
  return std::numeric_limits<T>::max();
}

int rand_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  return static_cast<int>(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
}

template <typename T>
std::vector<T> rand_vec(std::mt19937& rng, size_t n, int64_t lo = tmin<T>(),
                        int64_t hi = tmax<T>()) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(rand_int(rng, lo, hi));
  return v;
}

int bit_length(int64_t v) {
  int n = 0;
  while (n < 63 && (int64_t{1} << n) <= v) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Requantization spec shared by conv / linear, with the oracle.

struct Requant {
  bool affine = false;
  bool per_channel = false;
  std::vector<int32_t> mult;
  std::vector<int8_t> shift;

  qk_requant c() const {
    return {affine ? mult.data() : nullptr, shift.data(), per_channel ? 1 : 0};
  }
  int64_t ref(int64_t acc, size_t ch) const {
    const size_t i = per_channel ? ch : 0;
    if (!affine) return qat::shift_round(acc, shift[i]);
    const int64_t m = mult[i];
    // apply_multiplier's precondition; the generators below respect it.
    EXPECT_LT(m * (acc < 0 ? -acc : acc), int64_t{1} << 62);
    return qat::apply_multiplier(acc, qat::FixedMultiplier{m, shift[i]});
  }
};

// Random requantization for accumulators bounded by acc_bound into a type of out_bits bits:
// shifts spread from "everything saturates" to "small outputs"; affine multipliers use as many
// bits as the bound allows (as qat::make_requant does).
Requant random_requant(std::mt19937& rng, bool affine, bool per_channel, int channels,
                       int64_t acc_bound, int out_bits) {
  Requant r;
  r.affine = affine;
  r.per_channel = per_channel;
  const int n = per_channel ? channels : 1;
  const int base = bit_length(acc_bound) - out_bits;
  const int mbits = std::min(31, qat::multiplier_bits_for(acc_bound));
  for (int i = 0; i < n; ++i) {
    int s = std::clamp(base + rand_int(rng, -6, 1), -12, 62);
    // Now and then a left shift (pow2 with a coarser output than accumulator format).
    if (!affine && per_channel && rand_int(rng, 0, 7) == 0) s = rand_int(rng, -3, 0);
    if (affine) {
      r.mult.push_back(rand_int(rng, int64_t{1} << (mbits - 1), (int64_t{1} << mbits) - 1));
      s = std::clamp(s + mbits, 0, 62);
    }
    r.shift.push_back(static_cast<int8_t>(s));
  }
  return r;
}

enum class Act { kNone, kRelu, kRelu6 };

struct OutRange {
  int32_t zp, lo, hi;
};

// The output zero point and clamp of a fused activation (ReLU clamps at the zero point).
template <typename T>
OutRange out_range(std::mt19937& rng, bool with_zp, Act act) {
  OutRange o{0, tmin<T>(), tmax<T>()};
  if (with_zp) o.zp = rand_int(rng, tmin<T>() / 2, tmax<T>() / 2);
  if (act != Act::kNone) o.lo = o.zp;
  if (act == Act::kRelu6) o.hi = std::min<int64_t>(tmax<T>(), o.zp + (tmax<T>() - o.zp) / 3);
  return o;
}

int64_t finish(int64_t y, const OutRange& o) {
  return std::clamp<int64_t>(y + o.zp, o.lo, o.hi);
}

// ---------------------------------------------------------------------------------------------
// Conv reference: channel-first, input copied into a buffer padded with the zero point.

struct ConvCase {
  int in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, groups;
  int pad_bottom = -1, pad_right = -1;  // implied bottom/right padding; -1: same as top/left

  qk_conv_params params() const {
    qk_conv_params p{};
    p.in_h = in_h;
    p.in_w = in_w;
    p.in_c = in_c;
    p.out_c = out_c;
    p.k_h = k_h;
    p.k_w = k_w;
    p.stride_h = stride_h;
    p.stride_w = stride_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.groups = groups;
    const int pb = pad_bottom < 0 ? pad_h : pad_bottom, pr = pad_right < 0 ? pad_w : pad_right;
    p.out_h = (in_h + pad_h + pb - k_h) / stride_h + 1;
    p.out_w = (in_w + pad_w + pr - k_w) / stride_w + 1;
    return p;
  }
  std::string str() const {
    return "in " + std::to_string(in_h) + "x" + std::to_string(in_w) + "x" + std::to_string(in_c) +
           " out_c " + std::to_string(out_c) + " k " + std::to_string(k_h) + "x" +
           std::to_string(k_w) + " s " + std::to_string(stride_h) + "," + std::to_string(stride_w) +
           " pad " + std::to_string(pad_h) + "," + std::to_string(pad_w) + " groups " +
           std::to_string(groups);
  }
};

template <typename T, typename W>
std::vector<T> ref_conv(const qk_conv_params& p, const std::vector<T>& in_hwc,
                        const std::vector<W>& w, const std::vector<int32_t>& bias,
                        const Requant& rq, const OutRange& o, int64_t acc_limit) {
  const int hp = std::max(p.pad_h + p.in_h, (p.out_h - 1) * p.stride_h + p.k_h);
  const int wp = std::max(p.pad_w + p.in_w, (p.out_w - 1) * p.stride_w + p.k_w);
  std::vector<int64_t> x(static_cast<size_t>(p.in_c) * hp * wp, p.in_zp);  // [c][hp][wp]
  for (int c = 0; c < p.in_c; ++c)
    for (int y = 0; y < p.in_h; ++y)
      for (int xx = 0; xx < p.in_w; ++xx)
        x[(static_cast<size_t>(c) * hp + y + p.pad_h) * wp + xx + p.pad_w] =
            in_hwc[(static_cast<size_t>(y) * p.in_w + xx) * p.in_c + c];
  const int icg = p.in_c / p.groups, ocg = p.out_c / p.groups;
  std::vector<T> out(static_cast<size_t>(p.out_h) * p.out_w * p.out_c);
  for (int g = 0; g < p.groups; ++g) {
    for (int j = 0; j < ocg; ++j) {
      const int oc = g * ocg + j;
      for (int oy = 0; oy < p.out_h; ++oy) {
        for (int ox = 0; ox < p.out_w; ++ox) {
          int64_t acc = bias.empty() ? 0 : bias[oc];
          for (int i = 0; i < icg; ++i) {
            const int ic = g * icg + i;
            for (int ky = 0; ky < p.k_h; ++ky) {
              for (int kx = 0; kx < p.k_w; ++kx) {
                const int64_t xv = x[(static_cast<size_t>(ic) * hp + oy * p.stride_h + ky) * wp +
                                     ox * p.stride_w + kx];
                const int64_t wv =
                    w[((static_cast<size_t>(oc) * p.k_h + ky) * p.k_w + kx) * icg + i];
                acc += (xv - p.in_zp) * wv;
              }
            }
          }
          EXPECT_LT(acc < 0 ? -acc : acc, acc_limit) << "test data breaks the accumulator bound";
          out[(static_cast<size_t>(oy) * p.out_w + ox) * p.out_c + oc] =
              static_cast<T>(finish(rq.ref(acc, oc), o));
        }
      }
    }
  }
  return out;
}

// The kernel under test for each type combination. The int8 entry point must equal the
// portable reference bit for bit.
void run_conv(const qk_conv_params& p, const int8_t* in, const int8_t* w, const int32_t* bias,
              const qk_requant& rq, int8_t* out) {
  std::vector<int8_t> ref(static_cast<size_t>(p.out_h) * p.out_w * p.out_c);
  std::vector<uint8_t> scratch(qk_conv_s8_scratch_size(&p) + 1);
  qk_conv_s8(&p, in, w, bias, &rq, out, scratch.data());
  qk_ref_conv_s8(&p, in, w, bias, &rq, ref.data());
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), out)) << "qk_conv_s8 != qk_ref_conv_s8";
}
void run_conv(const qk_conv_params& p, const int16_t* in, const int16_t* w, const int32_t* bias,
              const qk_requant& rq, int16_t* out) {
  std::vector<uint8_t> scratch(qk_conv_s16_scratch_size(&p) + 1);
  qk_conv_s16(&p, in, w, bias, &rq, out, scratch.data());
}
void run_conv(const qk_conv_params& p, const int16_t* in, const int8_t* w, const int32_t* bias,
              const qk_requant& rq, int16_t* out) {
  qk_conv_s16_w8(&p, in, w, bias, &rq, out, nullptr);
}

// The packed-weight kernels (4 / 2 bits) on int8 values that fit; their reference must agree.
void run_conv_packed(const qk_conv_params& p, const int8_t* in, const std::vector<int8_t>& w,
                     int bits, const int32_t* bias, const qk_requant& rq, int8_t* out) {
  const auto packed = qat::exporter::pack_weights(std::vector<int32_t>(w.begin(), w.end()), bits);
  ASSERT_EQ(static_cast<int64_t>(packed.size()), (static_cast<int64_t>(w.size()) * bits + 7) / 8);
  std::vector<int8_t> ref(static_cast<size_t>(p.out_h) * p.out_w * p.out_c);
  std::vector<uint8_t> scratch(
      (bits == 4 ? qk_conv_s8_w4_scratch_size(&p) : qk_conv_s8_w2_scratch_size(&p)) + 1);
  if (bits == 4) {
    qk_conv_s8_w4(&p, in, packed.data(), bias, &rq, out, scratch.data());
    qk_ref_conv_s8_w4(&p, in, packed.data(), bias, &rq, ref.data());
  } else {
    qk_conv_s8_w2(&p, in, packed.data(), bias, &rq, out, scratch.data());
    qk_ref_conv_s8_w2(&p, in, packed.data(), bias, &rq, ref.data());
  }
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), out)) << "qk_conv_s8_w" << bits << " != ref";
}

struct Variant {
  bool affine;
  bool per_channel;
  bool zp;  // nonzero input / output zero points
  Act act;
};

struct SatStats {
  int at_min = 0, at_max = 0, inside = 0, total = 0;
  template <typename T>
  void add(const std::vector<T>& v) {
    for (T x : v) {
      at_min += x == tmin<T>();
      at_max += x == tmax<T>();
      inside += x != tmin<T>() && x != tmax<T>();
      ++total;
    }
  }
};

// wbits: 0 for weights of the full type W; 4 or 2 for packed weights (W = int8_t).
template <typename T, typename W>
void check_conv(const ConvCase& cc, const Variant& v, std::mt19937& rng, SatStats* stats,
                int wbits = 0) {
  SCOPED_TRACE(cc.str() + (v.affine ? " affine" : " pow2") +
               (v.per_channel ? " per-channel" : " per-tensor") + (v.zp ? " zp" : "") + " act " +
               std::to_string(static_cast<int>(v.act)));
  qk_conv_params p = cc.params();
  ASSERT_GT(p.out_h, 0);
  ASSERT_GT(p.out_w, 0);
  const int icg = p.in_c / p.groups;
  const auto in = rand_vec<T>(rng, static_cast<size_t>(p.in_h) * p.in_w * p.in_c);
  const int64_t wlo = wbits ? -(int64_t{1} << (wbits - 1)) : tmin<W>();
  const int64_t whi = wbits ? (int64_t{1} << (wbits - 1)) - 1 : tmax<W>();
  const auto w = rand_vec<W>(rng, static_cast<size_t>(p.out_c) * p.k_h * p.k_w * icg, wlo, whi);
  p.in_zp = v.zp ? rand_int(rng, tmin<T>() / 2, tmax<T>() / 2) : 0;
  const int64_t max_dx = std::max<int64_t>(tmax<T>() - p.in_zp, p.in_zp - tmin<T>());
  const int64_t wmax = -wlo;
  const int64_t bias_max = std::min<int64_t>(max_dx * wmax * 4, INT32_MAX);
  std::vector<int32_t> bias;
  for (int i = 0; i < p.out_c; ++i) bias.push_back(rand_int(rng, -bias_max, bias_max));
  const int64_t bound = max_dx * wmax * p.k_h * p.k_w * icg + bias_max;
  const int64_t acc_limit = sizeof(T) == 1 ? int64_t{1} << 31 : int64_t{1} << 62;
  ASSERT_LT(bound, acc_limit);
  const Requant rq =
      random_requant(rng, v.affine, v.per_channel, p.out_c, bound, 8 * static_cast<int>(sizeof(T)));
  const OutRange o = out_range<T>(rng, v.zp, v.act);
  p.out_zp = o.zp;
  p.act_min = o.lo;
  p.act_max = o.hi;

  const auto expected = ref_conv(p, in, w, bias, rq, o, acc_limit);
  std::vector<T> got(expected.size());
  if constexpr (std::is_same_v<T, int8_t> && std::is_same_v<W, int8_t>) {
    if (wbits)
      run_conv_packed(p, in.data(), w, wbits, bias.data(), rq.c(), got.data());
    else
      run_conv(p, in.data(), w.data(), bias.data(), rq.c(), got.data());
  } else {
    run_conv(p, in.data(), w.data(), bias.data(), rq.c(), got.data());
  }
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_EQ(int{got[i]}, int{expected[i]}) << "output " << i;
  if (stats) stats->add(got);
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      // 1D (in_h = 1)
      {1, 17, 3, 5, 1, 3, 1, 1, 0, 1, 1},
      {1, 16, 4, 6, 1, 5, 1, 2, 0, 2, 1},  // stride 2, kernel 5
      {1, 20, 2, 3, 1, 4, 1, 3, 0, 1, 1},  // stride 3, kernel larger than stride
      {1, 11, 5, 5, 1, 3, 1, 1, 0, 1, 5},  // depthwise
      {1, 3, 1, 2, 1, 2, 1, 1, 0, 2, 1},   // pad >= kernel: first window entirely padding
      {1, 9, 7, 1, 1, 1, 1, 1, 0, 0, 1},   // pointwise to one channel
      // 2D
      {7, 5, 3, 7, 3, 3, 1, 1, 1, 1, 1},        // odd sizes, odd channels
      {9, 8, 1, 4, 3, 3, 2, 2, 1, 1, 1},        // stride 2, one input channel
      {11, 10, 3, 2, 5, 5, 3, 3, 2, 2, 1},      // stride 3, kernel 5
      {5, 6, 6, 9, 3, 3, 1, 1, 1, 1, 3},        // grouped (3 groups of 2 -> 3)
      {8, 7, 7, 7, 3, 3, 2, 2, 1, 1, 7},        // depthwise, stride 2
      {6, 5, 3, 6, 3, 3, 1, 1, 1, 1, 3},        // depthwise with channel multiplier 2
      {4, 4, 5, 3, 1, 1, 1, 1, 0, 0, 1},        // 1x1
      {5, 9, 3, 4, 2, 3, 1, 2, 0, 1, 1},        // non-square kernel and stride
      {2, 2, 1, 1, 3, 3, 1, 1, 2, 2, 1},        // kernel larger than the input, big padding
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},        // scalar
      {8, 8, 2, 3, 3, 3, 2, 2, 0, 0, 1, 1, 1},  // "same" stride 2: bottom/right padding only
      {6, 7, 3, 5, 3, 3, 1, 1, 1, 1, 1, 0, 0},  // top/left padding only
      {7, 7, 4, 4, 3, 3, 2, 3, 1, 2, 2, 0, 2},  // mixed explicit / implied padding
  };
  return cases;
}

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {false, false, false, Act::kNone}, {false, true, false, Act::kRelu},
      {false, true, false, Act::kRelu6}, {true, false, true, Act::kNone},
      {true, true, true, Act::kNone},    {true, true, true, Act::kRelu},
      {true, true, false, Act::kRelu6},
  };
  return v;
}

// ---------------------------------------------------------------------------------------------
// Scalar helpers

TEST(KernelsScalar, ShiftRoundHandPicked) {
  // Round half up: 5/2 = 2.5 -> 3, -5/2 = -2.5 -> -2, 7/4 = 1.75 -> 2, -6/4 = -1.5 -> -1.
  EXPECT_EQ(qk_shift_round(5, 1), 3);
  EXPECT_EQ(qk_shift_round(-5, 1), -2);
  EXPECT_EQ(qk_shift_round(3, 1), 2);
  EXPECT_EQ(qk_shift_round(-3, 1), -1);
  EXPECT_EQ(qk_shift_round(7, 2), 2);
  EXPECT_EQ(qk_shift_round(6, 2), 2);
  EXPECT_EQ(qk_shift_round(-6, 2), -1);
  EXPECT_EQ(qk_shift_round(-7, 2), -2);  // -1.75 -> -2
  EXPECT_EQ(qk_shift_round(-1, 1), 0);   // -0.5 -> 0
  EXPECT_EQ(qk_shift_round(-2, 2), 0);   // -0.5 -> 0
  EXPECT_EQ(qk_shift_round(-3, 2), -1);  // -0.75 -> -1
  // Shift 0 is the identity; shifts >= 63 give 0.
  EXPECT_EQ(qk_shift_round(-123456789, 0), -123456789);
  EXPECT_EQ(qk_shift_round(INT64_MAX, 0), INT64_MAX);
  EXPECT_EQ(qk_shift_round(int64_t{1} << 61, 63), 0);
  EXPECT_EQ(qk_shift_round(-(int64_t{1} << 61), 100), 0);
  EXPECT_EQ(qk_shift_round(INT64_MIN, INT32_MAX), 0);
  EXPECT_EQ(qk_shift_round(int64_t{3} << 60, 62), 1);  // 0.75 -> 1
  // Extremes do not overflow: INT64_MAX / 2 = 2^62 - 0.5 -> 2^62; INT64_MIN / 2 = -2^62.
  EXPECT_EQ(qk_shift_round(INT64_MAX, 1), int64_t{1} << 62);
  EXPECT_EQ(qk_shift_round(INT64_MIN, 1), -(int64_t{1} << 62));
  EXPECT_EQ(qk_shift_round(INT64_MAX, 62), 2);  // 1.99.. -> 2
  // Negative shift: exact left shift; inputs clamped to +-2^32, shift capped at 30.
  EXPECT_EQ(qk_shift_round(-3, -3), -24);
  EXPECT_EQ(qk_shift_round(100, -1), 200);
  EXPECT_EQ(qk_shift_round(1, -30), int64_t{1} << 30);
  EXPECT_EQ(qk_shift_round(1, -31), int64_t{1} << 30);
  EXPECT_EQ(qk_shift_round(-1, INT32_MIN), -(int64_t{1} << 30));
  EXPECT_EQ(qk_shift_round(INT64_MAX, -1), int64_t{1} << 33);
  EXPECT_EQ(qk_shift_round(INT64_MIN, -40), -(int64_t{1} << 62));
}

TEST(KernelsScalar, ShiftRoundMatchesOracle) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const int bits = rand_int(rng, 0, 61);
    const int64_t mag = int64_t{1} << bits;
    const int64_t x = std::uniform_int_distribution<int64_t>(-mag, mag)(rng);
    const int s = rand_int(rng, -40, 70);
    ASSERT_EQ(qk_shift_round(x, s), qat::shift_round(x, s)) << x << " >> " << s;
  }
  // Every tie at small shifts.
  for (int s = 1; s < 20; ++s)
    for (int64_t k = -50; k <= 50; ++k) {
      const int64_t x = k * (int64_t{1} << s) + (int64_t{1} << (s - 1));
      ASSERT_EQ(qk_shift_round(x, s), qat::shift_round(x, s));
      ASSERT_EQ(qk_shift_round(x, s), k + 1);
    }
}

TEST(KernelsScalar, Requantize) {
  const int8_t shifts[3] = {2, -1, 0};
  const int32_t mults[3] = {3, 1 << 30, 5};
  qk_requant pt{nullptr, shifts, 0};           // per tensor: always entry 0
  qk_requant pc{nullptr, shifts, 1};           // per channel
  EXPECT_EQ(qk_requantize(10, &pt, 0), 3);     // 2.5 -> 3
  EXPECT_EQ(qk_requantize(10, &pt, 2), 3);     // channel ignored
  EXPECT_EQ(qk_requantize(10, &pc, 1), 20);    // left shift
  EXPECT_EQ(qk_requantize(-10, &pc, 2), -10);  // shift 0
  qk_requant apt{mults, shifts, 0};
  qk_requant apc{mults, shifts, 1};
  EXPECT_EQ(qk_requantize(-10, &apt, 1), -7);              // -30 / 4 = -7.5 -> -7
  EXPECT_EQ(qk_requantize(3, &apc, 1), int64_t{3} << 31);  // 3 * 2^30, then left shift 1
  EXPECT_EQ(qk_requantize(7, &apc, 1), int64_t{1} << 33);  // 7 * 2^30 > 2^32: clamped first
  EXPECT_EQ(qk_requantize(7, &apc, 2), 35);
  // A product that would overflow int64 saturates instead (the exporter never produces one).
  const int32_t big[1] = {INT32_MAX};
  const int8_t zero[1] = {0};
  qk_requant sat{big, zero, 0};
  EXPECT_EQ(qk_requantize(int64_t{1} << 40, &sat, 0), INT64_MAX);
  EXPECT_EQ(qk_requantize(-(int64_t{1} << 40), &sat, 0), -INT64_MAX);
  EXPECT_EQ(qk_requantize(int64_t{1} << 31, &sat, 0), (int64_t{1} << 31) * INT32_MAX);

  std::mt19937 rng(2);
  for (int i = 0; i < 20000; ++i) {
    const int64_t acc =
        std::uniform_int_distribution<int64_t>(-(int64_t{1} << 31), int64_t{1} << 31)(rng);
    const int32_t m = rand_int(rng, 1, INT32_MAX);
    const int8_t s = static_cast<int8_t>(rand_int(rng, 0, 62));
    qk_requant r{&m, &s, 0};
    ASSERT_EQ(qk_requantize(acc, &r, 0), qat::apply_multiplier(acc, {m, s}));
    const int8_t s2 = static_cast<int8_t>(rand_int(rng, -40, 70));
    qk_requant r2{nullptr, &s2, 0};
    ASSERT_EQ(qk_requantize(acc, &r2, 0), qat::shift_round(acc, s2));
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution: hand-computed cases

qk_conv_params conv1d(int in_w, int in_c, int out_w, int out_c, int k, int stride, int pad,
                      int groups) {
  qk_conv_params p{};
  p.in_h = p.out_h = p.k_h = p.stride_h = 1;
  p.in_w = in_w;
  p.in_c = in_c;
  p.out_w = out_w;
  p.out_c = out_c;
  p.k_w = k;
  p.stride_w = stride;
  p.pad_w = pad;
  p.groups = groups;
  p.act_min = -128;
  p.act_max = 127;
  return p;
}

TEST(KernelsConv, HandComputed1dPow2) {
  // x = [1 2 3], w = [1 2 1], bias 1, pad 1, shift 1:
  //   out0 = (0*1 + 1*2 + 2*1 + 1) / 2 = 5/2 = 2.5 -> 3   (padded position reads 0)
  //   out1 = (1*1 + 2*2 + 3*1 + 1) / 2 = 9/2 = 4.5 -> 5
  //   out2 = (2*1 + 3*2 + 0*1 + 1) / 2 = 9/2        -> 5
  const qk_conv_params p = conv1d(3, 1, 3, 1, 3, 1, 1, 1);
  const int8_t x[3] = {1, 2, 3}, w[3] = {1, 2, 1}, s[1] = {1};
  const int32_t b[1] = {1};
  const qk_requant rq{nullptr, s, 0};
  int8_t y[3];
  qk_conv_s8(&p, x, w, b, &rq, y, nullptr);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{3, 5, 5}));
  // Without bias (NULL): 4/2 = 2, 8/2 = 4, 8/2 = 4.
  qk_conv_s8(&p, x, w, nullptr, &rq, y, nullptr);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{2, 4, 4}));
}

TEST(KernelsConv, HandComputed1dAffineZeroPoints) {
  // in_zp 3, x = [4 3 1] -> x - zp = [1 0 -2]; padding reads in_zp, i.e. contributes 0.
  // w = [2 -1 3], multiplier 2^30 with shift 31 (times 0.5), out_zp -5:
  //   out0: [pad 4 3] -> 0*2 + 1*-1 + 0*3 = -1 -> -0.5 -> 0  -> -5
  //   out1: [4 3 1]   -> 1*2 + 0*-1 + -2*3 = -4 -> -2        -> -7
  //   out2: [3 1 pad] -> 0*2 + -2*-1 + 0*3 = 2 -> 1          -> -4
  qk_conv_params p = conv1d(3, 1, 3, 1, 3, 1, 1, 1);
  p.in_zp = 3;
  p.out_zp = -5;
  const int8_t x[3] = {4, 3, 1}, w[3] = {2, -1, 3}, s[1] = {31};
  const int32_t m[1] = {1 << 30};
  const qk_requant rq{m, s, 0};
  int8_t y[3];
  qk_conv_s8(&p, x, w, nullptr, &rq, y, nullptr);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{-5, -7, -4}));
  // Fused ReLU at the zero point: act_min = out_zp clamps -7 -> -5.
  p.act_min = -5;
  qk_conv_s8(&p, x, w, nullptr, &rq, y, nullptr);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{-5, -5, -4}));
}

TEST(KernelsConv, HandComputed2dPerChannelSaturation) {
  // 2x2x1 input [10 20; 30 40], 2x2 kernel, 3 output channels, per-channel shifts {0, -1, -1}:
  //   oc0: w all 1  -> 100, shift 0   -> 100
  //   oc1: w all 1  -> 100, shift -1  -> 200 -> saturates to 127
  //   oc2: w all -1 -> -100, shift -1 -> -200 -> saturates to -128
  qk_conv_params p{};
  p.in_h = p.in_w = 2;
  p.in_c = 1;
  p.out_h = p.out_w = 1;
  p.out_c = 3;
  p.k_h = p.k_w = 2;
  p.stride_h = p.stride_w = 1;
  p.groups = 1;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t x[4] = {10, 20, 30, 40};
  const int8_t w[12] = {1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1};
  const int8_t s[3] = {0, -1, -1};
  const qk_requant rq{nullptr, s, 1};
  int8_t y[3];
  qk_conv_s8(&p, x, w, nullptr, &rq, y, nullptr);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{100, 127, -128}));
  // int16 with the same numbers does not saturate: 100, 200, -200.
  const int16_t x16[4] = {10, 20, 30, 40};
  const int16_t w16[12] = {1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1};
  p.act_min = -32768;
  p.act_max = 32767;
  int16_t y16[3];
  qk_conv_s16(&p, x16, w16, nullptr, &rq, y16, nullptr);
  EXPECT_EQ(std::vector<int>(y16, y16 + 3), (std::vector<int>{100, 200, -200}));
  qk_conv_s16_w8(&p, x16, w, nullptr, &rq, y16, nullptr);
  EXPECT_EQ(std::vector<int>(y16, y16 + 3), (std::vector<int>{100, 200, -200}));
}

TEST(KernelsConv, HandComputedDepthwise) {
  // 1D, 2 positions x 2 channels: x = [(1, -2), (3, 4)], depthwise k = 2 (groups = 2), no pad.
  // Weights [out_c][k][1]: oc0 = {1, 2}, oc1 = {3, -1}.
  //   oc0 = 1*1 + 3*2 = 7;  oc1 = -2*3 + 4*-1 = -10 (shift 0).
  const qk_conv_params p = conv1d(2, 2, 1, 2, 2, 1, 0, 2);
  const int8_t x[4] = {1, -2, 3, 4}, w[4] = {1, 2, 3, -1}, s[1] = {0};
  const qk_requant rq{nullptr, s, 0};
  int8_t y[2];
  qk_conv_s8(&p, x, w, nullptr, &rq, y, nullptr);
  EXPECT_EQ(y[0], 7);
  EXPECT_EQ(y[1], -10);
}

TEST(KernelsConv, SaturatesBothEnds) {
  // All-127 weights on extreme inputs with a left shift: everything saturates, in both types.
  const qk_conv_params p = conv1d(4, 3, 4, 2, 3, 1, 1, 1);
  std::vector<int8_t> w(2 * 3 * 3, 127);
  for (size_t i = 9; i < w.size(); ++i) w[i] = -128;  // oc1 negative
  const int8_t s[1] = {-2};
  const qk_requant rq{nullptr, s, 0};
  for (int8_t v : {int8_t{127}, int8_t{-128}}) {
    std::vector<int8_t> x(12, v), y(8);
    qk_conv_s8(&p, x.data(), w.data(), nullptr, &rq, y.data(), nullptr);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(y[2 * i], v > 0 ? 127 : -128);
      EXPECT_EQ(y[2 * i + 1], v > 0 ? -128 : 127);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution: randomized against the reference

// Every conv case x requantization variant, twice, for one type combination; the sweep must
// exercise saturation at both ends and plenty of unsaturated outputs.
template <typename TA, typename TW>
void random_conv_sweep(uint32_t seed, int wbits = 0) {
  std::mt19937 rng(seed);
  SatStats st;
  for (const auto& cc : conv_cases())
    for (const auto& v : variants())
      for (int rep = 0; rep < 2; ++rep) check_conv<TA, TW>(cc, v, rng, &st, wbits);
  EXPECT_GT(st.at_min, st.total / 100);
  EXPECT_GT(st.at_max, st.total / 100);
  EXPECT_GT(st.inside, st.total / 2);
}

TEST(KernelsConv, RandomInt8) {
  random_conv_sweep<int8_t, int8_t>(10);
}
TEST(KernelsConv, RandomInt16) {
  random_conv_sweep<int16_t, int16_t>(11);
}
TEST(KernelsConv, RandomInt16WithInt8Weights) {
  random_conv_sweep<int16_t, int8_t>(12);
}
TEST(KernelsConv, RandomInt8WithPacked4BitWeights) {
  random_conv_sweep<int8_t, int8_t>(13, 4);
}
TEST(KernelsConv, RandomInt8WithPacked2BitWeights) {
  random_conv_sweep<int8_t, int8_t>(14, 2);
}

// The int8 and int16 convs report the scratch of the Armv7E-M kernels on every platform (the
// host sizes the exported scratch buffer with it): int16, the windows of two output pixels; the
// others need none.
TEST(KernelsConv, ScratchSizes) {
  const qk_conv_params p = conv_cases()[6].params();
  qk_linear_params lp{};
  lp.in_features = 10;
  lp.out_features = 3;
  EXPECT_GT(qk_conv_s8_scratch_size(&p), 0u);
  const size_t k = static_cast<size_t>(p.k_h * p.k_w * (p.in_c / std::max(p.groups, 1)));
  EXPECT_EQ(qk_conv_s16_scratch_size(&p), 2 * (k + (k & 1)) * sizeof(int16_t) + 8);
  EXPECT_EQ(qk_conv_s16_w8_scratch_size(&p), 0u);
  EXPECT_EQ(qk_linear_s8_scratch_size(&lp), 0u);
}

// ---------------------------------------------------------------------------------------------
// Linear

template <typename T, typename W>
std::vector<T> ref_linear(const qk_linear_params& p, const std::vector<T>& in,
                          const std::vector<W>& w, const std::vector<int32_t>& bias,
                          const Requant& rq, const OutRange& o) {
  std::vector<T> out(p.out_features);
  for (int j = 0; j < p.out_features; ++j) {
    int64_t acc = bias.empty() ? 0 : bias[j];
    for (int i = 0; i < p.in_features; ++i)
      acc += (int64_t{in[i]} - p.in_zp) * w[static_cast<size_t>(j) * p.in_features + i];
    if (sizeof(T) == 1) {
      EXPECT_LT(acc < 0 ? -acc : acc, int64_t{1} << 31);
    }
    out[j] = static_cast<T>(finish(rq.ref(acc, j), o));
  }
  return out;
}

void run_linear(const qk_linear_params& p, const int8_t* in, const int8_t* w, const int32_t* b,
                const qk_requant& rq, int8_t* out) {
  std::vector<int8_t> ref(p.out_features);
  qk_linear_s8(&p, in, w, b, &rq, out, nullptr);
  qk_ref_linear_s8(&p, in, w, b, &rq, ref.data());
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), out)) << "qk_linear_s8 != qk_ref_linear_s8";
}
void run_linear(const qk_linear_params& p, const int16_t* in, const int16_t* w, const int32_t* b,
                const qk_requant& rq, int16_t* out) {
  qk_linear_s16(&p, in, w, b, &rq, out, nullptr);
}
void run_linear(const qk_linear_params& p, const int16_t* in, const int8_t* w, const int32_t* b,
                const qk_requant& rq, int16_t* out) {
  qk_linear_s16_w8(&p, in, w, b, &rq, out, nullptr);
}

template <typename T, typename W>
void check_linear(int in_f, int out_f, const Variant& v, std::mt19937& rng, SatStats* st,
                  int wbits = 0) {
  SCOPED_TRACE("linear " + std::to_string(in_f) + " -> " + std::to_string(out_f));
  qk_linear_params p{};
  p.in_features = in_f;
  p.out_features = out_f;
  p.in_zp = v.zp ? rand_int(rng, tmin<T>() / 2, tmax<T>() / 2) : 0;
  const auto in = rand_vec<T>(rng, in_f);
  const int64_t wlo = wbits ? -(int64_t{1} << (wbits - 1)) : tmin<W>();
  const int64_t whi = wbits ? (int64_t{1} << (wbits - 1)) - 1 : tmax<W>();
  const auto w = rand_vec<W>(rng, static_cast<size_t>(in_f) * out_f, wlo, whi);
  const int64_t max_dx = std::max<int64_t>(tmax<T>() - p.in_zp, p.in_zp - tmin<T>());
  const int64_t bias_max = std::min<int64_t>(max_dx * -wlo * 4, INT32_MAX);
  std::vector<int32_t> bias;
  for (int i = 0; i < out_f; ++i) bias.push_back(rand_int(rng, -bias_max, bias_max));
  const int64_t bound = max_dx * -wlo * in_f + bias_max;
  const Requant rq =
      random_requant(rng, v.affine, v.per_channel, out_f, bound, 8 * static_cast<int>(sizeof(T)));
  const OutRange o = out_range<T>(rng, v.zp, v.act);
  p.out_zp = o.zp;
  p.act_min = o.lo;
  p.act_max = o.hi;
  const auto expected = ref_linear(p, in, w, bias, rq, o);
  std::vector<T> got(out_f);
  if constexpr (std::is_same_v<T, int8_t> && std::is_same_v<W, int8_t>) {
    if (wbits) {
      const auto packed =
          qat::exporter::pack_weights(std::vector<int32_t>(w.begin(), w.end()), wbits);
      std::vector<int8_t> ref(out_f);
      const qk_requant crq = rq.c();
      if (wbits == 4) {
        qk_linear_s8_w4(&p, in.data(), packed.data(), bias.data(), &crq, got.data(), nullptr);
        qk_ref_linear_s8_w4(&p, in.data(), packed.data(), bias.data(), &crq, ref.data());
      } else {
        qk_linear_s8_w2(&p, in.data(), packed.data(), bias.data(), &crq, got.data(), nullptr);
        qk_ref_linear_s8_w2(&p, in.data(), packed.data(), bias.data(), &crq, ref.data());
      }
      EXPECT_EQ(ref, got);
    } else {
      run_linear(p, in.data(), w.data(), bias.data(), rq.c(), got.data());
    }
  } else {
    run_linear(p, in.data(), w.data(), bias.data(), rq.c(), got.data());
  }
  for (int i = 0; i < out_f; ++i) ASSERT_EQ(int{got[i]}, int{expected[i]}) << "output " << i;
  if (st) st->add(got);
}

TEST(KernelsLinear, HandComputed) {
  // x = [1 -2 3], W = [[1 1 1], [2 0 -1]], bias [0 10], shift 1:
  //   o0 = (1 - 2 + 3) / 2 = 1;  o1 = (2 + 0 - 3 + 10) / 2 = 4.5 -> 5
  qk_linear_params p{};
  p.in_features = 3;
  p.out_features = 2;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t x[3] = {1, -2, 3}, w[6] = {1, 1, 1, 2, 0, -1}, s[1] = {1};
  const int32_t b[2] = {0, 10};
  const qk_requant rq{nullptr, s, 0};
  int8_t y[2];
  qk_linear_s8(&p, x, w, b, &rq, y, nullptr);
  EXPECT_EQ(y[0], 1);
  EXPECT_EQ(y[1], 5);
  // in_zp 1: x - zp = [0 -3 2]: o0 = (0 - 3 + 2) / 2 = -0.5 -> 0; o1 = (0 + 0 - 2 + 10) / 2 = 4.
  // out_zp 100 with act_max 102 (ReLU6-like): 100 + 0 = 100, 100 + 4 = 104 -> 102.
  p.in_zp = 1;
  p.out_zp = 100;
  p.act_max = 102;
  qk_linear_s8(&p, x, w, b, &rq, y, nullptr);
  EXPECT_EQ(y[0], 100);
  EXPECT_EQ(y[1], 102);
  // int16 with int8 weights, per-channel affine, in_zp still 1: o0 = -1 * 3 / 2^1 = -1.5 -> -1,
  // o1 = 8 * 5 / 2^2 = 10; out_zp 0.
  const int16_t x16[3] = {1, -2, 3};
  const int32_t m[2] = {3, 5};
  const int8_t s2[2] = {1, 2};
  const qk_requant arq{m, s2, 1};
  p.out_zp = 0;
  p.act_min = -32768;
  p.act_max = 32767;
  int16_t y16[2];
  qk_linear_s16_w8(&p, x16, w, b, &arq, y16, nullptr);
  EXPECT_EQ(y16[0], -1);
  EXPECT_EQ(y16[1], 10);
}

TEST(KernelsLinear, Random) {
  std::mt19937 rng(20);
  const std::vector<std::pair<int, int>> shapes = {{1, 1},  {3, 5},  {7, 1},   {16, 10},
                                                   {33, 7}, {64, 3}, {100, 13}};
  SatStats s8, s16, s16w8;
  for (const auto& [i, o] : shapes)
    for (const auto& v : variants())
      for (int rep = 0; rep < 3; ++rep) {
        check_linear<int8_t, int8_t>(i, o, v, rng, &s8);
        check_linear<int16_t, int16_t>(i, o, v, rng, &s16);
        check_linear<int16_t, int8_t>(i, o, v, rng, &s16w8);
      }
  for (const SatStats* st : {&s8, &s16, &s16w8}) {
    EXPECT_GT(st->at_min, 0);
    EXPECT_GT(st->at_max, 0);
    EXPECT_GT(st->inside, st->total / 2);
  }
}

TEST(KernelsLinear, RandomPackedWeights) {
  std::mt19937 rng(22);
  // Odd and even rows: with 4 bits a row of odd length starts in the middle of a byte every
  // second row; with 2 bits at each of the four positions.
  const std::vector<std::pair<int, int>> shapes = {{1, 1},   {3, 5},  {7, 4},  {9, 9},
                                                   {16, 10}, {33, 7}, {65, 6}, {130, 5}};
  SatStats s4, s2;
  for (const auto& [i, o] : shapes)
    for (const auto& v : variants())
      for (int rep = 0; rep < 2; ++rep) {
        check_linear<int8_t, int8_t>(i, o, v, rng, &s4, 4);
        check_linear<int8_t, int8_t>(i, o, v, rng, &s2, 2);
      }
  for (const SatStats* st : {&s4, &s2}) EXPECT_GT(st->inside, st->total / 2);
}

// The exporter's packer and the kernels' unpacking are inverses, for every count and every
// start offset inside a byte (rows start wherever the previous one ended).
TEST(KernelsPacked, PackUnpackRoundTripAtEveryBoundary) {
  std::mt19937 rng(23);
  for (int bits : {4, 2}) {
    const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    for (int count = 0; count <= 41; ++count) {
      std::vector<int32_t> v(static_cast<size_t>(count));
      for (auto& x : v) x = rand_int(rng, lo, hi);
      if (v.size() > 1) {
        v.front() = lo;
        v.back() = hi;
      }
      const auto packed = qat::exporter::pack_weights(v, bits);
      ASSERT_EQ(static_cast<int>(packed.size()), (count * bits + 7) / 8) << count;
      if (count * bits % 8 != 0) {  // the unused high bits of the last byte are zero
        EXPECT_EQ(packed.back() >> (count * bits % 8), 0) << count;
      }
      for (int first = 0; first <= count; ++first) {
        std::vector<int8_t> out(static_cast<size_t>(count - first) + 1, 99);
        qk_unpack_s8(packed.data(), bits, first, count - first, out.data());
        for (int i = first; i < count; ++i)
          ASSERT_EQ(out[static_cast<size_t>(i - first)], v[static_cast<size_t>(i)])
              << bits << " bits, count " << count << ", first " << first;
        EXPECT_EQ(out.back(), 99) << "wrote past n";
      }
    }
  }
  // Order within a byte: the first value in the low bits.
  EXPECT_EQ(qat::exporter::pack_weights({1, -1, -8}, 4), (std::vector<uint8_t>{0xF1, 0x08}));
  EXPECT_EQ(qat::exporter::pack_weights({1, -1, -2, 0, 1}, 2), (std::vector<uint8_t>{0x2D, 0x01}));
  EXPECT_THROW(qat::exporter::pack_weights({8}, 4), qat::ExportError);
  EXPECT_THROW(qat::exporter::pack_weights({-3}, 2), qat::ExportError);
}

TEST(KernelsCast, Int8Int16BothWaysAndInPlace) {
  const int8_t a[5] = {-128, -1, 0, 1, 127};
  int16_t w[5];
  qk_cast_s8_s16(5, a, w);
  EXPECT_EQ(std::vector<int16_t>(w, w + 5), (std::vector<int16_t>{-128, -1, 0, 1, 127}));
  int16_t b[6] = {-129, -128, 5, 127, 128, 30000};
  int8_t n[6];
  qk_cast_s16_s8(6, b, n);
  EXPECT_EQ(std::vector<int8_t>(n, n + 6), (std::vector<int8_t>{-128, -128, 5, 127, 127, 127}));
  qk_cast_s16_s8(6, b, reinterpret_cast<int8_t*>(b));  // in place
  EXPECT_EQ(std::vector<int8_t>(reinterpret_cast<int8_t*>(b), reinterpret_cast<int8_t*>(b) + 6),
            (std::vector<int8_t>{-128, -128, 5, 127, 127, 127}));
}

TEST(KernelsLinear, NullBiasEqualsZeroBias) {
  std::mt19937 rng(21);
  qk_linear_params p{};
  p.in_features = 9;
  p.out_features = 4;
  p.act_min = -128;
  p.act_max = 127;
  const auto x = rand_vec<int8_t>(rng, 9), w = rand_vec<int8_t>(rng, 36);
  const std::vector<int32_t> zero(4, 0);
  const int8_t s[1] = {7};
  const qk_requant rq{nullptr, s, 0};
  int8_t a[4], b[4];
  qk_linear_s8(&p, x.data(), w.data(), nullptr, &rq, a, nullptr);
  qk_linear_s8(&p, x.data(), w.data(), zero.data(), &rq, b, nullptr);
  EXPECT_TRUE(std::equal(a, a + 4, b));
}

// ---------------------------------------------------------------------------------------------
// Add

template <typename T>
std::vector<T> ref_add(const qk_add_params& p, const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const qat::AddRescale r{p.a_mult, p.b_mult, p.shift};
    const int64_t y = p.out_zp + r.apply(int64_t{a[i]} - p.a_zp, int64_t{b[i]} - p.b_zp);
    out[i] = static_cast<T>(std::clamp<int64_t>(y, p.act_min, p.act_max));
  }
  return out;
}

void run_add(const qk_add_params& p, const int8_t* a, const int8_t* b, int8_t* o) {
  qk_add_s8(&p, a, b, o);
}
void run_add(const qk_add_params& p, const int16_t* a, const int16_t* b, int16_t* o) {
  qk_add_s16(&p, a, b, o);
}

template <typename T>
void check_add(const qk_add_params& p, const std::vector<T>& a, const std::vector<T>& b,
               SatStats* st) {
  const auto expected = ref_add(p, a, b);
  std::vector<T> got(a.size());
  run_add(p, a.data(), b.data(), got.data());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(int{got[i]}, int{expected[i]}) << "element " << i << " a_mult " << p.a_mult
                                             << " b_mult " << p.b_mult << " shift " << p.shift;
  if (st) st->add(got);
}

TEST(KernelsAdd, HandComputed) {
  // a = [10 -10], b = [3 5], b_zp 1, a_mult 3, b_mult 2, shift 2, out_zp 1:
  //   e0: (30 + 2*2) / 4 = 34/4 = 8.5 -> 9   -> 10
  //   e1: (-30 + 4*2) / 4 = -22/4 = -5.5 -> -5 -> -4
  qk_add_params p{};
  p.size = 2;
  p.b_zp = 1;
  p.a_mult = 3;
  p.b_mult = 2;
  p.shift = 2;
  p.out_zp = 1;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t a[2] = {10, -10}, b[2] = {3, 5};
  int8_t y[2];
  qk_add_s8(&p, a, b, y);
  EXPECT_EQ(y[0], 10);
  EXPECT_EQ(y[1], -4);
  // Plain pow2 add with saturation: 100 + 100 = 200 -> 127; -100 - 100 -> -128.
  qk_add_params q{};
  q.size = 2;
  q.a_mult = q.b_mult = 1;
  q.act_min = -128;
  q.act_max = 127;
  const int8_t c[2] = {100, -100};
  qk_add_s8(&q, c, c, y);
  EXPECT_EQ(y[0], 127);
  EXPECT_EQ(y[1], -128);
  // Negative shift (left shift by 1): (3 + 4) * 2 = 14.
  q.shift = -1;
  const int8_t d[2] = {3, 4}, e[2] = {4, 3};
  qk_add_s8(&q, d, e, y);
  EXPECT_EQ(y[0], 14);
  EXPECT_EQ(y[1], 14);
}

// qk_add_s8 / qk_add_s16 compute in 32 bits when nothing can saturate; at the edge of that
// condition (multipliers just below and just above the bound, zero points at the type's ends,
// inputs at its extremes, every shift class) the result equals the 64-bit contract.
// n random operand pairs over T's whole range, its two extremes first.
template <typename T>
std::pair<std::vector<T>, std::vector<T>> add_operands(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> v(std::numeric_limits<T>::min(),
                                       std::numeric_limits<T>::max());
  std::vector<T> a(n), b(n);
  for (auto& x : a) x = static_cast<T>(v(rng));
  for (auto& x : b) x = static_cast<T>(v(rng));
  a[0] = b[1] = std::numeric_limits<T>::min();
  a[1] = b[0] = std::numeric_limits<T>::max();
  return {a, b};
}

template <typename T>
void check_add_at_the_int32_bound() {
  constexpr int kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
  const auto [a, b] = add_operands<T>(77, 301);
  const int64_t span = 2 * int64_t{kMax} + 1;
  for (int shift : {0, 1, 7, 15, 30}) {
    const int64_t half = shift > 0 ? int64_t{1} << (shift - 1) : 0;
    const int64_t room = ((int64_t{1} << 31) - half - 1) / span;  // |a_mult| + |b_mult| at most
    for (int64_t total : {room, room + 1, room / 3}) {
      for (int sign : {1, -1}) {
        qk_add_params p{};
        p.size = static_cast<int32_t>(a.size());
        p.a_mult = static_cast<int32_t>(sign * (total - total / 3));
        p.b_mult = static_cast<int32_t>(-(total / 3));
        p.shift = shift;
        p.a_zp = kMin;
        p.b_zp = kMax;
        p.out_zp = sign > 0 ? 0 : kMin / 2;
        p.act_min = kMin;
        p.act_max = kMax;
        check_add(p, a, b, nullptr);
        p.act_min = 0;  // a ReLU clamp
        p.a_zp = 0;
        check_add(p, a, b, nullptr);
      }
    }
  }
}

// The 64-bit loop (zero points inside the type, shift 1..62) and the general one (the rest):
// affine multipliers up to the int32 extremes, every shift class, out_zp at the int32 ends (the
// 32-bit loop must refuse clamp bounds that leave int32 relative to it).
template <typename T>
void check_add_wide_and_general() {
  constexpr int kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
  const auto [a, b] = add_operands<T>(78, 203);
  for (int shift : {-3, 0, 1, 2, 31, 40, 62, 63, 70}) {
    for (int32_t mult : {1, 1 << 20, (1 << 30) + 12345, std::numeric_limits<int32_t>::max(),
                         std::numeric_limits<int32_t>::min()}) {
      for (int32_t out_zp : {0, kMin / 2, std::numeric_limits<int32_t>::max() - 5,
                             std::numeric_limits<int32_t>::min() + 5}) {
        for (int32_t a_zp : {0, kMax, kMax + 1}) {
          qk_add_params p{};
          p.size = static_cast<int32_t>(a.size());
          p.a_mult = mult;
          p.b_mult = mult == 1 ? 3 : -(mult / 3);
          p.shift = shift;
          p.a_zp = a_zp;
          p.b_zp = kMin;
          p.out_zp = out_zp;
          p.act_min = kMin;
          p.act_max = kMax;
          check_add(p, a, b, nullptr);
          p.act_min = 0;
          check_add(p, a, b, nullptr);
        }
      }
    }
  }
}

TEST(KernelsAdd, ThirtyTwoBitPathEqualsTheContractAtItsBound) {
  check_add_at_the_int32_bound<int8_t>();
  check_add_at_the_int32_bound<int16_t>();
}

TEST(KernelsAdd, SixtyFourBitAndGeneralPathsEqualTheContract) {
  check_add_wide_and_general<int8_t>();
  check_add_wide_and_general<int16_t>();
  qk_add_params p{};
  p.a_mult = p.b_mult = 1;
  p.act_min = -128;
  p.act_max = 127;
  EXPECT_EQ(qk_add_s8_path(&p), QK_ADD_PATH_INT32);
  p.a_mult = 1 << 30;
  p.shift = 40;
  EXPECT_EQ(qk_add_s8_path(&p), QK_ADD_PATH_INT64);
  p.shift = 63;
  EXPECT_EQ(qk_add_s8_path(&p), QK_ADD_PATH_SATURATING);
  p.shift = 40;
  p.a_zp = 200;  // outside int8
  EXPECT_EQ(qk_add_s8_path(&p), QK_ADD_PATH_SATURATING);
}

// qk.h allows the output to be either input (the residual add of an in-place schedule).
TEST(KernelsAdd, InPlaceOnEitherInput) {
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> v(-128, 127);
  qk_add_params p{};
  p.size = 257;
  p.a_zp = 3;
  p.b_zp = -5;
  p.out_zp = 2;
  p.a_mult = 1 << 29;
  p.b_mult = 3 << 27;
  p.shift = 30;
  p.act_min = -128;
  p.act_max = 127;
  std::vector<int8_t> a(257), b(257);
  for (auto& x : a) x = static_cast<int8_t>(v(rng));
  for (auto& x : b) x = static_cast<int8_t>(v(rng));
  const auto expected = ref_add(p, a, b);
  std::vector<int8_t> into_a = a, into_b = b;
  qk_add_s8(&p, into_a.data(), b.data(), into_a.data());
  qk_add_s8(&p, a.data(), into_b.data(), into_b.data());
  EXPECT_EQ(into_a, expected);
  EXPECT_EQ(into_b, expected);
  std::vector<int16_t> a16(a.begin(), a.end()), b16(b.begin(), b.end());
  const auto expected16 = ref_add(p, a16, b16);
  qk_add_s16(&p, a16.data(), b16.data(), a16.data());
  EXPECT_EQ(a16, expected16);
}

TEST(KernelsAdd, Random) {
  std::mt19937 rng(30);
  SatStats s8, s16;
  for (int rep = 0; rep < 300; ++rep) {
    const bool pow2 = rep % 3 == 0;
    qk_add_params p{};
    p.size = rand_int(rng, 1, 67);
    if (pow2) {  // as qat::make_add_rescale: powers of two, non-negative shift
      p.shift = rand_int(rng, 0, 4);
      p.a_mult = 1 << rand_int(rng, 0, 4);
      p.b_mult = 1 << rand_int(rng, 0, 4);
      if (rep % 6 == 0) p.shift = -rand_int(rng, 1, 3);  // left shift
    } else {
      // Multipliers ~ ratio * 2^shift with scale ratios between 1/8 and 2.
      p.shift = rand_int(rng, 27, 30);
      p.a_mult = rand_int(rng, int64_t{1} << (p.shift - 3), int64_t{1} << (p.shift + 1));
      p.b_mult = rand_int(rng, int64_t{1} << (p.shift - 3), int64_t{1} << (p.shift + 1));
    }
    const Act act = static_cast<Act>(rep % 3);
    {
      const OutRange o = out_range<int8_t>(rng, !pow2, act);
      qk_add_params q = p;
      q.out_zp = o.zp;
      q.act_min = o.lo;
      q.act_max = o.hi;
      q.a_zp = pow2 ? 0 : rand_int(rng, -100, 100);
      q.b_zp = pow2 ? 0 : rand_int(rng, -100, 100);
      const auto a = rand_vec<int8_t>(rng, p.size), b = rand_vec<int8_t>(rng, p.size);
      check_add(q, a, b, &s8);
    }
    {
      const OutRange o = out_range<int16_t>(rng, !pow2, act);
      qk_add_params q = p;
      q.out_zp = o.zp;
      q.act_min = o.lo;
      q.act_max = o.hi;
      q.a_zp = pow2 ? 0 : rand_int(rng, -20000, 20000);
      q.b_zp = pow2 ? 0 : rand_int(rng, -20000, 20000);
      if (!pow2) q.shift += 8;  // int16 keeps 8 more bits
      const auto a = rand_vec<int16_t>(rng, p.size), b = rand_vec<int16_t>(rng, p.size);
      check_add(q, a, b, &s16);
    }
  }
  for (const SatStats* st : {&s8, &s16}) {
    EXPECT_GT(st->at_min, 0);
    EXPECT_GT(st->at_max, 0);
    EXPECT_GT(st->inside, st->total / 4);
  }
}

TEST(KernelsAdd, RealisticRescales) {
  // Parameters from qat::make_add_rescale for random formats: the exact exporter path.
  std::mt19937 rng(31);
  for (int rep = 0; rep < 100; ++rep) {
    qat::QFormat fa, fb, fy;
    if (rep % 2 == 0) {
      fa = qat::QFormat::pow2(8, {rand_int(rng, 0, 7)});
      fb = qat::QFormat::pow2(8, {rand_int(rng, 0, 7)});
      fy = qat::QFormat::pow2(8, {rand_int(rng, 0, 7)});
    } else {
      auto rnd = [&] { return std::uniform_real_distribution<double>(0.001, 0.1)(rng); };
      fa = qat::QFormat::affine(8, true, {rnd()}, {rand_int(rng, -20, 20)});
      fb = qat::QFormat::affine(8, true, {rnd()}, {rand_int(rng, -20, 20)});
      fy = qat::QFormat::affine(8, true, {rnd()}, {rand_int(rng, -20, 20)});
    }
    const qat::AddRescale r = qat::make_add_rescale(fa, fb, fy);
    qk_add_params p{};
    p.size = 50;
    p.a_zp = static_cast<int32_t>(fa.zero_point[0]);
    p.b_zp = static_cast<int32_t>(fb.zero_point[0]);
    p.out_zp = static_cast<int32_t>(fy.zero_point[0]);
    p.a_mult = static_cast<int32_t>(r.ma);
    p.b_mult = static_cast<int32_t>(r.mb);
    p.shift = r.shift;
    p.act_min = -128;
    p.act_max = 127;
    const auto a = rand_vec<int8_t>(rng, 50), b = rand_vec<int8_t>(rng, 50);
    check_add(p, a, b, nullptr);
  }
}

TEST(KernelsAdd, ExtremeParametersDoNotOverflow) {
  // Zero points and multipliers at the int32 limits: the 64-bit sum saturates instead of
  // overflowing, and the result is the saturated output.
  qk_add_params p{};
  p.size = 1;
  p.a_zp = p.b_zp = INT32_MIN;
  p.a_mult = p.b_mult = INT32_MAX;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t a[1] = {127};
  int8_t y[1];
  qk_add_s8(&p, a, a, y);
  EXPECT_EQ(y[0], 127);
  p.a_zp = p.b_zp = INT32_MAX;
  qk_add_s8(&p, a, a, y);
  EXPECT_EQ(y[0], -128);
}

// ---------------------------------------------------------------------------------------------
// Clamp

TEST(KernelsClamp, InPlaceAndOutOfPlace) {
  std::vector<int8_t> v = {-128, -7, 0, 5, 6, 7, 127};
  std::vector<int8_t> o(v.size());
  qk_clamp_s8(7, 0, 6, v.data(), o.data());  // ReLU6 at zero point 0
  EXPECT_EQ(std::vector<int>(o.begin(), o.end()), (std::vector<int>{0, 0, 0, 5, 6, 6, 6}));
  qk_clamp_s8(7, -7, 127, v.data(), v.data());  // in place
  EXPECT_EQ(std::vector<int>(v.begin(), v.end()), (std::vector<int>{-7, -7, 0, 5, 6, 7, 127}));
  // Bounds beyond the type are the type range (identity).
  std::vector<int16_t> w = {-32768, -1, 1, 32767};
  qk_clamp_s16(4, -100000, 100000, w.data(), w.data());
  EXPECT_EQ(std::vector<int>(w.begin(), w.end()), (std::vector<int>{-32768, -1, 1, 32767}));
  qk_clamp_s16(4, -5, 3, w.data(), w.data());
  EXPECT_EQ(std::vector<int>(w.begin(), w.end()), (std::vector<int>{-5, -1, 1, 3}));
  // Random against std::clamp.
  std::mt19937 rng(40);
  for (int rep = 0; rep < 50; ++rep) {
    const int lo = rand_int(rng, -32768, 0), hi = rand_int(rng, 0, 32767);
    auto x = rand_vec<int16_t>(rng, 33);
    std::vector<int16_t> expected(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      expected[i] = static_cast<int16_t>(std::clamp<int>(x[i], lo, hi));
    qk_clamp_s16(33, lo, hi, x.data(), x.data());
    EXPECT_EQ(x, expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolCase {
  int in_h, in_w, c, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
  qk_pool_params params() const {
    qk_pool_params p{};
    p.in_h = in_h;
    p.in_w = in_w;
    p.c = c;
    p.k_h = k_h;
    p.k_w = k_w;
    p.stride_h = stride_h;
    p.stride_w = stride_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.out_h = (in_h + 2 * pad_h - k_h) / stride_h + 1;
    p.out_w = (in_w + 2 * pad_w - k_w) / stride_w + 1;
    return p;
  }
};

// Reference pools: channel-first; window positions outside the input are skipped.
template <typename T>
std::vector<T> ref_pool(const qk_pool_params& p, const std::vector<T>& in_hwc, bool max) {
  std::vector<T> out(static_cast<size_t>(p.out_h) * p.out_w * p.c);
  for (int c = 0; c < p.c; ++c)
    for (int oy = 0; oy < p.out_h; ++oy)
      for (int ox = 0; ox < p.out_w; ++ox) {
        std::vector<int64_t> window;
        for (int ky = 0; ky < p.k_h; ++ky)
          for (int kx = 0; kx < p.k_w; ++kx) {
            const int y = oy * p.stride_h - p.pad_h + ky, x = ox * p.stride_w - p.pad_w + kx;
            if (y < 0 || y >= p.in_h || x < 0 || x >= p.in_w) continue;
            window.push_back(in_hwc[(static_cast<size_t>(y) * p.in_w + x) * p.c + c]);
          }
        EXPECT_FALSE(window.empty());
        int64_t v = 0;
        if (max) {
          v = *std::max_element(window.begin(), window.end());
        } else {
          int64_t sum = 0;
          for (int64_t e : window) sum += e;
          v = qat::rounded_mean(sum, static_cast<int64_t>(window.size()));
        }
        out[(static_cast<size_t>(oy) * p.out_w + ox) * p.c + c] =
            static_cast<T>(std::clamp<int64_t>(v, p.act_min, p.act_max));
      }
  return out;
}

void run_pool(const qk_pool_params& p, const int8_t* in, int8_t* out, bool max) {
  (max ? qk_maxpool_s8 : qk_avgpool_s8)(&p, in, out);
}
void run_pool(const qk_pool_params& p, const int16_t* in, int16_t* out, bool max) {
  (max ? qk_maxpool_s16 : qk_avgpool_s16)(&p, in, out);
}

template <typename T>
void check_pool(const PoolCase& pc, bool max, int act, std::mt19937& rng) {
  SCOPED_TRACE(std::string(max ? "maxpool" : "avgpool") + " in " + std::to_string(pc.in_h) + "x" +
               std::to_string(pc.in_w) + "x" + std::to_string(pc.c) + " k " +
               std::to_string(pc.k_h) + "x" + std::to_string(pc.k_w) + " pad " +
               std::to_string(pc.pad_h) + "," + std::to_string(pc.pad_w));
  qk_pool_params p = pc.params();
  p.act_min = act == 0 ? tmin<T>() : 0;
  p.act_max = act == 2 ? tmax<T>() / 4 : tmax<T>();
  const auto in = rand_vec<T>(rng, static_cast<size_t>(p.in_h) * p.in_w * p.c);
  const auto expected = ref_pool(p, in, max);
  std::vector<T> got(expected.size());
  run_pool(p, in.data(), got.data(), max);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(int{got[i]}, int{expected[i]}) << "output " << i;
}

TEST(KernelsPool, MaxPoolIgnoresPadding) {
  // 1x3x1 input [-5 -7 -6], k 3, stride 2, pad 1 -> 2 outputs:
  //   out0: window [pad -5 -7] -> -5;  out1: window [-7 -6 pad] -> -6.
  // (Reading the padding as 0 would give 0 for both.)
  qk_pool_params p{};
  p.in_h = p.out_h = p.k_h = p.stride_h = 1;
  p.in_w = 3;
  p.c = 1;
  p.out_w = 2;
  p.k_w = 3;
  p.stride_w = 2;
  p.pad_w = 1;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t x[3] = {-5, -7, -6};
  int8_t y[2];
  qk_maxpool_s8(&p, x, y);
  EXPECT_EQ(y[0], -5);
  EXPECT_EQ(y[1], -6);
  // Fused ReLU through act_min.
  p.act_min = 0;
  qk_maxpool_s8(&p, x, y);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 0);
}

TEST(KernelsPool, AvgPoolRoundingTies) {
  // Pairs averaged (k 1x2, stride 2), mean rounded half up = floor(mean + 0.5):
  //   (1, 2) 1.5 -> 2     (-1, -2) -1.5 -> -1   (-1, 0) -0.5 -> 0   (-3, -2) -2.5 -> -2
  //   (5, 6) 5.5 -> 6     (-5, -6) -5.5 -> -5   (127, 126) 126.5 -> 127   (-128, -127) -> -127
  qk_pool_params p{};
  p.in_h = p.out_h = p.k_h = p.stride_h = 1;
  p.in_w = 16;
  p.c = 1;
  p.out_w = 8;
  p.k_w = 2;
  p.stride_w = 2;
  p.act_min = -128;
  p.act_max = 127;
  const int8_t x[16] = {1, 2, -1, -2, -1, 0, -3, -2, 5, 6, -5, -6, 127, 126, -128, -127};
  int8_t y[8];
  qk_avgpool_s8(&p, x, y);
  EXPECT_EQ(std::vector<int>(y, y + 8), (std::vector<int>{2, -1, 0, -2, 6, -5, 127, -127}));
  // Thirds (k 1x3, stride 3): (1,1,0) 0.67 -> 1; (1,0,0) 0.33 -> 0; (-1,-1,0) -0.67 -> -1;
  // (-1,0,0) -0.33 -> 0.
  p.in_w = 12;
  p.out_w = 4;
  p.k_w = 3;
  p.stride_w = 3;
  const int16_t z[12] = {1, 1, 0, 1, 0, 0, -1, -1, 0, -1, 0, 0};
  int16_t w[4];
  p.act_min = -32768;
  p.act_max = 32767;
  qk_avgpool_s16(&p, z, w);
  EXPECT_EQ(std::vector<int>(w, w + 4), (std::vector<int>{1, 0, -1, 0}));
}

TEST(KernelsPool, Random) {
  std::mt19937 rng(50);
  const std::vector<PoolCase> max_cases = {
      {1, 15, 3, 1, 3, 1, 2, 0, 1},  // 1D with padding
      {7, 7, 5, 3, 3, 2, 2, 1, 1},  {8, 6, 1, 2, 2, 2, 2, 0, 0}, {9, 9, 7, 3, 3, 3, 3, 0, 0},
      {6, 7, 2, 3, 2, 1, 1, 1, 0},  {5, 5, 3, 5, 5, 1, 1, 2, 2}, {4, 9, 4, 2, 4, 2, 3, 1, 2},
  };
  const std::vector<PoolCase> avg_cases = {
      {1, 16, 3, 1, 2, 1, 2, 0, 0}, {7, 7, 5, 3, 3, 2, 2, 0, 0}, {8, 6, 1, 2, 2, 2, 2, 0, 0},
      {9, 9, 7, 3, 3, 3, 3, 0, 0},  {6, 7, 2, 3, 2, 1, 1, 0, 0}, {5, 5, 3, 5, 5, 1, 1, 0, 0},
      {7, 10, 3, 3, 4, 2, 3, 0, 0},
  };
  for (int act = 0; act < 3; ++act) {
    for (const auto& pc : max_cases) {
      check_pool<int8_t>(pc, true, act, rng);
      check_pool<int16_t>(pc, true, act, rng);
    }
    for (const auto& pc : avg_cases) {
      check_pool<int8_t>(pc, false, act, rng);
      check_pool<int16_t>(pc, false, act, rng);
    }
  }
}

TEST(KernelsPool, AvgPoolPaddingAveragesInsidePositions) {
  // Not produced by the exporter (average pooling has no padding); documented behaviour: positions
  // outside the input are not counted (count_include_pad = False).
  std::mt19937 rng(51);
  check_pool<int8_t>({5, 6, 3, 3, 3, 2, 2, 1, 1}, false, 0, rng);
  check_pool<int16_t>({1, 9, 2, 1, 4, 1, 3, 0, 2}, false, 0, rng);
}

TEST(KernelsPool, GlobalHandComputed) {
  // 3 positions x 2 channels: c0 = [1 2 4] (sum 7, mean 2.33 -> 2, max 4),
  // c1 = [-1 -2 -2] (sum -5, mean -1.67 -> -2, max -1).
  const int8_t x[6] = {1, -1, 2, -2, 4, -2};
  int8_t y[2];
  qk_global_avgpool_s8(3, 2, x, y);
  EXPECT_EQ(y[0], 2);
  EXPECT_EQ(y[1], -2);
  qk_global_maxpool_s8(3, 2, x, y);
  EXPECT_EQ(y[0], 4);
  EXPECT_EQ(y[1], -1);
  // Ties: [-1 -2] -> -1.5 -> -1; [1 2] -> 2.
  const int16_t z[4] = {-1, 1, -2, 2};
  int16_t w[2];
  qk_global_avgpool_s16(2, 2, z, w);
  EXPECT_EQ(w[0], -1);
  EXPECT_EQ(w[1], 2);
}

TEST(KernelsPool, GlobalRandom) {
  std::mt19937 rng(52);
  for (int rep = 0; rep < 60; ++rep) {
    const int spatial = rand_int(rng, 1, 200), c = rand_int(rng, 1, 9);
    const auto x8 = rand_vec<int8_t>(rng, static_cast<size_t>(spatial) * c);
    const auto x16 = rand_vec<int16_t>(rng, static_cast<size_t>(spatial) * c);
    std::vector<int8_t> amax8(c), aavg8(c);
    std::vector<int16_t> amax16(c), aavg16(c);
    qk_global_maxpool_s8(spatial, c, x8.data(), amax8.data());
    qk_global_avgpool_s8(spatial, c, x8.data(), aavg8.data());
    qk_global_maxpool_s16(spatial, c, x16.data(), amax16.data());
    qk_global_avgpool_s16(spatial, c, x16.data(), aavg16.data());
    for (int ch = 0; ch < c; ++ch) {
      int64_t m8 = INT64_MIN, m16 = INT64_MIN, s8 = 0, s16 = 0;
      for (int s = 0; s < spatial; ++s) {
        const int8_t v8 = x8[static_cast<size_t>(s) * c + ch];
        const int16_t v16 = x16[static_cast<size_t>(s) * c + ch];
        m8 = std::max<int64_t>(m8, v8);
        m16 = std::max<int64_t>(m16, v16);
        s8 += v8;
        s16 += v16;
      }
      ASSERT_EQ(amax8[ch], m8);
      ASSERT_EQ(amax16[ch], m16);
      ASSERT_EQ(aavg8[ch], qat::rounded_mean(s8, spatial));
      ASSERT_EQ(aavg16[ch], qat::rounded_mean(s16, spatial));
    }
  }
  // Constant negative inputs and extremes.
  std::vector<int8_t> lo(64, -128), out(1);
  qk_global_avgpool_s8(64, 1, lo.data(), out.data());
  EXPECT_EQ(out[0], -128);
  qk_global_maxpool_s8(64, 1, lo.data(), out.data());
  EXPECT_EQ(out[0], -128);
}

}  // namespace
