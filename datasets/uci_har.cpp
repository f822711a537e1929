#include "datasets/uci_har.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "datasets/text_file.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

namespace fs = std::filesystem;
using detail::at;

const char* const kWhat = "UCI-HAR";

std::vector<std::string> default_class_names() {
  return {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"};
}

// activity_labels.txt: "<id> <name>" with ids 1..K in order.
std::vector<std::string> read_class_names(const fs::path& root) {
  const fs::path path = root / "activity_labels.txt";
  if (!fs::exists(path)) {
    spdlog::debug("{}: no {}, using the default class names", kWhat, path.string());
    return default_class_names();
  }
  const std::string file = path.string();
  const std::string text = detail::read_text_file(file, kWhat);
  const auto lines = detail::split_lines(text);
  std::vector<std::string> names;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto tok = detail::split_ws(lines[i]);
    int64_t id = 0;
    if (tok.size() != 2 || !detail::parse_int(tok[0], id))
      throw DatasetError(at(file, i + 1) + "expected '<id> <name>', got '" + std::string(lines[i]) +
                         "'");
    if (id != static_cast<int64_t>(names.size()) + 1)
      throw DatasetError(at(file, i + 1) + "expected activity id " +
                         std::to_string(names.size() + 1) + ", got " + std::to_string(id));
    names.emplace_back(tok[1]);
  }
  if (names.empty()) throw DatasetError(file + ": no activity labels");
  return names;
}

// One integer per line (labels or subject ids), each in [lo, hi].
std::vector<int64_t> read_int_column(const fs::path& path, int64_t lo, int64_t hi,
                                     const char* what) {
  const std::string file = path.string();
  const std::string text = detail::read_text_file(file, kWhat);
  const auto lines = detail::split_lines(text);
  std::vector<int64_t> values;
  values.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view tok = detail::trim(lines[i]);
    int64_t v = 0;
    if (!detail::parse_int(tok, v))
      throw DatasetError(at(file, i + 1) + "expected an integer " + what + ", got '" +
                         std::string(tok) + "'");
    if (v < lo || v > hi)
      throw DatasetError(at(file, i + 1) + what + " " + std::to_string(v) + " out of range " +
                         std::to_string(lo) + ".." + std::to_string(hi));
    values.push_back(v);
  }
  return values;
}

// Parses one signal file into channel `channel` of every sample of `out` (already sized for
// `windows` samples). The tokenizer is hand-rolled: the test split alone is 3.4 M numbers.
void read_signal(const fs::path& path, size_t channel, size_t windows, const std::string& y_file,
                 std::vector<float>& out) {
  const std::string file = path.string();
  const std::string text = detail::read_text_file(file, kWhat);
  const auto lines = detail::split_lines(text);
  if (lines.size() != windows)
    throw DatasetError(kWhat + std::string(": line counts differ: '") + file + "' has " +
                       std::to_string(lines.size()) + " lines, '" + y_file + "' has " +
                       std::to_string(windows));
  constexpr size_t kSample = kUciHarChannels * kUciHarWindow;
  for (size_t w = 0; w < windows; ++w) {
    const std::string_view line = lines[w];
    float* dst = out.data() + w * kSample + channel * kUciHarWindow;
    size_t count = 0;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      const size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      if (i == start) break;
      const std::string_view tok = line.substr(start, i - start);
      float v = 0.0f;
      if (!detail::parse_float(tok, v))
        throw DatasetError(at(file, w + 1) + "value " + std::to_string(count + 1) +
                           " is not a finite number: '" + std::string(tok) + "'");
      if (count < static_cast<size_t>(kUciHarWindow)) dst[count] = v;
      ++count;
    }
    if (count != static_cast<size_t>(kUciHarWindow))
      throw DatasetError(at(file, w + 1) + "expected " + std::to_string(kUciHarWindow) +
                         " values, got " + std::to_string(count));
  }
}

}  // namespace

const std::vector<std::string>& uci_har_channel_names() {
  static const std::vector<std::string> names = {"body_acc_x",  "body_acc_y",  "body_acc_z",
                                                 "body_gyro_x", "body_gyro_y", "body_gyro_z",
                                                 "total_acc_x", "total_acc_y", "total_acc_z"};
  return names;
}

ArrayDataset load_uci_har(const std::string& root, Split split) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string s = split == Split::kTrain ? "train" : "test";
  const fs::path base(root);
  if (!fs::is_directory(base))
    throw DatasetError(std::string(kWhat) + ": '" + root +
                       "' is not a directory (expected the 'UCI HAR Dataset' folder)");
  const fs::path dir = base / s;

  ArrayDataset d;
  d.class_names = read_class_names(base);
  const fs::path y_path = dir / ("y_" + s + ".txt");
  const std::vector<int64_t> y =
      read_int_column(y_path, 1, static_cast<int64_t>(d.class_names.size()), "label");
  d.labels.reserve(y.size());
  for (int64_t v : y) d.labels.push_back(v - 1);

  const fs::path subject_path = dir / ("subject_" + s + ".txt");
  d.groups = read_int_column(subject_path, 1, 1'000'000, "subject id");
  if (d.groups.size() != d.labels.size())
    throw DatasetError(std::string(kWhat) + ": line counts differ: '" + subject_path.string() +
                       "' has " + std::to_string(d.groups.size()) + " lines, '" + y_path.string() +
                       "' has " + std::to_string(d.labels.size()));

  d.shape = {kUciHarChannels, kUciHarWindow};
  d.data.assign(d.labels.size() * kUciHarChannels * kUciHarWindow, 0.0f);
  const auto& channels = uci_har_channel_names();
  for (size_t c = 0; c < channels.size(); ++c) {
    const fs::path p = dir / "Inertial Signals" / (channels[c] + "_" + s + ".txt");
    read_signal(p, c, d.labels.size(), y_path.string(), d.data);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("{} {}: {} windows of [9, 128], {} classes ({:.2f} s)", kWhat, s, d.size(),
               d.num_classes(), secs);
  return d;
}

}  // namespace qat::data
