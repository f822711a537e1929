#include "qat/model_head.h"

#include "qat/json_fields.h"

namespace qat {

const char* task_kind_name(TaskKind t) {
  return t == TaskKind::kClassification ? "classification" : "detection";
}

const char* grid_order_name(GridOrder o) {
  return o == GridOrder::kCellMajor ? "cell_major" : "channel_major";
}

std::string ModelHead::metric_name() const {
  return task == TaskKind::kClassification ? "acc" : "mAP50";
}

void to_json(nlohmann::json& j, TaskKind t) {
  j = task_kind_name(t);
}

void from_json(const nlohmann::json& j, TaskKind& t) {
  const std::string s = j.get<std::string>();
  for (const TaskKind k : {TaskKind::kClassification, TaskKind::kDetection})
    if (s == task_kind_name(k)) {
      t = k;
      return;
    }
  throw JsonFieldError("", "is '" + s + "'; allowed: classification, detection");
}

void to_json(nlohmann::json& j, const ModelHead& h) {
  j = {{"task", h.task}};
  if (h.task == TaskKind::kDetection) {
    j["grid"] = h.grid;
    j["boxes"] = h.boxes;
    j["classes"] = h.classes;
    j["order"] = grid_order_name(h.order);
  }
}

void from_json(const nlohmann::json& j, ModelHead& h) {
  h = {};
  h.task = json_field<TaskKind>(j, "task");
  if (h.task == TaskKind::kDetection) {
    h.grid = json_field<int64_t>(j, "grid");
    h.boxes = json_field<int64_t>(j, "boxes");
    h.classes = json_field<int64_t>(j, "classes");
    // Optional: checkpoints written before convolutional heads have only cell-major outputs.
    if (const auto o = json_optional<std::string>(j, "order")) {
      if (*o == grid_order_name(GridOrder::kChannelMajor))
        h.order = GridOrder::kChannelMajor;
      else if (*o != grid_order_name(GridOrder::kCellMajor))
        throw JsonFieldError("order", "is '" + *o + "'; allowed: cell_major, channel_major");
    }
    if (h.grid < 1 || h.boxes < 1 || h.classes < 1)
      throw JsonFieldError("", "has a detection layout with grid " + std::to_string(h.grid) +
                                   ", boxes " + std::to_string(h.boxes) + ", classes " +
                                   std::to_string(h.classes) + " (each must be >= 1)");
  }
}

}  // namespace qat
