// In-memory datasets produced by the loaders. Torch-free on purpose (fast to compile, easy to
// test); the training engine turns them into tensors. Sample shapes are channel-first like the
// model graph's input: [C, L] for time series, [C, H, W] for images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qat/box.h"

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

// Per-channel z-score statistics of a training split, stored with the model so the exporter and
// the MCU scale inputs exactly as training did: population mean and standard deviation over
// every sample and position of the channel (two passes in double); a constant channel gets
// std 1 (it carries no information, and dividing by ~0 would blow it up).
struct ChannelStats {
  std::vector<double> mean, std;
};
// `data` holds samples of `shape` (channel first) back to back.
ChannelStats compute_channel_stats(const std::vector<float>& data,
                                   const std::vector<int64_t>& shape);
ChannelStats compute_channel_stats(const ArrayDataset& d);
ChannelStats compute_channel_stats(const DetectionDataset& d);

// x = (x - mean[c]) / std[c] in float32 with the statistics rounded to float: the arithmetic
// of the exported <name>_io.c, so raw readings normalised on the MCU give the same inputs.
void normalize(std::vector<float>& data, const std::vector<int64_t>& shape, const ChannelStats& s);
void normalize(ArrayDataset& d, const ChannelStats& s);
void normalize(DetectionDataset& d, const ChannelStats& s);

}  // namespace qat::data
