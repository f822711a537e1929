// Range observers. An observer watches a tensor (per tensor, or per channel along axis 0) and
// reports the range [min, max] the quantizer should cover:
//   minmax          range of the latest tensor (weights: the current weights)
//   running_minmax  min/max over everything seen since the last reset
//   ema             exponential moving average of per-batch min/max
//   mse             search of the clipping range that minimises the quantization MSE over a
//                   reservoir of observed values (PTQ calibration)
//   percentile      range clipped at a percentile of |x| (or of x for asymmetric ranges)
// State lives in buffers, so it is saved in checkpoints with the module. A frozen observer
// ignores updates.
// In a data-parallel run an activation observer is given the process group: each rank sees its
// shard of the global batch, and the update reduces it (min / max across ranks, the gathered
// batch for the reservoir), so every rank computes the range one process would, bit for bit.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>

#include "qat/quant_config.h"

namespace qat {

class ProcessGroup;

class ObserverImpl : public torch::nn::Module {
 public:
  // channels = 1 for per-tensor observation; otherwise the size of axis 0 of observed tensors.
  ObserverImpl(const QuantSpec& spec, int64_t channels);

  void update(const torch::Tensor& x);
  bool initialized() const { return initialized_.item<bool>(); }
  bool frozen() const { return frozen_.item<bool>(); }
  void set_frozen(bool f) { frozen_.fill_(f); }
  void reset();
  // Not owned; the GraphModule that sets it keeps it alive. nullptr: one process.
  void set_process_group(ProcessGroup* group) { group_ = group; }

  // [channels] tensors (double, CPU). Throws if nothing was observed.
  torch::Tensor min() const { return min_; }
  torch::Tensor max() const { return max_; }
  int64_t channels() const { return min_.size(0); }

 private:
  void search_range(const torch::Tensor& x_by_channel);  // mse / percentile
  torch::Tensor reservoir_sample(const torch::Tensor& flat);

  QuantSpec spec_;
  torch::Tensor min_, max_, initialized_, frozen_;
  // Values kept for mse/percentile (per-tensor observers). Not checkpointed: a run resumed
  // while these observers still update restarts the reservoir (ranges are checkpointed).
  torch::Tensor reservoir_;
  at::Generator gen_;
  ProcessGroup* group_ = nullptr;
};
TORCH_MODULE(Observer);

// Quantization MSE of x (flattened per channel: [C, N]) under a format derived from [lo, hi].
// Exposed for tests of the MSE search.
torch::Tensor quantization_mse(const torch::Tensor& x_by_channel, const torch::Tensor& lo,
                               const torch::Tensor& hi, const QuantSpec& spec);

}  // namespace qat
