#include <gtest/gtest.h>

#include <torch/torch.h>

#include "qat/fake_quantize.h"
#include "qat/fake_quantize_kernel.h"
#include "qat/number_format.h"

namespace qat {
namespace {

torch::Tensor scalar(double v) {
  return torch::tensor({v}, torch::kDouble);
}

std::vector<double> to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

TEST(FakeQuantize, TiesRoundHalfUp) {
  const torch::Tensor x =
      torch::tensor({0.5, -0.5, 1.5, 2.5, -1.5, -2.5, 0.49, -0.51}, torch::kDouble);
  const auto codes = to_vec(quantize_codes(x, scalar(1.0), scalar(0.0), -128, 127));
  EXPECT_EQ(codes, (std::vector<double>{1, 0, 2, 3, -1, -2, 0, -1}));
  // Same ties through a pow2 scale (2^-3) and through the fake-quant output.
  const auto y = to_vec(fake_quantize(x / 8, scalar(0.125), scalar(0.0), -128, 127));
  EXPECT_EQ(y, (std::vector<double>{0.125, 0, 0.25, 0.375, -0.125, -0.25, 0, -0.125}));
  // Differs from ATen, which rounds half to even (2.5 -> 2).
  EXPECT_EQ(torch::round(torch::tensor({2.5})).item<double>(), 2.0);
}

TEST(FakeQuantize, SaturatesAtBothEndsForEveryWidth) {
  for (int bits : {2, 4, 8, 16}) {
    const IntRange r = int_range(bits, true);
    const torch::Tensor x = torch::tensor(
        {-1e9, 1e9, static_cast<double>(r.qmax) + 0.49, static_cast<double>(r.qmin) - 0.49},
        torch::kDouble);
    const auto c = to_vec(quantize_codes(x, scalar(1.0), scalar(0.0), r.qmin, r.qmax));
    EXPECT_EQ(c[0], r.qmin) << bits;
    EXPECT_EQ(c[1], r.qmax) << bits;
    EXPECT_EQ(c[2], r.qmax) << bits;
    EXPECT_EQ(c[3], r.qmin) << bits;
  }
}

TEST(FakeQuantize, MatchesScalarReferenceOnRandomData) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({4096}, torch::kDouble) * 3;
  for (int bits : {2, 4, 8, 16}) {
    const QFormat pow2 = QFormat::pow2(bits, {bits - 3});
    const QFormat aff = QFormat::affine(bits, true, {0.0371}, {bits > 2 ? -2 : 0});
    for (const QFormat& f : {pow2, aff}) {
      const auto y = to_vec(fake_quantize(
          x, scalar(f.scale[0]), scalar(static_cast<double>(f.zero_point[0])), f.qmin(), f.qmax()));
      const auto xs = to_vec(x);
      for (size_t i = 0; i < xs.size(); ++i)
        ASSERT_EQ(y[i], f.dequantize(f.quantize(xs[i]))) << f.str() << " x=" << xs[i];
    }
  }
}

TEST(FakeQuantize, PerChannelBroadcast) {
  const torch::Tensor w = torch::tensor({{0.3, -0.3}, {0.3, -0.3}}, torch::kDouble);
  const torch::Tensor s = torch::tensor({0.25, 0.1}, torch::kDouble).reshape({2, 1});
  const auto y = to_vec(fake_quantize(w, s, torch::zeros({2, 1}, torch::kDouble), -128, 127));
  EXPECT_DOUBLE_EQ(y[0], 0.25);   // 1.2 -> 1
  EXPECT_DOUBLE_EQ(y[1], -0.25);  // -1.2 -> -1
  EXPECT_NEAR(y[2], 0.3, 1e-12);  // 3 -> 3
  EXPECT_EQ(broadcast_shape(5, 1, 4), (std::vector<int64_t>{1, 5, 1, 1}));
}

TEST(FakeQuantize, StraightThroughGradient) {
  // int4, scale 1: representable codes -8..7. Inside -> 1, outside -> 0.
  const torch::Tensor x =
      torch::tensor({-9.0, -8.4, -3.2, 0.0, 6.9, 7.4, 7.6, 20.0}, torch::kDouble).requires_grad_();
  fake_quantize(x, scalar(1.0), scalar(0.0), -8, 7).sum().backward();
  EXPECT_EQ(to_vec(x.grad()), (std::vector<double>{0, 1, 1, 1, 1, 1, 0, 0}));
}

// LSQ surrogate: round() replaced by its value at s0 plus the identity (straight-through),
// y(s) = s * clamp(round(x/s0) + (x/s - x/s0) ...). Its derivative at s0 is what LSQ uses.
double lsq_surrogate_loss(const torch::Tensor& x, const torch::Tensor& w, double s, double s0,
                          double zp, int64_t qmin, int64_t qmax) {
  const torch::Tensor v0 = x / s0;
  const torch::Tensor r0 = torch::floor(v0 + 0.5);
  const torch::Tensor q0 = r0 + zp;
  const torch::Tensor inside = (q0 >= qmin) & (q0 <= qmax);
  const torch::Tensor v = x / s;
  const torch::Tensor q =
      torch::where(inside, r0 + (v - v0) + zp,
                   torch::where(q0 < qmin, torch::full_like(x, qmin), torch::full_like(x, qmax)));
  return ((q - zp) * s * w).sum().item<double>();
}

TEST(FakeQuantize, LsqGradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({257}, torch::kDouble) * 2;
  const torch::Tensor w = torch::randn({257}, torch::kDouble);  // upstream gradient
  for (double zp : {0.0, 5.0}) {
    const double s0 = 0.05;
    const int64_t qmin = -128, qmax = 127;
    const double g = 1.0 / std::sqrt(257.0 * qmax);
    const torch::Tensor s = torch::tensor({s0}, torch::kDouble).requires_grad_();
    const torch::Tensor y = fake_quantize_lsq(x, s, scalar(zp), qmin, qmax, g);
    (y * w).sum().backward();
    const double h = 1e-7;
    const double fd = (lsq_surrogate_loss(x, w, s0 + h, s0, zp, qmin, qmax) -
                       lsq_surrogate_loss(x, w, s0 - h, s0, zp, qmin, qmax)) /
                      (2 * h);
    EXPECT_NEAR(s.grad().item<double>(), fd * g, 1e-6 * std::max(1.0, std::abs(fd * g))) << zp;
    // Some values clip at 0.05 * 127 = 6.35? x ~ N(0, 4): a few beyond, exercising both branches.
  }
}

TEST(FakeQuantize, LsqLearnsABetterScale) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({2048});
  torch::Tensor s = torch::tensor({1.0f}).requires_grad_();  // far too coarse for int4
  torch::optim::Adam opt({s}, torch::optim::AdamOptions(0.02));
  auto mse = [&] {
    torch::NoGradGuard ng;
    return (fake_quantize(x, s, torch::zeros({1}), -8, 7) - x).pow(2).mean().item<double>();
  };
  const double before = mse();
  for (int i = 0; i < 300; ++i) {
    opt.zero_grad();
    const double g = 1.0 / std::sqrt(2048.0 * 7);
    (fake_quantize_lsq(x, s, torch::zeros({1}), -8, 7, g) - x).pow(2).mean().backward();
    opt.step();
  }
  EXPECT_LT(mse(), before * 0.5);
  EXPECT_GT(s.item<double>(), 0.2);
  EXPECT_LT(s.item<double>(), 0.6);
}

// The fused kernel gives the op-by-op form's bits, forward and backward: float and double,
// per tensor and per channel, power-of-two and arbitrary scales, ties, both saturation ends,
// NaN, and tensors large enough to be split across threads (and across channel boundaries).
TEST(FakeQuantize, FusedKernelEqualsTheReferenceBitForBit) {
  struct Case {
    torch::Dtype dtype;
    std::vector<int64_t> shape;
    bool per_channel;
    bool pow2;
    int64_t qmin, qmax;
  };
  const std::vector<Case> cases = {
      {torch::kFloat, {64, 16, 128}, false, true, -128, 127},  // an activation, 4 threads' work
      {torch::kFloat, {64, 16, 128}, false, false, -128, 127},
      {torch::kDouble, {7, 33}, false, true, -32768, 32767},
      {torch::kFloat, {5, 3, 3, 3}, true, true, -8, 7},     // weights per channel
      {torch::kFloat, {3, 40000}, true, false, -128, 127},  // channels crossing a task boundary
      {torch::kDouble, {6}, true, false, -2, 1},            // a bias
      {torch::kFloat, {11}, false, false, 0, 255},          // unsigned, zero point
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.dtype == torch::kFloat ? "float" : "double") + " " +
                 std::to_string(c.shape.size()) + "-d" + (c.per_channel ? " per channel" : ""));
    torch::manual_seed(7);
    const auto opt = torch::TensorOptions().dtype(c.dtype);
    const int64_t channels = c.per_channel ? c.shape[0] : 1;
    std::vector<int64_t> sshape(c.per_channel ? c.shape.size() : 1, 1);
    sshape[0] = channels;
    torch::Tensor scale = c.pow2 ? torch::pow(2.0, -torch::randint(0, 8, {channels}, opt))
                                 : torch::rand({channels}, opt) * 0.3 + 0.01;
    scale = scale.reshape(sshape);
    const torch::Tensor zp =
        (c.qmin == 0 ? torch::full({channels}, 17.0, opt) : torch::zeros({channels}, opt))
            .reshape(sshape);
    torch::Tensor x = torch::randn(c.shape, opt) * 40.0;
    // Exact ties (k + 0.5) * s, values far outside the range, and a NaN.
    const torch::Tensor flat = x.view({-1});
    flat[0] = 2.5 * scale.reshape({-1})[0].item<double>();
    flat[1] = -3.5 * scale.reshape({-1})[0].item<double>();
    flat[2] = 1e6;
    flat[3] = -1e6;
    flat[4] = std::nan("");
    ASSERT_TRUE(fused_fake_quantize_applies(x, scale, zp));
    const torch::Tensor xr = x.clone().requires_grad_(true);
    const torch::Tensor xf = x.clone().requires_grad_(true);
    const torch::Tensor yr = fake_quantize_reference(xr, scale, zp, c.qmin, c.qmax);
    const torch::Tensor yf = fake_quantize(xf, scale, zp, c.qmin, c.qmax);
    ASSERT_EQ(yf.scalar_type(), c.dtype);
    EXPECT_TRUE(torch::equal(torch::isnan(yr), torch::isnan(yf)));
    EXPECT_TRUE(torch::equal(torch::nan_to_num(yr), torch::nan_to_num(yf)));
    const torch::Tensor g = torch::randn(c.shape, opt);
    yr.backward(g);
    yf.backward(g);
    EXPECT_TRUE(torch::equal(xr.grad(), xf.grad()));
    // Without a gradient (evaluation): the same values.
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(torch::nan_to_num(fake_quantize(x, scale, zp, c.qmin, c.qmax)),
                             torch::nan_to_num(yr.detach())));
  }
}

TEST(FakeQuantize, FusedKernelLeavesOtherOperandsToTheReference) {
  const torch::Tensor x = torch::randn({4, 6});
  EXPECT_FALSE(fused_fake_quantize_applies(x, torch::ones({1, 6}), torch::zeros({1, 6})));
  EXPECT_FALSE(fused_fake_quantize_applies(x, torch::ones({1}, torch::kDouble),
                                           torch::zeros({1}, torch::kDouble)));
  EXPECT_FALSE(fused_fake_quantize_applies(x.to(torch::kHalf), torch::ones({1}, torch::kHalf),
                                           torch::zeros({1}, torch::kHalf)));
  // Per-axis-1 scales (not the layout the quantizers use) still compute the right thing.
  const torch::Tensor s = torch::full({1, 6}, 0.25), z = torch::zeros({1, 6});
  EXPECT_TRUE(torch::equal(fake_quantize(x, s, z, -8, 7), fake_quantize_reference(x, s, z, -8, 7)));
}

}  // namespace
}  // namespace qat
