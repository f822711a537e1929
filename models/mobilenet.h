// MobileNet v1 (depthwise separable convolutions, Howard et al. 2017) and v2 (inverted residuals
// with linear bottlenecks, Sandler et al. 2018), 2D, any input size, width multiplier.
// Channel counts follow torchvision (rounded to multiples of 8 for v2), so MobileNetV2 at width
// 1.0 with 1000 classes has torchvision's 3,504,872 parameters.
#pragma once

#include "qat/graph.h"

namespace qat::models {

struct MobileNetOptions {
  Shape input{3, 96, 96};
  int64_t num_classes = 10;
  double width = 1.0;
  bool relu6 = true;  // v1 only (v2 always uses ReLU6)
  int64_t first_stride = 2;
};

Graph build_mobilenet_v1(const MobileNetOptions& o);
Graph build_mobilenet_v2(const MobileNetOptions& o);

// torchvision's _make_divisible: nearest multiple of `divisor`, never 10% below v.
int64_t make_divisible(double v, int64_t divisor = 8);

}  // namespace qat::models
