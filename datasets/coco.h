// Object-detection data: COCO instances json (official structure: images, annotations,
// categories) and the YOLO txt layout. Both produce letterboxed RGB inputs with boxes in
// normalised centre/size coordinates of that input.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace qat::data {

struct CocoOptions {
  // Category NAMES to keep, mapped to classes 0..K-1 in this order; empty = all categories (COCO:
  // in category-id order; YOLO: the given class list).
  std::vector<std::string> categories;
  int width = 88;
  int height = 88;
  bool letterbox = true;    // keep the aspect ratio and pad with 0.5 gray; else stretch
  bool skip_empty = false;  // drop images that end up without any kept box
  size_t max_images = 0;    // 0 = all; else the first N (kept) images
};

// images_dir holds the files named by images[].file_name. Crowd annotations (iscrowd = 1) are
// ignored; boxes smaller than 1 px in the model input are dropped.
DetectionDataset load_coco(const std::string& images_dir, const std::string& annotations_json,
                           const CocoOptions& options = {});

// Every image in images_dir (sorted by name) with labels_dir/<stem>.txt holding one
// "<cls> <cx> <cy> <w> <h>" line per box, normalised to the image; a missing label file means an
// image without objects. class_names are the names of the file's class indices.
DetectionDataset load_yolo_txt(const std::string& images_dir, const std::string& labels_dir,
                               const std::vector<std::string>& class_names,
                               const CocoOptions& options = {});

}  // namespace qat::data
