// The detection augmentations YOLO trainers use, on a batch of letterboxed RGB inputs in [0, 1]
// ([N, 3, H, W]) with boxes in normalised centre/size coordinates that follow every transform:
//   mosaic:  with probability `mosaic`, the image and three others of the batch fill the four
//            quadrants of a 2H x 2W canvas around a random centre (each image's corner at it);
//   affine:  rotation, zoom, shear and translation of the image (or the mosaic canvas) about its
//            centre into the H x W input, bilinear, gray (0.5) outside;
//   hsv:     hue shift and saturation / value gains per image.
// Boxes are mapped through their four corners (the enclosing box), clipped to the input and
// dropped when less than `min_box_area` of their transformed area stays inside or a side is
// shorter than 2 pixels. Random numbers come from torch's default generator: the same seed gives
// the same batches.
#pragma once

#include <array>
#include <vector>

#include <torch/types.h>

#include "qat/box.h"
#include "train/run_config.h"

namespace qat {

// Mosaic and random affine (both off when their settings are 0).
void augment_geometry(torch::Tensor& x, std::vector<std::vector<Box>>& boxes,
                      const AugmentConfig& a);
void augment_hsv(torch::Tensor& x, const AugmentConfig& a);

// Exposed for the tests: the 2x3 pixel matrix [a b c; d e f] of (x', y') = (a x + b y + c,
// d x + e y + f), the warp of one image [3, h, w] into [3, out_h, out_w] through it, and the box
// transform (boxes in pixel corners of the source, result normalised to the output).
using Affine = std::array<double, 6>;
torch::Tensor warp_affine(const torch::Tensor& image, const Affine& m, int64_t out_h,
                          int64_t out_w);
struct PixelBox {
  double x0, y0, x1, y1;
  int64_t cls;
};
std::vector<Box> transform_boxes(const std::vector<PixelBox>& boxes, const Affine& m, int64_t out_h,
                                 int64_t out_w, double min_box_area);

}  // namespace qat
