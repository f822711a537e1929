// German Traffic Sign Recognition Benchmark in the official layout:
//   <root>/Final_Training/Images/000NN/GT-000NN.csv (+ the .ppm files next to it), one per class
//   <root>/Final_Test/Images/*.ppm with <root>/Final_Test/GT-final_test.csv (or in Images/)
// CSVs are ';'-separated: Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace qat::data {

constexpr int64_t kGtsrbClasses = 43;

struct GtsrbOptions {
  int width = 32;
  int height = 32;
  // Crop to the sign's ROI before resizing. The ROI is given in the csv's Width x Height; when
  // the file has another size (GTSRB-32x32 was resized by a third party) it is scaled to match.
  bool roi_crop = false;
  size_t max_per_class = 0;             // 0 = all; else the first N csv rows of each class
  int64_t num_classes = kGtsrbClasses;  // use classes 0..num_classes-1, skip the others
};

// One csv row. Width/Height/ROI describe the ORIGINAL image; the ROI's X2/Y2 are exclusive.
struct GtsrbRow {
  std::string filename;
  int width = 0, height = 0;
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int64_t class_id = 0;
  size_t line = 0;  // 1-based line in the csv, for messages
};

// Parses and validates a GT csv (header, 8 columns, integers, ROI inside Width x Height, class id
// in 0..42). Accepts LF and CRLF.
std::vector<GtsrbRow> read_gtsrb_csv(const std::string& csv_path);

// Decodes `image_path`, optionally crops to the (scaled) ROI of `row`, resizes to the options'
// size and writes [3, height, width] RGB floats in [0, 1] to `out`. `csv_path` is for messages.
void load_gtsrb_image(const std::string& image_path, const GtsrbRow& row,
                      const std::string& csv_path, const GtsrbOptions& options, float* out);

// Samples [3, height, width], labels = ClassId, class names "00".."42".
ArrayDataset load_gtsrb(const std::string& root, Split split, const GtsrbOptions& options = {});

}  // namespace qat::data
