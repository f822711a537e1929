// Dataset registry: the `dataset:` section of a config, validated without loading any data into
// a typed spec per dataset (like the model registry), and the loaders it dispatches to.
//   uci_har:  {path}                                                  -> [9, 128], 6 classes
//   gtsrb:    {path, width, height, roi_crop, max_per_class, max_test} -> [3, H, W], 43 classes
//   coco:     {train: [{images, annotations}], test: {images, annotations}, categories,
//              width, height, letterbox, skip_empty, max_images}      -> detection
//   yolo_txt: {train: [{images, labels}], test: {images, labels}, classes, width, height, ...}
// Every dataset takes `normalize` (per-channel z-score from the training split, default true).
// Paths are relative to the config file; a list of paths means "the first that exists" (e.g.
// the full dataset if present, else the bundled sample).
#pragma once

#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "datasets/coco.h"
#include "datasets/dataset.h"
#include "datasets/gtsrb.h"
#include "qat/model_head.h"

namespace qat {
class ConfigNode;
}

namespace qat::data {

struct UciHarSpec {
  std::string path;  // the "UCI HAR Dataset" folder
};

struct GtsrbSpec {
  std::string path;  // the folder holding Final_Training/ and Final_Test/
  GtsrbOptions options;
  size_t max_test = 0;  // 0: the whole test split; else its first N images
};

// COCO (annotations: an instances_*.json) or YOLO txt (annotations: the labels folder).
struct DetectionSource {
  std::string images, annotations;
};
struct DetectionSpec {
  bool yolo_txt = false;
  std::vector<DetectionSource> train, test;
  CocoOptions options;  // categories (coco) / class names (yolo_txt), size, letterbox, ...
};

struct DatasetSpec {
  std::string name;
  TaskKind task = TaskKind::kClassification;
  std::vector<int64_t> input;  // per-sample shape
  int64_t num_classes = 0;
  bool normalize = true;
  std::variant<UciHarSpec, GtsrbSpec, DetectionSpec> source;  // paths absolute
  std::string resolved_yaml;  // the section as YAML with absolute paths (saved with a run)
};

// One dataset: its name, what it is, and the parser of its options (everything but `name` and
// `normalize`), which fills the spec's task, input, classes, source and resolved YAML section.
struct DatasetEntry {
  std::string name;
  std::string description;
  std::function<void(ConfigNode&, const std::string& base_dir, DatasetSpec&)> parse;
};
const std::vector<DatasetEntry>& dataset_registry();
std::vector<std::string> dataset_names();

DatasetSpec parse_dataset_spec(ConfigNode node, const std::string& base_dir);

ArrayDataset load_classification(const DatasetSpec& spec, Split split);
DetectionDataset load_detection(const DatasetSpec& spec, Split split);

}  // namespace qat::data
