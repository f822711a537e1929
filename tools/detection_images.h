// Validation images with the true and the predicted boxes drawn on them (`qat eval --draw`), so a
// user can see what a detector does, not only its mAP. Torch-free; OpenCV stays inside the .cpp.
#pragma once

#include <string>
#include <vector>

#include "losses/detection.h"
#include "qat/box.h"

namespace qat::draw {

// One model input as the detector saw it (letterboxed), RGB channel-first, values in [0, 1]
// (normalisation undone), with its boxes in normalised coordinates.
struct DetectionImage {
  std::vector<float> rgb_chw;
  int64_t height = 0, width = 0;
  std::vector<Box> truth;
  std::vector<detect::Detection> predicted;  // any order; those below min_score are left out
};

struct DrawStyle {
  float min_score = 0.25f;  // predictions shown: score >= min_score
  int scale = 4;            // the input is enlarged (nearest neighbour) so labels stay legible
};

// Writes `image` as PNG: true boxes green with their class name, predictions red with class name
// and score. class_names[i] names class i (a missing name is shown as its index). Throws
// qat::Error when the image is malformed or the file cannot be written.
void write_detection_png(const DetectionImage& image, const std::vector<std::string>& class_names,
                         const DrawStyle& style, const std::string& path);

}  // namespace qat::draw
