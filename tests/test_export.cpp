// Export pieces: the arena planner, overflow refusal, the integer checkpoint round trip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <torch/torch.h>

#include "export/codegen.h"
#include "export/engine.h"
#include "export/int_model.h"
#include "export/lower.h"
#include "export/planner.h"
#include "export/program.h"
#include "models/resnet.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"

namespace qat::exporter {
namespace {

namespace fs = std::filesystem;

TEST(Planner, NeverOverlapsLiveBuffersAndReusesDeadOnes) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<PlanItem> items;
    const int n = 2 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(rng() % 40);
      items.push_back(
          {1 + static_cast<int64_t>(rng() % 5000), first, first + static_cast<int>(rng() % 10)});
    }
    const ArenaPlan plan = plan_arena(items, 8);
    ASSERT_GE(plan.arena_bytes, plan.lower_bound);
    for (size_t a = 0; a < items.size(); ++a) {
      ASSERT_EQ(plan.offsets[a] % 8, 0);
      ASSERT_LE(plan.offsets[a] + items[a].bytes, plan.arena_bytes);
      for (size_t b = a + 1; b < items.size(); ++b) {
        if (!lifetimes_overlap(items[a], items[b])) continue;
        const bool disjoint = plan.offsets[a] + items[a].bytes <= plan.offsets[b] ||
                              plan.offsets[b] + items[b].bytes <= plan.offsets[a];
        ASSERT_TRUE(disjoint) << "trial " << trial << " items " << a << ", " << b;
      }
    }
  }
  // A chain a -> b -> c: a and c never live together, so c reuses a's memory.
  const ArenaPlan chain = plan_arena({{100, 0, 1}, {100, 1, 2}, {100, 2, 3}}, 4);
  EXPECT_EQ(chain.arena_bytes, 200);
  EXPECT_EQ(chain.lower_bound, 200);
  EXPECT_EQ(chain.offsets[0], chain.offsets[2]);
}

TEST(Planner, AnchoredItemsMoveTogether) {
  // b sits 16 bytes below a's start (a layer written a few rows behind what it reads), c at a's
  // offset (in place); d lives with the group and must not touch any of it.
  std::vector<PlanItem> items{{100, 0, 1}, {100, 1, 2}, {100, 2, 3}, {50, 0, 3}};
  items[1].anchor = 0;
  items[1].anchor_offset = -16;
  items[2].anchor = 1;
  items[2].anchor_offset = 16;
  const ArenaPlan plan = plan_arena(items, 8);
  EXPECT_EQ(plan.offsets[1], plan.offsets[0] - 16);
  EXPECT_EQ(plan.offsets[2], plan.offsets[0]);
  const int64_t lo = plan.offsets[1], hi = plan.offsets[0] + 100;
  EXPECT_TRUE(plan.offsets[3] + 50 <= lo || plan.offsets[3] >= hi);
  EXPECT_EQ(plan.arena_bytes, 176);  // the group's 116 bytes, then d's 50 at 120, aligned
  EXPECT_EQ(plan.lower_bound, 166);  // step 1: a and b overlap, 116 bytes, plus d
  items[0].anchor = 2;
  EXPECT_THROW(plan_arena(items, 8), std::invalid_argument);
}

GraphModule calibrated_resnet(const std::vector<int64_t>& input) {
  models::ResNetOptions o;
  o.input = input;
  return random_calibrated_model(models::build_resnet(o), quant_config_for(Scheme::kPow2, 8),
                                 /*seed=*/3, /*batches=*/1, /*batch_size=*/8);
}

CheckpointMeta meta(int64_t channels) {
  CheckpointMeta m;
  m.head = ModelHead::classification();
  m.metric = "acc";
  m.input = {std::vector<double>(static_cast<size_t>(channels), 0.5),
             std::vector<double>(static_cast<size_t>(channels), 2.0),
             {}};
  return m;
}

TEST(Lowering, RefusesAnAccumulatorThatCanOverflowInt32) {
  // A conv over 20000 channels x 9 taps of saturated int8 weights: the worst case
  // 180000 * 127 * 128 > 2^31 cannot be computed in the int32 accumulator of 8-bit kernels.
  torch::manual_seed(0);
  Graph g;
  g.input("input", {20000, 9});
  g.conv("wide", "input", 1, {9}, {1}, {0});
  GraphModule m(g, QuantConfig{});
  {
    torch::NoGradGuard ng;
    m->layer("wide")->weight.fill_(1.98);
    m->set_mode(Mode::kCalibrate);
    m->forward(torch::randn({2, 20000, 9}));
  }
  try {
    lower(*m, meta(20000));
    FAIL() << "lowering accepted an overflowing layer";
  } catch (const ExportError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("layer 'wide'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("exceeds the int32 accumulator"), std::string::npos) << msg;
  }
  // The same layer with 16-bit activations uses int64 accumulators and is accepted.
  QuantConfig q16;
  q16.activations.bits = 16;
  GraphModule m16(g, q16);
  {
    torch::NoGradGuard ng;
    m16->layer("wide")->weight.fill_(1.98);
    m16->set_mode(Mode::kCalibrate);
    m16->forward(torch::randn({2, 20000, 9}));
  }
  EXPECT_NO_THROW(lower(*m16, meta(20000)));
}

TEST(Lowering, RefusesFloatAndUncalibratedModels) {
  models::ResNetOptions o;
  o.input = {9, 32};
  o.batch_norm = true;
  GraphModule with_bn(models::build_resnet(o), QuantConfig{});
  EXPECT_THROW(lower(*with_bn, meta(9)), ExportError);
  o.batch_norm = false;
  GraphModule raw(models::build_resnet(o), QuantConfig{});
  EXPECT_THROW(lower(*raw, meta(9)), ExportError);
}

TEST(IntCheckpoint, RoundTripsAndRunsWithoutTheFloatModel) {
  GraphModule m = calibrated_resnet({9, 32});
  const IntModel im = lower(*m, meta(9));
  const fs::path path = fs::temp_directory_path() / "qat_test_model.qint.json";
  im.save(path.string());
  const IntModel back = IntModel::load(path.string());
  nlohmann::json a = back.to_json(), b = im.to_json();
  a["source"] = b["source"] = "";
  EXPECT_TRUE(a == b) << "integer checkpoint changed in the round trip";
  EXPECT_EQ(back.input_mean, im.input_mean);
  EXPECT_EQ(back.weight_count(), im.weight_count());
  // Same outputs from the reloaded checkpoint.
  const Program p1 = build_program(im), p2 = build_program(back);
  Engine e1(p1), e2(p2);
  std::mt19937 rng(1);
  for (int t = 0; t < 5; ++t) {
    std::vector<int32_t> in(static_cast<size_t>(p1.input_elements()));
    for (auto& v : in) v = static_cast<int32_t>(rng() % 256) - 128;
    std::vector<int32_t> o1, o2;
    e1.run(in, o1);
    e2.run(in, o2);
    EXPECT_EQ(o1, o2);
  }
  fs::remove(path);
}

TEST(IntCheckpoint, RejectsTamperedFiles) {
  GraphModule m = calibrated_resnet({9, 32});
  nlohmann::json j = lower(*m, meta(9)).to_json();
  nlohmann::json bad = j;
  bad["format"] = "something-else";
  EXPECT_THROW(IntModel::from_json(bad), ExportError);
  bad = j;
  bad["nodes"][1]["bias"][0] = int64_t{1} << 40;  // bias beyond int32
  try {
    IntModel::from_json(bad);
    FAIL();
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit int32"), std::string::npos) << e.what();
  }
  bad = j;
  bad["weight_type"] = "int16";  // 16-bit weights with 8-bit activations
  EXPECT_THROW(IntModel::from_json(bad), ExportError);
  const fs::path path = fs::temp_directory_path() / "qat_test_broken.qint.json";
  { std::ofstream(path) << "{\"format\": \"qat-int-model\", "; }
  try {
    IntModel::load(path.string());
    FAIL();
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
  fs::remove(path);
}

TEST(Program, SummaryReportsTotals) {
  GraphModule m = calibrated_resnet({9, 128});
  const Program p = build_program(lower(*m, meta(9)));
  const std::string s = p.summary();
  EXPECT_NE(s.find("conv1"), std::string::npos);
  EXPECT_NE(s.find("lower bound"), std::string::npos);
  // ResNetv1-6: the downsampling block pools after its first conv, so that conv and the
  // projection run at length 128 and only the second conv at 64.
  EXPECT_EQ(p.macs(),
            9 * 16 * 3 * 128 + 3 * 16 * 16 * 3 * 128 + 16 * 16 * 3 * 64 + 16 * 16 * 128 + 16 * 6);
  // 3958 int8 weights and biases: weights 1 B, biases 4 B, one shift byte per layer (7 layers).
  int64_t weights = 0, biases = 0;
  for (const auto& c : p.calls) {
    weights += static_cast<int64_t>(c.weights.size());
    biases += static_cast<int64_t>(c.bias.size());
  }
  EXPECT_EQ(weights + biases, 3958);
  EXPECT_EQ(p.weight_bytes(), weights + 4 * biases + 7);
}

// A residual add that reads its input for the last time writes over it; the kernels' scratch is
// in the arena, alive for its call only; the input is the caller's. The checker refuses a plan
// that overlaps live data, and poisoning dead memory after every call changes nothing.
TEST(Program, InPlaceAddScratchInTheArenaAndTheChecker) {
  GraphModule m = calibrated_resnet({9, 128});
  const IntModel im = lower(*m, meta(9));
  Program p = build_program(im);
  int in_place = 0;
  for (const Call& c : p.calls)
    if (c.kind() == CallKind::kAdd) {
      const Buffer& out = p.buffers[static_cast<size_t>(c.output)];
      ASSERT_GE(out.alias_of, 0) << c.node;
      EXPECT_EQ(p.plan.offsets[static_cast<size_t>(c.output)],
                p.plan.offsets[static_cast<size_t>(out.alias_of)]);
      ++in_place;
    }
  EXPECT_EQ(in_place, 2);
  int with_scratch = 0;
  for (const Call& c : p.calls)
    if (c.scratch_bytes > 0) {
      ++with_scratch;
      EXPECT_GE(c.scratch_offset, 0);
      EXPECT_LE(c.scratch_offset + c.scratch_bytes, p.plan.arena_bytes);
    }
  EXPECT_GT(with_scratch, 0);
  EXPECT_TRUE(p.buffers[static_cast<size_t>(p.input)].external);
  EXPECT_NO_THROW(check_program_memory(p));

  const std::vector<TestVector> vectors = random_test_vectors(im, p, 4);
  Engine poisoned(p);
  poisoned.set_poison_dead_buffers(true);
  for (const TestVector& v : vectors) {
    std::vector<int32_t> out;
    poisoned.run(v.input, out);
    EXPECT_EQ(out, v.output);
  }

  // Move a conv's output onto its own input: both are alive during that call.
  for (const Call& c : p.calls)
    if (c.kind() == CallKind::kConv && c.inputs[0] != p.input) {
      p.plan.offsets[static_cast<size_t>(c.output)] =
          p.plan.offsets[static_cast<size_t>(c.inputs[0])];
      break;
    }
  try {
    check_program_memory(p);
    FAIL() << "overlapping live buffers passed the check";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("overlap in the arena while both are alive"),
              std::string::npos)
        << e.what();
  }
}

// Names that would give C that does not compile, or compiles against the wrong header.
TEST(Codegen, RefusesExportNamesThatClash) {
  for (const char* bad :
       {"qk", "qk_model", "stdio", "math", "int", "main", "__x", "9lives", "my-model", "kernels"})
    EXPECT_THROW(check_export_name(bad), ExportError) << bad;
  for (const char* good : {"model", "har_net", "Qk2", "mystdio"})
    EXPECT_NO_THROW(check_export_name(good)) << good;
}

// The float helper saturates NaN and infinite readings instead of converting them to an integer
// (undefined behaviour): built with -fsanitize=float-cast-overflow, a bad conversion aborts.
TEST(Codegen, QuantizeInputSaturatesNanAndInfinity) {
  GraphModule m = calibrated_resnet({9, 128});
  const IntModel im = lower(*m, meta(9));
  const Program p = build_program(im);
  const fs::path dir = fs::temp_directory_path() / "qat_test_io_nan";
  fs::remove_all(dir);
  write_c_export(im, p, random_test_vectors(im, p, 1), dir.string(), CodegenOptions{});
  std::ofstream(dir / "nan_main.c")
      << "#include <math.h>\n#include <stdio.h>\n#include \"model.h\"\n"
      << "int main(void) {\n"
      << "  static float raw[MODEL_INPUT_ELEMENTS];\n"
      << "  static model_input_t in[MODEL_INPUT_ELEMENTS];\n"
      << "  const float bad[4] = {NAN, INFINITY, -INFINITY, 1e30f};\n"
      << "  int i;\n"
      << "  for (i = 0; i < MODEL_INPUT_ELEMENTS; ++i) raw[i] = bad[i % 4];\n"
      << "  model_quantize_input(raw, in);\n"
      << "  printf(\"%d %d %d %d\\n\", in[0], in[1], in[2], in[3]);\n"
      << "  return 0;\n}\n";
  const std::string cmd = "cd " + dir.string() +
                          " && cc -std=c99 -O1 -fsanitize=float-cast-overflow,undefined "
                          "-fno-sanitize-recover=all -I. -o nan_main nan_main.c model_io.c -lm "
                          "> build.log 2>&1 && ./nan_main > run.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << dir;
  std::ifstream run(dir / "run.log");
  int nan_code = 1, pos_inf = 0, neg_inf = 0, huge = 0;
  run >> nan_code >> pos_inf >> neg_inf >> huge;
  EXPECT_EQ(nan_code, im.input_format().zero_point[0]);  // NaN reads as the value 0
  EXPECT_EQ(pos_inf, im.input_format().qmax());
  EXPECT_EQ(neg_inf, im.input_format().qmin());
  EXPECT_EQ(huge, im.input_format().qmax());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qat::exporter
