#include "models/tinyissimo_yolo.h"

#include <algorithm>
#include <limits>

#include "qat/errors.h"

namespace qat::models {

int64_t yolo_outputs_per_cell(const YoloOptions& o) {
  return o.boxes * 5 + o.classes;
}

ModelHead yolo_model_head(const YoloOptions& o) {
  return ModelHead::detection(
      o.grid, o.boxes, o.classes,
      o.head == YoloHead::kConv ? GridOrder::kChannelMajor : GridOrder::kCellMajor);
}

namespace {

// Channels per conv; 0 marks a 2x2 max pool.
constexpr int64_t kBackbone[] = {16, 0, 16, 16, 0, 32, 32, 0, 64, 64, 0, 64, 128, 0, 128};

// How many of the backbone's pools a convolutional head keeps: the feature map must end at
// grid x grid. Throws naming the grids this input allows.
int conv_head_pools(const Shape& input, int64_t grid) {
  int64_t h = input[1], w = input[2];
  std::string reachable;
  int pools = 0;
  const int total = static_cast<int>(std::count(std::begin(kBackbone), std::end(kBackbone), 0));
  for (;;) {
    if (h == grid && w == grid) return pools;
    if (pools == total || h < 2 || w < 2) break;
    h /= 2;
    w /= 2;
    ++pools;
    if (h == w) reachable += (reachable.empty() ? "" : ", ") + std::to_string(h);
  }
  throw GraphError(
      "tinyissimo_yolo: head conv needs the feature map to end at grid x grid, "
      "but " +
      std::to_string(input[1]) + "x" + std::to_string(input[2]) +
      " halved by the backbone's pools never is " + std::to_string(grid) + "x" +
      std::to_string(grid) +
      "; grids this input allows: " + (reachable.empty() ? "none" : reachable));
}

}  // namespace

Graph build_tinyissimo_yolo(const YoloOptions& o) {
  if (o.input.size() != 3) throw GraphError("tinyissimo_yolo: input must be [C, H, W]");
  if (o.grid < 1 || o.boxes < 1 || o.classes < 1)
    throw GraphError("tinyissimo_yolo: grid, boxes and classes must be >= 1");
  const bool conv_head = o.head == YoloHead::kConv;
  const int pools_kept =
      conv_head ? conv_head_pools(o.input, o.grid) : std::numeric_limits<int>::max();
  Graph g;
  std::string x = g.input("input", o.input);
  int conv = 1, pool = 1;
  for (int64_t c : kBackbone) {
    if (c == 0) {
      if (pool <= pools_kept) x = g.maxpool("pool" + std::to_string(pool), x, {2, 2}, {});
      ++pool;
      continue;
    }
    const std::string name = "conv" + std::to_string(conv++);
    const int64_t ch = std::max<int64_t>(4, static_cast<int64_t>(c * o.width));
    g.conv(name, x, ch, {3, 3}, {1, 1}, {1, 1}, 1, o.bias && !o.batch_norm);
    x = o.batch_norm ? g.batchnorm(name + "_bn", name) : name;
    x = g.relu(name + "_relu", x);
  }
  if (conv_head) {
    g.conv("head", x, yolo_outputs_per_cell(o), {1, 1}, {1, 1}, {0, 0}, 1, true);
    return g;
  }
  x = g.flatten("flatten", x);
  g.linear("head", x, o.grid * o.grid * yolo_outputs_per_cell(o), o.bias);
  return g;
}

}  // namespace qat::models
