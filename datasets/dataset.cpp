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

ChannelStats compute_channel_stats(const ArrayDataset& d) {
  if (d.shape.empty() || d.size() == 0)
    throw DatasetError("compute_channel_stats: the dataset is empty");
  const auto channels = static_cast<size_t>(d.shape[0]);
  const auto per_channel = static_cast<size_t>(d.sample_numel()) / channels;
  // Two passes in double: the inputs are small (|x| < ~20) but there are millions of them, and
  // the one-pass sum-of-squares formula loses the variance of near-constant channels.
  std::vector<double> sum(channels, 0.0);
  for (size_t i = 0; i < d.size(); ++i) {
    const float* s = d.sample(i);
    for (size_t c = 0; c < channels; ++c)
      for (size_t k = 0; k < per_channel; ++k) sum[c] += s[c * per_channel + k];
  }
  const double count = static_cast<double>(d.size() * per_channel);
  ChannelStats st;
  for (double s : sum) st.mean.push_back(s / count);
  std::vector<double> sq(channels, 0.0);
  for (size_t i = 0; i < d.size(); ++i) {
    const float* s = d.sample(i);
    for (size_t c = 0; c < channels; ++c)
      for (size_t k = 0; k < per_channel; ++k) {
        const double x = s[c * per_channel + k] - st.mean[c];
        sq[c] += x * x;
      }
  }
  for (size_t c = 0; c < channels; ++c) {
    double sd = std::sqrt(sq[c] / count);
    if (!(sd > 1e-12)) {
      // A constant channel carries no information; dividing by ~0 would blow it up to inf/nan.
      spdlog::warn("channel {} is constant ({}); using std 1", c, st.mean[c]);
      sd = 1.0;
    }
    st.std.push_back(sd);
  }
  return st;
}

void normalize(ArrayDataset& d, const ChannelStats& s) {
  if (d.shape.empty()) throw DatasetError("normalize: the dataset has no sample shape");
  const auto channels = static_cast<size_t>(d.shape[0]);
  if (s.mean.size() != channels || s.std.size() != channels)
    throw DatasetError("normalize: statistics have " + std::to_string(s.mean.size()) +
                       " means and " + std::to_string(s.std.size()) + " stds, the data has " +
                       std::to_string(channels) + " channels");
  for (size_t c = 0; c < channels; ++c)
    if (!(s.std[c] > 0.0) || !std::isfinite(s.mean[c]))
      throw DatasetError("normalize: channel " + std::to_string(c) + " has mean " +
                         std::to_string(s.mean[c]) + " and std " + std::to_string(s.std[c]) +
                         " (std must be > 0)");
  const auto per_channel = static_cast<size_t>(d.sample_numel()) / channels;
  for (size_t i = 0; i < d.size(); ++i) {
    float* x = d.data.data() + i * channels * per_channel;
    for (size_t c = 0; c < channels; ++c) {
      const double mean = s.mean[c];
      const double inv = 1.0 / s.std[c];
      for (size_t k = 0; k < per_channel; ++k, ++x) *x = static_cast<float>((*x - mean) * inv);
    }
  }
}

}  // namespace qat::data
