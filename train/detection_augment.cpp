#include "train/detection_augment.h"

#include <algorithm>
#include <cmath>

#include <torch/nn/functional/vision.h>

#include "qat/errors.h"

namespace qat {
namespace {

namespace F = torch::nn::functional;

constexpr double kGray = 0.5;  // the letterbox fill

double uniform(double lo, double hi) {
  return lo + (hi - lo) * torch::rand({1}).item<double>();
}

Affine multiply(const Affine& a, const Affine& b) {  // a after b
  return {a[0] * b[0] + a[1] * b[3], a[0] * b[1] + a[1] * b[4], a[0] * b[2] + a[1] * b[5] + a[2],
          a[3] * b[0] + a[4] * b[3], a[3] * b[1] + a[4] * b[4], a[3] * b[2] + a[4] * b[5] + a[5]};
}

Affine invert(const Affine& m) {
  const double det = m[0] * m[4] - m[1] * m[3];
  const double a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
  return {a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])};
}

// The random affine from a source of src_h x src_w pixels to the out_h x out_w input: source
// centre to the origin, rotation and zoom, shear, then to the output centre plus a translation.
Affine random_affine(const AugmentConfig& a, int64_t src_h, int64_t src_w, int64_t out_h,
                     int64_t out_w) {
  const double pi = std::acos(-1.0);
  const Affine centre{1, 0, -0.5 * static_cast<double>(src_w),
                      0, 1, -0.5 * static_cast<double>(src_h)};
  const double angle = uniform(-a.degrees, a.degrees) * pi / 180.0;
  const double zoom = uniform(1.0 - a.scale, 1.0 + a.scale);
  const Affine rotate{zoom * std::cos(angle), -zoom * std::sin(angle), 0,
                      zoom * std::sin(angle), zoom * std::cos(angle),  0};
  const double shx = std::tan(uniform(-a.shear, a.shear) * pi / 180.0);
  const double shy = std::tan(uniform(-a.shear, a.shear) * pi / 180.0);
  const Affine shear{1, shx, 0, shy, 1, 0};
  const double tx = (0.5 + uniform(-a.translate, a.translate)) * static_cast<double>(out_w);
  const double ty = (0.5 + uniform(-a.translate, a.translate)) * static_cast<double>(out_h);
  const Affine move{1, 0, tx, 0, 1, ty};
  return multiply(move, multiply(shear, multiply(rotate, centre)));
}

bool is_identity_setting(const AugmentConfig& a) {
  return a.scale == 0 && a.translate == 0 && a.degrees == 0 && a.shear == 0;
}

std::vector<PixelBox> to_pixels(const std::vector<Box>& boxes, double w, double h, double ox,
                                double oy) {
  std::vector<PixelBox> out;
  for (const Box& b : boxes)
    out.push_back({ox + (b.cx - b.w / 2) * w, oy + (b.cy - b.h / 2) * h, ox + (b.cx + b.w / 2) * w,
                   oy + (b.cy + b.h / 2) * h, b.cls});
  return out;
}

// Four images of [3, h, w] around a random centre of a 2h x 2w gray canvas; boxes clipped to
// the part of their image that is visible.
torch::Tensor mosaic(const std::array<torch::Tensor, 4>& images,
                     const std::array<const std::vector<Box>*, 4>& boxes,
                     std::vector<PixelBox>& out_boxes) {
  const int64_t h = images[0].size(1), w = images[0].size(2);
  torch::Tensor canvas = torch::full({3, 2 * h, 2 * w}, kGray, images[0].options());
  const auto xc = static_cast<int64_t>(uniform(0.5, 1.5) * static_cast<double>(w));
  const auto yc = static_cast<int64_t>(uniform(0.5, 1.5) * static_cast<double>(h));
  for (int k = 0; k < 4; ++k) {
    // Top-left corner of image k on the canvas: 0 top-left of the centre, 1 top-right,
    // 2 bottom-left, 3 bottom-right.
    const int64_t x0 = (k % 2 == 0) ? xc - w : xc, y0 = (k < 2) ? yc - h : yc;
    const int64_t cx0 = std::max<int64_t>(0, x0), cy0 = std::max<int64_t>(0, y0);
    const int64_t cx1 = std::min(2 * w, x0 + w), cy1 = std::min(2 * h, y0 + h);
    if (cx1 <= cx0 || cy1 <= cy0) continue;
    canvas.narrow(1, cy0, cy1 - cy0)
        .narrow(2, cx0, cx1 - cx0)
        .copy_(images[static_cast<size_t>(k)]
                   .narrow(1, cy0 - y0, cy1 - cy0)
                   .narrow(2, cx0 - x0, cx1 - cx0));
    for (PixelBox b :
         to_pixels(*boxes[static_cast<size_t>(k)], static_cast<double>(w), static_cast<double>(h),
                   static_cast<double>(x0), static_cast<double>(y0))) {
      b.x0 = std::max(b.x0, static_cast<double>(cx0));
      b.y0 = std::max(b.y0, static_cast<double>(cy0));
      b.x1 = std::min(b.x1, static_cast<double>(cx1));
      b.y1 = std::min(b.y1, static_cast<double>(cy1));
      if (b.x1 > b.x0 && b.y1 > b.y0) out_boxes.push_back(b);
    }
  }
  return canvas;
}

}  // namespace

torch::Tensor warp_affine(const torch::Tensor& image, const Affine& m, int64_t out_h,
                          int64_t out_w) {
  const int64_t h = image.size(1), w = image.size(2);
  const Affine inv = invert(m);
  // Pixel centres of the output, mapped back into the source, in grid_sample's [-1, 1]
  // coordinates (align_corners = false: -1 and 1 are the outer pixel edges).
  const torch::Tensor ys = torch::arange(out_h, image.options()).add_(0.5);
  const torch::Tensor xs = torch::arange(out_w, image.options()).add_(0.5);
  const auto grid_yx = torch::meshgrid({ys, xs}, "ij");
  const torch::Tensor& gy = grid_yx[0];
  const torch::Tensor& gx = grid_yx[1];
  const torch::Tensor sx = gx * inv[0] + gy * inv[1] + inv[2];
  const torch::Tensor sy = gx * inv[3] + gy * inv[4] + inv[5];
  const torch::Tensor grid =
      torch::stack(
          {sx * (2.0 / static_cast<double>(w)) - 1, sy * (2.0 / static_cast<double>(h)) - 1}, -1)
          .unsqueeze(0);
  const torch::Tensor warped = F::grid_sample((image - kGray).unsqueeze(0), grid,
                                              F::GridSampleFuncOptions()
                                                  .mode(torch::kBilinear)
                                                  .padding_mode(torch::kZeros)
                                                  .align_corners(false));
  return warped.squeeze(0).add_(kGray);
}

std::vector<Box> transform_boxes(const std::vector<PixelBox>& boxes, const Affine& m, int64_t out_h,
                                 int64_t out_w, double min_box_area) {
  std::vector<Box> out;
  const double W = static_cast<double>(out_w), H = static_cast<double>(out_h);
  for (const PixelBox& b : boxes) {
    const double xs[4] = {b.x0, b.x1, b.x1, b.x0}, ys[4] = {b.y0, b.y0, b.y1, b.y1};
    double x0 = 1e30, y0 = 1e30, x1 = -1e30, y1 = -1e30;
    for (int i = 0; i < 4; ++i) {
      const double x = m[0] * xs[i] + m[1] * ys[i] + m[2];
      const double y = m[3] * xs[i] + m[4] * ys[i] + m[5];
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
    const double area = (x1 - x0) * (y1 - y0);
    x0 = std::clamp(x0, 0.0, W), x1 = std::clamp(x1, 0.0, W);
    y0 = std::clamp(y0, 0.0, H), y1 = std::clamp(y1, 0.0, H);
    const double bw = x1 - x0, bh = y1 - y0;
    if (bw < 2.0 || bh < 2.0 || area <= 0 || bw * bh < min_box_area * area) continue;
    out.push_back({static_cast<float>((x0 + x1) / (2 * W)), static_cast<float>((y0 + y1) / (2 * H)),
                   static_cast<float>(bw / W), static_cast<float>(bh / H), b.cls});
  }
  return out;
}

void augment_geometry(torch::Tensor& x, std::vector<std::vector<Box>>& boxes,
                      const AugmentConfig& a) {
  if (a.mosaic <= 0 && is_identity_setting(a)) return;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  static const std::vector<Box> kNone;
  auto boxes_of = [&](int64_t i) -> const std::vector<Box>* {
    return boxes.empty() ? &kNone : &boxes[static_cast<size_t>(i)];
  };
  std::vector<torch::Tensor> out;
  std::vector<std::vector<Box>> out_boxes;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<PixelBox> source_boxes;
    torch::Tensor source;
    if (a.mosaic > 0 && n >= 4 && torch::rand({1}).item<double>() < a.mosaic) {
      // Three other images of the batch (the batch is a random draw of the training set).
      const torch::Tensor others = torch::randperm(n - 1, torch::kLong).narrow(0, 0, 3);
      std::array<torch::Tensor, 4> imgs{x[i], {}, {}, {}};
      std::array<const std::vector<Box>*, 4> bxs{boxes_of(i), nullptr, nullptr, nullptr};
      for (int k = 0; k < 3; ++k) {
        int64_t j = others[k].item<int64_t>();
        if (j >= i) ++j;  // skip image i itself
        imgs[static_cast<size_t>(k + 1)] = x[j];
        bxs[static_cast<size_t>(k + 1)] = boxes_of(j);
      }
      source = mosaic(imgs, bxs, source_boxes);
    } else {
      source = x[i];
      source_boxes = to_pixels(*boxes_of(i), static_cast<double>(w), static_cast<double>(h), 0, 0);
    }
    const Affine m = random_affine(a, source.size(1), source.size(2), h, w);
    out.push_back(warp_affine(source, m, h, w));
    out_boxes.push_back(transform_boxes(source_boxes, m, h, w, a.min_box_area));
  }
  x = torch::stack(out);
  if (!boxes.empty()) boxes = std::move(out_boxes);
}

void augment_hsv(torch::Tensor& x, const AugmentConfig& a) {
  if (a.hsv_h <= 0 && a.hsv_s <= 0 && a.hsv_v <= 0) return;
  if (x.size(1) != 3)
    throw TrainingError("augment.hsv_*: HSV jitter needs RGB inputs, these have " +
                        std::to_string(x.size(1)) + " channel(s)");
  const int64_t n = x.size(0);
  // RGB -> HSV (h in [0, 1), s, v in [0, 1]) per pixel.
  const torch::Tensor rgb = x.clamp(0, 1);
  const torch::Tensor r = rgb.select(1, 0), g = rgb.select(1, 1), b = rgb.select(1, 2);
  const torch::Tensor v = std::get<0>(rgb.max(1));
  const torch::Tensor mn = std::get<0>(rgb.min(1));
  const torch::Tensor delta = v - mn;
  const torch::Tensor safe = delta.clamp_min(1e-12);
  torch::Tensor hue =
      torch::where(v == r, ((g - b) / safe).remainder(6.0),
                   torch::where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0));
  hue = torch::where(delta > 0, hue / 6.0, torch::zeros_like(hue));
  const torch::Tensor sat = torch::where(v > 0, delta / v.clamp_min(1e-12), torch::zeros_like(v));
  // Per-image jitter: hue shifted by up to hsv_h of the circle, saturation and value scaled by
  // a gain in [1 - s, 1 + s] and [1 - v, 1 + v].
  auto gains = [&](double range) { return (torch::rand({n, 1, 1}) * 2 - 1) * range; };
  const torch::Tensor h2 = (hue + gains(a.hsv_h)).remainder(1.0);
  const torch::Tensor s2 = (sat * (1 + gains(a.hsv_s))).clamp(0, 1);
  const torch::Tensor v2 = (v * (1 + gains(a.hsv_v))).clamp(0, 1);
  // HSV -> RGB: channel c = v - v s max(0, min(k, 4 - k, 1)), k = (n_c + 6 h) mod 6.
  auto channel = [&](double nc) {
    const torch::Tensor k = (h2 * 6.0 + nc).remainder(6.0);
    return v2 - v2 * s2 * torch::clamp(torch::minimum(k, 4.0 - k), 0.0, 1.0);
  };
  x = torch::stack({channel(5.0), channel(3.0), channel(1.0)}, 1);
}

}  // namespace qat
