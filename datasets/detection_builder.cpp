#include "datasets/detection_builder.h"

#include <algorithm>
#include <unordered_map>

#include "datasets/image_io.h"
#include "qat/errors.h"

namespace qat::data::detail {

std::vector<int64_t> select_categories(const std::vector<std::string>& available,
                                       const std::vector<std::string>& wanted,
                                       const std::string& what,
                                       std::vector<std::string>& kept_names) {
  std::vector<int64_t> map(available.size(), -1);
  kept_names.clear();
  if (wanted.empty()) {
    for (size_t i = 0; i < available.size(); ++i) map[i] = static_cast<int64_t>(i);
    kept_names = available;
    return map;
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < available.size(); ++i) index.emplace(available[i], i);
  for (const auto& name : wanted) {
    const auto it = index.find(name);
    if (it == index.end()) {
      std::string list;
      for (const auto& a : available) list += (list.empty() ? "" : ", ") + a;
      throw DatasetError(what + ": unknown category '" + name + "'; available: " + list);
    }
    if (map[it->second] >= 0)
      throw DatasetError(what + ": category '" + name + "' is listed twice");
    map[it->second] = static_cast<int64_t>(kept_names.size());
    kept_names.push_back(name);
  }
  return map;
}

void check_detection_options(const CocoOptions& o, const std::string& what) {
  if (o.width <= 0 || o.height <= 0)
    throw DatasetError(what + ": input size must be positive, got " + std::to_string(o.width) +
                       "x" + std::to_string(o.height));
}

DetectionBuilder::DetectionBuilder(const CocoOptions& options, std::vector<std::string> class_names)
    : o_(options) {
  d_.shape = {3, o_.height, o_.width};
  d_.class_names = std::move(class_names);
}

bool DetectionBuilder::full() const {
  return o_.max_images > 0 && d_.size() >= o_.max_images;
}

bool DetectionBuilder::add(const std::string& image_path, const std::string& context, double ref_w,
                           double ref_h, const std::vector<SourceBox>& boxes) {
  if (o_.skip_empty && boxes.empty()) return false;  // skip before paying for the decode
  const cv::Mat img = read_image(image_path, context);
  const Placement p = place(img.cols, img.rows, o_.width, o_.height, o_.letterbox);
  // Reference frame -> file pixels (a no-op unless the file was resized after annotation) ->
  // model-input pixels.
  const double kx = img.cols / ref_w * p.sx, ky = img.rows / ref_h * p.sy;
  const double left = p.pad_x, top = p.pad_y;
  const double right = left + p.content_w, bottom = top + p.content_h;
  std::vector<Box> out;
  for (const auto& b : boxes) {
    const double x1 = std::clamp(b.x * kx + left, left, right);
    const double y1 = std::clamp(b.y * ky + top, top, bottom);
    const double x2 = std::clamp((b.x + b.w) * kx + left, left, right);
    const double y2 = std::clamp((b.y + b.h) * ky + top, top, bottom);
    if (x2 - x1 < 1.0 || y2 - y1 < 1.0) {
      ++dropped_;  // too small to be learnt at this input size
      continue;
    }
    out.push_back({static_cast<float>((x1 + x2) / 2 / o_.width),
                   static_cast<float>((y1 + y2) / 2 / o_.height),
                   static_cast<float>((x2 - x1) / o_.width),
                   static_cast<float>((y2 - y1) / o_.height), b.cls});
  }
  if (o_.skip_empty && out.empty()) return false;
  const auto numel = static_cast<size_t>(d_.sample_numel());
  d_.data.resize(d_.data.size() + numel);
  render(img, p, o_.width, o_.height, d_.data.data() + d_.data.size() - numel);
  d_.boxes.push_back(std::move(out));
  d_.image_files.push_back(image_path);
  return true;
}

}  // namespace qat::data::detail
