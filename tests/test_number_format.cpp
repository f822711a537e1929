#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "qat/errors.h"
#include "qat/number_format.h"

namespace qat {
namespace {

TEST(RoundHalfUp, TiesGoUp) {
  EXPECT_EQ(round_half_up(0.5), 1);
  EXPECT_EQ(round_half_up(-0.5), 0);
  EXPECT_EQ(round_half_up(1.5), 2);
  EXPECT_EQ(round_half_up(2.5), 3);
  EXPECT_EQ(round_half_up(-1.5), -1);
  EXPECT_EQ(round_half_up(-2.5), -2);
  EXPECT_EQ(round_half_up(0.49999), 0);
  EXPECT_EQ(round_half_up(-0.50001), -1);
}

TEST(IntRange, SignedAndUnsigned) {
  EXPECT_EQ(int_range(2, true).qmin, -2);
  EXPECT_EQ(int_range(2, true).qmax, 1);
  EXPECT_EQ(int_range(4, true).qmin, -8);
  EXPECT_EQ(int_range(8, true).qmax, 127);
  EXPECT_EQ(int_range(16, true).qmin, -32768);
  EXPECT_EQ(int_range(8, false).qmax, 255);
  EXPECT_THROW(int_range(1, true), Error);
}

TEST(Pow2, FracBitsNeverClipObservedRange) {
  // 8 bits: max 1.0 -> Q2.6 (1.0 * 2^7 = 128 would saturate at 127).
  EXPECT_EQ(pow2_frac_bits(1.0, 8), 6);
  EXPECT_EQ(pow2_frac_bits(0.99, 8), 7);    // 0.99 * 128 = 126.7 -> 127 fits
  EXPECT_EQ(pow2_frac_bits(0.997, 8), 6);   // 0.997 * 128 = 127.6 -> 128 would clip
  EXPECT_EQ(pow2_frac_bits(3.0, 8), 5);     // 3 * 32 = 96
  EXPECT_EQ(pow2_frac_bits(100.0, 16), 8);  // 100 * 256 = 25600 <= 32767; *512 clips
  EXPECT_EQ(pow2_frac_bits(0.001, 8), 16);  // 0.001 * 2^16 = 65.5 -> 66; * 2^17 = 131 clips
  EXPECT_EQ(pow2_frac_bits(0.0, 8), 7);
  for (int bits : {2, 4, 8, 16})
    for (double m : {0.013, 0.5, 0.75, 1.0, 1.9, 7.3, 64.0, 1000.0}) {
      const int n = pow2_frac_bits(m, bits);
      const int64_t qmax = int_range(bits, true).qmax;
      EXPECT_LE(round_half_up(std::ldexp(m, n)), qmax) << bits << " " << m;
      EXPECT_GT(round_half_up(std::ldexp(m, n + 1)), qmax) << bits << " " << m;
    }
}

TEST(Pow2, QuantizeHandComputed) {
  const QFormat q = QFormat::pow2(8, {4});  // Q4.4, step 1/16
  EXPECT_EQ(q.quantize(0.5 / 16), 1);       // tie up
  EXPECT_EQ(q.quantize(-0.5 / 16), 0);      // tie up (towards +inf)
  EXPECT_EQ(q.quantize(1.5 / 16), 2);
  EXPECT_EQ(q.quantize(2.5 / 16), 3);
  EXPECT_EQ(q.quantize(100.0), 127);    // saturation high
  EXPECT_EQ(q.quantize(-100.0), -128);  // saturation low
  EXPECT_DOUBLE_EQ(q.dequantize(-128), -8.0);
  EXPECT_EQ(q.str(), "Q4.4 (int8)");
  const QFormat q16 = QFormat::pow2(16, {9});
  EXPECT_EQ(q16.str(), "Q7.9 (int16)");
  EXPECT_EQ(q16.quantize(1.0), 512);
  EXPECT_EQ(q16.quantize(64.0), 32767);
  const QFormat q2 = QFormat::pow2(2, {0});
  EXPECT_EQ(q2.quantize(0.5), 1);
  EXPECT_EQ(q2.quantize(1.5), 1);
  EXPECT_EQ(q2.quantize(-1.5), -1);
  EXPECT_EQ(q2.quantize(-2.6), -2);
  const QFormat q4 = QFormat::pow2(4, {1});
  EXPECT_EQ(q4.quantize(1.25), 3);  // 2.5 -> 3
  EXPECT_EQ(q4.quantize(-1.25), -2);
  EXPECT_EQ(q4.quantize(5.0), 7);
  EXPECT_EQ(q4.quantize(-5.0), -8);
}

TEST(Affine, ParamsAndQuantize) {
  // Asymmetric int8 over [-1, 3]: scale 4/255, zero point -128 - round(-1 / s) = -64.
  const AffineParams p = affine_params(-1.0, 3.0, 8, false, true);
  EXPECT_DOUBLE_EQ(p.scale, 4.0 / 255.0);
  EXPECT_EQ(p.zero_point, -64);
  // Range is widened to include zero.
  const AffineParams pos = affine_params(2.0, 5.0, 8, false, false);
  EXPECT_DOUBLE_EQ(pos.scale, 5.0 / 255.0);
  EXPECT_EQ(pos.zero_point, 0);
  // Symmetric signed: zero point 0, scale max/qmax.
  const AffineParams s = affine_params(-2.0, 1.0, 8, true, true);
  EXPECT_DOUBLE_EQ(s.scale, 2.0 / 127.0);
  EXPECT_EQ(s.zero_point, 0);

  const QFormat f = QFormat::affine(8, true, {0.25}, {10});
  EXPECT_EQ(f.quantize(0.125), 11);   // 0.5 + 10 -> ties up
  EXPECT_EQ(f.quantize(-0.125), 10);  // -0.5 -> 0
  EXPECT_EQ(f.quantize(0.375), 12);   // 1.5 -> 2
  EXPECT_EQ(f.quantize(0.625), 13);   // 2.5 -> 3
  EXPECT_EQ(f.quantize(1000.0), 127);
  EXPECT_EQ(f.quantize(-1000.0), -128);
  EXPECT_DOUBLE_EQ(f.dequantize(12), 0.5);
  const QFormat u4 = QFormat::affine(4, false, {0.5}, {3});
  EXPECT_EQ(u4.quantize(-10), 0);
  EXPECT_EQ(u4.quantize(10), 15);
  EXPECT_EQ(u4.quantize(0.25), 4);  // 0.5 + 3 -> 4
  const QFormat s16 = QFormat::affine(16, true, {1.0 / 1024}, {0});
  EXPECT_EQ(s16.quantize(31.9999), 32767);
  EXPECT_EQ(s16.quantize(-32.0), -32768);
  EXPECT_EQ(s16.quantize(-40.0), -32768);
}

TEST(FixedMultiplier, ApproximatesRealMultiplier) {
  for (double m : {0.75, 0.0123, 1.7, 3.9e-5, 0.5, 0.999999}) {
    const FixedMultiplier fm = quantize_multiplier(m);
    EXPECT_GE(fm.multiplier, int64_t{1} << 30);
    EXPECT_LT(fm.multiplier, int64_t{1} << 31);
    EXPECT_NEAR(std::ldexp(static_cast<double>(fm.multiplier), -fm.shift), m, m * 1e-9);
  }
  // Requantize 1000 by 0.75 -> 750 exactly; 3 * 0.5 = 1.5 -> 2 (half up); -3 * 0.5 -> -1.
  EXPECT_EQ(apply_multiplier(1000, quantize_multiplier(0.75)), 750);
  EXPECT_EQ(apply_multiplier(3, quantize_multiplier(0.5)), 2);
  EXPECT_EQ(apply_multiplier(-3, quantize_multiplier(0.5)), -1);
  EXPECT_THROW(quantize_multiplier(-1.0), Error);
  EXPECT_EQ(multiplier_bits_for(1000), 31);
  EXPECT_EQ(multiplier_bits_for(int64_t{1} << 40), 21);
}

TEST(ShiftRound, RightAndLeft) {
  EXPECT_EQ(shift_round(3, 1), 2);    // 1.5 -> 2
  EXPECT_EQ(shift_round(-3, 1), -1);  // -1.5 -> -1
  EXPECT_EQ(shift_round(5, 2), 1);    // 1.25 -> 1
  EXPECT_EQ(shift_round(6, 2), 2);    // 1.5 -> 2
  EXPECT_EQ(shift_round(-6, 2), -1);  // -1.5 -> -1
  EXPECT_EQ(shift_round(-7, 2), -2);  // -1.75 -> -2
  EXPECT_EQ(shift_round(7, 0), 7);
  EXPECT_EQ(shift_round(-7, -3), -56);
  EXPECT_EQ(shift_round(int64_t{1} << 40, -10), (int64_t{1} << 32) * 1024);  // clamped, saturates
}

TEST(AddRescale, Pow2IsExact) {
  const QFormat a = QFormat::pow2(8, {5}), b = QFormat::pow2(8, {3}), y = QFormat::pow2(8, {4});
  const AddRescale r = make_add_rescale(a, b, y);
  // a = 37/32, b = -5/8: sum = 1.15625 - 0.625 = 0.53125 -> *16 = 8.5 -> 9
  EXPECT_EQ(r.apply(37, -5), 9);
  for (int qa = -128; qa < 128; qa += 7)
    for (int qb = -128; qb < 128; qb += 5) {
      const double real = a.dequantize(qa) + b.dequantize(qb);
      EXPECT_EQ(r.apply(qa, qb), round_half_up(real * 16)) << qa << " " << qb;
    }
}

TEST(AddRescale, AffineWithinOneLsb) {
  const QFormat a = QFormat::affine(8, true, {0.037}, {-3});
  const QFormat b = QFormat::affine(8, true, {0.011}, {12});
  const QFormat y = QFormat::affine(8, true, {0.05}, {-20});
  const AddRescale r = make_add_rescale(a, b, y);
  int exact = 0, total = 0;
  for (int qa = -128; qa < 128; qa += 3)
    for (int qb = -128; qb < 128; qb += 3) {
      const double real = a.dequantize(qa) + b.dequantize(qb);
      const int64_t want = round_half_up(real / 0.05);
      const int64_t got = r.apply(qa + 3, qb - 12);
      EXPECT_LE(std::llabs(got - want), 1);
      exact += got == want;
      ++total;
    }
  // Only exact ties ((37 qa + 11 qb) = 25 mod 50, 2% of pairs) may round the other way.
  EXPECT_GT(exact, total * 98 / 100);
}

TEST(RoundedMean, HalfUpForBothSigns) {
  EXPECT_EQ(rounded_mean(3, 2), 2);    // 1.5 -> 2
  EXPECT_EQ(rounded_mean(-3, 2), -1);  // -1.5 -> -1
  EXPECT_EQ(rounded_mean(4, 3), 1);    // 1.33 -> 1
  EXPECT_EQ(rounded_mean(5, 3), 2);    // 1.67 -> 2
  EXPECT_EQ(rounded_mean(-5, 3), -2);  // -1.67 -> -2
  EXPECT_EQ(rounded_mean(-4, 3), -1);
  EXPECT_EQ(rounded_mean(0, 9), 0);
}

TEST(QFormat, JsonRoundTrip) {
  const QFormat a = QFormat::affine(8, true, {0.1, 0.2}, {0, 0}, true);
  EXPECT_EQ(QFormat::from_json(a.to_json()), a);
  const QFormat p = QFormat::pow2(16, {9});
  EXPECT_EQ(QFormat::from_json(p.to_json()), p);
}

}  // namespace
}  // namespace qat
