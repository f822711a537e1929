// YOLOv1 loss (Redmon et al. 2016) for the layout of losses/detection.h:
//   lambda_coord * sum_resp [(x - x^)^2 + (y - y^)^2 + (sqrt w - sw)^2 + (sqrt h - sh)^2]
// + sum_resp (conf - IoU)^2 + lambda_noobj * sum_not_resp conf^2
// + sum_cells_with_object sum_c (p_c - onehot_c)^2,
// divided by the batch size. The responsible predictor of a cell with an object is the one of
// its B boxes with the highest IoU with the ground truth; one object per cell (the largest).
#pragma once

#include <torch/types.h>

#include "losses/detection.h"

namespace qat::detect {

// Grid targets [N, S, S, 5 + C]: has_object, x and y offsets inside the cell, w, h, one-hot class.
torch::Tensor build_yolo_targets(const std::vector<std::vector<Box>>& boxes,
                                 const YoloLayout& layout);

struct YoloLoss {
  torch::Tensor total, coord, object, no_object, cls;
};

YoloLoss yolo_loss(const torch::Tensor& output, const torch::Tensor& targets,
                   const YoloLayout& layout, double lambda_coord = 5.0, double lambda_noobj = 0.5);

}  // namespace qat::detect
