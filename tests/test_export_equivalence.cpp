// The arithmetic contract (DESIGN.md point 4): for every model family and number format, the
// integer-exact evaluation mode of GraphModule, the host integer engine (qk kernels) and the
// generated C compiled and run on the host agree bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <torch/torch.h>

#include "export/codegen.h"
#include "export/engine.h"
#include "export/lower.h"
#include "export/program.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "models/tinyissimo_yolo.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"

namespace qat::exporter {
namespace {

namespace fs = std::filesystem;

enum class Fmt { kPow2Int8, kPow2Int16, kAffineInt8, kMixedPow2, kMixedAffine, kPow2ChannelW4 };

bool mixed(Fmt f) {
  return f == Fmt::kMixedPow2 || f == Fmt::kMixedAffine;
}

QuantConfig config(Fmt f, const Graph& g) {
  const Scheme scheme =
      f == Fmt::kAffineInt8 || f == Fmt::kMixedAffine ? Scheme::kAffine : Scheme::kPow2;
  if (mixed(f)) return mixed_precision_config(g, scheme);
  QuantConfig q = quant_config_for(scheme, f == Fmt::kPow2Int16 ? 16 : 8);
  if (f == Fmt::kPow2ChannelW4) {
    // One shift per output channel, packed 4-bit weights (the qat-pow2-channel sweep method).
    q.weights.granularity = Granularity::kPerChannel;
    q.weights.bits = 4;
  }
  return q;
}

const char* fmt_name(Fmt f) {
  return f == Fmt::kPow2Int8      ? "pow2 int8"
         : f == Fmt::kPow2Int16   ? "pow2 int16"
         : f == Fmt::kAffineInt8  ? "affine int8 per-channel"
         : f == Fmt::kMixedPow2   ? "mixed pow2 (w8/w4/w2, a8/a16)"
         : f == Fmt::kMixedAffine ? "mixed affine (w8/w4/w2, a8/a16)"
                                  : "pow2 per-channel w4a8";
}

// Integer codes of a real-valued node output (one sample, channel-first) in channels-last order.
std::vector<int32_t> codes_hwc(const torch::Tensor& sample, const Shape& shape, const QFormat& f) {
  const torch::Tensor t = sample.to(torch::kDouble).contiguous();
  const std::vector<double> hwc = to_channels_last(t.data_ptr<double>(), shape);
  std::vector<int32_t> out;
  for (double v : hwc) out.push_back(static_cast<int32_t>(f.quantize(v)));
  return out;
}

struct Case {
  std::string name;
  Graph graph;
  ModelHead head;
};

void check_case(const Case& c, Fmt f, bool compile_c) {
  SCOPED_TRACE(c.name + " " + fmt_name(f));
  const Shape& in_shape = c.graph.input_node().shape;
  GraphModule q = random_calibrated_model(c.graph, config(f, c.graph));
  const IntModel im = lower(*q, identity_input_meta(q->graph(), c.head));
  const Program p = build_program(im);
  EXPECT_EQ(im.activation_type, f == Fmt::kPow2Int16 || mixed(f) ? DType::kInt16 : DType::kInt8);
  if (mixed(f)) {
    // Packed weights where the layer computes in int8, int8 storage where it computes in int16,
    // and the conversions between the two activation types.
    std::set<std::string> kernels;
    for (const auto& call : p.calls) kernels.insert(call.kernel->name);
    EXPECT_TRUE(kernels.count("qk_cast_s16_s8")) << c.name;
    EXPECT_TRUE(kernels.count("qk_cast_s8_s16")) << c.name;
    EXPECT_TRUE(kernels.count("qk_conv_s8_w4") || kernels.count("qk_conv_s8_w2")) << c.name;
    for (size_t i = 0; i < im.nodes.size(); ++i)
      if (im.graph.at(i).has_weights() && compute_type(im, i) == DType::kInt16) {
        EXPECT_NE(im.nodes[i].weight_type, DType::kInt4) << im.nodes[i].name;
        EXPECT_NE(im.nodes[i].weight_type, DType::kInt2) << im.nodes[i].name;
      }
  }
  if (f == Fmt::kPow2ChannelW4)
    for (size_t i = 0; i < im.nodes.size(); ++i)
      if (im.graph.at(i).has_weights()) {
        EXPECT_TRUE(im.nodes[i].weight_format.per_channel) << im.nodes[i].name;
        EXPECT_EQ(im.nodes[i].weight_type, DType::kInt4) << im.nodes[i].name;
      }

  std::vector<int64_t> shape{6};
  shape.insert(shape.end(), in_shape.begin(), in_shape.end());
  torch::manual_seed(99);
  const torch::Tensor x = torch::randn(shape) * 1.5;
  std::vector<torch::Tensor> sim;
  {
    torch::NoGradGuard ng;
    sim = q->forward_all(x);
  }
  // Per layer: with every buffer in its own memory, each one must equal the simulation's node
  // output bit for bit after a run.
  Program separate = p;
  int64_t offset = 0;
  for (size_t b = 0; b < separate.buffers.size(); ++b) {
    separate.plan.offsets[b] = offset;
    offset += (separate.buffers[b].bytes() + 7) / 8 * 8;
  }
  for (auto& call : separate.calls)
    if (call.scratch_bytes > 0) {
      call.scratch_offset = offset;
      offset += (call.scratch_bytes + 7) / 8 * 8;
    }
  separate.plan.arena_bytes = offset;
  Engine layered(separate);
  // End to end with the planned (reusing) arena, freed buffers poisoned after their last use.
  Engine engine(p);
  engine.set_poison_dead_buffers(true);
  // The scoring engine (run_batch): packed weights unpacked once, the int8 kernels.
  Engine unpacked(p, PackedWeights::kUnpackedOnce);
  const Graph& g = q->graph();
  std::vector<TestVector> vectors;
  for (int64_t i = 0; i < x.size(0); ++i) {
    TestVector v;
    v.input = quantize_input(x[i].contiguous().data_ptr<float>(), in_shape, im.input_format());
    std::vector<int32_t> layered_out;
    layered.run(v.input, layered_out);
    for (size_t b = 0; b < separate.buffers.size(); ++b) {
      const size_t idx = g.index_of(separate.buffers[b].name);
      const auto want = codes_hwc(sim[idx][i], g.shape_at(idx), im.nodes[idx].output);
      ASSERT_EQ(layered.buffer_codes(static_cast<int>(b)), want)
          << "layer " << separate.buffers[b].name << " sample " << i;
    }
    engine.run(v.input, v.output);
    const auto want = codes_hwc(sim.back()[i], g.shape_at(g.size() - 1), im.output_format());
    ASSERT_EQ(v.output, want) << "sample " << i;
    ASSERT_EQ(layered_out, want) << "sample " << i;
    std::vector<int32_t> unpacked_out;
    unpacked.run(v.input, unpacked_out);
    ASSERT_EQ(unpacked_out, want) << "unpacked weights, sample " << i;
    vectors.push_back(std::move(v));
  }
  EXPECT_LE(p.plan.arena_bytes, separate.plan.arena_bytes);
  EXPECT_GE(p.plan.arena_bytes, p.plan.lower_bound);
  if (!compile_c) return;
  const fs::path dir = fs::temp_directory_path() /
                       ("qat_export_" + c.name + "_" + std::to_string(static_cast<int>(f)));
  fs::remove_all(dir);
  write_c_export(im, p, vectors, dir.string(), CodegenOptions{});
  const std::string cmd =
      "cd " + dir.string() +
      " && cc -std=c99 -O1 -Wall -Wextra -Wpedantic -Werror -I. -o example example_main.c "
      "model.c model_vectors.c model_io.c kernels/*.c -lm > build.log 2>&1 && ./example > run.log "
      "2>&1";
  const int rc = std::system(cmd.c_str());
  const auto slurp = [](const fs::path& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string logs = slurp(dir / "build.log") + slurp(dir / "run.log");
  ASSERT_EQ(rc, 0) << "generated C failed: " << logs;
  EXPECT_NE(logs.find(", 0 mismatching outputs"), std::string::npos) << logs;
  fs::remove_all(dir);
}

Case resnet1d() {
  models::ResNetOptions o;
  o.input = {9, 64};
  o.filters = {8, 8, 8};
  return {"resnet1d", models::build_resnet(o), ModelHead::classification()};
}

Case resnet2d() {
  models::ResNetOptions o;
  o.input = {3, 16, 16};
  o.num_classes = 10;
  o.filters = {8, 8, 16};
  o.batch_norm = true;
  o.postpool = "avg";
  o.downsample = "stride";
  return {"resnet2d", models::build_resnet(o), ModelHead::classification()};
}

Case mobilenet_v1() {
  models::MobileNetOptions o;
  o.input = {3, 32, 32};
  o.width = 0.25;
  return {"mobilenet_v1", models::build_mobilenet_v1(o), ModelHead::classification()};
}

Case mobilenet_v2() {
  models::MobileNetOptions o;
  o.input = {3, 32, 32};
  o.width = 0.35;
  return {"mobilenet_v2", models::build_mobilenet_v2(o), ModelHead::classification()};
}

models::YoloOptions small_yolo_options() {
  models::YoloOptions o;
  o.input = {3, 40, 40};
  o.width = 0.25;
  o.batch_norm = true;
  o.classes = 3;
  return o;
}

Case yolo() {
  return {"tinyissimo_yolo", models::build_tinyissimo_yolo(small_yolo_options()),
          ModelHead::detection(4, 2, 3)};
}

// The convolutional head of the later TinyissimoYOLO versions: 40x40 halved three times to a 5x5
// grid, a 1x1 conv with bias as the last layer (channel-major output on the host).
Case yolo_conv_head() {
  models::YoloOptions o = small_yolo_options();
  o.head = models::YoloHead::kConv;
  o.grid = 5;
  return {"tinyissimo_yolo_conv_head", models::build_tinyissimo_yolo(o),
          models::yolo_model_head(o)};
}

TEST(Equivalence, TinyissimoYoloConvHeadAgrees) {
  for (const Fmt fmt : {Fmt::kPow2Int8, Fmt::kMixedPow2}) check_case(yolo_conv_head(), fmt, true);
}

// Layers whose int16 accumulator exceeds float32's 2^24 (fan-in 576, 16-bit activations with
// 16- or 8-bit weights): the evaluation mode splits them into limbs that are each exact in
// float32 (graph_module_exact.cpp); the host engine's int64 arithmetic must agree bit for bit.
TEST(Equivalence, WideInt16LayersAreExact) {
  Graph g;
  std::string x = g.input("input", {64, 6, 6});
  x = g.relu("r1", g.conv("c1", x, 16, {3, 3}, {1, 1}, {1, 1}));
  x = g.conv("c2", x, 16, {3, 3}, {1, 1}, {1, 1});
  x = g.flatten("flat", g.global_avgpool("pool", x));
  g.linear("fc", x, 5);
  int deployed = 0;
  for (const int weight_bits : {16, 8})
    for (const Scheme scheme : {Scheme::kPow2, Scheme::kAffine}) {
      SCOPED_TRACE(std::string(scheme_name(scheme)) + " w" + std::to_string(weight_bits) + " a16");
      QuantConfig q = quant_config_for(scheme, 16);
      q.weights.bits = weight_bits;
      GraphModule m = random_calibrated_model(g, q, 5, 2, 8);
      EXPECT_GE(m->int_layer("c1").acc_bound, int64_t{1} << 24);
      IntModel im;
      try {
        im = lower(*m, identity_input_meta(m->graph()));
      } catch (const ExportError& e) {
        // What the kernels cannot take (e.g. affine 16x16) is refused, naming the layer.
        EXPECT_EQ(scheme, Scheme::kAffine) << e.what();
        continue;
      }
      const Program program = build_program(im);
      Engine engine(program);
      torch::manual_seed(5);
      const torch::Tensor in = torch::randn({4, 64, 6, 6}) * 2.0;
      torch::Tensor sim;
      {
        torch::NoGradGuard ng;
        sim = m->forward(in);
      }
      for (int64_t i = 0; i < in.size(0); ++i) {
        std::vector<int32_t> out;
        engine.run(
            quantize_input(in[i].contiguous().data_ptr<float>(), {64, 6, 6}, im.input_format()),
            out);
        ASSERT_EQ(out, codes_hwc(sim[i], g.shape_at(g.size() - 1), im.output_format()))
            << "sample " << i;
      }
      ++deployed;
    }
  EXPECT_GE(deployed, 3);  // pow2 w16 and w8, affine 16x8
}

// Every per-node combination the config's overrides allow either deploys exactly (the host
// engine equals the evaluation mode) or is refused by lower() with a message naming the node.
TEST(MixedPrecision, EveryOverrideCombinationDeploysExactlyOrIsRefused) {
  const Case c = resnet1d();
  const std::string node = "s1b1_conv1";
  int deployed = 0, refused = 0;
  const auto check = [&](const QuantConfig& q, const std::string& what) {
    SCOPED_TRACE(what);
    GraphModule m = random_calibrated_model(c.graph, q, 5, 2, 8);
    IntModel im;
    try {
      im = lower(*m, identity_input_meta(m->graph()));
    } catch (const ExportError& e) {
      EXPECT_NE(std::string(e.what()).find(node), std::string::npos) << e.what();
      ++refused;
      return;
    }
    const Program p = build_program(im);
    Engine engine(p);
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn({4, 9, 64});
    torch::Tensor sim;
    {
      torch::NoGradGuard ng;
      sim = m->forward(x);
    }
    for (int64_t i = 0; i < 4; ++i) {
      std::vector<int32_t> out;
      engine.run(quantize_input(x[i].contiguous().data_ptr<float>(), {9, 64}, im.input_format()),
                 out);
      ASSERT_EQ(out, codes_hwc(sim[i], c.graph.shape_at(c.graph.size() - 1), im.output_format()));
    }
    ++deployed;
  };
  for (const Scheme scheme : {Scheme::kPow2, Scheme::kAffine})
    for (int wb : {2, 3, 4, 5, 8, 9, 12, 16})
      for (int ab : {2, 4, 8, 9, 16}) {
        QuantConfig q = quant_config_for(scheme, 8);
        NodeOverride o;
        o.pattern = node;
        o.weights = q.weights;
        o.weights->bits = wb;
        o.activations = q.activations;
        o.activations->bits = ab;
        q.overrides.push_back(o);
        check(q, std::string(scheme_name(scheme)) + " w" + std::to_string(wb) + " a" +
                     std::to_string(ab));
      }
  // Refused: unsigned (uint8-style affine) activations, and schemes that differ inside one layer.
  QuantConfig unsigned_out = quant_config_for(Scheme::kAffine, 8);
  NodeOverride u;
  u.pattern = node;
  u.activations = unsigned_out.activations;
  u.activations->is_signed = false;
  unsigned_out.overrides.push_back(u);
  check(unsigned_out, "unsigned output");
  QuantConfig mixed_scheme = quant_config_for(Scheme::kPow2, 8);
  NodeOverride a;
  a.pattern = node;
  a.activations = quant_config_for(Scheme::kAffine, 8).activations;
  mixed_scheme.overrides.push_back(a);
  check(mixed_scheme, "affine output of a pow2 layer");
  EXPECT_GE(deployed, 70);
  EXPECT_GE(refused, 2);
}

class Equivalence : public ::testing::TestWithParam<std::tuple<int, Fmt>> {};

TEST_P(Equivalence, SimulationEngineAndGeneratedCAgree) {
  const auto [family, fmt] = GetParam();
  const Case c = family == 0   ? resnet1d()
                 : family == 1 ? resnet2d()
                 : family == 2 ? mobilenet_v1()
                 : family == 3 ? mobilenet_v2()
                               : yolo();
  check_case(c, fmt, true);
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<int, Fmt>>& info) {
  static const char* const names[] = {"ResNet1d", "ResNet2d", "MobileNetV1", "MobileNetV2",
                                      "TinyissimoYolo"};
  static const char* const fmts[] = {"Pow2Int8",  "Pow2Int16",   "AffineInt8",
                                     "MixedPow2", "MixedAffine", "Pow2ChannelW4"};
  return std::string(names[std::get<0>(info.param)]) + "_" +
         fmts[static_cast<int>(std::get<1>(info.param))];
}

INSTANTIATE_TEST_SUITE_P(
    AllFamilies, Equivalence,
    ::testing::Combine(::testing::Values(0, 1, 2, 3, 4),
                       ::testing::Values(Fmt::kPow2Int8, Fmt::kPow2Int16, Fmt::kAffineInt8,
                                         Fmt::kMixedPow2, Fmt::kMixedAffine, Fmt::kPow2ChannelW4)),
    case_name);

}  // namespace
}  // namespace qat::exporter
