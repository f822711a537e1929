#include "models/registry.h"

#include "models/mobilenet.h"
#include "models/resnet.h"
#include "models/tinyissimo_yolo.h"
#include "qat/config_reader.h"
#include "qat/errors.h"

namespace qat::models {
namespace {

BuiltModel resnet(ConfigNode& c, const Shape& input, int64_t classes) {
  ResNetOptions o;
  o.input = input;
  o.num_classes = classes;
  o.num_blocks = c.get_int_list("num_blocks", o.num_blocks, 1, 64);
  const size_t n = o.num_blocks.size() + 1;
  // Scalars apply to every entry: "filters: 32" sweeps the width in one key.
  auto per_stage = [&](const char* key, std::vector<int64_t> def, int64_t min) {
    std::vector<int64_t> v = c.get_int_or_list(key, def, min);
    if (v.size() == 1 && n > 1) v.assign(n, v[0]);
    if (v.size() != n)
      c.fail(key, "needs " + std::to_string(n) + " entries (first conv + one per stage), got " +
                      std::to_string(v.size()));
    return v;
  };
  o.filters = per_stage("filters", o.filters, 1);
  o.kernel_sizes = per_stage("kernel_sizes", o.kernel_sizes, 1);
  o.strides = per_stage("strides", o.strides, 1);
  o.paddings = per_stage("paddings", o.paddings, 0);
  o.batch_norm = c.get_bool("batch_norm", o.batch_norm);
  o.postpool = c.get_enum("postpool", o.postpool, {"max", "avg"});
  o.downsample = c.get_enum("downsample", o.downsample, {"maxpool", "stride"});
  o.force_projection_with_stride = c.get_bool("force_projection_with_stride", true);
  return {build_resnet(o), ModelHead::classification()};
}

MobileNetOptions mobilenet_options(ConfigNode& c, const Shape& input, int64_t classes) {
  MobileNetOptions o;
  o.input = input;
  o.num_classes = classes;
  o.width = c.get_double("width", 1.0, 0.0, 4.0, true);
  o.first_stride = c.get_int("first_stride", 2, 1, 4);
  return o;
}

BuiltModel mobilenet_v1(ConfigNode& c, const Shape& input, int64_t classes) {
  MobileNetOptions o = mobilenet_options(c, input, classes);
  o.relu6 = c.get_bool("relu6", true);
  return {build_mobilenet_v1(o), ModelHead::classification()};
}

BuiltModel mobilenet_v2(ConfigNode& c, const Shape& input, int64_t classes) {
  return {build_mobilenet_v2(mobilenet_options(c, input, classes)), ModelHead::classification()};
}

BuiltModel tinyissimo_yolo(ConfigNode& c, const Shape& input, int64_t classes) {
  YoloOptions o;
  o.input = input;
  o.classes = classes;
  o.grid = c.get_int("grid", 4, 1, 64);
  o.boxes = c.get_int("boxes", 2, 1, 16);
  o.batch_norm = c.get_bool("batch_norm", false);
  o.bias = c.get_bool("bias", false);
  o.width = c.get_double("width", 1.0, 0.0, 8.0, true);
  o.head = c.get_enum("head", "linear", {"linear", "conv"}) == "conv" ? YoloHead::kConv
                                                                      : YoloHead::kLinear;
  return {build_tinyissimo_yolo(o), yolo_model_head(o)};
}

}  // namespace

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> registry = {
      {"resnet", "MicroAI/Qualia ResNet, 1D or 2D (ResNetv1-6 by default)", resnet},
      {"mobilenet_v1", "MobileNet v1, depthwise separable, width multiplier", mobilenet_v1},
      {"mobilenet_v2", "MobileNet v2, inverted residuals, width multiplier", mobilenet_v2},
      {"tinyissimo_yolo", "TinyissimoYOLO v1 detector (grid x boxes x classes head)",
       tinyissimo_yolo},
  };
  return registry;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : model_registry()) names.push_back(e.name);
  return names;
}

BuiltModel build_model(ConfigNode c, const Shape& input, int64_t num_classes) {
  const std::string name = c.get_enum("name", "resnet", model_names());
  for (const auto& e : model_registry()) {
    if (e.name != name) continue;
    BuiltModel m;
    try {
      m = e.build(c, input, num_classes);
    } catch (const GraphError& err) {
      throw ConfigError(c.where() + ": model '" + name + "': " + err.what());
    }
    c.finish();
    return m;
  }
  throw ConfigError("unreachable: model '" + name + "'");
}

}  // namespace qat::models
