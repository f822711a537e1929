// What a model's output means: the task and, for detection, the YOLO head layout. Built by the
// model registry, stored in every checkpoint and integer checkpoint, read by the training
// tasks, the evaluation and the exporters.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace qat {

enum class TaskKind { kClassification, kDetection };
const char* task_kind_name(TaskKind t);  // "classification" / "detection"

// How a detection output (channel-first, as torch and the host engine give it) orders the grid:
//   cell-major [grid][grid][boxes*5+classes]: a linear head;
//   channel-major [boxes*5+classes][grid][grid]: a convolutional head (the deployed C keeps
//   tensors channels-last, so there its output is cell-major again).
enum class GridOrder { kCellMajor, kChannelMajor };
const char* grid_order_name(GridOrder o);  // "cell_major" / "channel_major"

struct ModelHead {
  TaskKind task = TaskKind::kClassification;
  // Detection: grid cells per side, boxes per cell, classes, and the order of the output.
  int64_t grid = 0, boxes = 0, classes = 0;
  GridOrder order = GridOrder::kCellMajor;

  static ModelHead classification() { return {}; }
  static ModelHead detection(int64_t grid, int64_t boxes, int64_t classes,
                             GridOrder order = GridOrder::kCellMajor) {
    return {TaskKind::kDetection, grid, boxes, classes, order};
  }
  // The figure its evaluation reports: "acc" (top-1) or "mAP50".
  std::string metric_name() const;
  bool operator==(const ModelHead& o) const {
    return task == o.task && grid == o.grid && boxes == o.boxes && classes == o.classes &&
           order == o.order;
  }
};

// {"task": "classification"} or {"task": "detection", "grid": 4, "boxes": 2, "classes": 3,
// "order": "cell_major"} ("order" absent: cell-major, as checkpoints before it).
void to_json(nlohmann::json& j, const ModelHead& h);
void from_json(const nlohmann::json& j, ModelHead& h);
void to_json(nlohmann::json& j, TaskKind t);
void from_json(const nlohmann::json& j, TaskKind& t);

}  // namespace qat
