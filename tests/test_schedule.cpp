// The fusion scheduler (export/schedule.h): meets RAM budgets below the layer-by-layer arena
// with programs that compute the layer-by-layer integers, prefers line buffers (no extra MACs)
// when they suffice, and names the smallest arena it found when a budget cannot be met.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "export/engine.h"
#include "export/lower.h"
#include "export/schedule.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"

namespace qat::exporter {
namespace {

struct Built {
  IntModel model;
  Program layerwise;
  std::vector<TestVector> vectors;
};

Built build(const Graph& g, uint64_t seed) {
  GraphModule m = random_calibrated_model(g, quant_config_for(Scheme::kPow2, 8), seed, 1, 8);
  Built b;
  b.model = lower(*m, identity_input_meta(m->graph()));
  b.layerwise = build_program(b.model);
  b.vectors = random_test_vectors(b.model, b.layerwise, 2, static_cast<uint32_t>(seed));
  return b;
}

void expect_exact(const Built& b, const Program& p) {
  ASSERT_NO_THROW(check_program_memory(p));
  Engine e(p);
  e.set_poison_dead_buffers(true);
  for (size_t v = 0; v < b.vectors.size(); ++v) {
    std::vector<int32_t> out;
    e.run(b.vectors[v].input, out);
    ASSERT_EQ(out, b.vectors[v].output) << "vector " << v << "\n" << p.summary();
  }
}

// The bundled demo's ResNetv1-6 on UCI-HAR windows (9 channels x 128 samples).
Graph demo_resnet() {
  models::ResNetOptions o;
  o.input = {9, 128};
  return models::build_resnet(o);
}

TEST(Schedule, NoBudgetPressureKeepsLayerByLayer) {
  const Built b = build(demo_resnet(), 3);
  const Schedule s = schedule_fusion(b.layerwise, {b.layerwise.plan.arena_bytes, 16});
  EXPECT_TRUE(s.blocks.empty());
  EXPECT_EQ(s.arena, b.layerwise.plan.arena_bytes);
  EXPECT_NE(s.report().find("none needed"), std::string::npos);
}

TEST(Schedule, DemoModelFitsFourKibibytesExactly) {
  const Built b = build(demo_resnet(), 3);
  EXPECT_GT(b.layerwise.plan.arena_bytes, 4096);
  for (const int64_t budget : {int64_t{4096}, int64_t{3200}}) {
    SCOPED_TRACE(budget);
    const Schedule s = schedule_fusion(b.layerwise, {budget, 16});
    ASSERT_TRUE(s.feasible()) << s.report();
    EXPECT_LE(s.program.plan.arena_bytes, budget);
    EXPECT_FALSE(s.blocks.empty());
    expect_exact(b, s.program);
    if (::testing::Test::HasFatalFailure()) return;
    // 1D line buffers compute every MAC once.
    EXPECT_EQ(s.macs, s.layerwise_macs) << s.report();
  }
}

TEST(Schedule, MobileNetV2MeetsBudgetsAndStaysExact) {
  models::MobileNetOptions o;
  o.input = {3, 64, 64};
  o.width = 0.35;
  const Built b = build(models::build_mobilenet_v2(o), 4);
  const int64_t lw = b.layerwise.plan.arena_bytes;
  int64_t previous_macs = -1;
  for (const double f : {0.7, 0.45}) {
    const int64_t budget = static_cast<int64_t>(static_cast<double>(lw) * f);
    SCOPED_TRACE(budget);
    const Schedule s = schedule_fusion(b.layerwise, {budget, 16});
    ASSERT_TRUE(s.feasible()) << s.report();
    EXPECT_LE(s.arena, budget);
    expect_exact(b, s.program);
    if (::testing::Test::HasFatalFailure()) return;
    EXPECT_GE(s.macs, previous_macs);  // a tighter budget never comes for less work
    previous_macs = s.macs;
    EXPECT_NE(s.report().find("fused0"), std::string::npos) << s.report();
  }
}

TEST(Schedule, InfeasibleBudgetNamesTheSmallestArena) {
  const Built b = build(demo_resnet(), 3);
  try {
    schedule_or_throw(b.layerwise, {64, 16});
    FAIL() << "a 64-byte arena cannot hold the model";
  } catch (const InfeasibleRamBudget& e) {
    const std::string what = e.what();
    EXPECT_GT(e.smallest, 64);
    EXPECT_LT(e.smallest, b.layerwise.plan.arena_bytes);
    EXPECT_NE(what.find(std::to_string(e.smallest) + " B"), std::string::npos) << what;
    EXPECT_NE(what.find("layer by layer " + std::to_string(b.layerwise.plan.arena_bytes)),
              std::string::npos)
        << what;
    // The smallest arena reported is one the scheduler can really reach.
    const Schedule s = schedule_fusion(b.layerwise, {e.smallest, 16});
    EXPECT_TRUE(s.feasible());
  }
}

// Live bytes count an in-place output once with the input it overwrites, and never exceed the
// arena's high-water mark.
TEST(Schedule, LiveBytesCountOverlapsOnce) {
  const Built b = build(demo_resnet(), 3);
  const std::vector<int64_t> lw_live = step_live_bytes(b.layerwise);
  const std::vector<int64_t> lw_top = step_peaks(b.layerwise);
  ASSERT_EQ(lw_live.size(), b.layerwise.calls.size());
  int64_t most = 0;
  for (size_t i = 0; i < lw_live.size(); ++i) {
    EXPECT_LE(lw_live[i], lw_top[i]);
    most = std::max(most, lw_live[i]);
  }
  EXPECT_EQ(most, b.layerwise.plan.lower_bound);
  // The residual add writes over its input: both live at the add, counted once.
  for (size_t i = 0; i < b.layerwise.calls.size(); ++i) {
    const Call& c = b.layerwise.calls[i];
    const Buffer& out = b.layerwise.buffers[static_cast<size_t>(c.output)];
    if (out.alias_of < 0) continue;
    int64_t sum = out.bytes();
    for (int in : c.inputs) sum += b.layerwise.buffers[static_cast<size_t>(in)].bytes();
    EXPECT_LT(lw_live[i], sum) << c.node;
  }
}

}  // namespace
}  // namespace qat::exporter
