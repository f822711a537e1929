#include <gtest/gtest.h>

#include "models/mobilenet.h"
#include "models/registry.h"
#include "models/resnet.h"
#include "models/tinyissimo_yolo.h"
#include "qat/config_reader.h"
#include "qat/errors.h"

namespace qat::models {
namespace {

TEST(ResNet, MicroAiResNetv1_6Has3958Parameters) {
  ResNetOptions o;
  o.input = {9, 128};
  o.num_classes = 6;
  const Graph g = build_resnet(o);
  EXPECT_EQ(g.parameter_count(), 3958);  // MicroAI: 3958 bytes of 8-bit weights
  EXPECT_EQ(g.shape_of("s2b1_add"), (Shape{16, 64}));
  EXPECT_EQ(g.output_node().name, "fc");
  EXPECT_TRUE(g.contains("s2b1_proj"));   // downsampling block has a projection
  EXPECT_FALSE(g.contains("s1b1_proj"));  // identity shortcut
}

TEST(ResNet, FiltersScaleAndBatchNorm) {
  ResNetOptions o;
  o.input = {9, 128};
  o.filters = {32, 32, 32};
  const int64_t f = 32;
  EXPECT_EQ(build_resnet(o).parameter_count(), (9 * f * 3 + f) + 2 * (f * f * 3 + f) +
                                                   2 * (f * f * 3 + f) + (f * f + f) + (f * 6 + 6));
  o.batch_norm = true;
  const Graph bn = build_resnet(o);
  EXPECT_TRUE(bn.contains("conv1_bn"));
  EXPECT_FALSE(bn.node("conv1").bias);
}

TEST(ResNet, Resnet2dAndMlperfResnet8) {
  ResNetOptions o;
  o.input = {3, 32, 32};
  o.num_classes = 43;
  EXPECT_EQ(build_resnet(o).shape_of("s2b1_add"), (Shape{16, 16, 16}));
  // MLPerf Tiny ResNet-8: 16/32/64 filters, strided downsampling, avg pool, 10 classes.
  const ResNetOptions r8 = mlperf_resnet8_options();
  const Graph g = build_resnet(r8);
  EXPECT_EQ(g.shape_of("s3b1_add"), (Shape{64, 8, 8}));
  // Keras reference: 78,666 params of which 672 are BN moving statistics -> 77,994 trainable
  // + BN gamma/beta; convs here have no bias when followed by BN (keras keeps them).
  int64_t weights = 0;
  for (const auto& n : g.nodes())
    if (n.op == OpType::kConv || n.op == OpType::kLinear) weights += g.parameter_count(n);
  EXPECT_EQ(weights, 432 + 2304 + 2304 + 4608 + 9216 + 512 + 18432 + 36864 + 2048 + 650);
  EXPECT_EQ(g.macs(), 12501632);  // MLPerf Tiny reports 12.5 M MACs
}

TEST(MobileNet, V2Width1Has3504872Parameters) {
  MobileNetOptions o;
  o.input = {3, 224, 224};
  o.num_classes = 1000;
  o.width = 1.0;
  EXPECT_EQ(build_mobilenet_v2(o).parameter_count(), 3504872);  // torchvision
  EXPECT_EQ(make_divisible(32 * 0.35), 16);
  o.width = 0.35;
  o.input = {3, 96, 96};
  const Graph small = build_mobilenet_v2(o);
  EXPECT_EQ(small.shape_of("conv_last_relu6"), (Shape{1280, 3, 3}));
}

TEST(MobileNet, V1DepthwiseSeparable) {
  MobileNetOptions o;
  o.input = {3, 224, 224};
  o.num_classes = 1000;
  const Graph g = build_mobilenet_v1(o);
  // Keras MobileNet (alpha 1.0): 4,253,864 parameters including 43,776 BN parameters
  // (gamma, beta, mean, var over 10,944 channels) -> 4,210,088 conv/linear weights.
  int64_t weights = 0;
  for (const auto& n : g.nodes())
    if (n.op == OpType::kConv || n.op == OpType::kLinear) weights += g.parameter_count(n);
  EXPECT_EQ(weights, 4210088);
  EXPECT_EQ(g.node("b1_dw").groups, 32);
  o.width = 0.25;
  o.input = {3, 64, 48};  // any input size
  EXPECT_EQ(build_mobilenet_v1(o).shape_of("pool"), (Shape{256}));
}

TEST(TinyissimoYolo, PublishedConfigurationHas422320Parameters) {
  YoloOptions o;
  const Graph g = build_tinyissimo_yolo(o);
  EXPECT_EQ(g.parameter_count(), 422320);
  EXPECT_EQ(g.shape_of("head"), (Shape{4 * 4 * 11}));
  EXPECT_EQ(g.shape_of("conv10_relu"), (Shape{128, 2, 2}));
  o.classes = 3;
  o.grid = 4;
  EXPECT_EQ(build_tinyissimo_yolo(o).shape_of("head"), (Shape{4 * 4 * 13}));
}

TEST(TinyissimoYolo, ConvHeadKeepsThePoolsThatReachTheGrid) {
  YoloOptions o;
  o.classes = 3;
  o.head = YoloHead::kConv;
  o.grid = 11;  // 88 -> 44 -> 22 -> 11: three pools, the last six convs at 11x11
  const Graph g = build_tinyissimo_yolo(o);
  EXPECT_EQ(g.shape_of("head"), (Shape{2 * 5 + 3, 11, 11}));
  EXPECT_EQ(g.shape_of("conv10_relu"), (Shape{128, 11, 11}));
  EXPECT_TRUE(g.contains("pool3"));
  EXPECT_FALSE(g.contains("pool4"));
  EXPECT_EQ(yolo_model_head(o).order, GridOrder::kChannelMajor);
  // The backbone's convs plus a 1x1 head with bias: no 128*2*2 x 208 linear layer.
  const int64_t head = 128 * 13 + 13;
  YoloOptions linear = o;
  linear.head = YoloHead::kLinear;
  linear.grid = 4;
  const int64_t linear_head = 128 * 2 * 2 * 4 * 4 * 13;
  EXPECT_EQ(g.parameter_count() - head,
            build_tinyissimo_yolo(linear).parameter_count() - linear_head);
  o.grid = 2;  // every pool
  EXPECT_EQ(build_tinyissimo_yolo(o).shape_of("head"), (Shape{13, 2, 2}));
  o.grid = 4;
  try {
    build_tinyissimo_yolo(o);
    FAIL() << "grid 4 is not reachable from 88x88";
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("grids this input allows: 44, 22, 11, 5, 2"),
              std::string::npos)
        << e.what();
  }
}

BuiltModel from_yaml(const std::string& yaml, const Shape& input, int64_t classes) {
  LoadedConfig c = load_config_string(yaml, "m.yaml");
  ConfigNode root(c.root, "", c.source);
  return build_model(root.child("model"), input, classes);
}

TEST(Registry, BuildsFromConfigAndRejectsBadKeys) {
  const BuiltModel m = from_yaml("model: {name: resnet, filters: 24}\n", {9, 128}, 6);
  EXPECT_EQ(m.graph.node("conv1").out_channels, 24);
  EXPECT_EQ(m.head.task, TaskKind::kClassification);
  const BuiltModel y = from_yaml("model: {name: tinyissimo_yolo, boxes: 2}\n", {3, 88, 88}, 3);
  EXPECT_EQ(y.head.task, TaskKind::kDetection);
  EXPECT_EQ(y.head.classes, 3);
  EXPECT_EQ(y.head.order, GridOrder::kCellMajor);
  const BuiltModel yc =
      from_yaml("model: {name: tinyissimo_yolo, head: conv, grid: 11}\n", {3, 88, 88}, 3);
  EXPECT_EQ(yc.head, ModelHead::detection(11, 2, 3, GridOrder::kChannelMajor));
  try {
    from_yaml("model:\n  name: resnet\n  filter: 8\n", {9, 128}, 6);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("m.yaml:3:3: unknown key 'filter' in 'model'"),
              std::string::npos)
        << e.what();
  }
  try {
    from_yaml("model: {name: resnet50}\n", {9, 128}, 6);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find("allowed: resnet, mobilenet_v1, mobilenet_v2, tinyissimo_yolo"),
        std::string::npos);
  }
  EXPECT_THROW(from_yaml("model: {name: resnet, filters: [8, 8]}\n", {9, 128}, 6), ConfigError);
  // A graph error (kernel larger than input) becomes a config error naming the model.
  EXPECT_THROW(from_yaml("model: {name: resnet, kernel_sizes: 300}\n", {9, 128}, 6), ConfigError);
}

}  // namespace
}  // namespace qat::models
