#include "datasets/image_io.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "qat/errors.h"

namespace qat::data::detail {

namespace {

// libjpeg decodes a truncated JPEG into a partly gray image with only a warning on stderr
// ("Premature end of JPEG file"), which OpenCV does not report. A complete file has its
// end-of-image marker (FF D9) after the last start-of-scan (FF DA); entropy-coded data never
// holds FF D9 (an FF byte there is stuffed as FF 00), and an EXIF thumbnail's own markers come
// before the main image's scan.
bool jpeg_truncated(const std::vector<uchar>& bytes) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;  // not a JPEG
  size_t last_sos = 0, last_eoi = 0;
  for (size_t i = 2; i + 1 < bytes.size(); ++i) {
    if (bytes[i] != 0xFF) continue;
    if (bytes[i + 1] == 0xDA) last_sos = i;
    if (bytes[i + 1] == 0xD9) last_eoi = i;
  }
  return last_sos == 0 || last_eoi < last_sos;
}

}  // namespace

cv::Mat read_image(const std::string& path, const std::string& context) {
  const std::string where = context.empty() ? "" : " (" + context + ")";
  if (!std::filesystem::is_regular_file(path))
    throw DatasetError("missing image '" + path + "'" + where);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), {});
  if (!in.good() && !in.eof()) throw DatasetError("cannot read image '" + path + "'" + where);
  if (jpeg_truncated(bytes))
    throw DatasetError("image '" + path +
                       "' is a truncated JPEG (no end-of-image marker after "
                       "its last scan)" +
                       where);
  cv::Mat img;
  try {
    img = cv::imdecode(bytes, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    throw DatasetError("image '" + path + "' does not decode" + where + ": " + e.what());
  }
  if (img.empty() || img.type() != CV_8UC3)
    throw DatasetError("image '" + path + "' does not decode (truncated or not an image)" + where);
  return img;
}

cv::Mat resize_to(const cv::Mat& img, int width, int height) {
  if (img.cols == width && img.rows == height) return img;
  const bool shrink = width <= img.cols && height <= img.rows;
  cv::Mat out;
  cv::resize(img, out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

void to_chw_rgb(const cv::Mat& bgr, float* out) {
  const int h = bgr.rows, w = bgr.cols;
  const size_t plane = static_cast<size_t>(h) * w;
  constexpr float kInv255 = 1.0f / 255.0f;
  for (int y = 0; y < h; ++y) {
    const auto* row = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      out[i] = row[x][2] * kInv255;  // OpenCV stores BGR; the models see RGB.
      out[plane + i] = row[x][1] * kInv255;
      out[2 * plane + i] = row[x][0] * kInv255;
    }
  }
}

Placement place(int src_w, int src_h, int dst_w, int dst_h, bool letterbox) {
  Placement p;
  if (!letterbox) {
    p.content_w = dst_w;
    p.content_h = dst_h;
  } else {
    const double s =
        std::min(static_cast<double>(dst_w) / src_w, static_cast<double>(dst_h) / src_h);
    p.content_w = std::clamp(static_cast<int>(std::lround(src_w * s)), 1, dst_w);
    p.content_h = std::clamp(static_cast<int>(std::lround(src_h * s)), 1, dst_h);
    p.pad_x = (dst_w - p.content_w) / 2;
    p.pad_y = (dst_h - p.content_h) / 2;
  }
  // The per-axis scale of the pixels actually drawn (after rounding the content size), so boxes
  // land exactly on the resized content.
  p.sx = static_cast<double>(p.content_w) / src_w;
  p.sy = static_cast<double>(p.content_h) / src_h;
  return p;
}

void render(const cv::Mat& bgr, const Placement& p, int dst_w, int dst_h, float* out) {
  const size_t plane = static_cast<size_t>(dst_w) * dst_h;
  std::fill(out, out + 3 * plane, 0.5f);
  const cv::Mat content = resize_to(bgr, p.content_w, p.content_h);
  std::vector<float> tmp(3 * static_cast<size_t>(p.content_w) * p.content_h);
  to_chw_rgb(content, tmp.data());
  const size_t cplane = static_cast<size_t>(p.content_w) * p.content_h;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < p.content_h; ++y) {
      const float* src = tmp.data() + c * cplane + static_cast<size_t>(y) * p.content_w;
      float* dst = out + c * plane + static_cast<size_t>(y + p.pad_y) * dst_w + p.pad_x;
      std::copy(src, src + p.content_w, dst);
    }
}

}  // namespace qat::data::detail
