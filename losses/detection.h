// Detection post-processing and evaluation, torch-free so the host integer engine and tools can
// use it: YOLOv1 output decoding, non-maximum suppression and mAP (VOC all-point and COCO
// 101-point, at one IoU or over 0.5:0.95).
//
// Output layout of a YOLO head (per image, grid S, boxes B, classes C), cell-major
//   [S][S][B * 5 + C] (a linear head) or channel-major [B * 5 + C][S][S] (a convolutional head);
//   per cell, per box (tx, ty, sw, sh, tc), then C class logits, where
//   cx = (col + sigmoid(tx)) / S, cy = (row + sigmoid(ty)) / S, w = sw^2, h = sh^2 (sw, sh are
//   the predicted square roots, clamped at 0), confidence = sigmoid(tc), class probabilities =
//   softmax(logits). Score of a box = confidence * class probability.
#pragma once

#include <cstdint>
#include <vector>

#include "qat/box.h"
#include "qat/model_head.h"

namespace qat::detect {

struct YoloLayout {
  int64_t grid = 4, boxes = 2, classes = 1;
  GridOrder order = GridOrder::kCellMajor;
  int64_t per_cell() const { return boxes * 5 + classes; }
  int64_t outputs() const { return grid * grid * per_cell(); }
  // Index of value k (0 .. per_cell()-1) of cell (row, col) in one image's output.
  int64_t index(int64_t row, int64_t col, int64_t k) const {
    return order == GridOrder::kCellMajor ? (row * grid + col) * per_cell() + k
                                          : (k * grid + row) * grid + col;
  }
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

// How the precision/recall curve becomes an AP, both on the monotone precision envelope:
//   all-point (VOC 2010+): the area under the envelope;
//   COCO 101-point: the mean of the envelope at recall 0, 0.01, ..., 1 (0 past the last recall).
enum class ApInterpolation { kAllPoint, kCoco101 };

// Mean average precision at one IoU threshold: per class, detections matched greedily in score
// order to unused ground truth of their class; classes without ground truth are skipped.
// A class's precision/recall curve: one point per detection in descending score order.
struct PrCurve {
  std::vector<double> recall, precision;
};
struct MapResult {
  double map = 0.0;
  std::vector<double> ap_per_class;  // NaN for classes without ground truth
  std::vector<int64_t> gt_per_class;
  std::vector<PrCurve> curves;  // per class (empty without ground truth or detections)
};
MapResult mean_average_precision(const std::vector<std::vector<Detection>>& detections,
                                 const std::vector<std::vector<Box>>& ground_truth,
                                 int64_t num_classes, float iou_threshold = 0.5f,
                                 ApInterpolation interpolation = ApInterpolation::kAllPoint);

// The usual detection figures of one split: VOC mAP@0.5 (all-point, what training reports) and
// the COCO ones (101-point): mAP@0.5, mAP@0.75 and mAP@0.5:0.95 (mean over IoU 0.50, 0.55, ...,
// 0.95), with the per-class APs behind them.
struct DetectionFigures {
  double map50_voc = 0, map50 = 0, map75 = 0, map50_95 = 0;
  std::vector<double> ap50_voc_per_class, ap50_95_per_class;  // NaN: no ground truth
  std::vector<int64_t> gt_per_class;
  std::vector<PrCurve> curves50;                   // per class at IoU 0.5
  std::vector<std::vector<Detection>> detections;  // per image: what the figures were scored on
};
DetectionFigures detection_figures(const std::vector<std::vector<Detection>>& detections,
                                   const std::vector<std::vector<Box>>& ground_truth,
                                   int64_t num_classes);

}  // namespace qat::detect
