#include "datasets/dataset.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <functional>
#include <numeric>

#include "qat/errors.h"

namespace qat::data {
namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

}  // namespace

int64_t ArrayDataset::sample_numel() const {
  return numel(shape);
}
int64_t DetectionDataset::sample_numel() const {
  return numel(shape);
}

ChannelStats compute_channel_stats(const std::vector<float>& data,
                                   const std::vector<int64_t>& shape) {
  const int64_t sample = numel(shape);
  if (shape.empty() || sample <= 0 || data.empty())
    throw DatasetError("compute_channel_stats: the dataset is empty");
  if (data.size() % static_cast<size_t>(sample) != 0)
    throw DatasetError("compute_channel_stats: " + std::to_string(data.size()) +
                       " values are not whole samples of " + std::to_string(sample));
  const size_t samples = data.size() / static_cast<size_t>(sample);
  const auto channels = static_cast<size_t>(shape[0]);
  const auto per_channel = static_cast<size_t>(sample) / channels;
  // Two passes in double: the inputs are small (|x| < ~20) but there are millions of them, and
  // the one-pass sum-of-squares formula loses the variance of near-constant channels.
  std::vector<double> sum(channels, 0.0);
  for (size_t i = 0; i < samples; ++i) {
    const float* s = data.data() + i * static_cast<size_t>(sample);
    for (size_t c = 0; c < channels; ++c)
      for (size_t k = 0; k < per_channel; ++k) sum[c] += s[c * per_channel + k];
  }
  const double count = static_cast<double>(samples * per_channel);
  ChannelStats st;
  for (double s : sum) st.mean.push_back(s / count);
  std::vector<double> sq(channels, 0.0);
  for (size_t i = 0; i < samples; ++i) {
    const float* s = data.data() + i * static_cast<size_t>(sample);
    for (size_t c = 0; c < channels; ++c)
      for (size_t k = 0; k < per_channel; ++k) {
        const double x = s[c * per_channel + k] - st.mean[c];
        sq[c] += x * x;
      }
  }
  for (size_t c = 0; c < channels; ++c) {
    double sd = std::sqrt(sq[c] / count);
    if (!(sd > 1e-12)) {
      spdlog::warn("input channel {} is constant ({}); using std 1", c, st.mean[c]);
      sd = 1.0;
    }
    st.std.push_back(sd);
  }
  return st;
}

ChannelStats compute_channel_stats(const ArrayDataset& d) {
  return compute_channel_stats(d.data, d.shape);
}

ChannelStats compute_channel_stats(const DetectionDataset& d) {
  return compute_channel_stats(d.data, d.shape);
}

void normalize(std::vector<float>& data, const std::vector<int64_t>& shape, const ChannelStats& s) {
  if (shape.empty()) throw DatasetError("normalize: the dataset has no sample shape");
  const auto channels = static_cast<size_t>(shape[0]);
  if (s.mean.size() != channels || s.std.size() != channels)
    throw DatasetError("normalize: statistics have " + std::to_string(s.mean.size()) +
                       " means and " + std::to_string(s.std.size()) + " stds, the data has " +
                       std::to_string(channels) + " channels");
  for (size_t c = 0; c < channels; ++c)
    if (!(s.std[c] > 0.0) || !std::isfinite(s.mean[c]) || !std::isfinite(s.std[c]))
      throw DatasetError("normalize: channel " + std::to_string(c) + " has mean " +
                         std::to_string(s.mean[c]) + " and std " + std::to_string(s.std[c]) +
                         " (std must be > 0)");
  const auto per_channel = static_cast<size_t>(numel(shape)) / channels;
  std::vector<float> mean, stdv;
  for (size_t c = 0; c < channels; ++c) {
    mean.push_back(static_cast<float>(s.mean[c]));
    stdv.push_back(static_cast<float>(s.std[c]));
  }
  for (size_t i = 0; i < data.size(); i += channels * per_channel)
    for (size_t c = 0; c < channels; ++c) {
      float* x = data.data() + i + c * per_channel;
      for (size_t k = 0; k < per_channel; ++k) x[k] = (x[k] - mean[c]) / stdv[c];
    }
}

void normalize(ArrayDataset& d, const ChannelStats& s) {
  normalize(d.data, d.shape, s);
}

void normalize(DetectionDataset& d, const ChannelStats& s) {
  normalize(d.data, d.shape, s);
}

}  // namespace qat::data
