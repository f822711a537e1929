// Affine int8 per-channel on a model trained on the bundled UCI-HAR sample: the integer engine
// equals the integer-exact evaluation bit for bit (every output, 0 LSB), and the float32
// fake-quant forward used in training agrees with it within a few LSB; top-1 agreement is
// reported (and must stay high).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "export/engine.h"
#include "export/lower.h"
#include "export/program.h"
#include "qat/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

class AffineAgreement : public ::testing::TestWithParam<bool> {};

// Parameter: LSQ learned scales for weights and activations during QAT.
TEST_P(AffineAgreement, EngineExactAndFakeQuantClose) {
  const bool lsq = GetParam();
  const fs::path dir =
      fs::temp_directory_path() / (lsq ? "qat_affine_lsq" : "qat_affine_agreement");
  fs::create_directories(dir);
  const fs::path cfg = dir / "affine.yaml";
  std::ofstream(cfg) << "output: " << (dir / "run").string() << "\nseed: 2\nthreads: 1\n"
                     << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                     << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                     << "model: {name: resnet, filters: 16}\n"
                     << "train: {epochs: 12, optimizer: {name: adam, lr: 0.005}}\n"
                     << "quant: {scheme: affine, bits: 8"
                     << (lsq ? ", weights: {learn_scale: true}, activations: {learn_scale: true}"
                             : "")
                     << "}\nqat: {epochs: 1}\n";
  const RunConfig rc = load_run_config(cfg.string());
  TrainOptions o;
  o.progress = false;
  train_run(rc, o);
  Checkpoint ck = load_checkpoint((dir / "run" / "model.pt").string());
  const TensorData test = load_test_split(rc, ck.meta.input);
  const exporter::IntModel im = exporter::lower(*ck.model, ck.meta);
  const exporter::Program p = exporter::build_program(im);
  EXPECT_FALSE(im.nodes[1].weight_format.per_channel == false);  // conv1 per channel
  const torch::Tensor x = test.x.contiguous();
  const std::vector<double> engine =
      exporter::run_batch(im, p, x.data_ptr<float>(), test.size(), 1);
  const torch::Tensor eng = torch::tensor(engine, torch::kDouble).reshape({test.size(), -1});

  GraphModule m = ck.model;
  m->eval();
  torch::NoGradGuard ng;
  m->set_mode(Mode::kEval);
  const torch::Tensor exact = m->forward(test.x).to(torch::kDouble);
  EXPECT_TRUE(torch::equal(exact, eng)) << "integer engine differs from the exact evaluation";

  m->freeze_observers(true);
  m->set_mode(Mode::kQat);
  const torch::Tensor fq = m->forward(test.x).to(torch::kDouble);
  const double lsb = im.output_format().scale[0];
  const double max_lsb = ((fq - eng).abs() / lsb).max().item<double>();
  const double within1 =
      ((fq - eng).abs() <= lsb * 1.0001).to(torch::kDouble).mean().item<double>();
  const double top1 = fq.argmax(1).eq(eng.argmax(1)).to(torch::kDouble).mean().item<double>();
  std::printf(
      "affine int8 per-channel%s, %lld test windows: engine == exact eval (0 LSB); float32 "
      "fake-quant vs engine: max %.0f LSB, %.1f%% of outputs within 1 LSB, top-1 agreement "
      "%.1f%%\n",
      lsq ? " (LSQ)" : "", static_cast<long long>(test.size()), max_lsb, 100 * within1, 100 * top1);
  RecordProperty("fq_max_lsb", std::to_string(max_lsb));
  RecordProperty("top1_agreement", std::to_string(top1));
  EXPECT_GE(within1, 0.95);
  EXPECT_GE(top1, 0.95);
}

INSTANTIATE_TEST_SUITE_P(Scales, AffineAgreement, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Learned" : "Observed"; });

}  // namespace
}  // namespace qat
