// The training engine on the bundled UCI-HAR sample: determinism, exact resume, divergence.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "qat/checkpoint.h"
#include "qat/errors.h"
#include "run_helpers.h"
#include "train/evaluate.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

// A small config over the bundled sample, written into a temporary directory.
std::string write_config(const std::string& name, const std::string& extra = "") {
  const fs::path dir = fs::temp_directory_path() / "qat_training_tests";
  fs::create_directories(dir);
  const fs::path cfg = dir / (name + ".yaml");
  std::ofstream(cfg)
      << "name: " << name << "\n"
      << "output: " << (dir / name).string() << "\n"
      << "seed: 3\nthreads: 1\n"
      << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
      << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
      << "model: {name: resnet, filters: 8}\n"
      << "train: {epochs: 3, batch_size: 32, mixup: 0.2, augment: {shift: 2},\n"
      << "        optimizer: {name: sgd, lr: 0.05}, schedule: {name: multistep, milestones: [2]}}\n"
      << "ptq: {batches: 2}\n"
      << "qat: {epochs: 2, freeze_observers_epoch: 1}\n"
      << extra;
  return cfg.string();
}

using test::checkpoint_tensors;
using test::expect_same_tensors;
using test::quiet_training;

TEST(Training, FullRunWritesTheRunDirectory) {
  const RunConfig cfg = load_run_config(write_config("full"));
  const RunSummary s = train_run(cfg, quiet_training());
  EXPECT_TRUE(s.float_phase.ran);
  EXPECT_TRUE(s.ptq.ran);
  EXPECT_TRUE(s.qat.ran);
  EXPECT_GT(s.float_phase.metric, 1.0 / 6.0);  // better than chance on 6 classes
  for (const char* f : {"config.yaml", "metrics.csv", "float.pt", "ptq.pt", "qat.pt", "model.pt",
                        "state.json", "summary.json"})
    EXPECT_TRUE(fs::exists(fs::path(cfg.output) / f)) << f;
  std::ifstream csv(fs::path(cfg.output) / "metrics.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 1 + 3 + 1 + 2);  // header, float epochs, ptq, qat epochs
  const Checkpoint model = load_checkpoint((fs::path(cfg.output) / "model.pt").string());
  EXPECT_EQ(model.model->mode(), Mode::kEval);
  EXPECT_FALSE(model.model->has_batchnorm());
  EXPECT_EQ(model.meta.input.mean.size(), 9u);
}

// One normalisation for training, evaluation and export (datasets/dataset.h): a constant input
// channel gets std 1 (not 1e-8, which blew such inputs up by 10^8), and the test split is
// normalised with the stored statistics exactly as training normalised it.
TEST(Training, ConstantInputChannelIsNotBlownUp) {
  const fs::path root = fs::temp_directory_path() / "qat_training_tests" / "constant_channel";
  fs::remove_all(root);
  fs::copy(fs::path(QAT_SOURCE_DIR) / "datasets/samples/uci-har/UCI HAR Dataset", root,
           fs::copy_options::recursive);
  for (const char* split : {"train", "test"}) {
    const fs::path signal =
        root / split / "Inertial Signals" / (std::string("body_gyro_z_") + split + ".txt");
    std::ifstream in(signal);
    size_t lines = 0;
    for (std::string l; std::getline(in, l);) ++lines;
    in.close();
    std::ofstream out(signal);
    for (size_t i = 0; i < lines; ++i) {
      for (int k = 0; k < 128; ++k) out << (k ? " " : "") << "0.25";
      out << "\n";
    }
  }
  const RunConfig cfg =
      load_run_config(write_config("constant_channel"),
                      {"dataset.path=" + root.string(), "train.epochs=1", "qat.epochs=1"});
  const RunSummary s = train_run(cfg, quiet_training());
  EXPECT_TRUE(std::isfinite(s.float_phase.loss));
  const Checkpoint ck = load_checkpoint((fs::path(cfg.output) / "model.pt").string());
  ASSERT_EQ(ck.meta.input.std.size(), 9u);
  EXPECT_DOUBLE_EQ(ck.meta.input.std[5], 1.0);  // body_gyro_z is channel 5
  EXPECT_DOUBLE_EQ(ck.meta.input.mean[5], 0.25);
  for (size_t c = 0; c < 9; ++c) EXPECT_GT(ck.meta.input.std[c], 0.0) << c;
  const TensorData test = load_test_split(cfg, ck.meta.input);
  EXPECT_EQ(test.x.select(1, 5).abs().max().item<float>(), 0.0f);
  // The other channels are z-scored: |x| stays in a sane range.
  EXPECT_LT(test.x.abs().max().item<float>(), 100.0f);
}

TEST(Training, SameSeedSameResult) {
  const RunConfig a = load_run_config(write_config("det_a"));
  const RunConfig b = load_run_config(write_config("det_b"));
  const RunSummary sa = train_run(a, quiet_training()), sb = train_run(b, quiet_training());
  EXPECT_EQ(sa.float_phase.metric, sb.float_phase.metric);
  EXPECT_EQ(sa.qat.loss, sb.qat.loss);
  expect_same_tensors(checkpoint_tensors(a.output + "/model.pt"),
                      checkpoint_tensors(b.output + "/model.pt"));
}

TEST(Training, ResumeContinuesExactly) {
  const RunConfig ref = load_run_config(write_config("resume_ref"));
  train_run(ref, quiet_training());
  // Interrupt after 2 float epochs, then after 2 more (the last float epoch, the PTQ step and
  // the first QAT epoch), then finish: the result must be bit-identical to the uninterrupted run.
  const RunConfig cfg = load_run_config(write_config("resume_cut"));
  TrainOptions o = quiet_training();
  o.stop_after_epochs = 2;
  EXPECT_TRUE(train_run(cfg, o).interrupted);
  o.resume = true;
  EXPECT_TRUE(train_run(cfg, o).interrupted);
  std::ifstream st(fs::path(cfg.output) / "state.json");
  const nlohmann::json state = nlohmann::json::parse(st);
  EXPECT_EQ(state.at("phase"), "qat");
  o.stop_after_epochs = -1;
  const RunSummary s = train_run(cfg, o);
  EXPECT_FALSE(s.interrupted);
  expect_same_tensors(checkpoint_tensors(ref.output + "/model.pt"),
                      checkpoint_tensors(cfg.output + "/model.pt"));
  std::ifstream c1(fs::path(ref.output) / "metrics.csv"), c2(fs::path(cfg.output) / "metrics.csv");
  std::string l1, l2;
  int rows = 0;
  while (std::getline(c1, l1) && std::getline(c2, l2)) {
    // Identical except the two wall-clock columns (seconds, train_seconds).
    const auto figures = [](const std::string& l) {
      return l.substr(0, l.rfind(',', l.rfind(',') - 1));
    };
    EXPECT_EQ(figures(l1), figures(l2)) << "row " << rows;
    ++rows;
  }
  EXPECT_EQ(rows, 7);
}

// --resume refuses a changed model (or data, quantization ...), naming the key; learning rates,
// schedules and epochs may change (to continue a diverged run at a lower rate), and are logged.
TEST(Training, ResumeRefusesAChangedConfig) {
  const std::string path = write_config("resume_changed");
  TrainOptions o = quiet_training();
  o.stop_after_epochs = 1;
  train_run(load_run_config(path), o);
  o.resume = true;
  try {
    train_run(load_run_config(path, {"model.filters=12"}), o);
    FAIL();
  } catch (const TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("differs from the config given now"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("model.filters"), std::string::npos) << e.what();
  }
  o.stop_after_epochs = -1;
  const RunConfig lower = load_run_config(path, {"train.optimizer.lr=0.01", "train.epochs=4"});
  EXPECT_FALSE(train_run(lower, o).interrupted);
  std::ifstream saved(fs::path(lower.output) / "config.yaml");
  const std::string text((std::istreambuf_iterator<char>(saved)), {});
  EXPECT_NE(text.find("lr: 0.01"), std::string::npos) << text;
}

// Resume always has a way forward: no state.json yet (killed in the first epoch) starts the run;
// an unreadable state.json is rebuilt from the newest checkpoint; unreadable metrics rows are
// dropped; a finished run is reported, not trained again. Results stay bit-exact.
TEST(Training, ResumeHasAWayForward) {
  const RunConfig ref = load_run_config(write_config("forward_ref"));
  train_run(ref, quiet_training());
  const RunConfig cfg = load_run_config(write_config("forward"));
  fs::remove_all(cfg.output);
  TrainOptions o = quiet_training();
  o.resume = true;
  o.stop_after_epochs = 2;
  EXPECT_TRUE(train_run(cfg, o).interrupted);  // nothing to resume: started from scratch
  const fs::path dir(cfg.output);
  std::ofstream(dir / "state.json") << "{\"phase\": \"flo";  // truncated
  {
    std::ofstream metrics(dir / "metrics.csv", std::ios::app);
    metrics << "garbage row without numbers\n";
  }
  o.stop_after_epochs = -1;
  EXPECT_FALSE(train_run(cfg, o).interrupted);
  expect_same_tensors(checkpoint_tensors(ref.output + "/model.pt"),
                      checkpoint_tensors(cfg.output + "/model.pt"));
  const auto stamp = fs::last_write_time(dir / "model.pt");
  const RunSummary again = train_run(cfg, o);  // complete: nothing is trained
  EXPECT_EQ(fs::last_write_time(dir / "model.pt"), stamp);
  EXPECT_DOUBLE_EQ(again.qat.metric, train_run(cfg, o).qat.metric);
}

TEST(Training, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  const RunConfig cfg =
      load_run_config(write_config("diverge", ""), {"qat.optimizer={name: sgd, lr: 1.0e+5}"});
  try {
    train_run(cfg, quiet_training());
    FAIL() << "a diverging run did not stop";
  } catch (const TrainingError& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("NaN") != std::string::npos || msg.find("Inf") != std::string::npos)
        << msg;
  }
  // The float and PTQ checkpoints written before the divergence are intact and loadable.
  EXPECT_NO_THROW(load_checkpoint(cfg.output + "/float.pt"));
  EXPECT_NO_THROW(load_checkpoint(cfg.output + "/ptq.pt"));
  EXPECT_FALSE(fs::exists(cfg.output + "/model.pt"));
}

TEST(Training, BadDatasetPathListsWhatWasTried) {
  try {
    load_run_config(write_config("badpath"), {"dataset.path=[/nonexistent/a, /nonexistent/b]"});
    FAIL();
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--set dataset.path"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nonexistent/a"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nonexistent/b"), std::string::npos) << msg;
  }
}

// adaptive_threads is a boolean: anything else names the key and what it takes.
TEST(Training, AdaptiveThreadsMustBeABoolean) {
  EXPECT_TRUE(load_run_config(write_config("threads_default")).adaptive_threads);
  EXPECT_FALSE(
      load_run_config(write_config("threads_off"), {"adaptive_threads=false"}).adaptive_threads);
  try {
    load_run_config(write_config("threads_bad"), {"adaptive_threads=maybe"});
    FAIL() << "adaptive_threads=maybe was accepted";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("adaptive_threads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("true or false"), std::string::npos) << msg;
  }
}

TEST(Schedules, MultistepAndCosine) {
  ScheduleConfig m;
  m.name = "multistep";
  m.milestones = {2, 4};
  m.gamma = 0.5;
  EXPECT_DOUBLE_EQ(m.lr_at(1.0, 1, 6), 1.0);
  EXPECT_DOUBLE_EQ(m.lr_at(1.0, 2, 6), 0.5);
  EXPECT_DOUBLE_EQ(m.lr_at(1.0, 5, 6), 0.25);
  ScheduleConfig c;
  c.name = "cosine";
  EXPECT_DOUBLE_EQ(c.lr_at(1.0, 0, 10), 1.0);
  EXPECT_NEAR(c.lr_at(1.0, 5, 10), 0.5, 1e-12);
}

}  // namespace
}  // namespace qat
