#include "datasets/coco.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "datasets/detection_builder.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Typed access to one json object with messages that say which file and which entry.
class Entry {
 public:
  Entry(const json& j, const std::string& file, std::string where)
      : j_(j), file_(file), where_(std::move(where)) {
    if (!j_.is_object()) fail("is not an object");
  }
  const json& get(const char* key) const {
    const auto it = j_.find(key);
    if (it == j_.end()) fail(std::string("has no '") + key + "'");
    return *it;
  }
  int64_t integer(const char* key) const {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(std::string("'") + key + "' is not an integer");
    return v.get<int64_t>();
  }
  double number(const json& v, const std::string& what) const {
    if (!v.is_number()) fail(what + " is not a number");
    return v.get<double>();
  }
  std::string string(const char* key) const {
    const json& v = get(key);
    if (!v.is_string()) fail(std::string("'") + key + "' is not a string");
    return v.get<std::string>();
  }
  [[noreturn]] void fail(const std::string& msg) const {
    throw DatasetError(file_ + ": " + where_ + " " + msg);
  }

 private:
  const json& j_;
  const std::string& file_;
  std::string where_;
};

json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DatasetError("COCO: missing file '" + path + "'");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw DatasetError(path + ": malformed JSON: " + e.what());
  }
}

const json& top_array(const json& root, const char* key, const std::string& file) {
  const auto it = root.find(key);
  if (it == root.end() || !it->is_array())
    throw DatasetError(file + ": expected a top-level '" + key + "' array (COCO instances format)");
  return *it;
}

}  // namespace

DetectionDataset load_coco(const std::string& images_dir, const std::string& annotations_json,
                           const CocoOptions& options) {
  const std::string& file = annotations_json;
  detail::check_detection_options(options, "COCO " + file);
  const auto t0 = std::chrono::steady_clock::now();
  const json root = parse_json_file(file);
  if (!root.is_object()) throw DatasetError(file + ": the top level is not a JSON object");

  // Categories in id order (COCO ids run 1..90 with gaps; the class index is the rank).
  std::vector<std::pair<int64_t, std::string>> cats;
  const json& jcats = top_array(root, "categories", file);
  for (size_t i = 0; i < jcats.size(); ++i) {
    const Entry e(jcats[i], file, "categories[" + std::to_string(i) + "]");
    cats.emplace_back(e.integer("id"), e.string("name"));
  }
  std::sort(cats.begin(), cats.end());
  std::unordered_map<int64_t, size_t> cat_rank;
  std::vector<std::string> cat_names;
  for (const auto& [id, name] : cats) {
    if (!cat_rank.emplace(id, cat_names.size()).second)
      throw DatasetError(file + ": category id " + std::to_string(id) + " appears twice");
    cat_names.push_back(name);
  }
  std::vector<std::string> class_names;
  const std::vector<int64_t> cls_of_rank =
      detail::select_categories(cat_names, options.categories, "COCO " + file, class_names);

  struct Image {
    int64_t id;
    std::string file_name;
    double width, height;
    std::vector<detail::SourceBox> boxes;
  };
  std::vector<Image> images;
  std::unordered_map<int64_t, size_t> image_index;
  const json& jimages = top_array(root, "images", file);
  for (size_t i = 0; i < jimages.size(); ++i) {
    const Entry e(jimages[i], file, "images[" + std::to_string(i) + "]");
    const int64_t id = e.integer("id");
    const double w = e.number(e.get("width"), "'width'");
    const double h = e.number(e.get("height"), "'height'");
    if (!(w > 0 && h > 0)) e.fail("has a non-positive width or height");
    if (!image_index.emplace(id, images.size()).second)
      e.fail("repeats image id " + std::to_string(id));
    images.push_back({id, e.string("file_name"), w, h, {}});
  }

  size_t crowd = 0;
  const json& janns = top_array(root, "annotations", file);
  for (size_t i = 0; i < janns.size(); ++i) {
    const json& a = janns[i];
    // Name annotations by their id: that is what a user searches the json for.
    const std::string name = a.is_object() && a.contains("id")
                                 ? "annotation id " + a["id"].dump()
                                 : "annotations[" + std::to_string(i) + "]";
    const Entry e(a, file, name);
    const int64_t image_id = e.integer("image_id");
    const int64_t category_id = e.integer("category_id");
    const auto img = image_index.find(image_id);
    if (img == image_index.end()) e.fail("references unknown image_id " + std::to_string(image_id));
    const auto rank = cat_rank.find(category_id);
    if (rank == cat_rank.end())
      e.fail("references unknown category_id " + std::to_string(category_id));
    if (a.contains("iscrowd") && a["iscrowd"].is_number() && a["iscrowd"].get<double>() != 0) {
      ++crowd;  // crowd regions (RLE masks over many objects) are not boxes to learn
      continue;
    }
    const int64_t cls = cls_of_rank[rank->second];
    if (cls < 0) continue;
    const json& bbox = e.get("bbox");
    if (!bbox.is_array() || bbox.size() != 4) e.fail("'bbox' is not [x, y, width, height]");
    detail::SourceBox b{e.number(bbox[0], "bbox[0]"), e.number(bbox[1], "bbox[1]"),
                        e.number(bbox[2], "bbox[2]"), e.number(bbox[3], "bbox[3]"), cls};
    // A zero-sized box is a degenerate annotation (dropped as too small below); a negative one
    // is a corrupt file.
    if (b.w < 0 || b.h < 0)
      e.fail("has a negative bbox width or height (" + bbox.dump() +
             "; COCO boxes are [x, y, width, height])");
    images[img->second].boxes.push_back(b);
  }

  detail::DetectionBuilder builder(options, class_names);
  size_t boxes = 0;
  for (const Image& im : images) {
    if (builder.full()) break;
    const std::string path = (fs::path(images_dir) / im.file_name).string();
    builder.add(path, "image id " + std::to_string(im.id) + " in " + file, im.width, im.height,
                im.boxes);
  }
  const size_t dropped = builder.dropped_boxes();
  DetectionDataset d = builder.finish();
  for (const auto& b : d.boxes) boxes += b.size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "COCO {}: {} images of [3, {}, {}], {} classes, {} boxes ({} crowd ignored, {} too small "
      "dropped) ({:.2f} s)",
      fs::path(file).filename().string(), d.size(), options.height, options.width,
      d.class_names.size(), boxes, crowd, dropped, secs);
  return d;
}

}  // namespace qat::data
