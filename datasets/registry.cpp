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

std::vector<DetectionSource> parse_sources(ConfigNode& parent, const std::string& key,
                                           const std::string& base_dir, const char* second) {
  std::vector<DetectionSource> out;
  const YAML::Node v = parent.has(key) ? parent.yaml()[key] : YAML::Node();
  if (!v)
    parent.fail(key,
                std::string("required: {images: DIR, ") + second + ": PATH} or a list of them");
  auto one = [&](ConfigNode s) {
    DetectionSource src{resolve_path(s, "images", base_dir), resolve_path(s, second, base_dir)};
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

YAML::Node sources_yaml(const std::vector<DetectionSource>& s, const char* second) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : s) {
    YAML::Node e;
    e["images"] = x.images;
    e[second] = x.annotations;
    n.push_back(e);
  }
  return n;
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

void parse_uci_har(ConfigNode& n, const std::string& base_dir, DatasetSpec& s) {
  const std::string path = resolve_path(n, "path", base_dir);
  s.source = UciHarSpec{path};
  s.input = {kUciHarChannels, kUciHarWindow};
  s.num_classes = 6;
}

void parse_gtsrb(ConfigNode& n, const std::string& base_dir, DatasetSpec& s) {
  GtsrbSpec g;
  g.path = resolve_path(n, "path", base_dir);
  g.options.width = static_cast<int>(n.get_int("width", 32, 4, 1024));
  g.options.height = static_cast<int>(n.get_int("height", 32, 4, 1024));
  g.options.roi_crop = n.get_bool("roi_crop", false);
  g.options.max_per_class = static_cast<size_t>(n.get_int("max_per_class", 0, 0));
  g.max_test = static_cast<size_t>(n.get_int("max_test", 0, 0));
  s.input = {3, g.options.height, g.options.width};
  s.num_classes = kGtsrbClasses;
  s.source = g;
}

// COCO and YOLO txt share everything but the annotation key and the class list's name.
void parse_detection(ConfigNode& n, const std::string& base_dir, DatasetSpec& s, bool yolo) {
  const char* second = yolo ? "labels" : "annotations";
  DetectionSpec d;
  d.yolo_txt = yolo;
  d.train = parse_sources(n, "train", base_dir, second);
  d.test = parse_sources(n, "test", base_dir, second);
  CocoOptions& o = d.options;
  o.width = static_cast<int>(n.get_int("width", 88, 8, 4096));
  o.height = static_cast<int>(n.get_int("height", 88, 8, 4096));
  o.categories = n.get_string_list(yolo ? "classes" : "categories", {});
  if (yolo && o.categories.empty()) n.fail("classes", "yolo_txt needs the list of class names");
  o.letterbox = n.get_bool("letterbox", true);
  o.skip_empty = n.get_bool("skip_empty", false);
  o.max_images = static_cast<size_t>(n.get_int("max_images", 0, 0));
  s.task = TaskKind::kDetection;
  s.input = {3, o.height, o.width};
  s.num_classes = o.categories.empty() ? 80 : static_cast<int64_t>(o.categories.size());
  s.source = d;
}

}  // namespace

const std::vector<DatasetEntry>& dataset_registry() {
  static const std::vector<DatasetEntry> registry = {
      {"uci_har", "UCI-HAR smartphone IMU windows, 9 x 128, 6 activities (original text files)",
       parse_uci_har},
      {"gtsrb", "German Traffic Sign Recognition Benchmark, 43 classes (original csv + ppm)",
       parse_gtsrb},
      {"coco", "COCO detection (instances json + images), chosen categories",
       [](ConfigNode& n, const std::string& b, DatasetSpec& s) {
         parse_detection(n, b, s, false);
       }},
      {"yolo_txt", "YOLO txt labels (one file per image) + images",
       [](ConfigNode& n, const std::string& b, DatasetSpec& s) { parse_detection(n, b, s, true); }},
  };
  return registry;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& e : dataset_registry()) names.push_back(e.name);
  return names;
}

DatasetSpec parse_dataset_spec(ConfigNode n, const std::string& base_dir) {
  DatasetSpec s;
  s.name = n.get_enum("name", "uci_har", dataset_names());
  s.normalize = n.get_bool("normalize", true);
  for (const auto& e : dataset_registry())
    if (e.name == s.name) e.parse(n, base_dir, s);
  n.finish();
  // The section as given, with every path made absolute: a run directory's config.yaml then
  // loads from anywhere.
  YAML::Node resolved = YAML::Clone(n.yaml());
  if (const auto* u = std::get_if<UciHarSpec>(&s.source)) resolved["path"] = u->path;
  if (const auto* g = std::get_if<GtsrbSpec>(&s.source)) resolved["path"] = g->path;
  if (const auto* d = std::get_if<DetectionSpec>(&s.source)) {
    const char* second = d->yolo_txt ? "labels" : "annotations";
    resolved["train"] = sources_yaml(d->train, second);
    resolved["test"] = sources_yaml(d->test, second);
  }
  YAML::Emitter e;
  e << resolved;
  s.resolved_yaml = e.c_str();
  return s;
}

ArrayDataset load_classification(const DatasetSpec& spec, Split split) {
  if (const auto* u = std::get_if<UciHarSpec>(&spec.source)) return load_uci_har(u->path, split);
  if (const auto* g = std::get_if<GtsrbSpec>(&spec.source)) {
    ArrayDataset d = load_gtsrb(g->path, split, g->options);
    if (split == Split::kTest && g->max_test > 0 && d.size() > g->max_test) {
      d.labels.resize(g->max_test);
      d.data.resize(g->max_test * static_cast<size_t>(d.sample_numel()));
    }
    return d;
  }
  throw DatasetError("dataset '" + spec.name + "' is not a classification dataset");
}

DetectionDataset load_detection(const DatasetSpec& spec, Split split) {
  const auto* d = std::get_if<DetectionSpec>(&spec.source);
  if (!d) throw DatasetError("dataset '" + spec.name + "' is not a detection dataset");
  DetectionDataset all;
  for (const auto& src : split == Split::kTrain ? d->train : d->test) {
    if (d->yolo_txt)
      append(all, load_yolo_txt(src.images, src.annotations, d->options.categories, d->options));
    else
      append(all, load_coco(src.images, src.annotations, d->options));
  }
  spdlog::debug("{} split: {} images", split == Split::kTrain ? "train" : "test", all.size());
  return all;
}

}  // namespace qat::data
