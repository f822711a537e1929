// In-memory datasets produced by the loaders. Torch-free on purpose (fast to compile, easy to
// test); the training engine turns them into tensors. Sample shapes are channel-first like the
// model graph's input: [C, L] for time series, [C, H, W] for images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qat::data {

enum class Split { kTrain, kTest };

// Classification data: N samples of one shape, float, sample-major.
struct ArrayDataset {
  std::vector<int64_t> shape;            // per-sample shape
  std::vector<float> data;               // size() * sample_numel()
  std::vector<int64_t> labels;           // in [0, num_classes)
  std::vector<std::string> class_names;  // num_classes entries
  std::vector<int64_t> groups;           // optional per-sample group (UCI-HAR subject id)

  size_t size() const { return labels.size(); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  int64_t sample_numel() const;
  const float* sample(size_t i) const { return data.data() + i * sample_numel(); }
};

// Per-channel z-score statistics, computed on the training split and stored with the model so
// the exporter and the MCU apply the same input scaling.
struct ChannelStats {
  std::vector<double> mean, std;
};
ChannelStats compute_channel_stats(const ArrayDataset& d);
void normalize(ArrayDataset& d, const ChannelStats& s);  // (x - mean) / std per channel

// An object box in normalised coordinates of the (letterboxed) model input: centre, size in
// [0, 1], class index into the dataset's class list.
struct Box {
  float cx, cy, w, h;
  int64_t cls;
};

// Detection data: images [3, H, W] in [0, 1] (RGB) and their boxes.
struct DetectionDataset {
  std::vector<int64_t> shape;  // [3, H, W]
  std::vector<float> data;
  std::vector<std::vector<Box>> boxes;
  std::vector<std::string> class_names;
  std::vector<std::string> image_files;  // source of each image, for messages

  size_t size() const { return boxes.size(); }
  int64_t sample_numel() const;
  const float* sample(size_t i) const { return data.data() + i * sample_numel(); }
};

}  // namespace qat::data
