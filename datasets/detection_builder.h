// Internal: the part of the detection loaders that does not depend on the annotation format:
// category selection, image placement (letterbox or stretch) and the box transform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/coco.h"

namespace qat::data::detail {

// A box as the annotation gives it: top-left and size in a reference frame of ref_w x ref_h
// (COCO: the json's image size in pixels; YOLO: 1 x 1), class already remapped.
struct SourceBox {
  double x, y, w, h;
  int64_t cls;
};

// Maps each of `available` (in source order) to its class index, or -1 if not kept, following
// options.categories; fills `kept_names`. `what` names the source in messages.
std::vector<int64_t> select_categories(const std::vector<std::string>& available,
                                       const std::vector<std::string>& wanted,
                                       const std::string& what,
                                       std::vector<std::string>& kept_names);

class DetectionBuilder {
 public:
  DetectionBuilder(const CocoOptions& options, std::vector<std::string> class_names);

  // Decodes the image, places it in the input and transforms, clips and filters the boxes.
  // Returns false when the image was skipped (options.skip_empty and no box survived).
  bool add(const std::string& image_path, const std::string& context, double ref_w, double ref_h,
           const std::vector<SourceBox>& boxes);

  bool full() const;  // options.max_images reached
  size_t dropped_boxes() const { return dropped_; }
  DetectionDataset finish() { return std::move(d_); }

 private:
  CocoOptions o_;
  DetectionDataset d_;
  size_t dropped_ = 0;
};

void check_detection_options(const CocoOptions& o, const std::string& what);

}  // namespace qat::data::detail
