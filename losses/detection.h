// Detection post-processing and evaluation, torch-free so the host integer engine and tools can
// use it: YOLOv1 output decoding, non-maximum suppression and VOC-style mAP@IoU.
//
// Output layout of a YOLO head (per image, grid S, boxes B, classes C), cell-major:
//   [S][S][B * 5 + C], per box (tx, ty, sw, sh, tc), then C class logits, where
//   cx = (col + sigmoid(tx)) / S, cy = (row + sigmoid(ty)) / S, w = sw^2, h = sh^2 (sw, sh are
//   the predicted square roots, clamped at 0), confidence = sigmoid(tc), class probabilities =
//   softmax(logits). Score of a box = confidence * class probability.
#pragma once

#include <cstdint>
#include <vector>

#include "qat/box.h"

namespace qat::detect {

struct YoloLayout {
  int64_t grid = 4, boxes = 2, classes = 1;
  int64_t per_cell() const { return boxes * 5 + classes; }
  int64_t outputs() const { return grid * grid * per_cell(); }
};

struct Detection {
  float cx, cy, w, h;  // normalised
  float score;
  int64_t cls;
};

float iou(float acx, float acy, float aw, float ah, float bcx, float bcy, float bw, float bh);

// Decodes one image's raw head output (layout.outputs() floats) into boxes above threshold.
std::vector<Detection> decode_yolo(const float* out, const YoloLayout& layout,
                                   float score_threshold);

// Per-class greedy NMS: keeps the highest scores, drops boxes overlapping a kept one by more
// than iou_threshold. Result sorted by descending score.
std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold);

// Mean average precision at one IoU threshold, VOC 2010+ all-point interpolation: per class the
// area under the monotone precision envelope; classes without ground truth are skipped.
struct MapResult {
  double map = 0.0;
  std::vector<double> ap_per_class;  // NaN for classes without ground truth
  std::vector<int64_t> gt_per_class;
};
MapResult mean_average_precision(const std::vector<std::vector<Detection>>& detections,
                                 const std::vector<std::vector<Box>>& ground_truth,
                                 int64_t num_classes, float iou_threshold = 0.5f);

}  // namespace qat::detect
