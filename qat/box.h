// An object box in normalised coordinates of the (letterboxed) model input: centre and size in
// [0, 1], class index into the dataset's class list. The vocabulary type between the detection
// loaders (datasets/), which produce boxes, and the detection losses and metrics (losses/),
// which consume them; neither depends on the other.
#pragma once

#include <cstdint>

namespace qat {

struct Box {
  float cx, cy, w, h;
  int64_t cls;
};

}  // namespace qat
