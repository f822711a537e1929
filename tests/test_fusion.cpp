// Fused execution (export/fusion.h, kernels/qk_fused.c) computes the integers of layer-by-layer
// execution: random chains (odd sizes, stride 2, every padding, 1D and 2D, pools, residual adds,
// mixed precision), bands of one row, patches that do not divide the image, windows that keep
// rows or recompute them, outputs written over their inputs; every model family; the plan
// checker; and the generated C under ASan / UBSan.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <torch/torch.h>

#include "export/codegen.h"
#include "export/engine.h"
#include "export/fusion.h"
#include "export/lower.h"
#include "export/program.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "models/tinyissimo_yolo.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"
#include "tests/fusion_blocks.h"

namespace qat::exporter {
namespace {

namespace fs = std::filesystem;

// A random chain of fusable layers ending in a classifier head: 1D ([C, L]) or 2D ([C, H, W])
// with odd sizes, kernels 1/3/5, strides 1/2, paddings 0..2, depthwise convs, pools and
// residual adds (over a conv pair that keeps the shape).
Graph random_chain(std::mt19937& rng, bool two_d) {
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  Graph g;
  int64_t c = 2 + pick(3), h = two_d ? 9 + pick(8) : 1, w = 13 + pick(20);
  std::string x = g.input("input", two_d ? Shape{c, h, w} : Shape{c, w});
  const auto dims = [&](int64_t v) {
    return two_d ? std::vector<int64_t>{v, v} : std::vector<int64_t>{v};
  };
  const int layers = 3 + pick(4);
  for (int i = 0; i < layers; ++i) {
    const std::string id = std::to_string(i);
    const int what = pick(6);
    if (what == 0 && w >= 4) {  // pool
      if (pick(2) || (two_d && h < 2)) {
        x = g.maxpool("mp" + id, x, dims(3), dims(pick(2) + 1), dims(1));
      } else {
        x = g.avgpool("ap" + id, x, dims(2), dims(2));
      }
    } else if (what == 1) {  // residual pair keeping the shape
      const std::string a = g.relu("ra" + id, g.conv("ca" + id, x, c, dims(3), dims(1), dims(1)));
      const std::string b = g.conv("cb" + id, a, c, dims(3), dims(1), dims(1));
      x = g.relu("rr" + id, g.add_node("add" + id, b, x));
    } else if (what == 2 && c >= 2) {  // depthwise
      const int64_t k = pick(2) ? 3 : 5;
      x = g.relu6("r6" + id, g.conv("dw" + id, x, c, dims(k), dims(pick(2) + 1), dims(k / 2), c));
    } else {
      const int64_t k = std::vector<int64_t>{1, 3, 5}[static_cast<size_t>(pick(3))];
      const int64_t s = pick(3) == 0 ? 2 : 1;
      const int64_t p = std::min<int64_t>(pick(3), k - 1);
      const int64_t out = 2 + pick(6);
      x = g.relu("r" + id, g.conv("c" + id, x, out, dims(k), dims(s), dims(k == 1 ? 0 : p)));
      c = out;
    }
    const Shape& s = g.shape_of(x);
    c = s[0];
    h = two_d ? s[1] : 1;
    w = s.back();
    if (w < 3 || h < 1) break;
  }
  x = g.global_avgpool("gap", x);
  x = g.flatten("flat", x);
  g.linear("fc", x, 3);
  return g;
}

struct Built {
  IntModel model;
  Program layerwise;
  std::vector<TestVector> vectors;  // from the layer-by-layer engine
};

Built build(const Graph& g, const QuantConfig& q, uint64_t seed) {
  GraphModule m = random_calibrated_model(g, q, seed, 1, 8);
  Built b;
  b.model = lower(*m, identity_input_meta(m->graph()));
  b.layerwise = build_program(b.model);
  b.vectors = random_test_vectors(b.model, b.layerwise, 3, static_cast<uint32_t>(seed));
  return b;
}

// Runs `fused` with dead memory poisoned after every call and expects the layer-by-layer outputs.
void expect_same(const Built& b, const Program& fused, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_NO_THROW(check_program_memory(fused));
  Engine e(fused);
  e.set_poison_dead_buffers(true);
  for (size_t v = 0; v < b.vectors.size(); ++v) {
    std::vector<int32_t> out;
    ASSERT_NO_THROW(e.run(b.vectors[v].input, out)) << fused.summary();
    ASSERT_EQ(out, b.vectors[v].output) << "vector " << v;
  }
}

int fused_calls(const Program& p) {
  int n = 0;
  for (const Call& c : p.calls) n += c.kind() == CallKind::kFused;
  return n;
}

TEST(Fusion, RandomChainsAreExactInEverySchedule) {
  std::mt19937 rng(2024);
  int blocks = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const bool two_d = trial % 2 == 1;
    const Graph g = random_chain(rng, two_d);
    const QuantConfig q = trial % 3 == 0   ? quant_config_for(Scheme::kAffine, 8)
                          : trial % 3 == 1 ? quant_config_for(Scheme::kPow2, 8)
                                           : mixed_precision_config(g, Scheme::kPow2);
    const Built b = build(g, q, 100 + static_cast<uint64_t>(trial));
    SCOPED_TRACE("trial " + std::to_string(trial) + "\n" + g.summary());
    const std::vector<std::pair<int, int>> tiles =
        two_d ? std::vector<std::pair<int, int>>{{1, 1 << 30}, {2, 1 << 30}, {3, 5}, {1, 2}}
              : std::vector<std::pair<int, int>>{{1, 1}, {1, 3}, {1, 7}};
    for (const auto& [th, tw] : tiles)
      for (const bool retain : {true, false}) {
        if (retain && two_d && tw < (1 << 30)) continue;  // line buffers need whole rows
        for (const bool in_place : {false, true}) {
          const std::vector<BlockChoice> choice =
              maximal_blocks(b.layerwise, th, tw, retain, in_place);
          const Program f = fuse(b.layerwise, choice);
          blocks += fused_calls(f);
          expect_same(b, f,
                      "tile " + std::to_string(th) + "x" + std::to_string(tw) +
                          (retain ? " retain" : " recompute") + (in_place ? " in place" : ""));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    // Every single call and every pair of calls as its own block.
    for (int i = 0; i + 1 < static_cast<int>(b.layerwise.calls.size()); ++i)
      for (int j = i; j <= i + 1; ++j) {
        if (!fusable(b.layerwise, i, j).empty()) continue;
        const Program f = fuse(b.layerwise, {{i, j, 1, two_d ? 1 << 30 : 1, true, true}});
        expect_same(b, f, "calls " + std::to_string(i) + ".." + std::to_string(j));
        if (::testing::Test::HasFatalFailure()) return;
      }
  }
  EXPECT_GT(blocks, 100);
}

// Line buffers compute every MAC once; patches recompute halos; fusing cuts the arena.
TEST(Fusion, LineBuffersComputeOncePatchesRecompute) {
  Graph g;
  g.input("input", {3, 24, 24});
  g.relu("r1", g.conv("c1", "input", 8, {3, 3}, {1, 1}, {1, 1}));
  g.relu("r2", g.conv("c2", "r1", 8, {3, 3}, {1, 1}, {1, 1}));
  g.relu("r3", g.conv("c3", "r2", 8, {3, 3}, {2, 2}, {1, 1}));
  g.global_avgpool("gap", "r3");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 4);
  const Built b = build(g, quant_config_for(Scheme::kPow2, 8), 7);
  const Program& lw = b.layerwise;
  ASSERT_TRUE(fusable(lw, 0, 2).empty()) << fusable(lw, 0, 2);
  const Program bands = fuse(lw, {{0, 2, 1, 1 << 30, true, false}});
  const Program patches = fuse(lw, {{0, 2, 4, 4, false, false}});
  expect_same(b, bands, "bands");
  expect_same(b, patches, "patches");
  const FusedBlock& band = *bands.calls[0].fused;
  EXPECT_EQ(band.stats.macs, band.layerwise_macs);
  EXPECT_GT(band.stats.moved_bytes, 0);
  const FusedBlock& patch = *patches.calls[0].fused;
  EXPECT_GT(patch.stats.macs, patch.layerwise_macs);
  EXPECT_GT(patch.stats.staged_bytes, 0);  // the input's columns start mid-row
  // c1 and c2 outputs (24x24x8 each) never exist whole: the arena shrinks below the two.
  EXPECT_LT(bands.plan.arena_bytes, lw.plan.arena_bytes);
  EXPECT_LT(bands.plan.arena_bytes, 2 * 24 * 24 * 8);
  // A one-row band of c3 needs 3 rows of c2, which need 5 rows of c1 (line buffers of the next
  // tile's rows, plus the kept ones).
  for (const FusedBlock::Tensor& t : band.tensors)
    if (t.window) {
      EXPECT_LE(bands.buffers[static_cast<size_t>(t.buffer)].bytes(), 5 * 24 * 8);
    }
}

// A depthwise layer run one row at a time writes its output two rows below its input; the
// checker refuses anything closer.
TEST(Fusion, InPlaceDepthwiseAndTheChecker) {
  Graph g;
  g.input("input", {4, 16, 16});
  g.relu("r0", g.conv("c0", "input", 16, {1, 1}, {1, 1}, {0, 0}));
  g.relu("r1", g.conv("dw", "r0", 16, {3, 3}, {1, 1}, {1, 1}, 16));
  g.relu("r2", g.conv("pw", "r1", 8, {1, 1}, {1, 1}, {0, 0}));
  g.global_maxpool("gmp", "r2");
  g.flatten("flat", "gmp");
  g.linear("fc", "flat", 4);
  const Built b = build(g, quant_config_for(Scheme::kAffine, 8), 9);
  const Program f = fuse(b.layerwise, {{1, 1, 1, 1 << 30, true, true}});
  expect_same(b, f, "in-place depthwise");
  const Call& dw = f.calls[1];
  ASSERT_EQ(dw.kind(), CallKind::kFused);
  const int64_t row = 16 * 16;
  EXPECT_EQ(dw.fused->in_place_distance, 2 * row);
  const Buffer& out = f.buffers[static_cast<size_t>(dw.output)];
  ASSERT_GE(out.alias_of, 0);
  EXPECT_EQ(f.plan.offsets[static_cast<size_t>(dw.output)],
            f.plan.offsets[static_cast<size_t>(out.alias_of)] - 2 * row);
  // Half the distance: the checker refuses the plan.
  Program bad = f;
  bad.buffers[static_cast<size_t>(dw.output)].alias_offset = -row;
  bad.plan.offsets[static_cast<size_t>(dw.output)] =
      bad.plan.offsets[static_cast<size_t>(out.alias_of)] - row;
  EXPECT_THROW(check_program_memory(bad), ExportError);
}

TEST(Fusion, RefusesWhatCannotBeFused) {
  Graph g;
  g.input("input", {3, 8, 8});
  g.relu("r1", g.conv("c1", "input", 4, {3, 3}, {1, 1}, {1, 1}));
  g.relu("r2", g.conv("c2", "r1", 4, {3, 3}, {1, 1}, {1, 1}));
  g.add_node("a", "r2", "r1");
  g.global_avgpool("gap", "a");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 4);
  const Built b = build(g, quant_config_for(Scheme::kPow2, 8), 3);
  const Program& lw = b.layerwise;
  // c1's output is read by the add: c1..c2 alone would leave it inside.
  EXPECT_NE(fusable(lw, 0, 1).find("also read by"), std::string::npos) << fusable(lw, 0, 1);
  EXPECT_TRUE(fusable(lw, 0, 2).empty());
  // A global pool can end a block over what the block computes, not stand alone or go on; the
  // linear layer needs a whole tensor.
  EXPECT_TRUE(fusable(lw, 0, 3).empty()) << fusable(lw, 0, 3);
  EXPECT_NE(fusable(lw, 3, 3).find("global pool"), std::string::npos) << fusable(lw, 3, 3);
  EXPECT_NE(fusable(lw, 0, 4).find("only end a block"), std::string::npos) << fusable(lw, 0, 4);
  EXPECT_NE(fusable(lw, 4, 4).find("cannot hold"), std::string::npos) << fusable(lw, 4, 4);
  EXPECT_THROW(fuse(lw, {{0, 1, 1, 1, true, false}}), ExportError);
  EXPECT_THROW(fuse(lw, {{0, 2, 1, 1, true, false}, {2, 2, 1, 1, true, false}}), ExportError);
}

// A block ending in the global pool: the head's wide tensor never exists whole, the pooled
// result is the layer-by-layer one (average and max, int8 and int16, bands and patches).
TEST(Fusion, GlobalPoolsEndBlocksExactly) {
  for (const bool use_max : {false, true})
    for (const int bits : {8, 16}) {
      Graph g;
      g.input("input", {3, 13, 11});
      g.relu("r1", g.conv("c1", "input", 6, {3, 3}, {2, 2}, {1, 1}));
      g.relu("r2", g.conv("c2", "r1", 40, {1, 1}, {1, 1}, {0, 0}));
      if (use_max)
        g.global_maxpool("gp", "r2");
      else
        g.global_avgpool("gp", "r2");
      g.flatten("flat", "gp");
      g.linear("fc", "flat", 3);
      const Built b = build(g, quant_config_for(Scheme::kPow2, bits), 11 + bits);
      const Program& lw = b.layerwise;
      ASSERT_TRUE(fusable(lw, 0, 2).empty()) << fusable(lw, 0, 2);
      for (const BlockChoice& c :
           {BlockChoice{0, 2, 1, 1 << 30, true, false}, BlockChoice{0, 2, 2, 3, false, false},
            BlockChoice{0, 2, 3, 1 << 30, true, true}}) {
        const Program f = fuse(lw, {c});
        ASSERT_EQ(f.calls[0].kind(), CallKind::kFused);
        ASSERT_EQ(f.calls[0].fused->layers.back().kind(),
                  use_max ? CallKind::kGlobalMaxPool : CallKind::kGlobalAvgPool);
        expect_same(b, f, std::string(use_max ? "max" : "avg") + " int" + std::to_string(bits));
        if (::testing::Test::HasFatalFailure()) return;
        // c2's output (7x6x40) only exists as a window.
        EXPECT_LT(f.plan.arena_bytes, lw.plan.arena_bytes);
      }
    }
}

struct Family {
  std::string name;
  Graph graph;
  ModelHead head;
};

std::vector<Family> families() {
  std::vector<Family> f;
  {
    models::ResNetOptions o;
    o.input = {9, 64};
    o.filters = {8, 8, 8};
    f.push_back({"resnet1d", models::build_resnet(o), ModelHead::classification()});
  }
  {
    models::ResNetOptions o;
    o.input = {3, 16, 16};
    o.num_classes = 10;
    o.filters = {8, 8, 16};
    o.batch_norm = true;
    o.postpool = "avg";
    o.downsample = "stride";
    f.push_back({"resnet2d", models::build_resnet(o), ModelHead::classification()});
  }
  {
    models::MobileNetOptions o;
    o.input = {3, 32, 32};
    o.width = 0.25;
    f.push_back({"mobilenet_v1", models::build_mobilenet_v1(o), ModelHead::classification()});
  }
  {
    models::MobileNetOptions o;
    o.input = {3, 32, 32};
    o.width = 0.35;
    f.push_back({"mobilenet_v2", models::build_mobilenet_v2(o), ModelHead::classification()});
  }
  {
    models::YoloOptions o;
    o.input = {3, 40, 40};
    o.width = 0.25;
    o.batch_norm = true;
    o.classes = 3;
    f.push_back(
        {"tinyissimo_yolo", models::build_tinyissimo_yolo(o), ModelHead::detection(4, 2, 3)});
  }
  return f;
}

TEST(Fusion, EveryFamilyIsExactFused) {
  for (const Family& fam : families()) {
    SCOPED_TRACE(fam.name);
    GraphModule m = random_calibrated_model(fam.graph, quant_config_for(Scheme::kPow2, 8), 5, 1, 8);
    Built b;
    b.model = lower(*m, identity_input_meta(m->graph(), fam.head));
    b.layerwise = build_program(b.model);
    b.vectors = random_test_vectors(b.model, b.layerwise, 2, 5);
    const bool one_d = b.layerwise.buffers[static_cast<size_t>(b.layerwise.input)].h == 1;
    for (const bool retain : {true, false}) {
      const Program f =
          fuse(b.layerwise, maximal_blocks(b.layerwise, retain ? 1 : 3,
                                           one_d ? 5 : (retain ? 1 << 30 : 6), retain, true));
      EXPECT_GT(fused_calls(f), 0);
      expect_same(b, f, retain ? "line buffers" : "patches");
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// The generated C of a fused model, built with AddressSanitizer and UBSan (every window, the
// work buffer and the scratch their own objects would be better still; here the arena is one
// object, so ASan guards its bounds and UBSan the arithmetic), reproduces the layer-by-layer
// outputs.
TEST(Fusion, GeneratedCUnderSanitizersIsExact) {
  if (std::system("printf 'int main(void){return 0;}' | cc -fsanitize=address,undefined -x c "
                  "-o /tmp/qat_asan_probe - > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "the host compiler cannot build with -fsanitize=address,undefined";
  std::mt19937 rng(77);
  for (int trial = 0; trial < 2; ++trial) {
    const Graph g = random_chain(rng, trial == 1);
    const Built b = build(g, quant_config_for(Scheme::kPow2, 8), 40 + static_cast<uint64_t>(trial));
    const Program f =
        fuse(b.layerwise, maximal_blocks(b.layerwise, 1, trial == 1 ? 3 : 2, trial == 0, true));
    ASSERT_GT(fused_calls(f), 0);
    const fs::path dir = fs::temp_directory_path() / ("qat_fused_c_" + std::to_string(trial));
    fs::remove_all(dir);
    write_c_export(b.model, f, b.vectors, dir.string(), CodegenOptions{});
    const std::string cmd =
        "cd " + dir.string() +
        " && cc -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall "
        "-Wextra -Wpedantic -Werror -I. -o example example_main.c model.c model_vectors.c "
        "model_io.c kernels/*.c -lm > build.log 2>&1 && ./example > run.log 2>&1";
    const int rc = std::system(cmd.c_str());
    const auto slurp = [](const fs::path& p) {
      std::ifstream in(p);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string logs = slurp(dir / "build.log") + slurp(dir / "run.log");
    ASSERT_EQ(rc, 0) << logs;
    EXPECT_NE(logs.find(", 0 mismatching outputs"), std::string::npos) << logs;
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace qat::exporter
