#include "datasets/registry.h"

#include <filesystem>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "datasets/coco.h"
#include "datasets/gtsrb.h"
#include "datasets/uci_har.h"
#include "qat/config_reader.h"
#include "qat/errors.h"

namespace qat::data {
namespace fs = std::filesystem;
namespace {

// The first existing path of `key` (a string or a list of candidates). File values are
// relative to the config file, command-line values to the working directory.
std::string resolve_path(ConfigNode& n, const std::string& key, const std::string& base_dir) {
  const std::vector<std::string> candidates = n.get_string_list(key, {});
  if (candidates.empty()) n.fail(key, "a path is required");
  const bool cli = n.where(key).rfind("--set", 0) == 0;
  std::string tried;
  for (const auto& c : candidates) {
    fs::path p(c);
    if (p.is_relative()) p = (cli ? fs::current_path() : fs::path(base_dir)) / p;
    if (fs::exists(p)) return fs::canonical(p).string();
    tried += "\n  " + p.lexically_normal().string();
  }
  n.fail(key, "no such path; tried:" + tried);
}

struct Source {
  std::string images, annotations;  // annotations: json file (coco) or labels dir (yolo_txt)
};

std::vector<Source> parse_sources(ConfigNode& parent, const std::string& key,
                                  const std::string& base_dir, const char* second) {
  std::vector<Source> out;
  const YAML::Node v = parent.has(key) ? parent.yaml()[key] : YAML::Node();
  if (!v)
    parent.fail(key,
                std::string("required: {images: DIR, ") + second + ": PATH} or a list of them");
  auto one = [&](ConfigNode s) {
    Source src{resolve_path(s, "images", base_dir), resolve_path(s, second, base_dir)};
    s.finish();
    out.push_back(src);
  };
  if (v.IsSequence()) {
    for (size_t i = 0; i < v.size(); ++i)
      one(ConfigNode(v[i], parent.key_path(key) + "[" + std::to_string(i) + "]", parent.source()));
  } else {
    one(parent.child(key));
  }
  return out;
}

nlohmann::json sources_json(const std::vector<Source>& s, const char* second) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& x : s) j.push_back({{"images", x.images}, {second, x.annotations}});
  return j;
}

YAML::Node sources_yaml(const std::vector<Source>& s, const char* second) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : s) {
    YAML::Node e;
    e["images"] = x.images;
    e[second] = x.annotations;
    n.push_back(e);
  }
  return n;
}

CocoOptions coco_options(const nlohmann::json& o) {
  CocoOptions c;
  c.categories = o.at("categories").get<std::vector<std::string>>();
  c.width = o.at("width").get<int>();
  c.height = o.at("height").get<int>();
  c.letterbox = o.at("letterbox").get<bool>();
  c.skip_empty = o.at("skip_empty").get<bool>();
  c.max_images = o.at("max_images").get<size_t>();
  return c;
}

void append(DetectionDataset& into, DetectionDataset&& more) {
  if (into.shape.empty()) {
    into = std::move(more);
    return;
  }
  into.data.insert(into.data.end(), more.data.begin(), more.data.end());
  into.boxes.insert(into.boxes.end(), more.boxes.begin(), more.boxes.end());
  into.image_files.insert(into.image_files.end(), more.image_files.begin(), more.image_files.end());
}

}  // namespace

std::vector<std::string> dataset_names() {
  return {"uci_har", "gtsrb", "coco", "yolo_txt"};
}

DatasetSpec parse_dataset_spec(ConfigNode n, const std::string& base_dir) {
  DatasetSpec s;
  s.name = n.get_enum("name", "uci_har", dataset_names());
  s.normalize = n.get_bool("normalize", true);
  YAML::Node resolved = YAML::Clone(n.yaml());
  if (s.name == "uci_har") {
    const std::string path = resolve_path(n, "path", base_dir);
    s.options = {{"path", path}};
    resolved["path"] = path;
    s.input = {9, 128};
    s.num_classes = 6;
  } else if (s.name == "gtsrb") {
    const std::string path = resolve_path(n, "path", base_dir);
    const int64_t w = n.get_int("width", 32, 4, 1024), h = n.get_int("height", 32, 4, 1024);
    s.options = {{"path", path},
                 {"width", w},
                 {"height", h},
                 {"roi_crop", n.get_bool("roi_crop", false)},
                 {"max_per_class", n.get_int("max_per_class", 0, 0)},
                 {"max_test", n.get_int("max_test", 0, 0)}};
    resolved["path"] = path;
    s.input = {3, h, w};
    s.num_classes = kGtsrbClasses;
  } else {
    const bool coco = s.name == "coco";
    const char* second = coco ? "annotations" : "labels";
    const auto train = parse_sources(n, "train", base_dir, second);
    const auto test = parse_sources(n, "test", base_dir, second);
    const int64_t w = n.get_int("width", 88, 8, 4096), h = n.get_int("height", 88, 8, 4096);
    std::vector<std::string> cats = n.get_string_list(coco ? "categories" : "classes", {});
    if (!coco && cats.empty()) n.fail("classes", "yolo_txt needs the list of class names");
    s.options = {{"train", sources_json(train, second)},
                 {"test", sources_json(test, second)},
                 {"categories", cats},
                 {"width", w},
                 {"height", h},
                 {"letterbox", n.get_bool("letterbox", true)},
                 {"skip_empty", n.get_bool("skip_empty", false)},
                 {"max_images", n.get_int("max_images", 0, 0)}};
    resolved["train"] = sources_yaml(train, second);
    resolved["test"] = sources_yaml(test, second);
    s.task = Task::kDetection;
    s.input = {3, h, w};
    s.num_classes = cats.empty() ? 80 : static_cast<int64_t>(cats.size());
  }
  n.finish();
  YAML::Emitter e;
  e << resolved;
  s.resolved_yaml = e.c_str();
  return s;
}

ArrayDataset load_classification(const DatasetSpec& spec, Split split) {
  const auto& o = spec.options;
  if (spec.name == "uci_har") return load_uci_har(o.at("path").get<std::string>(), split);
  if (spec.name == "gtsrb") {
    GtsrbOptions g;
    g.width = o.at("width").get<int>();
    g.height = o.at("height").get<int>();
    g.roi_crop = o.at("roi_crop").get<bool>();
    g.max_per_class = o.at("max_per_class").get<size_t>();
    ArrayDataset d = load_gtsrb(o.at("path").get<std::string>(), split, g);
    const size_t max_test = o.at("max_test").get<size_t>();
    if (split == Split::kTest && max_test > 0 && d.size() > max_test) {
      d.labels.resize(max_test);
      d.data.resize(max_test * static_cast<size_t>(d.sample_numel()));
    }
    return d;
  }
  throw DatasetError("dataset '" + spec.name + "' is not a classification dataset");
}

DetectionDataset load_detection(const DatasetSpec& spec, Split split) {
  const auto& o = spec.options;
  const CocoOptions c = coco_options(o);
  DetectionDataset all;
  for (const auto& src : o.at(split == Split::kTrain ? "train" : "test")) {
    const std::string images = src.at("images").get<std::string>();
    if (spec.name == "coco")
      append(all, load_coco(images, src.at("annotations").get<std::string>(), c));
    else
      append(all, load_yolo_txt(images, src.at("labels").get<std::string>(), c.categories, c));
  }
  spdlog::debug("{} split: {} images", split == Split::kTrain ? "train" : "test", all.size());
  return all;
}

}  // namespace qat::data
