#include "datasets/gtsrb.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/core.hpp>

#include "datasets/image_io.h"
#include "datasets/text_file.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

namespace fs = std::filesystem;
using detail::at;

const char* const kWhat = "GTSRB";
const std::array<const char*, 8> kColumns = {"Filename", "Width",  "Height", "Roi.X1",
                                             "Roi.Y1",   "Roi.X2", "Roi.Y2", "ClassId"};

std::string header_text() {
  std::string s;
  for (const char* c : kColumns) s += (s.empty() ? "" : ";") + std::string(c);
  return s;
}

void check_header(std::string_view line, const std::string& file) {
  // A UTF-8 byte order mark is what spreadsheet programs put in front of re-saved csv files.
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  const auto cols = detail::split_char(line, ';');
  if (cols.size() == kColumns.size() - 1 && detail::trim(cols.back()) == "Roi.Y2")
    throw DatasetError(at(file, 1) +
                       "no ClassId column: this is the unlabelled test csv; the labelled "
                       "GT-final_test.csv comes with the separate test ground-truth download");
  bool ok = cols.size() == kColumns.size();
  for (size_t i = 0; ok && i < cols.size(); ++i) ok = detail::trim(cols[i]) == kColumns[i];
  if (!ok)
    throw DatasetError(at(file, 1) + "expected the header '" + header_text() + "', got '" +
                       std::string(line) + "'");
}

fs::path class_dir(const fs::path& root, int64_t c) {
  char name[16];
  std::snprintf(name, sizeof(name), "%05d", static_cast<int>(c));
  return root / "Final_Training" / "Images" / name;
}

fs::path find_test_csv(const fs::path& root) {
  const fs::path official = root / "Final_Test" / "GT-final_test.csv";
  const fs::path in_images = root / "Final_Test" / "Images" / "GT-final_test.csv";
  if (fs::exists(official)) return official;
  if (fs::exists(in_images)) return in_images;
  const fs::path unlabelled = root / "Final_Test" / "Images" / "GT-final_test.test.csv";
  if (fs::exists(unlabelled))
    throw DatasetError(std::string(kWhat) + ": missing file '" + official.string() +
                       "' (nor in Images/); only the unlabelled '" + unlabelled.string() +
                       "' exists: the labelled csv comes with the test ground-truth download");
  throw DatasetError(std::string(kWhat) + ": missing file '" + official.string() +
                     "' (also looked for '" + in_images.string() + "')");
}

void check_options(const GtsrbOptions& o) {
  if (o.width <= 0 || o.height <= 0)
    throw DatasetError(std::string(kWhat) + ": image size must be positive, got " +
                       std::to_string(o.width) + "x" + std::to_string(o.height));
  if (o.num_classes < 1 || o.num_classes > kGtsrbClasses)
    throw DatasetError(std::string(kWhat) + ": num_classes must be in 1.." +
                       std::to_string(kGtsrbClasses) + ", got " + std::to_string(o.num_classes));
}

// Scales a ROI coordinate from the csv's image size to the file's and rounds to a pixel edge.
int scale_edge(int v, int csv_size, int actual_size) {
  const double s = static_cast<double>(actual_size) / csv_size;
  return std::clamp(static_cast<int>(std::lround(v * s)), 0, actual_size);
}

}  // namespace

std::vector<GtsrbRow> read_gtsrb_csv(const std::string& csv_path) {
  const std::string text = detail::read_text_file(csv_path, kWhat);
  const auto lines = detail::split_lines(text);
  if (lines.empty()) throw DatasetError(csv_path + ": empty csv (expected a header line)");
  check_header(lines[0], csv_path);
  std::vector<GtsrbRow> rows;
  rows.reserve(lines.size() - 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string where = at(csv_path, i + 1);
    const auto cols = detail::split_char(lines[i], ';');
    if (cols.size() != kColumns.size())
      throw DatasetError(where + "expected " + std::to_string(kColumns.size()) + " columns (" +
                         header_text() + "), got " + std::to_string(cols.size()));
    GtsrbRow r;
    r.line = i + 1;
    r.filename = std::string(detail::trim(cols[0]));
    if (r.filename.empty()) throw DatasetError(where + "empty Filename");
    std::array<int64_t, 7> v{};
    for (size_t k = 1; k < kColumns.size(); ++k) {
      const std::string_view tok = detail::trim(cols[k]);
      if (!detail::parse_int(tok, v[k - 1]) || v[k - 1] < 0 || v[k - 1] > 1'000'000)
        throw DatasetError(where + kColumns[k] + " is not a non-negative integer: '" +
                           std::string(tok) + "'");
    }
    r.width = static_cast<int>(v[0]);
    r.height = static_cast<int>(v[1]);
    r.x1 = static_cast<int>(v[2]);
    r.y1 = static_cast<int>(v[3]);
    r.x2 = static_cast<int>(v[4]);
    r.y2 = static_cast<int>(v[5]);
    r.class_id = v[6];
    if (r.class_id >= kGtsrbClasses)
      throw DatasetError(where + "ClassId " + std::to_string(r.class_id) + " out of range 0.." +
                         std::to_string(kGtsrbClasses - 1));
    if (r.width == 0 || r.height == 0 || r.x1 >= r.x2 || r.y1 >= r.y2 || r.x2 > r.width ||
        r.y2 > r.height)
      throw DatasetError(where + "ROI (" + std::to_string(r.x1) + "," + std::to_string(r.y1) +
                         ")-(" + std::to_string(r.x2) + "," + std::to_string(r.y2) +
                         ") is empty or outside the " + std::to_string(r.width) + "x" +
                         std::to_string(r.height) + " image");
    rows.push_back(std::move(r));
  }
  return rows;
}

void load_gtsrb_image(const std::string& image_path, const GtsrbRow& row,
                      const std::string& csv_path, const GtsrbOptions& options, float* out) {
  const cv::Mat img =
      detail::read_image(image_path, "referenced by " + csv_path + ":" + std::to_string(row.line));
  cv::Mat roi = img;
  if (options.roi_crop) {
    // GTSRB's X2/Y2 are exclusive: with them the border around the sign is symmetric and at
    // least 5 px as the dataset's readme promises (inclusive would leave 4 px on one side in
    // 80% of the rows). Files resized by third parties need the ROI scaled to their size.
    int x1 = scale_edge(row.x1, row.width, img.cols);
    int x2 = scale_edge(row.x2, row.width, img.cols);
    int y1 = scale_edge(row.y1, row.height, img.rows);
    int y2 = scale_edge(row.y2, row.height, img.rows);
    // A tiny ROI in a tiny file can round to nothing: keep at least one pixel.
    if (x2 <= x1) {
      x2 = std::min(x1 + 1, img.cols);
      x1 = x2 - 1;
    }
    if (y2 <= y1) {
      y2 = std::min(y1 + 1, img.rows);
      y1 = y2 - 1;
    }
    roi = img(cv::Rect(x1, y1, x2 - x1, y2 - y1));
  }
  detail::to_chw_rgb(detail::resize_to(roi, options.width, options.height), out);
}

ArrayDataset load_gtsrb(const std::string& root, Split split, const GtsrbOptions& options) {
  check_options(options);
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path base(root);
  if (!fs::is_directory(base))
    throw DatasetError(std::string(kWhat) + ": '" + root +
                       "' is not a directory (expected the folder holding Final_Training and "
                       "Final_Test)");

  // (csv, image folder, row) for every kept sample, in csv order.
  struct Item {
    std::string csv, image;
    GtsrbRow row;
  };
  std::vector<Item> items;
  if (split == Split::kTrain) {
    // A class folder that is absent altogether is skipped with a warning (a cut-down copy such as
    // the bundled sample); a folder without its GT csv, or a broken csv, stays an error.
    std::vector<int64_t> absent;
    for (int64_t c = 0; c < options.num_classes; ++c) {
      const fs::path dir = class_dir(base, c);
      if (!fs::exists(dir)) {
        absent.push_back(c);
        continue;
      }
      char csv_name[32];
      std::snprintf(csv_name, sizeof(csv_name), "GT-%05d.csv", static_cast<int>(c));
      const std::string csv = (dir / csv_name).string();
      auto rows = read_gtsrb_csv(csv);
      if (options.max_per_class > 0 && rows.size() > options.max_per_class)
        rows.resize(options.max_per_class);
      for (auto& r : rows) {
        if (r.class_id != c)
          throw DatasetError(at(csv, r.line) + "ClassId " + std::to_string(r.class_id) +
                             " in the folder of class " + std::to_string(c));
        items.push_back({csv, (dir / r.filename).string(), std::move(r)});
      }
    }
    if (static_cast<int64_t>(absent.size()) == options.num_classes)
      throw DatasetError(std::string(kWhat) + ": no class folder under '" +
                         (base / "Final_Training" / "Images").string() + "' (expected 00000..)");
    if (!absent.empty())
      spdlog::warn(
          "{}: {} of {} class folders are absent under {} (first: {:05d}); training on the "
          "other {} classes",
          kWhat, absent.size(), options.num_classes, (base / "Final_Training" / "Images").string(),
          absent.front(), options.num_classes - static_cast<int64_t>(absent.size()));
  } else {
    const std::string csv = find_test_csv(base).string();
    const fs::path dir = base / "Final_Test" / "Images";
    std::vector<size_t> per_class(kGtsrbClasses, 0);
    for (auto& r : read_gtsrb_csv(csv)) {
      if (r.class_id >= options.num_classes) continue;
      size_t& n = per_class[static_cast<size_t>(r.class_id)];
      if (options.max_per_class > 0 && n >= options.max_per_class) continue;
      ++n;
      items.push_back({csv, (dir / r.filename).string(), std::move(r)});
    }
  }

  ArrayDataset d;
  d.shape = {3, options.height, options.width};
  for (int64_t c = 0; c < options.num_classes; ++c) {
    char name[8];
    std::snprintf(name, sizeof(name), "%02d", static_cast<int>(c));
    d.class_names.emplace_back(name);
  }
  const auto numel = static_cast<size_t>(d.sample_numel());
  d.data.resize(items.size() * numel);
  d.labels.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    load_gtsrb_image(items[i].image, items[i].row, items[i].csv, options,
                     d.data.data() + i * numel);
    d.labels.push_back(items[i].row.class_id);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("{} {}: {} images of [3, {}, {}], {} classes{} ({:.2f} s)", kWhat,
               split == Split::kTrain ? "train" : "test", d.size(), options.height, options.width,
               d.num_classes(), options.roi_crop ? ", ROI-cropped" : "", secs);
  return d;
}

}  // namespace qat::data
