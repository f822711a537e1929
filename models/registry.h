// Model registry: builds the graph named by the `model:` section of a config.
//   model: {name: resnet, filters: [16, 16, 16], ...}
// Every builder validates its options through ConfigNode (unknown keys are errors).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "qat/graph.h"
#include "qat/model_head.h"

namespace qat {
class ConfigNode;
}

namespace qat::models {

// What the training engine needs besides the graph: the task and, for detection, the head
// layout (grid, boxes, classes) used by the loss and the box decoder.
struct BuiltModel {
  Graph graph;
  ModelHead head;
};

using ModelBuilder = std::function<BuiltModel(ConfigNode&, const Shape& input, int64_t classes)>;

struct ModelEntry {
  std::string name;
  std::string description;
  ModelBuilder build;
};

const std::vector<ModelEntry>& model_registry();
std::vector<std::string> model_names();

// Reads `model:` (name and the builder's options) and builds it; finish()es the section.
BuiltModel build_model(ConfigNode model_cfg, const Shape& input, int64_t num_classes);

}  // namespace qat::models
