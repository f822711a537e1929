// Dataset registry: the `dataset:` section of a config, validated without loading any data, and
// the loaders it dispatches to.
//   uci_har:  {path}                                     -> [9, 128], 6 classes
//   gtsrb:    {path, width, height, roi_crop, max_per_class} -> [3, H, W], 43 classes
//   coco:     {train: [{images, annotations}], test: {images, annotations}, categories,
//              width, height, letterbox, skip_empty, max_images}   -> detection
//   yolo_txt: {train: [{images, labels}], test: {images, labels}, classes, width, height}
// Every dataset takes `normalize` (per-channel z-score from the training split, default true).
// Paths are relative to the config file; a list of paths means "the first that exists" (e.g.
// the full dataset if present, else the bundled sample).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"

namespace qat {
class ConfigNode;
}

namespace qat::data {

enum class Task { kClassification, kDetection };

struct DatasetSpec {
  std::string name;
  Task task = Task::kClassification;
  std::vector<int64_t> input;  // per-sample shape
  int64_t num_classes = 0;
  bool normalize = true;
  nlohmann::json options;     // loader options, paths absolute
  std::string resolved_yaml;  // the section as YAML with absolute paths (saved with a run)
};

DatasetSpec parse_dataset_spec(ConfigNode node, const std::string& base_dir);
std::vector<std::string> dataset_names();

ArrayDataset load_classification(const DatasetSpec& spec, Split split);
DetectionDataset load_detection(const DatasetSpec& spec, Split split);

}  // namespace qat::data
