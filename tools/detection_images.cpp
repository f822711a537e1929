#include "tools/detection_images.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "qat/errors.h"

namespace qat::draw {
namespace {

std::string class_name(const std::vector<std::string>& names, int64_t cls) {
  return cls >= 0 && cls < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(cls)]
                                                              : std::to_string(cls);
}

// Box corners in pixels of the enlarged image, clipped to it.
cv::Rect pixel_rect(float cx, float cy, float w, float h, const cv::Size& size) {
  const auto px = [&](float v, int extent) {
    return static_cast<int>(std::lround(std::clamp(v, 0.0f, 1.0f) * static_cast<float>(extent)));
  };
  const cv::Point p0(px(cx - w / 2, size.width), px(cy - h / 2, size.height));
  const cv::Point p1(px(cx + w / 2, size.width), px(cy + h / 2, size.height));
  return cv::Rect(p0, p1);
}

void label(cv::Mat& img, const std::string& text, cv::Point at, const cv::Scalar& colour) {
  constexpr double kFontScale = 0.4;
  int baseline = 0;
  const cv::Size t = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, kFontScale, 1, &baseline);
  // Above the box when there is room, else inside its top edge.
  const int y = at.y - t.height - 3 >= 0 ? at.y - 3 : at.y + t.height + 2;
  const cv::Point origin(std::clamp(at.x, 0, std::max(0, img.cols - t.width)), y);
  cv::rectangle(img, origin + cv::Point(0, baseline), origin + cv::Point(t.width, -t.height - 1),
                colour, cv::FILLED);
  cv::putText(img, text, origin, cv::FONT_HERSHEY_SIMPLEX, kFontScale, cv::Scalar(0, 0, 0), 1,
              cv::LINE_AA);
}

}  // namespace

void write_detection_png(const DetectionImage& image, const std::vector<std::string>& class_names,
                         const DrawStyle& style, const std::string& path) {
  const int64_t plane = image.height * image.width;
  if (image.height < 1 || image.width < 1 || style.scale < 1 ||
      static_cast<int64_t>(image.rgb_chw.size()) != 3 * plane)
    throw Error("cannot draw " + path + ": expected a 3x" + std::to_string(image.height) + "x" +
                std::to_string(image.width) + " RGB image, got " +
                std::to_string(image.rgb_chw.size()) + " values");
  cv::Mat small(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3);
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x) {
      cv::Vec3b& px = small.at<cv::Vec3b>(static_cast<int>(y), static_cast<int>(x));
      for (int c = 0; c < 3; ++c) {
        const float v = image.rgb_chw[static_cast<size_t>(c * plane + y * image.width + x)];
        px[2 - c] = cv::saturate_cast<uchar>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
      }
    }
  cv::Mat img;
  cv::resize(small, img, cv::Size(), style.scale, style.scale, cv::INTER_NEAREST);

  const cv::Scalar green(60, 200, 60), red(40, 40, 230);
  for (const Box& b : image.truth) {
    const cv::Rect r = pixel_rect(b.cx, b.cy, b.w, b.h, img.size());
    cv::rectangle(img, r, green, 2);
    label(img, class_name(class_names, b.cls), r.tl(), green);
  }
  std::vector<detect::Detection> shown;
  for (const auto& d : image.predicted)
    if (d.score >= style.min_score) shown.push_back(d);
  // Lowest score first, so the most confident boxes and labels end on top.
  std::sort(shown.begin(), shown.end(), [](const detect::Detection& a, const detect::Detection& b) {
    return a.score < b.score;
  });
  for (const auto& d : shown) {
    const cv::Rect r = pixel_rect(d.cx, d.cy, d.w, d.h, img.size());
    cv::rectangle(img, r, red, 1);
    char score[16];
    std::snprintf(score, sizeof score, " %.2f", static_cast<double>(d.score));
    label(img, class_name(class_names, d.cls) + score, cv::Point(r.x, r.y + r.height), red);
  }
  bool written = false;
  try {
    written = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    throw Error("cannot write " + path + ": " + e.what());
  }
  if (!written) throw Error("cannot write " + path);
}

}  // namespace qat::draw
