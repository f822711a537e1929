#include <gtest/gtest.h>

#include <filesystem>

#include <opencv2/imgcodecs.hpp>

#include "qat/errors.h"
#include "tools/detection_images.h"

namespace qat::draw {
namespace {

namespace fs = std::filesystem;

// A 20x20 mid-grey image, drawn at scale 4 (80x80): a true box on the left half, a confident
// prediction on the right half and a weak one at the bottom.
DetectionImage grey_image() {
  DetectionImage im;
  im.height = im.width = 20;
  im.rgb_chw.assign(3 * 20 * 20, 0.5f);
  im.truth = {{0.25f, 0.5f, 0.4f, 0.8f, 0}};
  im.predicted = {{0.75f, 0.5f, 0.4f, 0.8f, 0.9f, 1}, {0.5f, 0.9f, 0.2f, 0.1f, 0.1f, 0}};
  return im;
}

cv::Vec3b pixel(const cv::Mat& m, int x, int y) {
  return m.at<cv::Vec3b>(y, x);
}

bool greenish(const cv::Vec3b& p) {
  return p[1] > 150 && p[0] < 100 && p[2] < 100;
}
bool reddish(const cv::Vec3b& p) {
  return p[2] > 150 && p[0] < 100 && p[1] < 100;
}

TEST(DetectionImages, DrawsTruthGreenAndConfidentPredictionsRed) {
  const fs::path path = fs::path(::testing::TempDir()) / "qat_draw_test.png";
  write_detection_png(grey_image(), {"person", "car"}, DrawStyle{}, path.string());
  const cv::Mat m = cv::imread(path.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.cols, 80);
  EXPECT_EQ(m.rows, 80);
  // The true box spans x 4..36, y 8..72 (of 80); its left edge at mid height is green.
  EXPECT_TRUE(greenish(pixel(m, 4, 40))) << pixel(m, 4, 40);
  // The prediction spans x 44..76 (exclusive): its right edge, x 75, is red.
  EXPECT_TRUE(reddish(pixel(m, 75, 40))) << pixel(m, 75, 40);
  // Inside both boxes (away from the labels) the image is the grey input (128).
  EXPECT_EQ(pixel(m, 20, 50), cv::Vec3b(128, 128, 128));
  EXPECT_EQ(pixel(m, 60, 50), cv::Vec3b(128, 128, 128));
  // The weak prediction (score 0.1 < 0.25) is not drawn: its left edge (x 32, y 68..76) is grey
  // where the true box does not pass; with min_score 0 it is red.
  EXPECT_EQ(pixel(m, 32, 74), cv::Vec3b(128, 128, 128));
  DrawStyle all;
  all.min_score = 0.0f;
  write_detection_png(grey_image(), {"person", "car"}, all, path.string());
  const cv::Mat m2 = cv::imread(path.string(), cv::IMREAD_COLOR);
  EXPECT_TRUE(reddish(pixel(m2, 32, 74))) << pixel(m2, 32, 74);
  fs::remove(path);
}

TEST(DetectionImages, RejectsMalformedImagesAndUnwritablePaths) {
  DetectionImage bad = grey_image();
  bad.rgb_chw.pop_back();
  EXPECT_THROW(write_detection_png(bad, {}, DrawStyle{}, "x.png"), Error);
  EXPECT_THROW(write_detection_png(grey_image(), {}, DrawStyle{}, "/nonexistent-dir/qat/x.png"),
               Error);
}

}  // namespace
}  // namespace qat::draw
