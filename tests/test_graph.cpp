#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "qat/errors.h"
#include "qat/graph.h"
#include "qat/quant_plan.h"

namespace qat {
namespace {

Graph small_resnet_block() {
  Graph g;
  g.input("input", {3, 16, 16});
  g.conv("conv1", "input", 8, {3, 3}, {1, 1}, {1, 1});
  g.relu("relu1", "conv1");
  g.conv("conv2", "relu1", 8, {3, 3}, {1, 1}, {1, 1});
  g.conv("proj", "input", 8, {1, 1}, {1, 1}, {0, 0});
  g.add_node("add", "conv2", "proj");
  g.relu("relu2", "add");
  g.maxpool("pool", "relu2", {2, 2}, {});
  g.global_avgpool("gap", "pool");
  g.flatten("flat", "gap");
  g.linear("fc", "flat", 10);
  return g;
}

TEST(Graph, ShapesParamsAndMacs) {
  const Graph g = small_resnet_block();
  EXPECT_EQ(g.shape_of("conv1"), (Shape{8, 16, 16}));
  EXPECT_EQ(g.shape_of("pool"), (Shape{8, 8, 8}));
  EXPECT_EQ(g.shape_of("gap"), (Shape{8}));
  EXPECT_EQ(g.shape_of("fc"), (Shape{10}));
  EXPECT_EQ(g.node("pool").stride, (std::vector<int64_t>{2, 2}));  // default stride = kernel
  EXPECT_EQ(g.parameter_count(g.node("conv1")), 8 * 3 * 9 + 8);
  EXPECT_EQ(g.parameter_count(), (8 * 27 + 8) + (8 * 72 + 8) + (8 * 3 + 8) + (80 + 10));
  EXPECT_EQ(g.macs(g.node("conv2")), 8 * 16 * 16 * 8 * 9);
  EXPECT_EQ(g.spatial_dims(), 2);
  EXPECT_EQ(g.consumers("input"), (std::vector<std::string>{"conv1", "proj"}));
}

TEST(Graph, StridedDepthwiseConv1d) {
  Graph g;
  g.input("x", {6, 128});
  g.conv("dw", "x", 6, {5}, {2}, {2}, 6);
  EXPECT_EQ(g.shape_of("dw"), (Shape{6, 64}));
  EXPECT_EQ(g.parameter_count(g.node("dw")), 6 * 5 + 6);
}

TEST(Graph, RejectsInvalidNodes) {
  Graph g;
  g.input("x", {3, 8, 8});
  EXPECT_THROW(g.conv("c", "missing", 4, {3, 3}, {}, {}), GraphError);
  EXPECT_THROW(g.conv("c", "x", 4, {3}, {}, {}), GraphError);        // wrong kernel rank
  EXPECT_THROW(g.conv("c", "x", 4, {3, 3}, {}, {}, 2), GraphError);  // groups must divide 3
  EXPECT_THROW(g.linear("fc", "x", 4), GraphError);                  // not flat
  g.conv("a", "x", 4, {3, 3}, {1, 1}, {1, 1});
  EXPECT_THROW(g.conv("a", "x", 4, {3, 3}, {}, {}), GraphError);  // duplicate
  g.conv("b", "x", 4, {3, 3}, {}, {});
  EXPECT_THROW(g.add_node("s", "a", "b"), GraphError);  // 8x8 vs 6x6
  try {
    g.conv("big", "x", 4, {9, 9}, {}, {});
    FAIL();
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("'big'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("larger than padded input"), std::string::npos);
  }
}

TEST(Graph, JsonRoundTrip) {
  const Graph g = small_resnet_block();
  const Graph h = Graph::from_json(nlohmann::json::parse(g.to_json().dump()));
  EXPECT_EQ(h.to_json(), g.to_json());
  EXPECT_EQ(h.parameter_count(), g.parameter_count());
}

TEST(Graph, WithoutNodesRewires) {
  Graph g;
  g.input("x", {3, 8});
  g.conv("c", "x", 4, {3}, {1}, {1});
  g.batchnorm("bn", "c");
  g.relu("r", "bn");
  const Graph h = g.without_nodes({"bn"});
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.node("r").inputs, (std::vector<std::string>{"c"}));
}

TEST(QuantPlan, FusesSingleConsumerRelu) {
  const Graph g = small_resnet_block();
  const auto plan = make_quant_plan(g);
  const auto at = [&](const std::string& n) { return plan[g.index_of(n)]; };
  EXPECT_TRUE(at("input").quantizes_output);
  EXPECT_EQ(at("conv1").fused, Activation::kRelu);
  EXPECT_TRUE(at("relu1").fused_away);
  EXPECT_EQ(at("relu1").format_from, "conv1");
  EXPECT_EQ(at("conv2").fused, Activation::kNone);  // consumed by add
  EXPECT_EQ(at("add").fused, Activation::kRelu);
  EXPECT_EQ(at("pool").format_from, "add");
  EXPECT_EQ(at("flat").format_from, "add");
  EXPECT_TRUE(at("fc").quantizes_output);

  Graph bn;
  bn.input("x", {3, 8});
  bn.conv("c", "x", 4, {3}, {1}, {1});
  bn.batchnorm("bn", "c");
  EXPECT_THROW(make_quant_plan(bn), GraphError);
}

}  // namespace
}  // namespace qat
