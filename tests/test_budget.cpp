// The memory-driven bit allocator (export/budget.h) on hand-built graphs whose answers are known:
// which layer is cut, in which order, the tie rule, the RAM rule, infeasible budgets; and the
// `budget:` config section (sizes with units, errors naming key, file and line).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "export/budget.h"
#include "export/kernel_code.h"
#include "export/kernel_table.h"
#include "export/lower.h"
#include "export/program.h"
#include "export/schedule.h"
#include "qat/config_reader.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"
#include "train/run_config.h"

namespace qat::exporter {
namespace {

// input [4, 16] -> a (4 -> 32, k3) -> b (32 -> 128, k3) -> c (128 -> 128, k3) -> gap -> fc
// (128 -> 4). Weights: a 384, b 12,288, c 49,152, fc 512; at 8 bits with their int32 bias and
// one shift byte: a 513, b 12,801, c 49,665, fc 529 bytes (large enough that the packed
// kernels' code does not decide the cuts).
Graph chain() {
  Graph g;
  g.input("input", {4, 16});
  g.conv("a", "input", 32, {3}, {1}, {1});
  g.conv("b", "a", 128, {3}, {1}, {1});
  g.conv("c", "b", 128, {3}, {1}, {1});
  g.global_avgpool("gap", "c");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 4);
  return g;
}

QuantConfig pow2_8() {
  return quant_config_for(Scheme::kPow2, 8);
}

// The config with node -> weight bits applied, as the allocator applies its choice.
QuantConfig with_bits(const std::map<std::string, int>& bits) {
  QuantConfig q = pow2_8();
  for (const auto& [node, b] : bits) {
    NodeOverride o;
    o.pattern = node;
    o.weights = q.weights;
    o.weights->bits = b;
    q.overrides.push_back(o);
  }
  return q;
}

int64_t flash_of(const MemoryEstimate& m) {
  return m.weight_bytes + m.code_bytes;
}

// The flash a cut started from, from its note ("... flash 69,035 B > ...").
int64_t flash_before(const std::string& cut) {
  const size_t at = cut.find("flash ") + 6;
  std::string digits;
  for (size_t i = at; i < cut.size() && cut[i] != ' '; ++i)
    if (cut[i] != ',') digits += cut[i];
  return std::stoll(digits);
}

const LayerPrecision& layer(const PrecisionPlan& p, const std::string& node) {
  for (const auto& l : p.layers)
    if (l.node == node) return l;
  throw std::runtime_error("no layer " + node);
}

TEST(Budget, EstimateIsTheExportsWeightBytes) {
  const MemoryEstimate m8 = estimate_memory(chain(), pow2_8());
  EXPECT_EQ(m8.weight_bytes, 513 + 12801 + 49665 + 529);
  // Packed: exactly ceil(count x bits / 8) plus the constants.
  const MemoryEstimate m4 = estimate_memory(chain(), with_bits({{"c", 4}, {"b", 2}}));
  EXPECT_EQ(m4.weight_bytes, 513 + (3072 + 513) + (24576 + 513) + 529);
  // The code: the kernel paths the export links (test_deploy compares it with linked images).
  // The packed convolutions add their DSP kernels to the int8 ones.
  EXPECT_GT(m4.code_bytes, m8.code_bytes + 2000);
}

// The kernel code of a set of paths: each path's parts only when it is linked.
TEST(Budget, KernelCodeCountsOnlyTheLinkedPaths) {
  KernelPaths k;
  k.conv_general = true;
  k.epilogues = {QK_EPI_POW2_RANGE};
  k.entries = {"qk_conv_s8"};
  const int64_t general = kernel_code_bytes(k);
  EXPECT_GT(general, 2500);  // im2col + the 1x6 SMLAD kernel
  // The portable fallback, only when a call takes it.
  KernelPaths with_reference = k;
  with_reference.conv_reference = true;
  const int64_t reference = kernel_code_bytes(with_reference) - general;
  EXPECT_GT(reference, 500);
  EXPECT_LT(reference, general);
  // A second epilogue kind adds its cases; the generic fallback its call and shared function.
  KernelPaths two_kinds = k;
  two_kinds.epilogues.insert(QK_EPI_POW2_S8);
  EXPECT_GT(kernel_code_bytes(two_kinds), general);
  EXPECT_LT(kernel_code_bytes(two_kinds), general + 500);
  // Packed weights next to int8: more than either alone, less than both summed (shared code).
  KernelPaths packed = k;
  packed.entries = {"qk_conv_s8_w4"};
  KernelPaths both = k;
  both.entries = {"qk_conv_s8", "qk_conv_s8_w4"};
  EXPECT_GT(kernel_code_bytes(both), std::max(general, kernel_code_bytes(packed)));
  EXPECT_LE(kernel_code_bytes(both), general + kernel_code_bytes(packed));
  // The 2-bit entry shares the 4-bit one's DSP code.
  both.entries.insert("qk_conv_s8_w2");
  EXPECT_LT(kernel_code_bytes(both) - kernel_code_bytes(packed), general);
  // Every kernel of the table has a size, on each of its paths.
  for (const KernelEntry& e : kernel_table()) {
    KernelPaths all;
    all.conv_general = all.conv_dw = all.conv_dw3 = all.conv_reference = true;
    all.linear_dsp = all.linear_reference = all.conv_s16_reference = true;
    all.linear_s16_reference = all.add_int64 = all.add_saturating = true;
    all.epilogues = {QK_EPI_GENERIC,      QK_EPI_POW2_RANGE, QK_EPI_POW2_S8,  QK_EPI_POW2_U7,
                     QK_EPI_AFFINE_RANGE, QK_EPI_AFFINE_S8,  QK_EPI_AFFINE_U7};
    all.entries = {e.name};
    EXPECT_GT(kernel_code_bytes(all), 0) << e.name;
  }
  KernelPaths fused;
  fused.entries = {fused_kernel().name};
  EXPECT_GT(kernel_code_bytes(fused), 1000);
  KernelPaths unknown;
  unknown.entries = {"qk_no_such_kernel"};
  EXPECT_THROW(kernel_code_bytes(unknown), ExportError);
}

TEST(Budget, CutsTheLargestShareFirstThenTiesGoToTheEarliestLayer) {
  // c is the largest layer: 8 -> 4 (25,089 B), still the largest: 4 -> 2 (12,801 B). Now b and
  // c both hold 12,801 B, a tie: the earliest, b, is cut next (8 -> 4, 6,657 B).
  const int64_t after_three = flash_of(estimate_memory(chain(), with_bits({{"c", 2}, {"b", 4}})));
  const int64_t after_two = flash_of(estimate_memory(chain(), with_bits({{"c", 2}})));
  ASSERT_LT(after_three, after_two);
  MemoryBudget budget;
  budget.flash = after_three;
  const PrecisionPlan p = plan_precision(chain(), pow2_8(), budget);
  EXPECT_EQ(layer(p, "c").weight_bits, 2);
  EXPECT_EQ(layer(p, "b").weight_bits, 4);
  EXPECT_EQ(layer(p, "a").weight_bits, 8);
  EXPECT_EQ(layer(p, "fc").weight_bits, 8);
  ASSERT_EQ(layer(p, "c").cuts.size(), 2u);
  EXPECT_NE(layer(p, "c").cuts[0].find("weights 8 -> 4 bits"), std::string::npos);
  EXPECT_NE(layer(p, "c").cuts[1].find("weights 4 -> 2 bits"), std::string::npos);
  ASSERT_EQ(layer(p, "b").cuts.size(), 1u);
  EXPECT_EQ(p.flash_bytes(), after_three);
  EXPECT_LE(p.flash_bytes(), *budget.flash);
  EXPECT_NEAR(layer(p, "c").weight_share, 49665.0 / (513 + 12801 + 49665 + 529), 1e-9);
  EXPECT_EQ(layer(p, "c").weight_bytes, 12801);
  // A budget the 8-bit model already meets cuts nothing.
  budget.flash = flash_of(estimate_memory(chain(), pow2_8()));
  for (const auto& l : plan_precision(chain(), pow2_8(), budget).layers)
    EXPECT_TRUE(l.cuts.empty());
  // The plan's overrides reproduce its sizes.
  QuantConfig applied = pow2_8();
  budget.flash = after_three;
  for (auto& o : p.overrides(pow2_8())) applied.overrides.push_back(o);
  EXPECT_EQ(flash_of(estimate_memory(chain(), applied)), after_three);
}

TEST(Budget, LevelsOrderTakesEveryLayerToFourBitsBeforeAnyToTwo) {
  // The budget of c and b at 4 bits. The paper's order cuts c 8 -> 4 -> 2 (c at 2 alone is
  // smaller than c and b at 4); by levels, the next cut after c is the largest 8-bit layer, b.
  MemoryBudget budget;
  budget.flash = flash_of(estimate_memory(chain(), with_bits({{"c", 4}, {"b", 4}})));
  ASSERT_LT(flash_of(estimate_memory(chain(), with_bits({{"c", 2}}))), *budget.flash);
  const PrecisionPlan share = plan_precision(chain(), pow2_8(), budget);
  EXPECT_EQ(layer(share, "c").weight_bits, 2);
  EXPECT_EQ(layer(share, "b").weight_bits, 8);
  budget.order = CutOrder::kLevels;
  const PrecisionPlan levels = plan_precision(chain(), pow2_8(), budget);
  EXPECT_EQ(layer(levels, "c").weight_bits, 4);
  EXPECT_EQ(layer(levels, "b").weight_bits, 4);
  EXPECT_EQ(layer(levels, "a").weight_bits, 8);
  EXPECT_EQ(layer(levels, "fc").weight_bits, 8);
  EXPECT_EQ(levels.flash_bytes(), *budget.flash);
  // One step further: every layer at 4 bits, then the largest 4-bit layer, c, to 2. After b, a
  // (513 B) and fc (529 B) are within 5%: the earlier, a, is cut first. fc at 4 bits runs the
  // packed portable linear kernel (a classifier head below 1% of the MACs), a few dozen bytes
  // more code for its 256 weight bytes saved.
  budget.flash =
      flash_of(estimate_memory(chain(), with_bits({{"a", 4}, {"b", 4}, {"c", 2}, {"fc", 4}})));
  ASSERT_LT(
      flash_of(estimate_memory(chain(), with_bits({{"a", 4}, {"b", 4}, {"c", 4}, {"fc", 4}}))),
      flash_of(estimate_memory(chain(), with_bits({{"a", 4}, {"b", 4}, {"c", 4}}))));
  const PrecisionPlan deep = plan_precision(chain(), pow2_8(), budget);
  EXPECT_EQ(layer(deep, "a").weight_bits, 4);
  EXPECT_EQ(layer(deep, "b").weight_bits, 4);
  EXPECT_EQ(layer(deep, "c").weight_bits, 2);
  EXPECT_EQ(layer(deep, "fc").weight_bits, 4);
  EXPECT_EQ(deep.flash_bytes(), *budget.flash);
  ASSERT_EQ(layer(deep, "c").cuts.size(), 2u);
  EXPECT_NE(layer(deep, "c").cuts[1].find("weights 4 -> 2 bits"), std::string::npos);
  ASSERT_EQ(layer(deep, "fc").cuts.size(), 1u);
  // The order of the cuts shows in the flash each one started from: c, b, a, fc, c again.
  const int64_t c1 = flash_before(layer(deep, "c").cuts[0]);
  const int64_t b = flash_before(layer(deep, "b").cuts[0]);
  const int64_t a = flash_before(layer(deep, "a").cuts[0]);
  const int64_t fc = flash_before(layer(deep, "fc").cuts[0]);
  const int64_t c2 = flash_before(layer(deep, "c").cuts[1]);
  EXPECT_GT(c1, b);
  EXPECT_GT(b, a);
  EXPECT_GT(a, fc);
  EXPECT_GT(fc, c2);
}

// input [4, 8] -> a (4 -> 32, k3: 384 weights) -> b (32 -> 128, k3: 12,288) -> flatten (1,024)
// -> fc1 (1,024 -> 2: 2,048 weights) -> fc2 (2 -> 4). The two linear layers hold 2% of the MACs,
// so they run the DSP linear kernel.
Graph two_head_chain() {
  Graph g;
  g.input("input", {4, 8});
  g.conv("a", "input", 32, {3}, {1}, {1});
  g.conv("b", "a", 128, {3}, {1}, {1});
  g.flatten("flat", "b");
  g.linear("fc1", "flat", 2);
  g.linear("fc2", "fc1", 4);
  return g;
}

TEST(Budget, ACutThatAddsMoreCodeThanItSavesIsPassedOver) {
  // By levels, b goes to 4 bits first. Then the largest 8-bit layer is fc1, whose 4-bit weights
  // would link the packed DSP linear kernel next to the int8 one fc2 keeps: more code than its
  // 1,024 bytes save. The rule passes it over and cuts a (b and a packed: the int8 conv kernel
  // is no longer linked). (largest_share would take b on to 2 bits.)
  const auto flash = [](const std::map<std::string, int>& bits) {
    return flash_of(estimate_memory(two_head_chain(), with_bits(bits)));
  };
  MemoryBudget budget;
  budget.order = CutOrder::kLevels;
  budget.flash = flash({{"b", 4}, {"a", 4}});
  ASSERT_GT(flash({{"b", 4}, {"fc1", 4}}), flash({{"b", 4}}));
  ASSERT_LT(*budget.flash, flash({{"b", 4}}));
  const PrecisionPlan p = plan_precision(two_head_chain(), pow2_8(), budget);
  EXPECT_EQ(layer(p, "a").weight_bits, 4);
  EXPECT_EQ(layer(p, "b").weight_bits, 4);
  EXPECT_EQ(layer(p, "fc1").weight_bits, 8);
  EXPECT_EQ(layer(p, "fc2").weight_bits, 8);
  EXPECT_EQ(p.flash_bytes(), *budget.flash);
  ASSERT_EQ(layer(p, "fc1").cuts.size(), 1u);
  EXPECT_NE(layer(p, "fc1").cuts[0].find("passed over at 8 bits"), std::string::npos)
      << layer(p, "fc1").cuts[0];
  ASSERT_EQ(layer(p, "a").cuts.size(), 1u);
  EXPECT_NE(layer(p, "a").cuts[0].find("the rule's first choice saved no flash"), std::string::npos)
      << layer(p, "a").cuts[0];
}

// input [4, 16] -> b (4 -> 48, k9: 1,728 weights) -> c (48 -> 32, k3: 4,608) -> gap -> fc
// (32 -> 1). Cutting c alone to 4 bits saves 2,304 B, less than the packed kernel's code (about
// 3 KB); fc's 16 bytes less than the packed linear kernel's few dozen more.
Graph mid_chain() {
  Graph g;
  g.input("input", {4, 16});
  g.conv("b", "input", 48, {9}, {1}, {4});
  g.conv("c", "b", 32, {3}, {1}, {1});
  g.global_avgpool("gap", "c");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 1);
  return g;
}

TEST(Budget, TheFirstPackedLayerIsCutEvenWhenItAloneSavesNoFlash) {
  // No single cut lowers the flash (each brings the packed kernel), but c and b together do:
  // the rule's first choice goes ahead, then b shares its kernel.
  const int64_t all8 = flash_of(estimate_memory(mid_chain(), pow2_8()));
  ASSERT_GE(flash_of(estimate_memory(mid_chain(), with_bits({{"c", 4}}))), all8);
  ASSERT_GE(flash_of(estimate_memory(mid_chain(), with_bits({{"b", 4}}))), all8);
  ASSERT_GE(flash_of(estimate_memory(mid_chain(), with_bits({{"fc", 4}}))), all8);
  MemoryBudget budget;
  budget.flash = flash_of(estimate_memory(mid_chain(), with_bits({{"c", 2}, {"b", 4}})));
  ASSERT_LT(*budget.flash, all8);
  for (const CutOrder order : {CutOrder::kLargestShare, CutOrder::kLevels}) {
    budget.order = order;
    const PrecisionPlan p = plan_precision(mid_chain(), pow2_8(), budget);
    EXPECT_LE(p.flash_bytes(), *budget.flash);
    EXPECT_LT(layer(p, "c").weight_bits, 8);
    EXPECT_LT(layer(p, "b").weight_bits, 8);
    EXPECT_NE(layer(p, "c").cuts.at(0).find("weights 8 -> 4 bits"), std::string::npos)
        << cut_order_name(order) << ": " << layer(p, "c").cuts.at(0);
  }
}

// Sensitivities of chain()'s layers: node -> {loss increase at 4 bits, at 2 bits}.
WeightSensitivity sensitivities(const std::map<std::string, std::pair<double, double>>& by_layer) {
  WeightSensitivity s;
  s.samples = 64;
  for (const auto& [node, cost] : by_layer) {
    s.loss_increase[node][4] = cost.first;
    s.loss_increase[node][2] = cost.second;
  }
  return s;
}

TEST(Budget, SensitivityOrderCutsTheCheapLayersNotTheLargest) {
  // The budget of b at 2 bits. c, the largest layer, is the share orders' first cut and alone
  // fits the budget; measured, it costs 1.0 at 4 bits and b 0.01 per step. By loss per byte
  // saved b goes to 4 first; then b at 2 fits and costs no more than the next cut per byte: b
  // ends at 2 bits, c stays at 8.
  MemoryBudget budget;
  budget.flash = flash_of(estimate_memory(chain(), with_bits({{"b", 2}})));
  budget.order = CutOrder::kLevels;
  EXPECT_EQ(layer(plan_precision(chain(), pow2_8(), budget), "c").weight_bits, 4);
  budget.order = CutOrder::kSensitivity;
  const WeightSensitivity s = sensitivities(
      {{"a", {0.001, 0.002}}, {"b", {0.01, 0.02}}, {"c", {1.0, 5.0}}, {"fc", {0.001, 0.002}}});
  const PrecisionPlan p = plan_precision(chain(), pow2_8(), budget, &s);
  EXPECT_FALSE(p.preliminary);
  EXPECT_EQ(layer(p, "b").weight_bits, 2);
  EXPECT_EQ(layer(p, "c").weight_bits, 8);
  EXPECT_EQ(layer(p, "a").weight_bits, 8);
  EXPECT_EQ(layer(p, "fc").weight_bits, 8);
  EXPECT_EQ(p.flash_bytes(), *budget.flash);
  ASSERT_EQ(layer(p, "b").cuts.size(), 2u);
  EXPECT_NE(layer(p, "b").cuts[0].find("weights 8 -> 4 bits"), std::string::npos);
  EXPECT_NE(layer(p, "b").cuts[0].find("loss +0.0100 for 6,"), std::string::npos)
      << layer(p, "b").cuts[0];
  EXPECT_NE(layer(p, "b").cuts[0].find("the least loss per weight byte saved"), std::string::npos);
  EXPECT_NE(layer(p, "b").cuts[1].find("weights 4 -> 2 bits"), std::string::npos);
  EXPECT_NE(layer(p, "b").cuts[1].find("the cheapest cut that fits"), std::string::npos)
      << layer(p, "b").cuts[1];
  // The plan's overrides reproduce its sizes.
  QuantConfig applied = pow2_8();
  for (auto& o : p.overrides(pow2_8())) applied.overrides.push_back(o);
  EXPECT_EQ(flash_of(estimate_memory(chain(), applied)), p.flash_bytes());
}

TEST(Budget, SensitivityOrderTakesACutThatFitsOverACheaperPerByteOneThatDoesNot) {
  // The budget of b at 4 bits: b (0.04) and c (0.05) each fit alone. Per byte saved c is the
  // cheaper (0.05 for ~24 KB against 0.04 for ~6 KB), but b ends the search at less loss.
  MemoryBudget budget;
  budget.flash = flash_of(estimate_memory(chain(), with_bits({{"b", 4}})));
  budget.order = CutOrder::kSensitivity;
  const WeightSensitivity s = sensitivities(
      {{"a", {0.001, 0.1}}, {"b", {0.04, 0.5}}, {"c", {0.05, 0.5}}, {"fc", {0.001, 0.1}}});
  const PrecisionPlan p = plan_precision(chain(), pow2_8(), budget, &s);
  EXPECT_EQ(layer(p, "b").weight_bits, 4);
  EXPECT_EQ(layer(p, "c").weight_bits, 8);
  EXPECT_EQ(p.flash_bytes(), *budget.flash);
  // A measured gain (noise) counts as no cost, never as a reason to cut more.
  const WeightSensitivity noisy = sensitivities(
      {{"a", {-0.2, -0.1}}, {"b", {0.04, 0.5}}, {"c", {0.05, 0.5}}, {"fc", {0.001, 0.1}}});
  const PrecisionPlan q = plan_precision(chain(), pow2_8(), budget, &noisy);
  EXPECT_LE(q.flash_bytes(), *budget.flash);
  for (const auto& l : q.layers)
    for (const auto& c : l.cuts) EXPECT_EQ(c.find("loss +-"), std::string::npos) << c;
}

TEST(Budget, SensitivityOrderWithoutMeasurementsIsAPreliminaryLevelsPlan) {
  MemoryBudget budget;
  budget.flash = flash_of(estimate_memory(chain(), with_bits({{"a", 4}, {"b", 4}, {"c", 2}})));
  budget.order = CutOrder::kLevels;
  const PrecisionPlan levels = plan_precision(chain(), pow2_8(), budget);
  budget.order = CutOrder::kSensitivity;
  const PrecisionPlan pre = plan_precision(chain(), pow2_8(), budget);
  EXPECT_TRUE(pre.preliminary);
  EXPECT_FALSE(levels.preliminary);
  for (const auto& l : levels.layers) EXPECT_EQ(layer(pre, l.node).weight_bits, l.weight_bits);
  EXPECT_NE(pre.table().find("preliminary"), std::string::npos);
  EXPECT_STREQ(cut_order_name(CutOrder::kSensitivity), "sensitivity");
  // A layer the measurements lack is an error naming it.
  const WeightSensitivity partial = sensitivities({{"a", {0.0, 0.0}}, {"b", {0.0, 0.0}}});
  try {
    plan_precision(chain(), pow2_8(), budget, &partial);
    ADD_FAILURE() << "planned without c's sensitivity";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'c' was not measured"), std::string::npos)
        << e.what();
  }
}

// Long activations: input [4, 512] -> a (4 -> 16) -> b (16 -> 64) -> c (64 -> 64), k3.
Graph long_chain() {
  Graph g;
  g.input("input", {4, 512});
  g.conv("a", "input", 16, {3}, {1}, {1});
  g.conv("b", "a", 64, {3}, {1}, {1});
  g.conv("c", "b", 64, {3}, {1}, {1});
  g.global_avgpool("gap", "c");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 4);
  return g;
}

TEST(Budget, RamIsMetByFusionBeforeBitsAreCut) {
  // Layer by layer the 16-bit chain does not fit; fused (export/schedule.h) it does, so no
  // activation loses bits.
  QuantConfig q16 = pow2_8();
  q16.activations.bits = 16;
  const MemoryEstimate wide = estimate_memory(long_chain(), q16);
  MemoryBudget budget;
  budget.ram = wide.arena_bytes + kStackReserveBytes - 1;
  const PrecisionPlan p = plan_precision(long_chain(), q16, budget);
  for (const char* n : {"input", "a", "b", "c"}) EXPECT_EQ(layer(p, n).activation_bits, 16) << n;
  EXPECT_LE(p.ram_bytes(), *budget.ram);
  EXPECT_LT(p.arena_bytes, wide.arena_bytes);
}

// What the allocator promised, the export keeps: the trained (here: calibrated) model with the
// plan's bits, exported for the same RAM budget, is fused to fit it.
TEST(Budget, TheExportFusesToTheRamTheAllocatorCounted) {
  QuantConfig q16 = pow2_8();
  q16.activations.bits = 16;
  const MemoryEstimate wide = estimate_memory(long_chain(), q16);
  MemoryBudget budget;
  budget.ram = wide.arena_bytes + kStackReserveBytes - 1;
  const PrecisionPlan plan = plan_precision(long_chain(), q16, budget);
  QuantConfig applied = q16;
  for (auto& o : plan.overrides(q16)) applied.overrides.push_back(o);
  GraphModule m = random_calibrated_model(long_chain(), applied, 3, 1, 4);
  const Program lw = build_program(lower(*m, identity_input_meta(m->graph())));
  EXPECT_GT(lw.plan.arena_bytes + kStackReserveBytes, *budget.ram);  // layer by layer: over
  std::string report;
  const Program fused = program_for_budget(lw, {budget.ram, true}, &report);
  EXPECT_LE(fused.plan.arena_bytes + stack_reserve_bytes(fused), *budget.ram) << report;
  EXPECT_EQ(fused.plan.arena_bytes, plan.arena_bytes) << report;
  EXPECT_NE(report.find("fusion schedule"), std::string::npos) << report;
}

// The same convs with a linear head straight on c: the classifier reads c's output (64 x 512)
// whole, so no fusion takes it below that tensor.
Graph long_chain_linear_head() {
  Graph g;
  g.input("input", {4, 512});
  g.conv("a", "input", 16, {3}, {1}, {1});
  g.conv("b", "a", 64, {3}, {1}, {1});
  g.conv("c", "b", 64, {3}, {1}, {1});
  g.flatten("flat", "c");
  g.linear("fc", "flat", 4);
  return g;
}

TEST(Budget, RamCutsTheSixteenBitTensorsOfTheLargestPair) {
  // 16-bit activations everywhere, and a budget below the smallest arena fusion reaches (c's
  // output, 64 KiB at 16 bits, read whole by the linear head): the largest input + output pair
  // is c's (64 x 512 in and out, 128 KiB); cutting both to 8 bits halves it.
  QuantConfig q16 = pow2_8();
  q16.activations.bits = 16;
  const Graph g = long_chain_linear_head();
  MemoryBudget budget;
  budget.ram = 48 * 1024 + kFusedStackReserveBytes;
  const PrecisionPlan p = plan_precision(g, q16, budget);
  EXPECT_EQ(layer(p, "b").activation_bits, 8);  // c's input
  EXPECT_EQ(layer(p, "c").activation_bits, 8);  // c's output
  EXPECT_EQ(layer(p, "input").activation_bits, 16);
  EXPECT_LE(p.ram_bytes(), *budget.ram);
  EXPECT_NE(layer(p, "c").cuts.at(0).find("output 16 -> 8 bits: RAM"), std::string::npos);
}

TEST(Budget, InfeasibleBudgetNamesTheSmallestReachable) {
  MemoryBudget budget;
  budget.flash = 10000;
  try {
    plan_precision(chain(), pow2_8(), budget);
    FAIL() << "10000 B accepted";
  } catch (const InfeasibleBudget& e) {
    EXPECT_EQ(e.key, "flash");
    const std::string m = e.what();
    EXPECT_NE(m.find("9.8 KiB cannot be met"), std::string::npos) << m;
    EXPECT_NE(m.find("the smallest it reaches is flash"), std::string::npos) << m;
  }
  budget = {};
  budget.ram = 10;
  try {
    plan_precision(chain(), pow2_8(), budget);
    FAIL() << "10 B of RAM accepted";
  } catch (const InfeasibleBudget& e) {
    EXPECT_EQ(e.key, "ram");
    EXPECT_NE(std::string(e.what()).find("RAM"), std::string::npos);
  }
}

std::string config_error(const std::string& yaml) {
  const auto dir = std::filesystem::temp_directory_path() / "qat_budget_tests";
  std::filesystem::create_directories(dir);
  const auto path = dir / "b.yaml";
  std::ofstream(path) << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                      << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                      << "model: {name: resnet, filters: 64}\n"
                      << yaml;
  try {
    load_run_config(path.string());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Budget, ConfigSizesAndErrors) {
  EXPECT_NE(config_error("budget: {flash: 64 KiBB}\n")
                .find("b.yaml:3:10: budget.flash: '64 KiBB' is not a memory size"),
            std::string::npos)
      << config_error("budget: {flash: 64 KiBB}\n");
  EXPECT_NE(config_error("budget:\n  ram: -1\n").find("b.yaml:4:3: budget.ram: '-1' is not"),
            std::string::npos)
      << config_error("budget:\n  ram: -1\n");
  EXPECT_NE(config_error("budget: {flash: 1KiB}\n").find("budget.flash: 1 KiB cannot be met"),
            std::string::npos);
  EXPECT_NE(config_error("budget: {rom: 1KiB}\n").find("unknown key 'rom' in 'budget'"),
            std::string::npos);
  EXPECT_NE(config_error("budget: {flash: 64KiB, order: widest}\n").find("budget.order"),
            std::string::npos)
      << config_error("budget: {flash: 64KiB, order: widest}\n");
  EXPECT_NE(config_error("budget: {flash: 64KiB, order: widest}\n").find("sensitivity"),
            std::string::npos);
  EXPECT_NE(config_error("budget: {flash: 64KiB, samples: 512}\n")
                .find("budget.samples: only budget.order sensitivity"),
            std::string::npos)
      << config_error("budget: {flash: 64KiB, samples: 512}\n");
  EXPECT_NE(config_error("budget: {flash: 64KiB, order: sensitivity, samples: 4}\n")
                .find("budget.samples"),
            std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / "qat_budget_tests";
  std::ofstream(dir / "ok.yaml") << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                                 << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                                 << "model: {name: resnet, filters: 64}\n"
                                 << "budget: {flash: 48KiB, ram: 0.0625MiB}\n";
  const RunConfig rc = load_run_config((dir / "ok.yaml").string(), {"budget.ram=64000"});
  EXPECT_EQ(*rc.budget.flash, 48 * 1024);
  EXPECT_EQ(*rc.budget.ram, 64000);
  ASSERT_TRUE(rc.precision.has_value());
  EXPECT_LE(rc.precision->flash_bytes(), 48 * 1024);
  // The chosen bits are the run's quant config.
  int cut = 0;
  for (const auto& l : rc.precision->layers)
    if (l.weight_bits > 0 && l.weight_bits < 8) {
      ++cut;
      EXPECT_EQ(rc.quant.weights_for(l.node).bits, l.weight_bits) << l.node;
    }
  EXPECT_GT(cut, 0);
  for (const char* size : {"65536", "64KiB", "65.536KB", "0.0625MiB"}) {
    std::ofstream(dir / "s.yaml") << "dataset: {name: uci_har, path: \"" << QAT_SOURCE_DIR
                                  << "/datasets/samples/uci-har/UCI HAR Dataset\"}\n"
                                  << "budget: {flash: " << size << "}\n";
    EXPECT_EQ(*load_run_config((dir / "s.yaml").string()).budget.flash, 65536) << size;
  }
}

// A MobileNet-like chain with ReLU6: pointwise, depthwise 3 (stride 1 and 2) and a ReLU (b_pw)
// so the calibrated model takes several epilogue kinds.
Graph relu6_chain() {
  Graph g;
  g.input("input", {8, 32});
  g.relu6("stem_act", g.conv("stem", "input", 32, {3}, {1}, {1}));
  g.relu6("a_dw_act", g.conv("a_dw", "stem_act", 32, {3}, {1}, {1}, 32));
  g.relu6("a_pw_act", g.conv("a_pw", "a_dw_act", 64, {1}, {1}, {0}));
  g.relu6("b_dw_act", g.conv("b_dw", "a_pw_act", 64, {3}, {2}, {1}, 64));
  g.relu("b_pw_act", g.conv("b_pw", "b_dw_act", 96, {1}, {1}, {0}));
  g.global_avgpool("gap", "b_pw_act");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 6);
  return g;
}

// The allocator sizes the kernel code before calibration; the export links the paths of the
// calibrated model. Sizing from unit formats (shift 0, no clamp) counted the generic epilogue
// only and came out 3 KB below a trained MobileNetV1's image: the estimate before calibration
// must cover what calibration then links.
TEST(Budget, TheEstimateBeforeCalibrationCoversTheCalibratedKernelPaths) {
  QuantConfig w4_channel = weight_bits_config(Scheme::kPow2, 4);
  w4_channel.weights.granularity = Granularity::kPerChannel;
  const std::vector<std::pair<std::string, QuantConfig>> configs = {
      {"pow2 int8", pow2_8()},
      {"pow2 w4 per channel", w4_channel},
      {"mixed pow2", with_bits({{"a_pw", 4}, {"b_pw", 2}})},
      {"affine int8", quant_config_for(Scheme::kAffine, 8)}};
  for (const auto& [name, q] : configs) {
    const int64_t before = estimate_memory(relu6_chain(), q).code_bytes;
    for (const uint64_t seed : {1, 2, 3}) {
      GraphModule m = random_calibrated_model(relu6_chain(), q, seed);
      const Program p = build_program(lower(*m, identity_input_meta(m->graph())));
      EXPECT_GE(before, estimate_code_bytes(p)) << name << ", seed " << seed;
    }
  }
}

}  // namespace
}  // namespace qat::exporter
