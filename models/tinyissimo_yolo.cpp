#include "models/tinyissimo_yolo.h"

#include <algorithm>

#include "qat/errors.h"

namespace qat::models {

int64_t yolo_outputs_per_cell(const YoloOptions& o) {
  return o.boxes * 5 + o.classes;
}

Graph build_tinyissimo_yolo(const YoloOptions& o) {
  if (o.input.size() != 3) throw GraphError("tinyissimo_yolo: input must be [C, H, W]");
  if (o.grid < 1 || o.boxes < 1 || o.classes < 1)
    throw GraphError("tinyissimo_yolo: grid, boxes and classes must be >= 1");
  // Channels per conv; 0 marks a 2x2 max pool.
  const int64_t layout[] = {16, 0, 16, 16, 0, 32, 32, 0, 64, 64, 0, 64, 128, 0, 128};
  Graph g;
  std::string x = g.input("input", o.input);
  int conv = 1, pool = 1;
  for (int64_t c : layout) {
    if (c == 0) {
      x = g.maxpool("pool" + std::to_string(pool++), x, {2, 2}, {});
      continue;
    }
    const std::string name = "conv" + std::to_string(conv++);
    const int64_t ch = std::max<int64_t>(4, static_cast<int64_t>(c * o.width));
    g.conv(name, x, ch, {3, 3}, {1, 1}, {1, 1}, 1, o.bias && !o.batch_norm);
    x = o.batch_norm ? g.batchnorm(name + "_bn", name) : name;
    x = g.relu(name + "_relu", x);
  }
  x = g.flatten("flatten", x);
  g.linear("head", x, o.grid * o.grid * yolo_outputs_per_cell(o), o.bias);
  return g;
}

}  // namespace qat::models
