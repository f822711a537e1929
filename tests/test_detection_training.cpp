// The detection training recipe (issue 17): mosaic and affine augmentation with boxes that
// follow the pixels, HSV jitter, the BCE objectness and label smoothing of the YOLO loss, the
// weight EMA (its ramp and an exact resume), warmup and clipping, and their config errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "losses/detection.h"
#include "losses/yolo_loss.h"
#include "qat/checkpoint.h"
#include "qat/errors.h"
#include "run_helpers.h"
#include "train/detection_augment.h"
#include "train/model_ema.h"
#include "train/run_config.h"
#include "train/task.h"
#include "train/trainer.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

// --- augmentation ---------------------------------------------------------------------------

TEST(DetectionAugment, IdentityWarpKeepsImageAndBoxes) {
  torch::manual_seed(1);
  const torch::Tensor img = torch::rand({3, 16, 24});
  const Affine id{1, 0, 0, 0, 1, 0};
  EXPECT_TRUE(torch::allclose(warp_affine(img, id, 16, 24), img, 1e-6, 1e-6));
  const std::vector<Box> b = transform_boxes({{4, 2, 12, 10, 2}}, id, 16, 24, 0.25);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FLOAT_EQ(b[0].cx, 8.0f / 24);
  EXPECT_FLOAT_EQ(b[0].cy, 6.0f / 16);
  EXPECT_FLOAT_EQ(b[0].w, 8.0f / 24);
  EXPECT_FLOAT_EQ(b[0].h, 8.0f / 16);
  EXPECT_EQ(b[0].cls, 2);
}

TEST(DetectionAugment, TranslationMovesPixelsAndBoxesTogether) {
  // A white square at x 4..8, y 4..8 of a black 16x16 image, moved by (+5, +3).
  torch::Tensor img = torch::zeros({3, 16, 16});
  img.narrow(1, 4, 4).narrow(2, 4, 4).fill_(1.0);
  const Affine move{1, 0, 5, 0, 1, 3};
  const torch::Tensor out = warp_affine(img, move, 16, 16);
  EXPECT_TRUE(torch::allclose(out.narrow(1, 7, 4).narrow(2, 9, 4), torch::ones({3, 4, 4})));
  // The square, and gray (0.5) over the 16 x 16 - 11 x 13 pixels the source does not cover.
  EXPECT_NEAR(out.sum().item<double>(), 3 * (16.0 + 0.5 * (256 - 11 * 13)), 1e-3);
  const std::vector<Box> b = transform_boxes({{4, 4, 8, 8, 0}}, move, 16, 16, 0.25);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FLOAT_EQ(b[0].cx, 11.0f / 16);
  EXPECT_FLOAT_EQ(b[0].cy, 9.0f / 16);
  // Outside the source the canvas is the letterbox gray.
  const torch::Tensor far = warp_affine(img, Affine{1, 0, 40, 0, 1, 0}, 16, 16);
  EXPECT_TRUE(torch::allclose(far, torch::full({3, 16, 16}, 0.5)));
}

TEST(DetectionAugment, ZoomAboutTheCentreAndRotation) {
  // Half size about the centre of 32x32: (x, y) -> (0.5 x + 8, 0.5 y + 8).
  const Affine half{0.5, 0, 8, 0, 0.5, 8};
  const std::vector<Box> b = transform_boxes({{0, 0, 32, 16, 1}}, half, 32, 32, 0.25);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FLOAT_EQ(b[0].cx, 0.5f);
  EXPECT_FLOAT_EQ(b[0].cy, 12.0f / 32);
  EXPECT_FLOAT_EQ(b[0].w, 0.5f);
  EXPECT_FLOAT_EQ(b[0].h, 0.25f);
  // A 90-degree turn about the centre of 32x32 swaps width and height: (x, y) -> (32 - y, x).
  const Affine turn{0, -1, 32, 1, 0, 0};
  const std::vector<Box> t = transform_boxes({{4, 8, 12, 24, 1}}, turn, 32, 32, 0.25);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_FLOAT_EQ(t[0].w, 16.0f / 32);
  EXPECT_FLOAT_EQ(t[0].h, 8.0f / 32);
  EXPECT_FLOAT_EQ(t[0].cx, 16.0f / 32);
  EXPECT_FLOAT_EQ(t[0].cy, 8.0f / 32);
}

TEST(DetectionAugment, ClippedAndTinyBoxesAreDropped) {
  const Affine move{1, 0, 26, 0, 1, 0};  // x 0..8 -> 26..34 of 32: 6 of 8 px inside (75 %)
  EXPECT_EQ(transform_boxes({{0, 0, 8, 8, 0}}, move, 32, 32, 0.25).size(), 1u);
  EXPECT_EQ(transform_boxes({{0, 0, 8, 8, 0}}, move, 32, 32, 0.8).size(), 0u);
  const std::vector<Box> kept = transform_boxes({{0, 0, 8, 8, 0}}, move, 32, 32, 0.25);
  EXPECT_FLOAT_EQ(kept[0].w, 6.0f / 32);  // clipped to the input
  // A side under 2 px goes, whatever the area rule says.
  EXPECT_EQ(transform_boxes({{0, 0, 1.5, 8, 0}}, Affine{1, 0, 0, 0, 1, 0}, 32, 32, 0).size(), 0u);
}

// Four images of different constant colours, each with one box over all of it: after a mosaic
// every box centre lies on its own image's colour, and every box lies inside the input.
TEST(DetectionAugment, MosaicBoxesFollowTheirImages) {
  AugmentConfig a;
  a.mosaic = 1.0;
  const int64_t n = 4, h = 32, w = 32;
  torch::Tensor x = torch::empty({n, 3, h, w});
  std::vector<std::vector<Box>> boxes(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i].fill_(0.1 + 0.2 * static_cast<double>(i));
    boxes[static_cast<size_t>(i)] = {{0.5f, 0.5f, 1.0f, 1.0f, i}};
  }
  torch::manual_seed(7);
  augment_geometry(x, boxes, a);
  int checked = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_FALSE(boxes[static_cast<size_t>(i)].empty()) << i;  // the own image covers the centre
    for (const Box& b : boxes[static_cast<size_t>(i)]) {
      EXPECT_GE(b.cx - b.w / 2, -1e-6f);
      EXPECT_LE(b.cx + b.w / 2, 1 + 1e-6f);
      EXPECT_GE(b.cy - b.h / 2, -1e-6f);
      EXPECT_LE(b.cy + b.h / 2, 1 + 1e-6f);
      const auto px = static_cast<int64_t>(b.cx * w), py = static_cast<int64_t>(b.cy * h);
      EXPECT_NEAR(x[i][0][py][px].item<float>(), 0.1 + 0.2 * static_cast<double>(b.cls), 1e-5)
          << "image " << i << " box of class " << b.cls;
      ++checked;
    }
  }
  EXPECT_GT(checked, 4);  // mosaics hold boxes of other images
}

TEST(DetectionAugment, SameSeedSameBatch) {
  AugmentConfig a;
  a.mosaic = 0.5;
  a.scale = 0.3;
  a.translate = 0.1;
  a.degrees = 10;
  a.shear = 5;
  a.hsv_h = 0.02;
  a.hsv_s = 0.5;
  a.hsv_v = 0.3;
  a.hflip = true;
  auto run = [&] {
    torch::manual_seed(3);
    Batch b;
    b.x = torch::rand({6, 3, 24, 24});
    b.boxes.assign(6, {{0.5f, 0.5f, 0.4f, 0.6f, 1}, {0.2f, 0.3f, 0.2f, 0.2f, 0}});
    augment(b, a);
    return b;
  };
  const Batch p = run(), q = run();
  EXPECT_TRUE(torch::equal(p.x, q.x));
  ASSERT_EQ(p.boxes.size(), q.boxes.size());
  for (size_t i = 0; i < p.boxes.size(); ++i) {
    ASSERT_EQ(p.boxes[i].size(), q.boxes[i].size());
    for (size_t k = 0; k < p.boxes[i].size(); ++k) EXPECT_EQ(p.boxes[i][k].cx, q.boxes[i][k].cx);
  }
  EXPECT_FALSE(torch::allclose(p.x, run().x.fill_(0)));
  EXPECT_GE(p.x.min().item<float>(), 0.0f);
  EXPECT_LE(p.x.max().item<float>(), 1.0f);
}

TEST(DetectionAugment, HsvKeepsGrayAndSaturation) {
  AugmentConfig a;
  a.hsv_s = 1e-9;  // on, with (almost) unit gains: the round trip RGB -> HSV -> RGB
  torch::manual_seed(2);
  torch::Tensor x = torch::rand({2, 3, 8, 8});
  const torch::Tensor before = x.clone();
  augment_hsv(x, a);
  EXPECT_TRUE(torch::allclose(x, before, 1e-5, 1e-5));
  // A hue shift turns pure red into another fully saturated colour of the same value; gray
  // pixels have no hue and stay gray.
  a = AugmentConfig{};
  a.hsv_h = 0.5;
  torch::Tensor red = torch::zeros({4, 3, 2, 2});
  red.select(1, 0).fill_(1.0);
  red.narrow(2, 0, 1).fill_(0.4);  // first row gray
  augment_hsv(red, a);
  const torch::Tensor colour = red.narrow(2, 1, 1);
  EXPECT_TRUE(torch::allclose(std::get<0>(colour.max(1)), torch::ones({4, 1, 2})));
  EXPECT_TRUE(torch::allclose(std::get<0>(colour.min(1)), torch::zeros({4, 1, 2}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(red.narrow(2, 0, 1), torch::full({4, 3, 1, 2}, 0.4), 1e-6, 1e-6));
}

TEST(DetectionAugment, HsvNeedsRgb) {
  AugmentConfig a;
  a.hsv_v = 0.3;
  torch::Tensor gray = torch::rand({2, 1, 8, 8});
  EXPECT_THROW(augment_hsv(gray, a), TrainingError);
}

// --- loss -----------------------------------------------------------------------------------

float logit(float p) {
  return std::log(p / (1 - p));
}

// One 2x2 grid, 2 boxes, 2 classes, an object of class 1 in cell (row 1, col 0) as in
// test_losses.cpp: box 0 off by 0.1 in x with confidence 0.8, box 1 far off at confidence 0.5.
struct LossCase {
  detect::YoloLayout L{2, 2, 2};
  Box gt{0.25f, 0.75f, 0.4f, 0.36f, 1};
  torch::Tensor out = torch::zeros({1, 2 * 2 * 12});
  LossCase() {
    float* o = out.data_ptr<float>();
    for (int i = 0; i < 4; ++i)
      for (int b = 0; b < 2; ++b) o[i * 12 + b * 5 + 4] = -30.0f;
    float* c = o + 2 * 12;
    c[0] = logit(0.6f);
    c[2] = std::sqrt(0.4f);
    c[3] = std::sqrt(0.36f);
    c[4] = logit(0.8f);
    c[7] = c[8] = 0.1f;
    c[9] = 0.0f;
  }
};

TEST(YoloLossOptions, BceObjectnessTargetsTheIou) {
  LossCase f;
  detect::YoloLossOptions o;
  o.bce_objectness = true;
  const detect::YoloLoss l =
      detect::yolo_loss(f.out, detect::build_yolo_targets({{f.gt}}, f.L), f.L, o);
  const double iou0 = 0.126 / 0.162;
  // softplus(logit p) = -ln(1 - p): ln 5 - iou ln 4 for box 0.
  EXPECT_NEAR(l.object.item<double>(), std::log(5.0) - iou0 * std::log(4.0), 1e-5);
  // Box 1 (logit 0) is the only non-responsible predictor that is not ~0: 0.5 ln 2.
  EXPECT_NEAR(l.no_object.item<double>(), 0.5 * std::log(2.0), 1e-5);
  EXPECT_NEAR(l.coord.item<double>(), 5.0 * 0.01, 1e-5);  // unchanged
}

TEST(YoloLossOptions, LambdasAndLabelSmoothing) {
  LossCase f;
  detect::YoloLossOptions o;
  o.lambda_coord = 2.0;
  o.lambda_noobj = 1.0;
  o.label_smoothing = 0.2;
  const detect::YoloLoss l =
      detect::yolo_loss(f.out, detect::build_yolo_targets({{f.gt}}, f.L), f.L, o);
  EXPECT_NEAR(l.coord.item<double>(), 2.0 * 0.01, 1e-5);
  EXPECT_NEAR(l.no_object.item<double>(), 0.25, 1e-5);
  // Equal class logits: p = (0.5, 0.5) against (0.1, 0.9): 0.16 + 0.16.
  EXPECT_NEAR(l.cls.item<double>(), 0.32, 1e-5);
}

TEST(YoloLossOptions, ScoredOutputsUseTheRunsLoss) {
  // `qat eval` scores engine outputs with score_outputs(): its loss figure must be the run's
  // configured loss (here BCE objectness, smoothing, other lambdas), as training reported it.
  LossCase f;
  TensorData d;
  d.x = torch::zeros({1, 1});
  d.boxes = {{f.gt}};
  LossConfig bce;
  bce.objectness = "bce";
  bce.label_smoothing = 0.2;
  bce.lambda_coord = 2.0;
  bce.lambda_noobj = 1.0;
  detect::YoloLossOptions o;
  o.bce_objectness = true;
  o.label_smoothing = 0.2;
  o.lambda_coord = 2.0;
  o.lambda_noobj = 1.0;
  const ModelHead head = ModelHead::detection(2, 2, 2);
  const double want = detect::yolo_loss(f.out, detect::build_yolo_targets({{f.gt}}, f.L), f.L, o)
                          .total.item<double>();
  const double plain =
      detect::yolo_loss(f.out, detect::build_yolo_targets({{f.gt}}, f.L), f.L).total.item<double>();
  ASSERT_GT(std::abs(want - plain), 1e-3);
  EXPECT_NEAR(score_outputs(head, f.out, d, bce).loss, want, 1e-6);
  EXPECT_NEAR(score_outputs(head, f.out, d).loss, plain, 1e-6);
}

// --- EMA ------------------------------------------------------------------------------------

Graph tiny_graph() {
  Graph g;
  g.input("input", {2, 8});
  g.conv("conv", "input", 3, {3}, {1}, {1});
  g.global_maxpool("gmp", "conv");
  g.flatten("flat", "gmp");
  g.linear("fc", "flat", 2);
  return g;
}

TEST(ModelEma, RampsTheDecayAndAveragesEveryUpdate) {
  torch::manual_seed(4);
  GraphModule model(tiny_graph(), QuantConfig{});
  const torch::Tensor w0 = model->named_parameters()["fc.weight"].clone();
  const torch::Tensor rng_before = torch::rand({1});
  torch::manual_seed(4);
  GraphModule again(tiny_graph(), QuantConfig{});
  ModelEma ema(*model, 0.9);
  EXPECT_TRUE(torch::equal(torch::rand({1}), rng_before)) << "building the EMA drew random numbers";
  torch::NoGradGuard ng;
  auto w = model->named_parameters()["fc.weight"];
  w.add_(1.0);
  ema.update(*model);  // d = min(0.9, 2 / 11)
  const double d1 = 2.0 / 11.0;
  const torch::Tensor e = ema.module()->named_parameters()["fc.weight"];
  EXPECT_TRUE(torch::allclose(e, d1 * w0 + (1 - d1) * (w0 + 1), 1e-6, 1e-6));
  // (1 + k) / (10 + k) reaches 0.9 at k = 80.
  for (int k = 2; k <= 80; ++k) ema.update(*model);
  EXPECT_EQ(ema.updates(), 80);
  w.add_(1.0);
  const torch::Tensor before = e.clone();
  ema.update(*model);
  EXPECT_TRUE(torch::allclose(e, 0.9 * before + 0.1 * (w0 + 2), 1e-6, 1e-6));
  // The raw model's tensors round-trip through the checkpoint extras; a missing one is named.
  auto extras = ModelEma::raw_state(*model, ema.updates());
  EXPECT_TRUE(ModelEma::has_raw_state(extras));
  EXPECT_EQ(ModelEma::load_raw_state(extras, *again, "x.pt"), 81);
  EXPECT_TRUE(torch::equal(again->named_parameters()["fc.weight"], w));
  extras.erase("ema_raw/fc.weight");
  try {
    ModelEma::load_raw_state(extras, *again, "x.pt");
    FAIL() << "a missing tensor was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("x.pt"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("fc.weight"), std::string::npos) << err.what();
  }
}

// --- the recipe in training -------------------------------------------------------------------

// The bundled COCO sample (6 images) as training and test split, with the whole recipe on.
std::string write_detection_config(const std::string& name, const std::string& extra = "") {
  const fs::path dir = fs::temp_directory_path() / "qat_detection_training_tests";
  fs::create_directories(dir);
  const fs::path cfg = dir / (name + ".yaml");
  const std::string sample = std::string(QAT_SOURCE_DIR) + "/datasets/samples/coco";
  const std::string split = "{images: " + sample + "/val2017, annotations: " + sample +
                            "/annotations/instances_val2017.json}";
  std::ofstream(cfg) << "name: " << name << "\n"
                     << "output: " << (dir / name).string() << "\n"
                     << "seed: 5\nthreads: 1\n"
                     << "dataset: {name: coco, train: " << split << ", test: " << split
                     << ", categories: [person, car, dog], width: 32, height: 32}\n"
                     << "model: {name: tinyissimo_yolo, grid: 2, boxes: 2, batch_norm: true}\n"
                     << "loss: {objectness: bce, label_smoothing: 0.1}\n"
                     << "train:\n  epochs: 3\n  batch_size: 4\n"
                     << "  optimizer: {name: adam, lr: 0.001}\n"
                     << "  warmup_epochs: 1.5\n  clip_grad_norm: 5.0\n  ema: 0.9\n"
                     << "  augment: {hflip: true, mosaic: 0.5, scale: 0.3, translate: 0.1, "
                        "degrees: 5, shear: 2, hsv_h: 0.015, hsv_s: 0.5, hsv_v: 0.3}\n"
                     << "ptq: {batches: 1, batch_size: 4}\n"
                     << "qat: {epochs: 1}\n"
                     << extra;
  return cfg.string();
}

using test::checkpoint_tensors;
using test::expect_same_tensors;
using test::quiet_training;

TEST(DetectionRecipe, TrainsAndResumesExactlyWithEma) {
  const RunConfig ref = load_run_config(write_detection_config("recipe_ref"));
  const RunSummary s = train_run(ref, quiet_training());
  EXPECT_TRUE(std::isfinite(s.float_phase.loss));
  EXPECT_TRUE(s.qat.ran);
  // The float checkpoint holds the average as its model and the raw weights as extras.
  const Checkpoint fl = load_checkpoint(ref.output + "/float.pt");
  EXPECT_TRUE(ModelEma::has_raw_state(fl.tensors));
  EXPECT_EQ(fl.tensors.at("ema_updates").item<int64_t>(), 3 * 2);  // 6 images, batches of 4
  // Interrupted after each float epoch and resumed: bit-identical to the uninterrupted run.
  const RunConfig cut = load_run_config(write_detection_config("recipe_cut"));
  TrainOptions o = quiet_training();
  o.stop_after_epochs = 1;
  EXPECT_TRUE(train_run(cut, o).interrupted);
  o.resume = true;
  EXPECT_TRUE(train_run(cut, o).interrupted);
  o.stop_after_epochs = -1;
  EXPECT_FALSE(train_run(cut, o).interrupted);
  expect_same_tensors(checkpoint_tensors(ref.output + "/model.pt"),
                      checkpoint_tensors(cut.output + "/model.pt"));
}

// --- config errors --------------------------------------------------------------------------

void expect_config_error(const std::string& path, const std::vector<std::string>& set,
                         const std::vector<std::string>& fragments) {
  try {
    load_run_config(path, set);
    FAIL() << "accepted " << set[0];
  } catch (const ConfigError& e) {
    for (const std::string& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(DetectionRecipe, BadSettingsNameTheKey) {
  const std::string det = write_detection_config("recipe_errors");
  expect_config_error(det, {"train.ema=1.0"}, {"train.ema", "below 1"});
  expect_config_error(det, {"qat.ema=0.99"}, {"qat.ema", "float phase"});
  expect_config_error(det, {"loss.objectness=focal"}, {"loss.objectness", "mse", "bce"});
  expect_config_error(det, {"loss.label_smoothing=0.7"}, {"loss.label_smoothing"});
  expect_config_error(det, {"train.augment.mosaic=1.5"}, {"train.augment.mosaic"});
  expect_config_error(det, {"train.clip_grad_norm=-1"}, {"train.clip_grad_norm"});
  // A classifier on time series: no mosaic, no image augmentation, no detection loss keys.
  const fs::path dir = fs::temp_directory_path() / "qat_detection_training_tests";
  const fs::path har = dir / "har.yaml";
  std::ofstream(har) << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                     << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                     << "model: {name: resnet, filters: 8}\n";
  expect_config_error(har.string(), {"train.augment.degrees=10"},
                      {"train.augment.degrees", "not [C, H, W] images"});
  expect_config_error(har.string(), {"loss.objectness=bce"}, {"loss.objectness", "classifies"});
  // An image classifier may rotate but not mosaic.
  const fs::path gtsrb = dir / "gtsrb.yaml";
  std::ofstream(gtsrb) << "dataset: {name: gtsrb, path: " << QAT_SOURCE_DIR
                       << "/datasets/samples/gtsrb, width: 32, height: 32}\n"
                       << "model: {name: resnet, filters: 8}\n";
  EXPECT_NO_THROW(load_run_config(gtsrb.string(), {"train.augment.degrees=10"}));
  expect_config_error(gtsrb.string(), {"train.augment.mosaic=0.5"},
                      {"train.augment.mosaic", "detection"});
}

}  // namespace
}  // namespace qat
