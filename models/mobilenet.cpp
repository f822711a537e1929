#include "models/mobilenet.h"

#include <algorithm>

#include "qat/errors.h"

namespace qat::models {
namespace {

std::string conv_bn_act(Graph& g, const std::string& name, const std::string& in, int64_t out,
                        int64_t k, int64_t stride, int64_t groups, const char* act) {
  const int64_t pad = (k - 1) / 2;
  g.conv(name, in, out, {k, k}, {stride, stride}, {pad, pad}, groups, false);
  std::string y = g.batchnorm(name + "_bn", name);
  if (std::string(act) == "relu") return g.relu(name + "_relu", y);
  if (std::string(act) == "relu6") return g.relu6(name + "_relu6", y);
  return y;
}

void check_input(const MobileNetOptions& o) {
  if (o.input.size() != 3) throw GraphError("mobilenet: input must be [C, H, W]");
  if (!(o.width > 0)) throw GraphError("mobilenet: width multiplier must be > 0");
}

}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  int64_t nv =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

Graph build_mobilenet_v1(const MobileNetOptions& o) {
  check_input(o);
  const char* act = o.relu6 ? "relu6" : "relu";
  auto ch = [&](int64_t c) { return std::max<int64_t>(8, static_cast<int64_t>(c * o.width)); };
  Graph g;
  std::string x = g.input("input", o.input);
  x = conv_bn_act(g, "conv1", x, ch(32), 3, o.first_stride, 1, act);
  const int64_t cfg[][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
                            {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  int64_t in_c = ch(32);
  int i = 1;
  for (const auto& c : cfg) {
    const std::string p = "b" + std::to_string(i++) + "_";
    x = conv_bn_act(g, p + "dw", x, in_c, 3, c[1], in_c, act);
    x = conv_bn_act(g, p + "pw", x, ch(c[0]), 1, 1, 1, act);
    in_c = ch(c[0]);
  }
  x = g.global_avgpool("pool", x);
  x = g.flatten("flatten", x);
  g.linear("fc", x, o.num_classes);
  return g;
}

Graph build_mobilenet_v2(const MobileNetOptions& o) {
  check_input(o);
  // expansion t, channels c, repeats n, stride s (Sandler et al., table 2)
  const int64_t cfg[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                            {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  Graph g;
  std::string x = g.input("input", o.input);
  int64_t in_c = make_divisible(32 * o.width);
  const int64_t last_c = make_divisible(1280 * std::max(1.0, o.width));
  x = conv_bn_act(g, "conv1", x, in_c, 3, o.first_stride, 1, "relu6");
  int block = 1;
  for (const auto& c : cfg) {
    const int64_t out_c = make_divisible(static_cast<double>(c[1]) * o.width);
    for (int64_t r = 0; r < c[2]; ++r) {
      const int64_t stride = r == 0 ? c[3] : 1;
      const std::string p = "b" + std::to_string(block++) + "_";
      const int64_t hidden = in_c * c[0];
      std::string y = x;
      if (c[0] != 1) y = conv_bn_act(g, p + "expand", y, hidden, 1, 1, 1, "relu6");
      y = conv_bn_act(g, p + "dw", y, hidden, 3, stride, hidden, "relu6");
      y = conv_bn_act(g, p + "project", y, out_c, 1, 1, 1, "none");
      x = (stride == 1 && in_c == out_c) ? g.add_node(p + "add", x, y) : y;
      in_c = out_c;
    }
  }
  x = conv_bn_act(g, "conv_last", x, last_c, 1, 1, 1, "relu6");
  x = g.global_avgpool("pool", x);
  x = g.flatten("flatten", x);
  g.linear("fc", x, o.num_classes);
  return g;
}

}  // namespace qat::models
