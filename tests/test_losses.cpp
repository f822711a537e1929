#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "losses/detection.h"
#include "losses/yolo_loss.h"

namespace qat::detect {
namespace {

float logit(float p) {
  return std::log(p / (1 - p));
}

// One 2x2 grid, 2 boxes, 2 classes; a single object of class 1 in cell (row 1, col 0).
struct Fixture {
  YoloLayout L{2, 2, 2};
  Box gt{0.25f, 0.75f, 0.4f, 0.36f, 1};  // cell col 0, row 1; offsets 0.5, 0.5
  torch::Tensor out = torch::zeros({1, 2 * 2 * 12});
  float* cell(int row, int col) { return out.data_ptr<float>() + (row * 2 + col) * 12; }
  Fixture() {
    for (int i = 0; i < 4; ++i)
      for (int b = 0; b < 2; ++b) cell(i / 2, i % 2)[b * 5 + 4] = -30.0f;  // conf ~ 0 everywhere
  }
};

TEST(YoloLoss, TargetsPlaceObjectInItsCell) {
  Fixture f;
  const torch::Tensor t = build_yolo_targets({{f.gt}}, f.L);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 2, 2, 7}));
  EXPECT_FLOAT_EQ(t[0][1][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[0][1][0][1].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(t[0][1][0][2].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(t[0][1][0][6].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t.select(3, 0).sum().item<float>(), 1.0f);
}

TEST(YoloLoss, PerfectPredictionHasNoLoss) {
  Fixture f;
  float* c = f.cell(1, 0);
  c[0] = 0.0f;  // sigmoid 0.5 = x offset
  c[1] = 0.0f;
  c[2] = std::sqrt(0.4f);
  c[3] = std::sqrt(0.36f);
  c[4] = 30.0f;
  c[10] = -30.0f;  // class logits: class 1
  c[11] = 30.0f;
  const YoloLoss l = yolo_loss(f.out, build_yolo_targets({{f.gt}}, f.L), f.L);
  EXPECT_NEAR(l.total.item<float>(), 0.0f, 1e-6);
}

// A convolutional head gives the same values channel-major: [per_cell][S][S].
torch::Tensor to_channel_major(const torch::Tensor& cell_major, const YoloLayout& L) {
  const int64_t n = cell_major.size(0);
  return cell_major.reshape({n, L.grid, L.grid, L.per_cell()})
      .permute({0, 3, 1, 2})
      .contiguous()
      .reshape({n, -1});
}

TEST(YoloLoss, ChannelMajorOutputGivesTheSameLossAndDetections) {
  Fixture f;
  torch::manual_seed(3);
  f.out = torch::randn({1, 2 * 2 * 12});
  YoloLayout cm = f.L;
  cm.order = GridOrder::kChannelMajor;
  const torch::Tensor chan = to_channel_major(f.out, f.L);
  ASSERT_FALSE(torch::equal(chan, f.out));
  const torch::Tensor t = build_yolo_targets({{f.gt}}, f.L);
  EXPECT_TRUE(torch::allclose(yolo_loss(f.out, t, f.L).total, yolo_loss(chan, t, cm).total));
  const auto a = decode_yolo(f.out.data_ptr<float>(), f.L, 0.0f);
  const auto b = decode_yolo(chan.data_ptr<float>(), cm, 0.0f);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), 2u * 2u * 2u * 2u);  // cells x boxes x classes at threshold 0
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].cx, b[i].cx);
    EXPECT_EQ(a[i].cy, b[i].cy);
    EXPECT_EQ(a[i].w, b[i].w);
    EXPECT_EQ(a[i].score, b[i].score);
    EXPECT_EQ(a[i].cls, b[i].cls);
  }
  EXPECT_EQ(cm.index(1, 0, 4), 4 * 4 + 1 * 2 + 0);
  EXPECT_EQ(f.L.index(1, 0, 4), (1 * 2 + 0) * 12 + 4);
}

TEST(YoloLoss, HandComputedTerms) {
  Fixture f;
  float* c = f.cell(1, 0);
  // Box 0: offset right by sigmoid^-1(0.6) -> x = 0.6 (error 0.1), exact size, conf 0.8.
  c[0] = logit(0.6f);
  c[1] = 0.0f;
  c[2] = std::sqrt(0.4f);
  c[3] = std::sqrt(0.36f);
  c[4] = logit(0.8f);
  // Box 1: far off -> not responsible, conf 0.5 -> no-object term 0.5 * 0.25.
  c[5] = 0.0f;
  c[6] = 0.0f;
  c[7] = 0.1f;
  c[8] = 0.1f;
  c[9] = 0.0f;
  // Classes: equal logits -> p = (0.5, 0.5) vs (0, 1) -> 0.25 + 0.25.
  const YoloLoss l = yolo_loss(f.out, build_yolo_targets({{f.gt}}, f.L), f.L);
  EXPECT_NEAR(l.coord.item<float>(), 5.0f * 0.01f, 1e-5);
  EXPECT_NEAR(l.no_object.item<float>(), 0.5f * 0.25f, 1e-5);
  EXPECT_NEAR(l.cls.item<float>(), 0.5f, 1e-5);
  // IoU of box 0 with the ground truth: widths 0.4 shifted by 0.1/2 of the image = 0.05;
  // overlap (0.35 * 0.36) / (2 * 0.144 - 0.126) = 0.126 / 0.162.
  const float iou0 = 0.126f / 0.162f;
  EXPECT_NEAR(l.object.item<float>(), (0.8f - iou0) * (0.8f - iou0), 1e-5);
}

TEST(YoloLoss, ResponsibleIsHighestIou) {
  Fixture f;
  float* c = f.cell(1, 0);
  c[2] = c[3] = 0.1f;  // box 0 tiny
  c[7] = std::sqrt(0.4f);
  c[8] = std::sqrt(0.36f);  // box 1 matches
  const YoloLoss l = yolo_loss(f.out, build_yolo_targets({{f.gt}}, f.L), f.L);
  // Only box 1 pays coordinates: its centre (0.5, 0.5) and size are exact.
  EXPECT_NEAR(l.coord.item<float>(), 0.0f, 1e-6);
}

TEST(YoloLoss, GradientsFlow) {
  Fixture f;
  torch::Tensor out = f.out.clone().requires_grad_();
  yolo_loss(out, build_yolo_targets({{f.gt}}, f.L), f.L).total.backward();
  EXPECT_GT(out.grad().abs().sum().item<float>(), 0.0f);
}

TEST(Detection, DecodeAndNms) {
  Fixture f;
  float* c = f.cell(1, 0);
  c[2] = std::sqrt(0.4f);
  c[3] = std::sqrt(0.36f);
  c[4] = 30.0f;
  c[7] = std::sqrt(0.38f);
  c[8] = std::sqrt(0.36f);
  c[9] = 2.0f;  // duplicate with lower confidence
  c[11] = 30.0f;
  const auto dets = decode_yolo(f.out.data_ptr<float>(), f.L, 0.3f);
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_NEAR(dets[0].cx, 0.25f, 1e-6);
  EXPECT_NEAR(dets[0].cy, 0.75f, 1e-6);
  EXPECT_EQ(dets[0].cls, 1);
  const auto kept = nms(dets, 0.5f);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_NEAR(kept[0].w, 0.4f, 1e-6);
}

TEST(Detection, MapAllPointInterpolation) {
  // Two ground-truth boxes of class 0 in two images; detections by score: TP 0.9, FP 0.8,
  // TP 0.7 -> (P, R) = (1, .5), (.5, .5), (.67, 1) -> AP = .5 * 1 + .5 * 2/3.
  const std::vector<std::vector<Box>> gt = {{{0.3f, 0.3f, 0.2f, 0.2f, 0}},
                                            {{0.6f, 0.6f, 0.2f, 0.2f, 0}}};
  const std::vector<std::vector<Detection>> dets = {
      {{0.3f, 0.3f, 0.2f, 0.2f, 0.9f, 0}, {0.8f, 0.8f, 0.1f, 0.1f, 0.8f, 0}},
      {{0.61f, 0.6f, 0.2f, 0.2f, 0.7f, 0}}};
  const MapResult r = mean_average_precision(dets, gt, 2);
  EXPECT_NEAR(r.map, 0.5 + 0.5 * 2.0 / 3.0, 1e-9);
  // The raw curve, one point per detection in score order.
  EXPECT_EQ(r.curves[0].recall, (std::vector<double>{0.5, 0.5, 1.0}));
  ASSERT_EQ(r.curves[0].precision.size(), 3u);
  EXPECT_NEAR(r.curves[0].precision[0], 1.0, 1e-12);
  EXPECT_NEAR(r.curves[0].precision[1], 0.5, 1e-12);
  EXPECT_NEAR(r.curves[0].precision[2], 2.0 / 3.0, 1e-12);
  EXPECT_TRUE(r.curves[1].recall.empty());
  EXPECT_TRUE(std::isnan(r.ap_per_class[1]));  // no ground truth for class 1
  // A duplicate detection of an already matched box is a false positive.
  const MapResult dup = mean_average_precision(
      {{{0.3f, 0.3f, 0.2f, 0.2f, 0.9f, 0}, {0.3f, 0.3f, 0.2f, 0.2f, 0.8f, 0}}}, {gt[0]}, 1);
  EXPECT_NEAR(dup.map, 1.0, 1e-9);
  const MapResult none = mean_average_precision({{}}, {gt[0]}, 1);
  EXPECT_NEAR(none.map, 0.0, 1e-9);
  // COCO 101-point on the same curve: the envelope is 1 up to recall 0.5 (thresholds 0..0.50,
  // 51 of them) and 2/3 above (50), so AP = (51 + 50 * 2/3) / 101.
  const MapResult coco = mean_average_precision(dets, gt, 2, 0.5f, ApInterpolation::kCoco101);
  EXPECT_NEAR(coco.map, (51.0 + 50.0 * 2.0 / 3.0) / 101.0, 1e-9);
  EXPECT_NEAR(mean_average_precision({{}}, {gt[0]}, 1, 0.5f, ApInterpolation::kCoco101).map, 0.0,
              1e-9);
  // Recall that stops at 0.5 counts 0 above it: 51 / 101.
  EXPECT_NEAR(
      mean_average_precision({dets[0]}, {gt[0], gt[1]}, 1, 0.5f, ApInterpolation::kCoco101).map,
      51.0 / 101.0, 1e-9);
}

TEST(Detection, MapOverIouThresholds) {
  // One box, one detection shifted by 0.03 of a 0.2-wide box: IoU 0.17 / 0.23 = 0.739, a true
  // positive at IoU 0.50 ... 0.70 (5 of the 10 thresholds) and a false positive from 0.75.
  const std::vector<std::vector<Box>> gt = {{{0.5f, 0.5f, 0.2f, 0.2f, 0}}};
  const std::vector<std::vector<Detection>> dets = {{{0.53f, 0.5f, 0.2f, 0.2f, 0.9f, 0}}};
  const DetectionFigures f = detection_figures(dets, gt, 1);
  EXPECT_NEAR(f.map50_voc, 1.0, 1e-9);
  EXPECT_NEAR(f.map50, 1.0, 1e-9);
  EXPECT_NEAR(f.map75, 0.0, 1e-9);
  EXPECT_NEAR(f.map50_95, 0.5, 1e-9);
  EXPECT_NEAR(f.ap50_95_per_class[0], 0.5, 1e-9);
  EXPECT_EQ(f.gt_per_class[0], 1);
}

}  // namespace
}  // namespace qat::detect
