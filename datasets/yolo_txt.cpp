// load_yolo_txt (declared in coco.h): the YOLO "one txt per image" label layout.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>

#include "datasets/coco.h"
#include "datasets/detection_builder.h"
#include "datasets/text_file.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

namespace fs = std::filesystem;
using detail::at;

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png",  ".bmp", ".ppm",
                                             ".pgm", ".tif",  ".tiff", ".webp"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExt.count(ext) > 0;
}

// Boxes of one label file in the normalised 1 x 1 frame, classes remapped (unkept dropped).
std::vector<detail::SourceBox> read_labels(const std::string& file, size_t num_source_classes,
                                           const std::vector<int64_t>& cls_map) {
  const std::string text = detail::read_text_file(file, "YOLO");
  const auto lines = detail::split_lines(text);
  std::vector<detail::SourceBox> boxes;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto tok = detail::split_ws(lines[i]);
    if (tok.empty()) continue;
    const std::string where = at(file, i + 1);
    if (tok.size() != 5)
      throw DatasetError(where + "expected 5 values '<cls> <cx> <cy> <w> <h>', got " +
                         std::to_string(tok.size()));
    int64_t cls = 0;
    if (!detail::parse_int(tok[0], cls))
      throw DatasetError(where + "class is not an integer: '" + std::string(tok[0]) + "'");
    if (cls < 0 || cls >= static_cast<int64_t>(num_source_classes))
      throw DatasetError(where + "class " + std::to_string(cls) + " out of range 0.." +
                         std::to_string(num_source_classes - 1));
    float v[4];
    for (int k = 0; k < 4; ++k)
      if (!detail::parse_float(tok[k + 1], v[k]))
        throw DatasetError(where + "not a number: '" + std::string(tok[k + 1]) + "'");
    // Exporters round, so allow a hair outside [0, 1]; anything more means pixel units.
    constexpr float kSlack = 1e-3f;
    for (int k = 0; k < 4; ++k)
      if (v[k] < -kSlack || v[k] > 1 + kSlack)
        throw DatasetError(where + "value '" + std::string(tok[k + 1]) +
                           "' is outside [0, 1] (coordinates must be normalised)");
    if (v[2] <= 0 || v[3] <= 0) throw DatasetError(where + "box width and height must be > 0");
    const int64_t mapped = cls_map[static_cast<size_t>(cls)];
    if (mapped < 0) continue;
    boxes.push_back({v[0] - v[2] / 2.0, v[1] - v[3] / 2.0, v[2], v[3], mapped});
  }
  return boxes;
}

}  // namespace

DetectionDataset load_yolo_txt(const std::string& images_dir, const std::string& labels_dir,
                               const std::vector<std::string>& class_names,
                               const CocoOptions& options) {
  detail::check_detection_options(options, "YOLO " + labels_dir);
  if (class_names.empty()) throw DatasetError("YOLO " + labels_dir + ": no class names given");
  const auto t0 = std::chrono::steady_clock::now();
  if (!fs::is_directory(images_dir))
    throw DatasetError("YOLO: missing image folder '" + images_dir + "'");
  if (!fs::is_directory(labels_dir))
    throw DatasetError("YOLO: missing label folder '" + labels_dir + "'");

  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(images_dir))
    if (e.is_regular_file() && is_image_file(e.path())) images.push_back(e.path());
  std::sort(images.begin(), images.end());
  if (images.empty()) throw DatasetError("YOLO: no images in '" + images_dir + "'");

  std::vector<std::string> kept;
  const std::vector<int64_t> cls_map =
      detail::select_categories(class_names, options.categories, "YOLO " + labels_dir, kept);
  detail::DetectionBuilder builder(options, kept);
  size_t unlabelled = 0;
  for (const fs::path& img : images) {
    if (builder.full()) break;
    const fs::path label = fs::path(labels_dir) / (img.stem().string() + ".txt");
    std::vector<detail::SourceBox> boxes;
    if (fs::exists(label))
      boxes = read_labels(label.string(), class_names.size(), cls_map);
    else
      ++unlabelled;  // YOLO convention: no label file = background image
    builder.add(img.string(), "labels " + label.string(), 1.0, 1.0, boxes);
  }
  const size_t dropped = builder.dropped_boxes();
  DetectionDataset d = builder.finish();
  size_t boxes = 0;
  for (const auto& b : d.boxes) boxes += b.size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "YOLO {}: {} images of [3, {}, {}], {} classes, {} boxes ({} images without a label file, "
      "{} too small dropped) ({:.2f} s)",
      labels_dir, d.size(), options.height, options.width, d.class_names.size(), boxes, unlabelled,
      dropped, secs);
  return d;
}

}  // namespace qat::data
