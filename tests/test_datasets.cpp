// Dataset loaders on the samples shipped in datasets/samples (cut from the real data by
// tools/cut_samples.py), on temporary copies with one defect each, and on ../shared/datasets when
// it is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/coco.h"
#include "datasets/dataset.h"
#include "datasets/gtsrb.h"
#include "datasets/uci_har.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(QAT_SOURCE_DIR) / "datasets" / "samples";
const fs::path kShared = fs::path(QAT_SHARED_DATASETS);
const fs::path kUciSample = kSamples / "uci-har" / "UCI HAR Dataset";
const fs::path kGtsrbSample = kSamples / "gtsrb";
const fs::path kCocoSample = kSamples / "coco";
const fs::path kCocoSampleJson = kCocoSample / "annotations" / "instances_val2017.json";

#define SKIP_UNLESS_EXISTS(path) \
  if (!fs::exists(path))         \
  GTEST_SKIP() << "real data not available at " << (path).string() << " (needs ../shared/datasets)"

// A fresh directory, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("qat_test_datasets_" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

// Splits on '\n' keeping the line endings, so an edited file keeps its CRLF/LF style.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    const size_t stop = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(pos, stop - pos));
    pos = stop;
  }
  return lines;
}

// Replaces line `line` (1-based) of a file, keeping its line ending.
void edit_line(const fs::path& p, size_t line, const std::function<std::string(std::string)>& f) {
  auto lines = lines_of(read_file(p));
  ASSERT_LE(line, lines.size());
  std::string& l = lines[line - 1];
  const size_t body = l.find_first_of("\r\n");
  const std::string ending = body == std::string::npos ? "" : l.substr(body);
  l = f(l.substr(0, body)) + ending;
  std::string all;
  for (const auto& x : lines) all += x;
  write_file(p, all);
}

std::vector<std::string> tokens(const std::string& line, char sep = ' ') {
  std::vector<std::string> t;
  std::stringstream ss(line);
  for (std::string x; std::getline(ss, x, sep);)
    if (!x.empty() || sep != ' ') t.push_back(x);
  return t;
}

std::string join(const std::vector<std::string>& t, char sep = ' ') {
  std::string s;
  for (const auto& x : t) s += (s.empty() ? "" : std::string(1, sep)) + x;
  return s;
}

// Runs `f` and returns the DatasetError message (a test failure if nothing is thrown).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DatasetError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a DatasetError";
  return "";
}

#define EXPECT_MENTIONS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg) << "\nmissing: " << (part)

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Test-side PPM (P6, 8-bit) reader, independent of OpenCV: header tokens may be separated by
// comment lines.
struct Ppm {
  int w = 0, h = 0;
  std::string rgb;
  float at(int x, int y, int c) const {
    return static_cast<unsigned char>(rgb[(static_cast<size_t>(y) * w + x) * 3 + c]) / 255.0f;
  }
};
Ppm read_ppm(const fs::path& p) {
  const std::string b = read_file(p);
  size_t i = 2;
  std::vector<int> v;
  while (v.size() < 3) {
    if (b[i] == '#') {
      while (b[i] != '\n') ++i;
    } else if (std::isspace(static_cast<unsigned char>(b[i]))) {
      ++i;
    } else {
      size_t j = i;
      while (!std::isspace(static_cast<unsigned char>(b[j]))) ++j;
      v.push_back(std::stoi(b.substr(i, j - i)));
      i = j;
    }
  }
  Ppm out;
  out.w = v[0];
  out.h = v[1];
  out.rgb = b.substr(i + 1, static_cast<size_t>(out.w) * out.h * 3);
  return out;
}

std::string ppm_bytes(int w, int h, const std::function<unsigned char(int, int, int)>& px) {
  std::string s =
      "P6\n# written by test_datasets\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) s += static_cast<char>(px(x, y, c));
  return s;
}

float value(const ArrayDataset& d, size_t i, int64_t c, int64_t t) {
  return d.sample(i)[c * d.shape[1] + t];
}

std::map<int64_t, size_t> count_labels(const std::vector<int64_t>& labels) {
  std::map<int64_t, size_t> m;
  for (int64_t l : labels) ++m[l];
  return m;
}

// ---------------------------------------------------------------------------------------------
// UCI-HAR

TEST(UciHar, SampleShapesLabelsAndValues) {
  const ArrayDataset train = load_uci_har(kUciSample.string(), Split::kTrain);
  ASSERT_EQ(train.size(), 180u);
  EXPECT_EQ(train.shape, (std::vector<int64_t>{9, 128}));
  EXPECT_EQ(train.data.size(), 180u * 9 * 128);
  EXPECT_EQ(train.groups.size(), 180u);
  ASSERT_EQ(train.num_classes(), 6);
  EXPECT_EQ(train.class_names.front(), "WALKING");
  EXPECT_EQ(train.class_names[3], "SITTING");
  EXPECT_EQ(train.class_names.back(), "LAYING");
  for (const auto& [label, n] : count_labels(train.labels)) EXPECT_EQ(n, 30u) << label;
  // y_train.txt starts with ten 5s then 4s: labels are shifted to 0-based.
  EXPECT_EQ(train.labels[0], 4);
  EXPECT_EQ(train.labels[9], 4);
  EXPECT_EQ(train.labels[10], 3);
  EXPECT_EQ(train.groups[0], 1);
  // First numbers of the first lines of body_acc_x / total_acc_z, last of total_acc_z's last.
  EXPECT_FLOAT_EQ(value(train, 0, 0, 0), -0.003655f);
  EXPECT_FLOAT_EQ(value(train, 0, 0, 1), -0.004026f);
  EXPECT_FLOAT_EQ(value(train, 0, 8, 0), 0.08734f);
  EXPECT_FLOAT_EQ(value(train, 179, 8, 127), -0.1654f);

  const ArrayDataset test = load_uci_har(kUciSample.string(), Split::kTest);
  ASSERT_EQ(test.size(), 120u);
  for (const auto& [label, n] : count_labels(test.labels)) EXPECT_EQ(n, 20u) << label;
  EXPECT_EQ(test.labels[0], 4);
  EXPECT_EQ(test.labels[20], 3);
  EXPECT_EQ(test.groups[0], 2);
  EXPECT_FLOAT_EQ(value(test, 0, 0, 0), 0.011653f);
  EXPECT_FLOAT_EQ(value(test, 0, 8, 0), 0.02378f);
  EXPECT_FLOAT_EQ(value(test, 119, 8, 127), -0.73978f);
}

TEST(UciHar, ChannelOrderFollowsFileNames) {
  // Each channel must come from its own file: compare channel c of window 0 to that file.
  const ArrayDataset d = load_uci_har(kUciSample.string(), Split::kTest);
  const auto& names = uci_har_channel_names();
  ASSERT_EQ(names.size(), 9u);
  for (size_t c = 0; c < names.size(); ++c) {
    const fs::path f = kUciSample / "test" / "Inertial Signals" / (names[c] + "_test.txt");
    const std::string first_line = lines_of(read_file(f)).front();
    const auto tok = tokens(first_line.substr(0, first_line.find('\n')));
    ASSERT_EQ(tok.size(), 128u) << f;
    EXPECT_FLOAT_EQ(value(d, 0, static_cast<int64_t>(c), 0), std::stof(tok[0])) << names[c];
    EXPECT_FLOAT_EQ(value(d, 0, static_cast<int64_t>(c), 127), std::stof(tok[127])) << names[c];
  }
}

// A two-window dataset written like the ORIGINAL UCI files: leading blanks, double spaces,
// e-notation with three-digit exponents, CRLF.
void write_tiny_uci(const fs::path& root, bool with_activity_labels) {
  for (size_t c = 0; c < 9; ++c) {
    std::string text;
    for (int w = 0; w < 2; ++w) {
      std::string line;
      for (int t = 0; t < 128; ++t) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "  %.7e", (w == 0 ? 1.0 : -1.0) * (c + 1) * 0.01 * (t + 1));
        // "1.0000000e-02" -> "1.0000000e-002": the original files' three-digit exponents.
        std::string s(buf);
        s.insert(s.size() - 2, "0");
        line += s;
      }
      text += line + "\r\n";
    }
    write_file(root / "train" / "Inertial Signals" / (uci_har_channel_names()[c] + "_train.txt"),
               text);
  }
  write_file(root / "train" / "y_train.txt", "1\r\n6\r\n");
  write_file(root / "train" / "subject_train.txt", "7\r\n30\r\n");
  if (with_activity_labels)
    write_file(root / "activity_labels.txt", "1 A\n2 B\n3 C\n4 D\n5 E\n6 F\n");
}

TEST(UciHar, ReadsENotationAndOriginalSpacing) {
  TempDir tmp;
  write_tiny_uci(tmp.path(), true);
  EXPECT_NE(read_file(tmp / "train/y_train.txt").find('\r'), std::string::npos);
  const std::string line = read_file(tmp / "train/Inertial Signals/body_gyro_y_train.txt");
  ASSERT_EQ(line.substr(0, 16), "  5.0000000e-002");  // the path under test really is e-notation
  const ArrayDataset d = load_uci_har(tmp.path().string(), Split::kTrain);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.labels, (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(d.groups, (std::vector<int64_t>{7, 30}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"A", "B", "C", "D", "E", "F"}));
  EXPECT_FLOAT_EQ(value(d, 0, 0, 0), 0.01f);
  EXPECT_FLOAT_EQ(value(d, 0, 4, 0), 0.05f);
  EXPECT_FLOAT_EQ(value(d, 0, 8, 127), 0.09f * 128);
  EXPECT_FLOAT_EQ(value(d, 1, 2, 9), -0.03f * 10);
}

TEST(UciHar, DefaultClassNamesWithoutActivityLabels) {
  TempDir tmp;
  write_tiny_uci(tmp.path(), false);
  const ArrayDataset d = load_uci_har(tmp.path().string(), Split::kTrain);
  EXPECT_EQ(d.class_names,
            (std::vector<std::string>{"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS",
                                      "SITTING", "STANDING", "LAYING"}));
}

TEST(UciHar, NormalizeGivesZeroMeanUnitStd) {
  ArrayDataset d = load_uci_har(kUciSample.string(), Split::kTrain);
  const ChannelStats s = compute_channel_stats(d);
  ASSERT_EQ(s.mean.size(), 9u);
  ASSERT_EQ(s.std.size(), 9u);
  // total_acc_x is gravity-dominated (~ +0.8 g on a phone worn at the waist); body_acc is not.
  EXPECT_GT(s.mean[6], 0.5);
  EXPECT_LT(std::abs(s.mean[0]), 0.05);
  normalize(d, s);
  const ChannelStats after = compute_channel_stats(d);
  for (size_t c = 0; c < 9; ++c) {
    EXPECT_NEAR(after.mean[c], 0.0, 1e-5) << c;
    EXPECT_NEAR(after.std[c], 1.0, 1e-4) << c;
  }
  // The test split normalised with the TRAIN statistics is close to, not exactly, standard.
  ArrayDataset test = load_uci_har(kUciSample.string(), Split::kTest);
  normalize(test, s);
  const ChannelStats t = compute_channel_stats(test);
  for (size_t c = 0; c < 9; ++c) EXPECT_LT(std::abs(t.mean[c]), 1.0) << c;

  ChannelStats wrong = s;
  wrong.mean.pop_back();
  EXPECT_MENTIONS(error_of([&] { normalize(d, wrong); }), "9 channels");
}

TEST(UciHar, NormalizeImagesPerChannel) {
  ArrayDataset d;
  d.shape = {2, 1, 2};
  d.data = {1, 3, 10, 10, 3, 5, 10, 10};  // channel 1 is constant
  d.labels = {0, 0};
  d.class_names = {"x"};
  const ChannelStats s = compute_channel_stats(d);
  EXPECT_DOUBLE_EQ(s.mean[0], 3.0);
  EXPECT_DOUBLE_EQ(s.std[0], std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(s.std[1], 1.0);  // constant channel: std replaced by 1, no division by 0
  normalize(d, s);
  EXPECT_FLOAT_EQ(d.data[0], static_cast<float>(-2 / std::sqrt(2.0)));
  EXPECT_FLOAT_EQ(d.data[2], 0.0f);
}

// A copy of the shipped sample to break.
struct UciCopy {
  TempDir tmp;
  fs::path root = tmp / "UCI HAR Dataset";
  UciCopy() { copy_tree(kUciSample, root); }
  fs::path signal(const std::string& name) const {
    return root / "train" / "Inertial Signals" / (name + "_train.txt");
  }
  std::string load_error() const {
    return error_of([&] { load_uci_har(root.string(), Split::kTrain); });
  }
};

TEST(UciHarErrors, MissingFile) {
  UciCopy u;
  fs::remove(u.signal("body_gyro_y"));
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "missing file");
  EXPECT_MENTIONS(msg, "body_gyro_y_train.txt");
}

TEST(UciHarErrors, MissingRoot) {
  const std::string msg =
      error_of([] { load_uci_har((kSamples / "no-such-folder").string(), Split::kTest); });
  EXPECT_MENTIONS(msg, "no-such-folder");
}

TEST(UciHarErrors, WrongValueCount) {
  UciCopy u;
  edit_line(u.signal("total_acc_x"), 3, [](std::string l) {
    auto t = tokens(l);
    t.pop_back();
    return join(t);
  });
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "total_acc_x_train.txt:3:");
  EXPECT_MENTIONS(msg, "expected 128 values, got 127");
}

TEST(UciHarErrors, NonNumericToken) {
  UciCopy u;
  edit_line(u.signal("body_acc_z"), 7, [](std::string l) {
    auto t = tokens(l);
    t[4] = "abc";
    return join(t);
  });
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "body_acc_z_train.txt:7:");
  EXPECT_MENTIONS(msg, "'abc'");
}

TEST(UciHarErrors, NumberWithTrailingGarbage) {
  UciCopy u;
  edit_line(u.signal("body_acc_x"), 2, [](std::string l) { return "0.5x " + l; });
  EXPECT_MENTIONS(u.load_error(), "body_acc_x_train.txt:2: value 1 is not a finite number: '0.5x'");
}

TEST(UciHarErrors, LabelOutOfRange) {
  UciCopy u;
  edit_line(u.root / "train" / "y_train.txt", 4, [](std::string) { return "7"; });
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "y_train.txt:4:");
  EXPECT_MENTIONS(msg, "label 7 out of range 1..6");
}

TEST(UciHarErrors, LineCountsDiffer) {
  UciCopy u;
  auto lines = lines_of(read_file(u.signal("body_acc_y")));
  lines.pop_back();
  std::string text;
  for (const auto& l : lines) text += l;
  write_file(u.signal("body_acc_y"), text);
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "line counts differ");
  EXPECT_MENTIONS(msg, "body_acc_y_train.txt' has 179 lines");
  EXPECT_MENTIONS(msg, "y_train.txt' has 180");
}

TEST(UciHarErrors, SubjectFileShorter) {
  UciCopy u;
  write_file(u.root / "train" / "subject_train.txt", "1\n1\n");
  const std::string msg = u.load_error();
  EXPECT_MENTIONS(msg, "subject_train.txt' has 2 lines");
}

TEST(UciHarReal, FullTestSet) {
  const fs::path root = kShared / "uci-har" / "UCI HAR Dataset";
  SKIP_UNLESS_EXISTS(root);
  const auto t0 = std::chrono::steady_clock::now();
  const ArrayDataset d = load_uci_har(root.string(), Split::kTest);
  std::printf("[ timing   ] UCI-HAR full test set (2947 x 9 x 128): %.3f s\n", seconds_since(t0));
  ASSERT_EQ(d.size(), 2947u);
  const std::map<int64_t, size_t> expected = {{0, 496}, {1, 471}, {2, 420},
                                              {3, 491}, {4, 532}, {5, 537}};
  EXPECT_EQ(count_labels(d.labels), expected);
  const std::set<int64_t> subjects(d.groups.begin(), d.groups.end());
  EXPECT_EQ(subjects, (std::set<int64_t>{2, 4, 9, 10, 12, 13, 18, 20, 24}));
  for (float x : d.data) ASSERT_TRUE(std::isfinite(x));

  const ArrayDataset train = load_uci_har(root.string(), Split::kTrain);
  EXPECT_EQ(train.size(), 822u);
}

// ---------------------------------------------------------------------------------------------
// GTSRB

GtsrbOptions classes(int64_t n) {
  GtsrbOptions o;
  o.num_classes = n;
  return o;
}

TEST(Gtsrb, SampleTrainMatchesPixels) {
  const ArrayDataset d = load_gtsrb(kGtsrbSample.string(), Split::kTrain, classes(3));
  ASSERT_EQ(d.size(), 15u);
  EXPECT_EQ(d.shape, (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"00", "01", "02"}));
  EXPECT_EQ(d.labels, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2}));
  // The files are already 32x32, so the sample is exactly the PPM's bytes / 255, as RGB planes.
  const Ppm ppm = read_ppm(kGtsrbSample / "Final_Training/Images/00001/00000_00003.ppm");
  ASSERT_EQ(ppm.w, 32);
  const float* s = d.sample(6);
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 17, 31})
      for (int x : {0, 5, 31}) EXPECT_FLOAT_EQ(s[(c * 32 + y) * 32 + x], ppm.at(x, y, c));
  for (float v : d.data) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
}

TEST(Gtsrb, SampleTestRowsAndOptions) {
  const ArrayDataset all = load_gtsrb(kGtsrbSample.string(), Split::kTest);
  EXPECT_EQ(all.labels, (std::vector<int64_t>{16, 1, 38, 33, 11, 38, 18, 12, 25, 35}));
  EXPECT_EQ(all.num_classes(), 43);
  EXPECT_EQ(all.class_names[42], "42");

  GtsrbOptions o = classes(20);  // classes >= 20 are skipped, not errors
  EXPECT_EQ(load_gtsrb(kGtsrbSample.string(), Split::kTest, o).labels,
            (std::vector<int64_t>{16, 1, 11, 18, 12}));
  o = {};
  o.max_per_class = 1;  // the second 38 goes
  EXPECT_EQ(load_gtsrb(kGtsrbSample.string(), Split::kTest, o).size(), 9u);
  o = classes(3);
  o.max_per_class = 2;
  o.width = 20;
  o.height = 24;
  const ArrayDataset small = load_gtsrb(kGtsrbSample.string(), Split::kTrain, o);
  EXPECT_EQ(small.labels, (std::vector<int64_t>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(small.shape, (std::vector<int64_t>{3, 24, 20}));
  EXPECT_EQ(small.data.size(), 6u * 3 * 24 * 20);
}

TEST(Gtsrb, TestCsvInsideImagesFolder) {
  TempDir tmp;
  copy_tree(kGtsrbSample, tmp.path());
  fs::rename(tmp / "Final_Test/GT-final_test.csv", tmp / "Final_Test/Images/GT-final_test.csv");
  EXPECT_EQ(load_gtsrb(tmp.path().string(), Split::kTest).size(), 10u);
}

TEST(Gtsrb, CsvRowsAndCrlf) {
  const fs::path csv = kGtsrbSample / "Final_Training/Images/00001/GT-00001.csv";
  ASSERT_NE(read_file(csv).find("\r\n"), std::string::npos);  // shipped as in the source
  const auto rows = read_gtsrb_csv(csv.string());
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].filename, "00000_00000.ppm");
  EXPECT_EQ(rows[0].width, 56);
  EXPECT_EQ(rows[0].height, 57);
  EXPECT_EQ(rows[0].x1, 6);
  EXPECT_EQ(rows[0].y1, 5);
  EXPECT_EQ(rows[0].x2, 51);
  EXPECT_EQ(rows[0].y2, 52);
  EXPECT_EQ(rows[0].class_id, 1);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(rows[4].line, 6u);
}

// The csv describes a 64 x 128 original with ROI x 16..48, y 32..96; the file was resized to
// 32 x 32, so the ROI in the file is x 8..24, y 8..24: white there, black elsewhere.
TEST(Gtsrb, RoiIsScaledToTheFileSize) {
  TempDir tmp;
  const fs::path dir = tmp / "Final_Training/Images/00000";
  write_file(dir / "GT-00000.csv",
             "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\r\n"
             "a.ppm;64;128;16;32;48;96;0\r\n");
  write_file(dir / "a.ppm", ppm_bytes(32, 32, [](int x, int y, int) {
               return (x >= 8 && x < 24 && y >= 8 && y < 24) ? 255 : 0;
             }));
  GtsrbOptions o = classes(1);
  o.roi_crop = true;
  o.width = o.height = 16;  // = the scaled ROI: no resampling, exact values
  const ArrayDataset d = load_gtsrb(tmp.path().string(), Split::kTrain, o);
  ASSERT_EQ(d.size(), 1u);
  for (float v : d.data) ASSERT_EQ(v, 1.0f);

  o.roi_crop = false;  // whole image shrunk 2x: the white square covers the middle 8x8
  const ArrayDataset full = load_gtsrb(tmp.path().string(), Split::kTrain, o);
  EXPECT_EQ(full.data[0], 0.0f);
  EXPECT_EQ(full.data[8 * 16 + 8], 1.0f);
}

TEST(Gtsrb, PpmWithHeaderCommentAndOriginalSizeRoi) {
  const fs::path dir = kSamples / "gtsrb-original/Final_Training/Images/00021";
  const fs::path img = dir / "00008_00002.ppm";
  ASSERT_EQ(read_file(img).substr(0, 4), "P6\n#");  // the header really has a comment
  const std::string csv = (dir / "GT-00021.csv").string();
  const auto rows = read_gtsrb_csv(csv);  // LF line endings here
  ASSERT_EQ(rows.size(), 2u);
  const GtsrbRow& r = rows[1];
  ASSERT_EQ(r.filename, "00008_00002.ppm");
  ASSERT_EQ(r.width, 48);
  ASSERT_EQ(r.height, 46);
  // Original size: the ROI applies as is. Output = ROI size, so the crop is copied unchanged.
  GtsrbOptions o;
  o.roi_crop = true;
  o.width = r.x2 - r.x1;   // 37
  o.height = r.y2 - r.y1;  // 36
  std::vector<float> out(3 * static_cast<size_t>(o.width) * o.height);
  load_gtsrb_image(img.string(), r, csv, o, out.data());
  const Ppm ppm = read_ppm(img);
  ASSERT_EQ(ppm.w, 48);
  ASSERT_EQ(ppm.h, 46);
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 20, o.height - 1})
      for (int x : {0, 11, o.width - 1})
        EXPECT_FLOAT_EQ(out[(static_cast<size_t>(c) * o.height + y) * o.width + x],
                        ppm.at(x + r.x1, y + r.y1, c));
}

struct GtsrbCopy {
  TempDir tmp;
  GtsrbCopy() { copy_tree(kGtsrbSample, tmp.path()); }
  // The train split of the sample has classes 0..2 only; its test rows have all kinds.
  std::string error(Split split) const {
    const GtsrbOptions o = split == Split::kTrain ? classes(3) : GtsrbOptions{};
    return error_of([&] { load_gtsrb(tmp.path().string(), split, o); });
  }
};

TEST(GtsrbErrors, MissingCsv) {
  // A class folder without its GT csv is an error naming the csv.
  GtsrbCopy g;
  fs::remove(g.tmp / "Final_Training/Images/00001/GT-00001.csv");
  const std::string msg =
      error_of([&] { load_gtsrb(g.tmp.path().string(), Split::kTrain, GtsrbOptions{}); });
  EXPECT_MENTIONS(msg, "missing file");
  EXPECT_MENTIONS(msg, "GT-00001.csv");
}

TEST(Gtsrb, AbsentClassFoldersAreSkipped) {
  // The sample has 3 of the 43 class folders: loading all classes keeps the 43-class label
  // space and trains on the folders present (with a warning).
  const ArrayDataset d = load_gtsrb(kGtsrbSample.string(), Split::kTrain, GtsrbOptions{});
  EXPECT_EQ(d.size(), 15u);
  EXPECT_EQ(d.num_classes(), 43);
  GtsrbCopy g;
  fs::remove_all(g.tmp / "Final_Training/Images");
  fs::create_directories(g.tmp / "Final_Training/Images");
  EXPECT_MENTIONS(
      error_of([&] { load_gtsrb(g.tmp.path().string(), Split::kTrain, GtsrbOptions{}); }),
      "no class folder");
}

TEST(GtsrbErrors, MissingTestCsvMentionsUnlabelledOne) {
  GtsrbCopy g;
  fs::remove(g.tmp / "Final_Test/GT-final_test.csv");
  EXPECT_MENTIONS(g.error(Split::kTest), "GT-final_test.csv");
  write_file(g.tmp / "Final_Test/Images/GT-final_test.test.csv",
             "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\r\n00000.ppm;53;54;6;5;48;49\r\n");
  EXPECT_MENTIONS(g.error(Split::kTest), "unlabelled");
}

TEST(GtsrbErrors, MissingColumn) {
  GtsrbCopy g;
  const fs::path csv = g.tmp / "Final_Training/Images/00001/GT-00001.csv";
  edit_line(csv, 3, [](std::string l) {
    auto t = tokens(l, ';');
    t.erase(t.begin() + 3);
    return join(t, ';');
  });
  const std::string msg = g.error(Split::kTrain);
  EXPECT_MENTIONS(msg, "GT-00001.csv:3:");
  EXPECT_MENTIONS(msg, "expected 8 columns");
  EXPECT_MENTIONS(msg, "got 7");
}

TEST(GtsrbErrors, BadHeaderAndNonInteger) {
  GtsrbCopy g;
  const fs::path csv = g.tmp / "Final_Training/Images/00002/GT-00002.csv";
  edit_line(csv, 4, [](std::string l) {
    auto t = tokens(l, ';');
    t[1] = "wide";
    return join(t, ';');
  });
  EXPECT_MENTIONS(g.error(Split::kTrain),
                  "GT-00002.csv:4: Width is not a non-negative integer: 'wide'");
  edit_line(csv, 1, [](std::string) { return "Filename,Width,Height"; });
  EXPECT_MENTIONS(g.error(Split::kTrain), "GT-00002.csv:1: expected the header");
}

TEST(GtsrbErrors, ClassIdOutOfRange) {
  GtsrbCopy g;
  edit_line(g.tmp / "Final_Test/GT-final_test.csv", 5, [](std::string l) {
    auto t = tokens(l, ';');
    t.back() = "99";
    return join(t, ';');
  });
  const std::string msg = g.error(Split::kTest);
  EXPECT_MENTIONS(msg, "GT-final_test.csv:5:");
  EXPECT_MENTIONS(msg, "ClassId 99 out of range 0..42");
}

TEST(GtsrbErrors, ClassIdNotMatchingFolder) {
  GtsrbCopy g;
  edit_line(g.tmp / "Final_Training/Images/00000/GT-00000.csv", 2, [](std::string l) {
    auto t = tokens(l, ';');
    t.back() = "2";
    return join(t, ';');
  });
  EXPECT_MENTIONS(g.error(Split::kTrain), "GT-00000.csv:2: ClassId 2 in the folder of class 0");
}

TEST(GtsrbErrors, RoiOutsideImage) {
  GtsrbCopy g;
  edit_line(g.tmp / "Final_Training/Images/00000/GT-00000.csv", 3, [](std::string l) {
    auto t = tokens(l, ';');
    t[5] = "500";
    return join(t, ';');
  });
  EXPECT_MENTIONS(g.error(Split::kTrain), "GT-00000.csv:3: ROI");
}

TEST(GtsrbErrors, TruncatedAndGarbagePpm) {
  GtsrbCopy g;
  // Line 4 of GT-00000.csv references 00000_00006.ppm.
  const fs::path img = g.tmp / "Final_Training/Images/00000/00000_00006.ppm";
  const std::string bytes = read_file(img);
  write_file(img, bytes.substr(0, bytes.size() / 2));
  std::string msg = g.error(Split::kTrain);
  EXPECT_MENTIONS(msg, "00000_00006.ppm");
  EXPECT_MENTIONS(msg, "does not decode");
  EXPECT_MENTIONS(msg, "GT-00000.csv:4");

  write_file(img, "this is not an image at all");
  msg = g.error(Split::kTrain);
  EXPECT_MENTIONS(msg, "00000_00006.ppm");
  EXPECT_MENTIONS(msg, "GT-00000.csv:4");
}

TEST(GtsrbErrors, MissingImage) {
  GtsrbCopy g;
  fs::remove(g.tmp / "Final_Test/Images/00007.ppm");
  const std::string msg = g.error(Split::kTest);
  EXPECT_MENTIONS(msg, "missing image");
  EXPECT_MENTIONS(msg, "00007.ppm");
  EXPECT_MENTIONS(msg, "GT-final_test.csv:9");
}

TEST(GtsrbErrors, BadOptions) {
  GtsrbOptions o;
  o.num_classes = 44;
  EXPECT_MENTIONS(error_of([&] { load_gtsrb(kGtsrbSample.string(), Split::kTest, o); }),
                  "num_classes must be in 1..43");
}

TEST(GtsrbReal, ThirtyTwoPixelCopy) {
  const fs::path root = kShared / "gtsrb" / "GTSRB-32x32";
  SKIP_UNLESS_EXISTS(root);
  const auto rows = read_gtsrb_csv((root / "Final_Test/GT-final_test.csv").string());
  ASSERT_EQ(rows.size(), 12630u);
  std::set<int64_t> ids;
  for (const auto& r : rows) ids.insert(r.class_id);
  EXPECT_EQ(ids.size(), 43u);

  // Every test image decodes (the csv sizes are the originals': ROI scaling on every row).
  GtsrbOptions o;
  o.roi_crop = true;
  auto t0 = std::chrono::steady_clock::now();
  const ArrayDataset test = load_gtsrb(root.string(), Split::kTest, o);
  std::printf("[ timing   ] GTSRB-32x32 full test set, ROI crop (%zu images): %.3f s\n",
              test.size(), seconds_since(t0));
  EXPECT_EQ(test.size(), 12630u);
  EXPECT_EQ(count_labels(test.labels).size(), 43u);

  // The whole training copy: every csv row's ClassId matches its folder.
  o.roi_crop = false;
  t0 = std::chrono::steady_clock::now();
  const ArrayDataset train = load_gtsrb(root.string(), Split::kTrain, o);
  std::printf("[ timing   ] GTSRB-32x32 full train copy (%zu images, 43 csv): %.3f s\n",
              train.size(), seconds_since(t0));
  EXPECT_EQ(train.size(), 13070u);

  // max_per_class keeps the FIRST rows of each class csv.
  o.max_per_class = 20;
  const ArrayDataset quick = load_gtsrb(root.string(), Split::kTrain, o);
  EXPECT_EQ(quick.size(), 43u * 20);
  EXPECT_EQ(count_labels(quick.labels).size(), 43u);
  const auto rows5 = read_gtsrb_csv((root / "Final_Training/Images/00005/GT-00005.csv").string());
  const Ppm first = read_ppm(root / "Final_Training/Images/00005" / rows5[0].filename);
  EXPECT_FLOAT_EQ(quick.sample(5 * 20)[0], first.at(0, 0, 0));
}

TEST(GtsrbReal, OriginalSizeSubset) {
  const fs::path root = kShared / "gtsrb" / "GTSRB-original-subset";
  SKIP_UNLESS_EXISTS(root);
  GtsrbOptions o;
  o.roi_crop = true;
  const auto t0 = std::chrono::steady_clock::now();
  const ArrayDataset d = load_gtsrb(root.string(), Split::kTrain, o);
  std::printf("[ timing   ] GTSRB original-size subset, ROI crop to 32x32 (%zu images): %.3f s\n",
              d.size(), seconds_since(t0));
  EXPECT_EQ(d.size(), 2000u);
  EXPECT_EQ(count_labels(d.labels).size(), 43u);
}

// ---------------------------------------------------------------------------------------------
// COCO and YOLO txt

size_t index_of(const DetectionDataset& d, const std::string& file_name) {
  for (size_t i = 0; i < d.size(); ++i)
    if (fs::path(d.image_files[i]).filename() == file_name) return i;
  ADD_FAILURE() << file_name << " not loaded";
  return 0;
}

CocoOptions person_car_dog() {
  CocoOptions o;
  o.categories = {"person", "car", "dog"};
  return o;
}

std::string coco_images() {
  return (kCocoSample / "val2017").string();
}

TEST(Coco, SampleAllCategoriesInIdOrder) {
  const DetectionDataset d = load_coco(coco_images(), kCocoSampleJson.string());
  ASSERT_EQ(d.size(), 6u);
  EXPECT_EQ(d.shape, (std::vector<int64_t>{3, 88, 88}));
  EXPECT_EQ(d.data.size(), 6u * 3 * 88 * 88);
  ASSERT_EQ(d.class_names.size(), 80u);
  // COCO ids have gaps (12 is unused), so dog (id 18) is class 16 and toothbrush (90) is 79.
  EXPECT_EQ(d.class_names[0], "person");
  EXPECT_EQ(d.class_names[2], "car");
  EXPECT_EQ(d.class_names[16], "dog");
  EXPECT_EQ(d.class_names[79], "toothbrush");
  EXPECT_EQ(fs::path(d.image_files[0]).filename(), "000000349860.jpg");  // json order
  for (const auto& boxes : d.boxes)
    for (const Box& b : boxes) {
      EXPECT_GE(b.cls, 0);
      EXPECT_LT(b.cls, 80);
      EXPECT_GT(b.w * 88, 1.0f - 1e-4f);
      EXPECT_GT(b.h * 88, 1.0f - 1e-4f);
      EXPECT_GE(b.cx - b.w / 2, -1e-6f);
      EXPECT_LE(b.cx + b.w / 2, 1 + 1e-6f);
    }
  // 22892.jpg: dog, potted plant, cat, dining table, chair, none tiny.
  const auto& b = d.boxes[index_of(d, "000000022892.jpg")];
  std::multiset<int64_t> cls;
  for (const Box& x : b) cls.insert(x.cls);
  EXPECT_EQ(cls, (std::multiset<int64_t>{16, 15, 58, 56, 60}));
}

TEST(Coco, CategoryRemappingAndCrowd) {
  CocoOptions o = person_car_dog();
  o.width = o.height = 640;  // no box gets too small to count
  const DetectionDataset d = load_coco(coco_images(), kCocoSampleJson.string(), o);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"person", "car", "dog"}));
  auto count = [&](const std::string& file, int64_t cls) {
    const auto& b = d.boxes[index_of(d, file)];
    return std::count_if(b.begin(), b.end(), [&](const Box& x) { return x.cls == cls; });
  };
  EXPECT_EQ(count("000000022192.jpg", 2), 1);  // the dog; its bed and handbag are not kept
  EXPECT_EQ(d.boxes[index_of(d, "000000022192.jpg")].size(), 1u);
  EXPECT_EQ(count("000000183709.jpg", 0), 12);
  EXPECT_EQ(count("000000183709.jpg", 1), 5);
  // 217285.jpg has 13 person boxes and one crowd region over the whole crowd: it is ignored.
  EXPECT_EQ(d.boxes[index_of(d, "000000217285.jpg")].size(), 13u);
  for (const Box& b : d.boxes[index_of(d, "000000217285.jpg")])
    EXPECT_LT(b.w, 0.9f);  // the crowd box spans [1, 639] x [1, 268]
}

TEST(Coco, LetterboxBoxMathByHand) {
  const DetectionDataset d = load_coco(coco_images(), kCocoSampleJson.string(), person_car_dog());
  // 22892.jpg is 500 x 334 with one dog, bbox [35.62, 76.0, 253.35, 219.76]. Into 88 x 88:
  // scale min(88/500, 88/334) = 0.176 -> content 88 x round(58.784) = 88 x 59, pad (88-59)/2 = 14
  // rows on top; per-axis scale of the drawn pixels: x 88/500 = 0.176, y 59/334 = 0.1766467.
  //   x1 = 35.62 * 0.176 = 6.26912          x2 = (35.62 + 253.35) * 0.176 = 50.85872
  //   y1 = 76 * 0.1766467 + 14 = 27.42515   y2 = 295.76 * 0.1766467 + 14 = 66.24503
  const size_t i = index_of(d, "000000022892.jpg");
  ASSERT_EQ(d.boxes[i].size(), 1u);
  const Box& b = d.boxes[i][0];
  EXPECT_EQ(b.cls, 2);
  EXPECT_NEAR(b.cx, (6.26912 + 50.85872) / 2 / 88, 1e-5);
  EXPECT_NEAR(b.cy, (27.42515 + 66.24503) / 2 / 88, 1e-5);
  EXPECT_NEAR(b.w, (50.85872 - 6.26912) / 88, 1e-5);
  EXPECT_NEAR(b.h, (66.24503 - 27.42515) / 88, 1e-5);
  // Padding rows 0..13 and 73..87 are 0.5 gray in all channels; row 14 is image.
  const float* img = d.sample(i);
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 13, 73, 87})
      for (int x : {0, 44, 87}) EXPECT_EQ(img[(c * 88 + y) * 88 + x], 0.5f);
  int non_gray = 0;
  for (int x = 0; x < 88; ++x) non_gray += img[14 * 88 + x] != 0.5f;
  EXPECT_GT(non_gray, 40);

  // Stretched instead: normalised coordinates equal the json's over the image size.
  CocoOptions o = person_car_dog();
  o.letterbox = false;
  const DetectionDataset s = load_coco(coco_images(), kCocoSampleJson.string(), o);
  const Box& t = s.boxes[index_of(s, "000000022892.jpg")][0];
  EXPECT_NEAR(t.cx, (35.62 + 253.35 / 2) / 500, 1e-5);
  EXPECT_NEAR(t.cy, (76.0 + 219.76 / 2) / 334, 1e-5);
  EXPECT_NEAR(t.w, 253.35 / 500, 1e-5);
  EXPECT_NEAR(t.h, 219.76 / 334, 1e-5);
}

TEST(Coco, SkipEmptyAndMaxImages) {
  CocoOptions o;
  o.categories = {"dog"};
  o.skip_empty = true;
  const DetectionDataset d = load_coco(coco_images(), kCocoSampleJson.string(), o);
  ASSERT_EQ(d.size(), 3u);
  for (const auto& b : d.boxes) EXPECT_EQ(b.size(), 1u);
  o.max_images = 2;
  EXPECT_EQ(load_coco(coco_images(), kCocoSampleJson.string(), o).size(), 2u);
  o.skip_empty = false;  // images without dogs stay, as negatives
  o.max_images = 0;
  EXPECT_EQ(load_coco(coco_images(), kCocoSampleJson.string(), o).size(), 6u);
}

// Writes every image's boxes as YOLO label lines. With letterbox off the normalised input
// coordinates are the image's normalised coordinates, i.e. exactly the YOLO format.
void write_yolo_labels(const DetectionDataset& stretched, const fs::path& dir) {
  for (size_t i = 0; i < stretched.size(); ++i) {
    std::string text;
    char line[128];
    for (const Box& b : stretched.boxes[i]) {
      std::snprintf(line, sizeof(line), "%lld %.7f %.7f %.7f %.7f\n", static_cast<long long>(b.cls),
                    b.cx, b.cy, b.w, b.h);
      text += line;
    }
    write_file(dir / (fs::path(stretched.image_files[i]).stem().string() + ".txt"), text);
  }
}

TEST(Yolo, RoundTripThroughCoco) {
  TempDir tmp;
  CocoOptions stretch = person_car_dog();
  stretch.letterbox = false;
  stretch.width = stretch.height = 640;  // keep tiny boxes: they are dropped per input size below
  write_yolo_labels(load_coco(coco_images(), kCocoSampleJson.string(), stretch), tmp / "labels");
  const std::vector<std::string> names = {"person", "car", "dog"};

  const DetectionDataset coco =
      load_coco(coco_images(), kCocoSampleJson.string(), person_car_dog());
  const DetectionDataset yolo = load_yolo_txt(coco_images(), (tmp / "labels").string(), names);
  ASSERT_EQ(yolo.size(), coco.size());
  EXPECT_EQ(yolo.class_names, names);
  for (size_t i = 0; i < coco.size(); ++i) {
    const size_t j = index_of(yolo, fs::path(coco.image_files[i]).filename().string());
    ASSERT_EQ(yolo.boxes[j].size(), coco.boxes[i].size()) << coco.image_files[i];
    for (size_t k = 0; k < coco.boxes[i].size(); ++k) {
      const Box& a = coco.boxes[i][k];
      const Box& b = yolo.boxes[j][k];
      EXPECT_EQ(a.cls, b.cls);
      EXPECT_NEAR(a.cx, b.cx, 1e-5);
      EXPECT_NEAR(a.cy, b.cy, 1e-5);
      EXPECT_NEAR(a.w, b.w, 1e-5);
      EXPECT_NEAR(a.h, b.h, 1e-5);
    }
    // Same pixels too: both go through the same decode and letterbox.
    EXPECT_EQ(std::vector<float>(coco.sample(i), coco.sample(i) + coco.sample_numel()),
              std::vector<float>(yolo.sample(j), yolo.sample(j) + yolo.sample_numel()));
  }

  // Selecting and reordering classes by name works on YOLO files too.
  CocoOptions dogs;
  dogs.categories = {"dog"};
  dogs.skip_empty = true;
  const DetectionDataset only =
      load_yolo_txt(coco_images(), (tmp / "labels").string(), names, dogs);
  EXPECT_EQ(only.size(), 3u);
  EXPECT_EQ(only.class_names, std::vector<std::string>{"dog"});
  EXPECT_EQ(only.boxes[0][0].cls, 0);
}

TEST(Yolo, MissingLabelFileIsAnEmptyImage) {
  TempDir tmp;
  write_file(tmp / "labels" / "000000022192.txt", "0 0.5 0.5 0.25 0.5\n\n");
  const DetectionDataset d = load_yolo_txt(coco_images(), (tmp / "labels").string(), {"thing"});
  ASSERT_EQ(d.size(), 6u);
  size_t boxes = 0;
  for (const auto& b : d.boxes) boxes += b.size();
  EXPECT_EQ(boxes, 1u);
  // 640 x 426 letterboxed into 88 x 88: content 88 x 59 (round(58.575)), 14 rows of padding.
  const Box& b = d.boxes[index_of(d, "000000022192.jpg")][0];
  EXPECT_NEAR(b.cx, 0.5, 1e-6);
  EXPECT_NEAR(b.cy, (14 + 0.5 * 59) / 88, 1e-6);
  EXPECT_NEAR(b.w, 0.25, 1e-6);
  EXPECT_NEAR(b.h, 0.5 * 59 / 88, 1e-6);
}

TEST(YoloErrors, BadLines) {
  TempDir tmp;
  const std::string labels = (tmp / "labels").string();
  const fs::path f = tmp / "labels" / "000000022892.txt";
  auto error_with = [&](const std::string& text) {
    write_file(f, text);
    return error_of([&] { load_yolo_txt(coco_images(), labels, {"a", "b"}); });
  };
  std::string msg = error_with("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n");
  EXPECT_MENTIONS(msg, "000000022892.txt:2:");
  EXPECT_MENTIONS(msg, "expected 5 values");
  msg = error_with("\n2 0.5 0.5 0.1 0.1\n");
  EXPECT_MENTIONS(msg, "000000022892.txt:2: class 2 out of range 0..1");
  msg = error_with("1 0.5 abc 0.1 0.1\n");
  EXPECT_MENTIONS(msg, "000000022892.txt:1: not a number: 'abc'");
  msg = error_with("1 0.5 0.5 120 80\n");
  EXPECT_MENTIONS(msg, "000000022892.txt:1:");
  EXPECT_MENTIONS(msg, "normalised");
  EXPECT_MENTIONS(error_of([&] { load_yolo_txt(coco_images(), labels, {"a"}, person_car_dog()); }),
                  "unknown category 'person'");
}

// A copy of the sample json to break; `edit` changes the parsed document.
struct CocoCopy {
  TempDir tmp;
  fs::path json_path = tmp / "instances.json";
  explicit CocoCopy(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = nlohmann::json::parse(read_file(kCocoSampleJson));
    edit(j);
    write_file(json_path, j.dump());
  }
  std::string error(const CocoOptions& o = {}) const {
    return error_of([&] { load_coco(coco_images(), json_path.string(), o); });
  }
};

TEST(CocoErrors, MissingAndMalformedJson) {
  TempDir tmp;
  std::string msg = error_of([&] { load_coco(coco_images(), (tmp / "nope.json").string()); });
  EXPECT_MENTIONS(msg, "missing file");
  EXPECT_MENTIONS(msg, "nope.json");

  write_file(tmp / "bad.json", "{\"images\": [\n  {\"id\": 1,}\n]}\n");
  msg = error_of([&] { load_coco(coco_images(), (tmp / "bad.json").string()); });
  EXPECT_MENTIONS(msg, "bad.json");
  EXPECT_MENTIONS(msg, "malformed JSON");
  EXPECT_MENTIONS(msg, "line 2");  // nlohmann's position of the syntax error

  write_file(tmp / "list.json", "[1, 2]");
  msg = error_of([&] { load_coco(coco_images(), (tmp / "list.json").string()); });
  EXPECT_MENTIONS(msg, "list.json");
}

TEST(CocoErrors, AnnotationWithUnknownImage) {
  int64_t ann_id = 0;
  const CocoCopy c([&](nlohmann::json& j) {
    j["annotations"][3]["image_id"] = 999999;
    ann_id = j["annotations"][3]["id"].get<int64_t>();
  });
  const std::string msg = c.error();
  EXPECT_MENTIONS(msg, "instances.json");
  EXPECT_MENTIONS(msg, "annotation id " + std::to_string(ann_id));
  EXPECT_MENTIONS(msg, "unknown image_id 999999");
}

TEST(CocoErrors, AnnotationWithUnknownCategory) {
  const CocoCopy c([](nlohmann::json& j) { j["annotations"][0]["category_id"] = 12; });
  EXPECT_MENTIONS(c.error(), "unknown category_id 12");
}

TEST(CocoErrors, MissingFieldNamesTheEntry) {
  const CocoCopy c([](nlohmann::json& j) { j["images"][2].erase("file_name"); });
  EXPECT_MENTIONS(c.error(), "images[2] has no 'file_name'");
  const CocoCopy b([](nlohmann::json& j) { j["annotations"][1]["bbox"] = {1, 2, 3}; });
  EXPECT_MENTIONS(b.error(), "'bbox' is not [x, y, width, height]");
}

TEST(CocoErrors, UnknownCategoryName) {
  CocoOptions o;
  o.categories = {"person", "unicorn"};
  const std::string msg = error_of([&] { load_coco(coco_images(), kCocoSampleJson.string(), o); });
  EXPECT_MENTIONS(msg, "unknown category 'unicorn'");
  EXPECT_MENTIONS(msg, "available: person, bicycle, car");
  EXPECT_MENTIONS(msg, "toothbrush");
}

TEST(CocoErrors, ImageThatDoesNotDecode) {
  TempDir tmp;
  copy_tree(kCocoSample / "val2017", tmp / "val2017");
  const std::string jpg = read_file(tmp / "val2017/000000183709.jpg");
  write_file(tmp / "val2017/000000183709.jpg", std::string(jpg.size(), 'x'));
  std::string msg =
      error_of([&] { load_coco((tmp / "val2017").string(), kCocoSampleJson.string()); });
  EXPECT_MENTIONS(msg, "000000183709.jpg");
  EXPECT_MENTIONS(msg, "does not decode");
  fs::remove(tmp / "val2017/000000183709.jpg");
  msg = error_of([&] { load_coco((tmp / "val2017").string(), kCocoSampleJson.string()); });
  EXPECT_MENTIONS(msg, "missing image");
  EXPECT_MENTIONS(msg, "000000183709.jpg");
}

// libjpeg decodes a truncated JPEG with only a warning; the loader refuses it by name.
TEST(CocoErrors, TruncatedJpegNamesTheFile) {
  TempDir tmp;
  copy_tree(kCocoSample / "val2017", tmp / "val2017");
  const std::string jpg = read_file(tmp / "val2017/000000183709.jpg");
  write_file(tmp / "val2017/000000183709.jpg", jpg.substr(0, jpg.size() * 2 / 3));
  const std::string msg =
      error_of([&] { load_coco((tmp / "val2017").string(), kCocoSampleJson.string()); });
  EXPECT_MENTIONS(msg, "000000183709.jpg");
  EXPECT_MENTIONS(msg, "truncated JPEG");
  // Bytes after the end-of-image marker are not a truncation.
  write_file(tmp / "val2017/000000183709.jpg", jpg + "trailing bytes");
  EXPECT_NO_THROW(load_coco((tmp / "val2017").string(), kCocoSampleJson.string()));
}

TEST(CocoErrors, NegativeBoxSizeNamesTheAnnotation) {
  const CocoCopy c([](nlohmann::json& j) {
    j["annotations"][1]["bbox"][2] = -4.5;
    j["annotations"][1]["id"] = 4242;
  });
  EXPECT_MENTIONS(c.error(), "annotation id 4242");
  EXPECT_MENTIONS(c.error(), "negative bbox width or height");
}

TEST(CocoReal, MiniValAndCoco128) {
  const fs::path mini = kShared / "coco" / "coco-mini";
  SKIP_UNLESS_EXISTS(mini);
  auto t0 = std::chrono::steady_clock::now();
  const DetectionDataset val =
      load_coco((mini / "val2017").string(), (mini / "annotations/instances_val2017.json").string(),
                person_car_dog());
  std::printf("[ timing   ] coco-mini val2017 (%zu images, 88x88 letterbox): %.3f s\n", val.size(),
              seconds_since(t0));
  EXPECT_EQ(val.size(), 79u);
  size_t boxes = 0;
  for (const auto& b : val.boxes) boxes += b.size();
  EXPECT_GT(boxes, 100u);

  const fs::path c128 = kShared / "coco" / "coco128";
  SKIP_UNLESS_EXISTS(c128);
  CocoOptions o;
  o.skip_empty = true;
  t0 = std::chrono::steady_clock::now();
  const DetectionDataset train = load_coco(
      (c128 / "train2017").string(), (c128 / "annotations/instances_train2017.json").string(), o);
  std::printf("[ timing   ] coco128 (%zu images with boxes, 80 classes): %.3f s\n", train.size(),
              seconds_since(t0));
  EXPECT_LE(train.size(), 126u);  // 2 of the 128 images have no annotation at all
  EXPECT_GT(train.size(), 120u);
}

}  // namespace
}  // namespace qat::data
