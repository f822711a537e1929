// YOLOv1 loss (Redmon et al. 2016) for the layout of losses/detection.h:
//   lambda_coord * sum_resp [(x - x^)^2 + (y - y^)^2 + (sqrt w - sw)^2 + (sqrt h - sh)^2]
// + sum_resp (conf - IoU)^2 + lambda_noobj * sum_not_resp conf^2
// + sum_cells_with_object sum_c (p_c - onehot_c)^2,
// divided by the batch size. The responsible predictor of a cell with an object is the one of
// its B boxes with the highest IoU with the ground truth; one object per cell (the largest).
// Options: BCE objectness, label smoothing, the two lambdas.
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

struct YoloLossOptions {
  double lambda_coord = 5.0, lambda_noobj = 0.5;
  // Objectness as binary cross-entropy on the logit, target the (detached) IoU for the
  // responsible predictor and 0 elsewhere (IoU-aware confidence, as YOLOv3+ trainers), instead
  // of YOLOv1's squared error of sigmoid(logit).
  bool bce_objectness = false;
  // Class targets 1 - eps + eps / C for the true class and eps / C elsewhere (0: one-hot).
  double label_smoothing = 0.0;
};

YoloLoss yolo_loss(const torch::Tensor& output, const torch::Tensor& targets,
                   const YoloLayout& layout, const YoloLossOptions& options = {});

}  // namespace qat::detect
