// budget.order sensitivity: the per-layer measurement (train/sensitivity.h) on a model whose
// answer is known, its sensitivity.json record, and a training run that plans its bits from it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "export/budget.h"
#include "qat/checkpoint.h"
#include "qat/errors.h"
#include "qat/json_fields.h"
#include "qat/random_model.h"
#include "run_helpers.h"
#include "train/run_config.h"
#include "train/run_ranks.h"
#include "train/sensitivity.h"
#include "train/task.h"
#include "train/trainer.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

// input [2, 16] -> a (2 -> 4, k3) -> relu -> gap -> fc (4 -> 3).
Graph tiny() {
  Graph g;
  g.input("input", {2, 16});
  g.relu("a_act", g.conv("a", "input", 4, {3}, {1}, {1}));
  g.global_avgpool("gap", "a_act");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 3);
  return g;
}

TEST(Sensitivity, AWeightThatFourBitsRepresentExactlyCostsNothingAtFourBits) {
  torch::manual_seed(5);
  const QuantConfig quant = quant_config_for(Scheme::kPow2, 8);
  GraphModule model(tiny(), quant);
  {
    // a's weights on the 4-bit grid of its range: multiples of 1/8 in [-0.5, 0.375], so the
    // 8- and 4-bit formats hold the same values (the accumulator's real value is the same, and
    // so is every output rounded from it); 2 bits (steps of 1/2) round them.
    torch::NoGradGuard no_grad;
    const torch::Tensor w = model->layer("a")->weight;
    w.copy_(torch::randint(-4, 4, w.sizes(), torch::kLong).to(torch::kFloat) / 8.0);
    w.view(-1)[0] = -0.5;
    w.view(-1)[1] = 0.125;
    model->layer("a")->bias.zero_();  // a 4-bit weight step would round the int32 bias coarser
  }
  TensorData samples;
  samples.x = torch::randn({64, 2, 16});
  samples.labels = torch::randint(0, 3, {64}, torch::kLong);
  const auto task = make_task(ModelHead::classification());
  const torch::Tensor rng = default_rng_state();
  const exporter::WeightSensitivity s =
      measure_weight_sensitivity(*model, quant, {"a", "fc"}, samples, *task, 16);
  EXPECT_TRUE(torch::equal(rng, default_rng_state())) << "the random generator moved";
  EXPECT_EQ(s.samples, 64);
  EXPECT_TRUE(std::isfinite(s.base_loss));
  EXPECT_EQ(s.at("a", 4), 0.0);
  EXPECT_NE(s.at("a", 2), 0.0);
  EXPECT_EQ(s.at("a", 8), 0.0);
  EXPECT_TRUE(std::isfinite(s.at("fc", 4)));
  EXPECT_TRUE(std::isfinite(s.at("fc", 2)));
  // The same model and images measure the same figures.
  const exporter::WeightSensitivity again =
      measure_weight_sensitivity(*model, quant, {"a", "fc"}, samples, *task, 16);
  EXPECT_EQ(again.loss_increase, s.loss_increase);
  const std::string table = sensitivity_table(s, {"fc", "a"});
  ASSERT_NE(table.find("fc"), std::string::npos);
  EXPECT_LT(table.find("\nfc "), table.find("\na ")) << table;  // in the order given
  // The base is where the allocator starts, 8-bit weights, whatever quant.weights.bits says.
  QuantConfig weights4 = quant;
  weights4.weights.bits = 4;
  const exporter::WeightSensitivity from4 =
      measure_weight_sensitivity(*model, weights4, {"a", "fc"}, samples, *task, 16);
  EXPECT_EQ(from4.base_loss, s.base_loss);
  EXPECT_EQ(from4.loss_increase, s.loss_increase);
}

TEST(Sensitivity, RecordRoundTripsAndNamesWhatIsWrong) {
  exporter::WeightSensitivity s;
  s.samples = 128;
  s.base_loss = 0.5;
  s.loss_increase["conv1"] = {{4, 0.01}, {2, 0.25}};
  s.loss_increase["fc"] = {{4, -0.001}, {2, 0.5}};
  const nlohmann::json j = s;
  const auto back = j.get<exporter::WeightSensitivity>();
  EXPECT_EQ(back.samples, 128);
  EXPECT_EQ(back.base_loss, 0.5);
  EXPECT_EQ(back.loss_increase, s.loss_increase);
  const auto problem = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json bad = j;
    edit(bad);
    try {
      (void)bad.get<exporter::WeightSensitivity>();
    } catch (const JsonFieldError& e) {
      return e.path() + ": " + e.problem();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(problem([](nlohmann::json& b) { b.erase("samples"); }), "samples: is missing");
  EXPECT_EQ(problem([](nlohmann::json& b) { b["samples"] = 0; }), "samples: must be positive");
  EXPECT_EQ(problem([](nlohmann::json& b) { b["loss_increase"]["fc"].erase("2"); }),
            "loss_increase.fc.2: is missing or not a number");
  EXPECT_EQ(problem([](nlohmann::json& b) { b["loss_increase"]["fc"]["4"] = "x"; }),
            "loss_increase.fc.4: is missing or not a number");
  EXPECT_EQ(problem([](nlohmann::json& b) { b["loss_increase"]["fc"]["3"] = 0.1; }),
            "loss_increase.fc: holds other bit widths than 4 and 2");
  // A file: the error names it.
  const fs::path file = fs::temp_directory_path() / "qat_sensitivity_bad.json";
  std::ofstream(file) << "{\"samples\": 4, \"base_loss\": 1.0}\n";
  try {
    read_json_file<exporter::WeightSensitivity>(file.string());
    ADD_FAILURE() << "read a record without loss_increase";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("loss_increase"), std::string::npos) << e.what();
  }
}

// UCI-HAR sample, ResNet at 64 filters under 48 KiB of flash, planned by sensitivity.
std::string write_config(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "qat_sensitivity_tests";
  fs::create_directories(dir);
  const fs::path cfg = dir / (name + ".yaml");
  std::ofstream(cfg) << "name: " << name << "\n"
                     << "output: " << (dir / name).string() << "\n"
                     << "seed: 2\nthreads: 1\n"
                     << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                     << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                     << "model: {name: resnet, filters: 64}\n"
                     << "train: {epochs: 2, batch_size: 32}\n"
                     << "ptq: {batches: 2}\n"
                     << "qat: {epochs: 2}\n"
                     << "budget: {flash: 48KiB, order: sensitivity, samples: 96}\n";
  return cfg.string();
}

TEST(Sensitivity, TrainingPlansTheBitsAfterTheFloatPhaseAndResumesWithThem) {
  const RunConfig cfg = load_run_config(write_config("planned"));
  ASSERT_TRUE(cfg.precision.has_value());
  EXPECT_TRUE(cfg.precision->preliminary);
  EXPECT_EQ(cfg.sensitivity_samples, 96);
  fs::remove_all(cfg.output);
  const RunSummary s = train_run(cfg, test::quiet_training());
  ASSERT_TRUE(s.budget.has_value());
  EXPECT_EQ(s.budget->order, "sensitivity");
  EXPECT_LE(s.budget->estimated_flash, 48 * 1024);
  const auto measured = read_json_file<exporter::WeightSensitivity>(
      (fs::path(cfg.output) / "sensitivity.json").string());
  EXPECT_EQ(measured.samples, 96);
  // The trained model computes with the bits of the summary's plan, which is the plan of the
  // measured figures.
  const exporter::PrecisionPlan plan =
      exporter::plan_precision(cfg.model.graph, cfg.quant_before_budget, cfg.budget, &measured);
  const Checkpoint model = load_checkpoint((fs::path(cfg.output) / "model.pt").string());
  ASSERT_EQ(s.budget->layers.size(), plan.layers.size());
  int cut = 0;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const auto& l = plan.layers[i];
    EXPECT_EQ(s.budget->layers[i].weight_bits, l.weight_bits) << l.node;
    if (l.weight_bits == 0) continue;
    EXPECT_EQ(model.model->quant_config().weights_for(l.node).bits, l.weight_bits) << l.node;
    cut += l.weight_bits < 8;
  }
  EXPECT_GT(cut, 0);
  // Interrupted in QAT (2 float epochs, the measurement, PTQ, 1 of 2 QAT epochs): the resumed
  // run reads sensitivity.json (a corrupt one is an error naming the file) and ends bit for bit
  // where the uninterrupted run did.
  const RunConfig again = load_run_config(write_config("planned_resumed"));
  fs::remove_all(again.output);
  TrainOptions o = test::quiet_training();
  o.stop_after_epochs = 3;
  EXPECT_TRUE(train_run(again, o).interrupted);
  const fs::path record = fs::path(again.output) / "sensitivity.json";
  ASSERT_TRUE(fs::exists(record));
  std::string kept;
  {
    std::ifstream in(record);
    kept.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(record) << "{\"samples\": 96}\n";
  o.resume = true;
  o.stop_after_epochs = -1;
  try {
    train_run(again, o);
    ADD_FAILURE() << "resumed with a corrupt sensitivity.json";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sensitivity.json"), std::string::npos) << e.what();
  }
  std::ofstream(record) << kept;
  EXPECT_FALSE(train_run(again, o).interrupted);
  test::expect_same_tensors(test::checkpoint_tensors(cfg.output + "/model.pt"),
                            test::checkpoint_tensors(again.output + "/model.pt"));
}

}  // namespace
}  // namespace qat
