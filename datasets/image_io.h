// OpenCV glue shared by the image loaders (internal: public headers stay OpenCV-free).
#pragma once

#include <opencv2/core.hpp>
#include <string>

namespace qat::data::detail {

// 8-bit, 3-channel BGR as stored in the file: EXIF orientation is ignored because dataset
// annotations refer to the stored pixel grid. `context` (e.g. "referenced by GT.csv:12") is
// appended to the messages for a missing file or one that does not decode.
cv::Mat read_image(const std::string& path, const std::string& context);

// Resize with INTER_AREA when shrinking (averages, no aliasing) and INTER_LINEAR otherwise.
cv::Mat resize_to(const cv::Mat& img, int width, int height);

// Writes an 8-bit BGR image as float RGB, channel-first, in [0, 1].
void to_chw_rgb(const cv::Mat& bgr, float* out);

// Where a source image of src_w x src_h lands in a dst_w x dst_h input: scaled by (sx, sy) and
// shifted by (pad_x, pad_y); the content covers [pad_x, pad_x + content_w) x [pad_y, ...).
struct Placement {
  double sx = 1, sy = 1;
  int pad_x = 0, pad_y = 0, content_w = 0, content_h = 0;
};
// letterbox: one scale for both axes, centred, rest padded; else stretched to fill.
Placement place(int src_w, int src_h, int dst_w, int dst_h, bool letterbox);

// Renders `bgr` into a [3, dst_h, dst_w] float buffer according to `p`, padding with 0.5 gray.
void render(const cv::Mat& bgr, const Placement& p, int dst_w, int dst_h, float* out);

}  // namespace qat::data::detail
