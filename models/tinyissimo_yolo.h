// TinyissimoYOLO v1 (Moosmann et al. 2023): 3x3 convs with ReLU and 2x2 max pools
//   16 | pool | 16,16 | pool | 32,32 | pool | 64,64 | pool | 64,128 | pool | 128
// then flatten and a linear head to a grid x grid x (boxes * 5 + classes) output. With the
// published setting (88x88x3, 4x4 grid, 2 boxes, 1 class, no biases) it has 422,320 parameters.
//
// The convolutional head of the later versions (arXiv 2311.01057) instead: the backbone keeps
// only as many pools as bring the feature map down to grid x grid (88x88: grid 44, 22, 11, 5 or
// 2), and a 1x1 convolution with bias predicts every cell's boxes * 5 + classes values from its
// own feature vector, the same weights for every cell (channel-major output, GridOrder). Far
// fewer parameters than the linear head, and translation-equivariant.
#pragma once

#include "qat/graph.h"
#include "qat/model_head.h"

namespace qat::models {

enum class YoloHead { kLinear, kConv };

struct YoloOptions {
  Shape input{3, 88, 88};
  int64_t grid = 4;
  int64_t boxes = 2;
  int64_t classes = 1;
  bool batch_norm = false;
  bool bias = false;
  double width = 1.0;  // channel multiplier
  YoloHead head = YoloHead::kLinear;
};

Graph build_tinyissimo_yolo(const YoloOptions& o);
int64_t yolo_outputs_per_cell(const YoloOptions& o);
// The output layout the built graph has (its grid order follows the head).
ModelHead yolo_model_head(const YoloOptions& o);

}  // namespace qat::models
