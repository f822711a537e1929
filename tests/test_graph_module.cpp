#include <gtest/gtest.h>

#include <filesystem>

#include <torch/torch.h>

#include "qat/checkpoint.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/max_pool_kernel.h"

namespace qat {
namespace {

namespace nn = torch::nn;

Graph resnet1d_block() {
  Graph g;
  g.input("input", {9, 32});
  g.conv("conv1", "input", 8, {3}, {1}, {1});
  g.relu("relu1", "conv1");
  g.conv("conv2", "relu1", 8, {3}, {1}, {1});
  g.maxpool("pool2", "conv2", {2}, {});
  g.conv("proj", "input", 8, {1}, {1}, {0});
  g.maxpool("pool_s", "proj", {2}, {});
  g.add_node("add", "pool2", "pool_s");
  g.relu("relu2", "add");
  g.global_maxpool("gmp", "relu2");
  g.flatten("flat", "gmp");
  g.linear("fc", "flat", 6);
  return g;
}

struct DirectNet : nn::Module {
  nn::Conv1d conv1{nn::Conv1dOptions(9, 8, 3).padding(1)};
  nn::Conv1d conv2{nn::Conv1dOptions(8, 8, 3).padding(1)};
  nn::Conv1d proj{nn::Conv1dOptions(9, 8, 1)};
  nn::MaxPool1d pool{nn::MaxPool1dOptions(2)};
  nn::Linear fc{8, 6};
  DirectNet() {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("proj", proj);
    register_module("fc", fc);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto a = pool(conv2(torch::relu(conv1(x))));
    auto s = pool(proj(x));
    auto y = torch::relu(a + s);
    y = std::get<0>(y.max(2));
    return fc(y.flatten(1));
  }
};

void copy_params(GraphModule& g, const std::string& node, const torch::Tensor& w,
                 const torch::Tensor& b) {
  torch::NoGradGuard ng;
  g->layer(node)->weight.copy_(w);
  g->layer(node)->bias.copy_(b);
}

TEST(GraphModule, FloatForwardEqualsTorchNn) {
  torch::manual_seed(0);
  GraphModule g(resnet1d_block(), QuantConfig{});
  DirectNet d;
  copy_params(g, "conv1", d.conv1->weight, d.conv1->bias);
  copy_params(g, "conv2", d.conv2->weight, d.conv2->bias);
  copy_params(g, "proj", d.proj->weight, d.proj->bias);
  copy_params(g, "fc", d.fc->weight, d.fc->bias);
  const torch::Tensor x = torch::randn({5, 9, 32});
  const torch::Tensor a = g->forward(x), b = d.forward(x);
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6)) << (a - b).abs().max();
  EXPECT_EQ(g->graph().parameter_count(), 9 * 8 * 3 + 8 + 8 * 8 * 3 + 8 + 9 * 8 + 8 + 8 * 6 + 6);
}

Graph mobile2d_with_bn() {
  Graph g;
  g.input("input", {3, 12, 12});
  g.conv("stem", "input", 8, {3, 3}, {2, 2}, {1, 1}, 1, false);
  g.batchnorm("stem_bn", "stem");
  g.relu6("stem_act", "stem_bn");
  g.conv("dw", "stem_act", 8, {3, 3}, {1, 1}, {1, 1}, 8, false);
  g.batchnorm("dw_bn", "dw");
  g.relu6("dw_act", "dw_bn");
  g.conv("pw", "dw_act", 4, {1, 1}, {1, 1}, {0, 0}, 1, true);
  g.batchnorm("pw_bn", "pw");
  g.avgpool("avg", "pw_bn", {2, 2}, {});
  g.global_avgpool("gap", "avg");
  g.linear("fc", "gap", 3);
  return g;
}

struct DirectMobile : nn::Module {
  nn::Conv2d stem{nn::Conv2dOptions(3, 8, 3).stride(2).padding(1).bias(false)};
  nn::BatchNorm2d stem_bn{8};
  nn::Conv2d dw{nn::Conv2dOptions(8, 8, 3).padding(1).groups(8).bias(false)};
  nn::BatchNorm2d dw_bn{8};
  nn::Conv2d pw{nn::Conv2dOptions(8, 4, 1)};
  nn::BatchNorm2d pw_bn{4};
  nn::Linear fc{4, 3};
  DirectMobile() {
    register_module("stem", stem);
    register_module("stem_bn", stem_bn);
    register_module("dw", dw);
    register_module("dw_bn", dw_bn);
    register_module("pw", pw);
    register_module("pw_bn", pw_bn);
    register_module("fc", fc);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::clamp(stem_bn(stem(x)), 0, 6);
    y = torch::clamp(dw_bn(dw(y)), 0, 6);
    y = torch::avg_pool2d(pw_bn(pw(y)), 2);
    return fc(y.mean({2, 3}));
  }
};

TEST(GraphModule, Conv2dDepthwiseBatchnormEqualsTorchNn) {
  torch::manual_seed(1);
  GraphModule g(mobile2d_with_bn(), QuantConfig{});
  DirectMobile d;
  torch::NoGradGuard ng;
  g->layer("stem")->weight.copy_(d.stem->weight);
  g->layer("dw")->weight.copy_(d.dw->weight);
  copy_params(g, "pw", d.pw->weight, d.pw->bias);
  copy_params(g, "fc", d.fc->weight, d.fc->bias);
  const torch::Tensor x = torch::randn({4, 3, 12, 12});
  // Training mode: batch statistics, running stats updated identically.
  const torch::Tensor a = g->forward(x), b = d.forward(x);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << (a - b).abs().max();
  EXPECT_TRUE(torch::allclose(g->layer("dw_bn")->running_var, d.dw_bn->running_var));
  g->eval();
  d.eval();
  EXPECT_TRUE(torch::allclose(g->forward(x), d.forward(x), 1e-5, 1e-5));
}

TEST(GraphModule, BatchnormFoldingIsExact) {
  torch::manual_seed(2);
  GraphModule g(mobile2d_with_bn(), QuantConfig{});
  {
    torch::NoGradGuard ng;
    for (const char* bn : {"stem_bn", "dw_bn", "pw_bn"}) {
      auto l = g->layer(bn);
      l->weight.uniform_(0.5, 2.0);
      l->bias.uniform_(-1, 1);
      l->running_mean.uniform_(-1, 1);
      l->running_var.uniform_(0.1, 3.0);
    }
    g->layer("dw_bn")->weight[2] = 0.0;           // gamma = 0
    g->layer("stem_bn")->running_var[1] = 1e-12;  // tiny variance
  }
  g->eval();
  const torch::Tensor x = torch::randn({6, 3, 12, 12});
  const torch::Tensor ref = g->forward(x);
  GraphModule folded(g->fold_batchnorm());
  folded->eval();
  EXPECT_FALSE(folded->has_batchnorm());
  EXPECT_EQ(folded->graph().size(), g->graph().size() - 3);
  const torch::Tensor out = folded->forward(x);
  EXPECT_FALSE(out.isnan().any().item<bool>());
  EXPECT_LE((out - ref).abs().max().item<double>(), 1e-5);
}

// Hand-written integer inference of conv1d(k3, p1) + relu -> global max -> linear, pow2.
TEST(GraphModule, Pow2EvalModeIsIntegerExact) {
  torch::manual_seed(5);
  Graph graph;
  graph.input("input", {2, 10});
  graph.conv("conv", "input", 3, {3}, {1}, {1});
  graph.relu("relu", "conv");
  graph.global_maxpool("gmp", "relu");
  graph.linear("fc", "gmp", 2);
  GraphModule g(graph, QuantConfig{});
  g->set_mode(Mode::kCalibrate);
  {
    torch::NoGradGuard ng;
    for (int i = 0; i < 4; ++i) g->forward(torch::randn({8, 2, 10}));
  }
  g->set_mode(Mode::kEval);
  const torch::Tensor x = torch::randn({16, 2, 10}, torch::kDouble);
  const auto all = g->forward_all(x);
  const torch::Tensor y = all.back();

  const QFormat fin = g->activation_format("input");
  const IntLayer conv = g->int_layer("conv"), fc = g->int_layer("fc");
  EXPECT_EQ(conv.activation, Activation::kRelu);
  const auto w = conv.weight_codes.accessor<int64_t, 3>();
  const auto fw = fc.weight_codes.accessor<int64_t, 2>();
  const int conv_shift = fin.frac_bits[0] + conv.weight.frac_bits[0] - conv.output.frac_bits[0];
  const int fc_shift = conv.output.frac_bits[0] + fc.weight.frac_bits[0] - fc.output.frac_bits[0];
  for (int64_t n = 0; n < 16; ++n) {
    std::vector<int64_t> xq(20);
    for (int c = 0; c < 2; ++c)
      for (int t = 0; t < 10; ++t) xq[c * 10 + t] = fin.quantize(x[n][c][t].item<double>());
    std::vector<int64_t> pooled(3, INT64_MIN);
    for (int o = 0; o < 3; ++o)
      for (int t = 0; t < 10; ++t) {
        int64_t acc = conv.bias_codes[o].item<int64_t>();
        for (int c = 0; c < 2; ++c)
          for (int k = 0; k < 3; ++k) {
            const int ti = t + k - 1;
            if (ti >= 0 && ti < 10) acc += w[o][c][k] * xq[c * 10 + ti];
          }
        const int64_t q = std::clamp<int64_t>(shift_round(acc, conv_shift), 0, 127);
        EXPECT_EQ(conv.output.dequantize(q), all[1][n][o][t].item<double>())
            << n << " " << o << " " << t;
        pooled[o] = std::max(pooled[o], q);
      }
    for (int o = 0; o < 2; ++o) {
      int64_t acc = fc.bias_codes[o].item<int64_t>();
      for (int i = 0; i < 3; ++i) acc += fw[o][i] * pooled[i];
      const int64_t q = std::clamp<int64_t>(shift_round(acc, fc_shift), -128, 127);
      EXPECT_EQ(fc.output.dequantize(q), y[n][o].item<double>()) << n << " " << o;
    }
  }
}

TEST(GraphModule, FixedFormatClippingIsReported) {
  // Q3.5 at 8 bits stops at 127/32 = 3.97: inputs of |x| <= 1 fit, inputs times 50 do not.
  torch::manual_seed(3);
  Graph graph;
  graph.input("input", {2, 10});
  graph.conv("conv", "input", 3, {3}, {1}, {1});
  graph.global_maxpool("gmp", "conv");
  graph.linear("fc", "gmp", 2);
  QuantConfig qc;
  qc.weights.frac_bits = qc.activations.frac_bits = 5;
  const auto calibrated = [&](double gain) {
    GraphModule g(graph, qc);
    {
      torch::NoGradGuard ng;
      g->layer("conv")->weight.uniform_(-0.1, 0.1);
      g->layer("fc")->weight.uniform_(-0.1, 0.1);
    }
    g->set_mode(Mode::kCalibrate);
    torch::NoGradGuard ng;
    g->forward(torch::rand({4, 2, 10}) * 2 - 1);
    g->forward((torch::rand({4, 2, 10}) * 2 - 1) * gain);
    return g->fixed_format_clipping();
  };
  EXPECT_TRUE(calibrated(1.0).empty());
  const std::vector<std::string> clip = calibrated(50.0);
  ASSERT_FALSE(clip.empty());
  EXPECT_EQ(clip.front().rfind("'input' output: |x| reaches ", 0), 0u) << clip.front();
  EXPECT_NE(clip.front().find("Q3.5 (int8) saturates at 3.96875"), std::string::npos)
      << clip.front();
  for (const std::string& m : clip) EXPECT_EQ(m.find("weights"), std::string::npos) << m;
}

TEST(GraphModule, QuantizedModesNeedFoldedBatchnorm) {
  GraphModule g(mobile2d_with_bn(), QuantConfig{});
  g->set_mode(Mode::kQat);
  EXPECT_THROW(g->forward(torch::randn({1, 3, 12, 12})), GraphError);
}

TEST(GraphModule, QatTrainsAndCheckpointRoundTrips) {
  torch::manual_seed(7);
  GraphModule g(resnet1d_block(), QuantConfig{});
  const torch::Tensor x = torch::randn({64, 9, 32});
  const torch::Tensor labels = torch::randint(0, 6, {64});
  g->set_mode(Mode::kCalibrate);
  {
    torch::NoGradGuard ng;
    g->forward(x);
  }
  g->set_mode(Mode::kQat);
  torch::optim::Adam opt(g->parameters(), torch::optim::AdamOptions(0.01));
  double first = 0, last = 0;
  for (int i = 0; i < 60; ++i) {
    opt.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(g->forward(x), labels);
    loss.backward();
    opt.step();
    if (i == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.7);
  EXPECT_TRUE(g->layer("conv1")->weight.grad().abs().sum().item<double>() > 0);

  g->set_mode(Mode::kEval);
  const torch::Tensor ref = g->forward(x);
  const std::string path = (std::filesystem::temp_directory_path() / "qat_test_ckpt.pt").string();
  CheckpointMeta meta;
  meta.epoch = 3;
  save_checkpoint(path, *g, meta, &opt);
  Checkpoint ck = load_checkpoint(path);
  EXPECT_EQ(ck.meta.epoch, 3);
  EXPECT_EQ(ck.model->mode(), Mode::kEval);
  EXPECT_TRUE(torch::equal(ck.model->forward(x), ref));
  EXPECT_EQ(ck.model->activation_format("add"), g->activation_format("add"));
  std::filesystem::remove(path);
}

// The direct max pool equals ATen's, values and gradients, on quantized (tie-rich) inputs, odd
// sizes that leave a partial window, and NaN.
TEST(GraphModule, DirectMaxPoolEqualsAten) {
  struct Case {
    std::vector<int64_t> shape, kernel;
    torch::Dtype dtype;
  };
  for (const Case& c : std::vector<Case>{{{3, 5, 129}, {2}, torch::kFloat},
                                         {{2, 4, 9, 11}, {2, 2}, torch::kFloat},
                                         {{2, 3, 12, 12}, {3, 2}, torch::kDouble},
                                         {{1, 2, 7}, {7}, torch::kDouble}}) {
    SCOPED_TRACE(std::to_string(c.shape.size()) + "-d kernel " + std::to_string(c.kernel[0]));
    torch::manual_seed(2);
    torch::Tensor x = torch::round(torch::randn(c.shape, c.dtype) * 2.0);  // many ties
    x.view({-1})[5] = std::nan("");
    x.view({-1})[x.numel() - 3] = std::nan("");
    ASSERT_TRUE(
        direct_max_pool_applies(x, c.kernel, c.kernel, std::vector<int64_t>(c.kernel.size(), 0)));
    const torch::Tensor xa = x.clone().requires_grad_(true), xd = x.clone().requires_grad_(true);
    const torch::Tensor ya = c.kernel.size() == 1 ? torch::max_pool1d(xa, c.kernel, c.kernel)
                                                  : torch::max_pool2d(xa, c.kernel, c.kernel);
    const torch::Tensor yd = direct_max_pool(xd, c.kernel);
    ASSERT_EQ(ya.sizes(), yd.sizes());
    EXPECT_TRUE(torch::equal(torch::isnan(ya), torch::isnan(yd)));
    EXPECT_TRUE(torch::equal(torch::nan_to_num(ya), torch::nan_to_num(yd)));
    const torch::Tensor g = torch::randn(ya.sizes(), c.dtype);
    ya.backward(g);
    yd.backward(g);
    EXPECT_TRUE(torch::equal(xa.grad(), xd.grad()));
  }
  const torch::Tensor x = torch::randn({1, 2, 8});
  EXPECT_FALSE(direct_max_pool_applies(x, {3}, {2}, {0}));  // overlapping windows
  EXPECT_FALSE(direct_max_pool_applies(x, {2}, {2}, {1}));  // padding
}

}  // namespace
}  // namespace qat
