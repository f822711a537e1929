#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "qat/errors.h"
#include "qat/observer.h"
#include "qat/quantizer.h"

namespace qat {
namespace {

QuantSpec spec(ObserverKind k, Scheme scheme = Scheme::kPow2) {
  QuantSpec s = default_spec(scheme, TensorRole::kActivations);
  s.observer = k;
  return s;
}

TEST(Observer, MinMaxTracksLatestBatch) {
  Observer o(spec(ObserverKind::kMinMax), 1);
  EXPECT_FALSE(o->initialized());
  o->update(torch::tensor({-1.0, 2.0, 0.5}));
  EXPECT_DOUBLE_EQ(o->min().item<double>(), -1.0);
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 2.0);
  o->update(torch::tensor({-0.5, 0.25}));
  EXPECT_DOUBLE_EQ(o->min().item<double>(), -0.5);
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 0.25);
}

// The range comes from the tensor's own dtype (no double copy of an activation): the state is
// the one a double computation gives, for every cheap observer and per channel.
TEST(Observer, FloatInputGivesTheDoubleComputationsState) {
  for (const ObserverKind k :
       {ObserverKind::kMinMax, ObserverKind::kRunningMinMax, ObserverKind::kEma}) {
    Observer of(spec(k), 3), od(spec(k), 3);
    torch::manual_seed(4);
    for (int step = 0; step < 4; ++step) {
      const torch::Tensor x = torch::randn({3, 500}) * 3.7;
      of->update(x);
      od->update(x.to(torch::kDouble));
    }
    EXPECT_TRUE(torch::equal(of->min(), od->min()));
    EXPECT_TRUE(torch::equal(of->max(), od->max()));
    EXPECT_EQ(of->min().scalar_type(), torch::kDouble);
  }
  Observer o(spec(ObserverKind::kMinMax), 1);
  EXPECT_THROW(o->update(torch::tensor({1.0f, std::numeric_limits<float>::infinity()})),
               TrainingError);
  EXPECT_THROW(o->update(torch::tensor({std::nanf(""), 1.0f})), TrainingError);
}

TEST(Observer, RunningMinMaxKeepsExtremes) {
  Observer o(spec(ObserverKind::kRunningMinMax), 1);
  o->update(torch::tensor({-1.0, 2.0}));
  o->update(torch::tensor({-3.0, 1.0}));
  EXPECT_DOUBLE_EQ(o->min().item<double>(), -3.0);
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 2.0);
}

TEST(Observer, EmaAveragesBatchRanges) {
  QuantSpec s = spec(ObserverKind::kEma);
  s.ema_momentum = 0.25;
  Observer o(s, 1);
  o->update(torch::tensor({-4.0, 4.0}));  // first batch initialises
  o->update(torch::tensor({0.0, 8.0}));
  EXPECT_DOUBLE_EQ(o->min().item<double>(), -3.0);  // 0.75 * -4 + 0.25 * 0
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 5.0);   // 0.75 * 4 + 0.25 * 8
}

TEST(Observer, PerChannelWeights) {
  Observer o(spec(ObserverKind::kMinMax), 2);
  o->update(torch::tensor({{{-1.0, 3.0}}, {{0.5, -7.0}}}));  // [2, 1, 2]
  EXPECT_DOUBLE_EQ(o->min()[0].item<double>(), -1.0);
  EXPECT_DOUBLE_EQ(o->max()[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(o->min()[1].item<double>(), -7.0);
  EXPECT_DOUBLE_EQ(o->max()[1].item<double>(), 0.5);
}

TEST(Observer, PercentileClipsOutliers) {
  QuantSpec s = spec(ObserverKind::kPercentile);
  s.percentile = 99.0;
  Observer o(s, 1);
  torch::Tensor x = torch::linspace(-1.0, 1.0, 1001);
  x[500] = 100.0;  // one outlier
  o->update(x);
  EXPECT_LT(o->max().item<double>(), 1.01);
  EXPECT_GT(o->max().item<double>(), 0.95);
  EXPECT_LT(o->min().item<double>(), -0.95);
}

TEST(Observer, MseSearchBeatsMinMaxWithOutliers) {
  torch::manual_seed(0);
  QuantSpec s = spec(ObserverKind::kMse, Scheme::kAffine);
  s.symmetric = true;
  s.bits = 4;
  Observer mse(s, 1);
  torch::Tensor x = torch::randn({20000});
  x[0] = 40.0;
  mse->update(x);
  // The searched range is well inside the outlier, and its MSE is lower than the full range's.
  EXPECT_LT(mse->max().item<double>(), 20.0);
  const torch::Tensor xc = x.reshape({1, -1});
  const double err_search = quantization_mse(xc, mse->min(), mse->max(), s).item<double>();
  const double err_full = quantization_mse(xc, torch::tensor({-40.0}, torch::kDouble),
                                           torch::tensor({40.0}, torch::kDouble), s)
                              .item<double>();
  EXPECT_LT(err_search, err_full * 0.5);
}

TEST(Observer, FrozenIgnoresUpdates) {
  Observer o(spec(ObserverKind::kRunningMinMax), 1);
  o->update(torch::tensor({-1.0, 1.0}));
  o->set_frozen(true);
  o->update(torch::tensor({-9.0, 9.0}));
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 1.0);
  o->set_frozen(false);
  o->update(torch::tensor({-9.0, 9.0}));
  EXPECT_DOUBLE_EQ(o->max().item<double>(), 9.0);
}

TEST(Observer, RejectsNonFiniteValues) {
  Observer o(spec(ObserverKind::kMinMax), 1);
  EXPECT_THROW(o->update(torch::tensor({1.0, std::nan("")})), TrainingError);
}

TEST(Observer, StateSurvivesSaveLoad) {
  FakeQuantizer a(spec(ObserverKind::kEma), TensorRole::kActivations, 1);
  a->observe(torch::tensor({-0.3, 1.7}));
  a->observer->set_frozen(true);
  std::stringstream buf;
  {
    torch::serialize::OutputArchive out;
    a->save(out);
    out.save_to(buf);
  }
  FakeQuantizer b(spec(ObserverKind::kEma), TensorRole::kActivations, 1);
  EXPECT_FALSE(b->ready());
  torch::serialize::InputArchive in;
  in.load_from(buf);
  b->load(in);
  EXPECT_TRUE(b->ready());
  EXPECT_TRUE(b->observer->frozen());
  EXPECT_EQ(b->format(), a->format());
  EXPECT_EQ(b->format().frac_bits[0], 6);  // max 1.7 -> Q2.6 at 8 bits
}

TEST(Quantizer, FixedFormatNeedsNoObservation) {
  QuantSpec s = spec(ObserverKind::kMinMax);
  s.bits = 16;
  s.frac_bits = 9;
  FakeQuantizer q(s, TensorRole::kActivations, 1);
  EXPECT_TRUE(q->ready());
  EXPECT_EQ(q->format().str(), "Q7.9 (int16)");
  const torch::Tensor y = q->forward(torch::tensor({100.0, 0.0009, 1.0 / 1024}, torch::kDouble));
  EXPECT_DOUBLE_EQ(y[0].item<double>(), 32767.0 / 512);
  EXPECT_DOUBLE_EQ(y[1].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(y[2].item<double>(), 1.0 / 512);  // tie 0.5 LSB -> up
}

TEST(Quantizer, UnobservedQuantizerNamesOwner) {
  FakeQuantizer q(spec(ObserverKind::kMinMax), TensorRole::kActivations, 1);
  try {
    q->format("conv3");
    FAIL();
  } catch (const TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("'conv3'"), std::string::npos);
  }
}

}  // namespace
}  // namespace qat
