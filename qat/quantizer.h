// FakeQuantizer: one quantized tensor's spec, observer and (optionally) learned scale. Turns the
// observed range into a QFormat and applies the round-half-up fake quantization.
#pragma once

#include <torch/nn/module.h>

#include "qat/number_format.h"
#include "qat/observer.h"
#include "qat/quant_config.h"

namespace qat {

class FakeQuantizerImpl : public torch::nn::Module {
 public:
  // channels > 1: per channel along axis 0 (weights); 1: per tensor.
  FakeQuantizerImpl(const QuantSpec& spec, TensorRole role, int64_t channels);

  const QuantSpec& spec() const { return spec_; }
  bool per_channel() const {
    return channels_ > 1 || spec_.granularity == Granularity::kPerChannel;
  }

  void observe(const torch::Tensor& x);
  // Data-parallel runs: the observer reduces its updates across the ranks (observer.h).
  void set_process_group(ProcessGroup* group) { observer->set_process_group(group); }
  // True when a format is available: observed, fixed (pow2 frac_bits) or learned.
  bool ready() const;
  // Throws TrainingError naming `owner` when not ready.
  QFormat format(const std::string& owner = "") const;

  // Fake-quantizes x (channel axis 0 when per channel) with the current format. In training
  // with learn_scale the scale gets the LSQ gradient; otherwise the STE applies to x only.
  torch::Tensor forward(const torch::Tensor& x);

  // Initialises the learned scale from the observed format (first QAT step), then freezes the
  // observer: from here on the scale is a parameter.
  void init_learned_scale();
  bool learned_scale_ready() const { return lsq_ready_.item<bool>(); }

  // Largest |x| passed to observe() while the format is fixed (pow2 frac_bits) and the observer
  // is not frozen, so calibration can report what a fixed Qm.n clips. A diagnostic only: not
  // checkpointed.
  double fixed_format_peak() const { return fixed_format_peak_; }

  Observer observer{nullptr};

 private:
  QuantSpec spec_;
  TensorRole role_;
  int64_t channels_;
  torch::Tensor scale_;      // LSQ parameter [channels]
  torch::Tensor lsq_zp_;     // zero points fixed at LSQ initialisation
  torch::Tensor lsq_ready_;  // bool [1]
  double fixed_format_peak_ = 0.0;
};
TORCH_MODULE(FakeQuantizer);

// The zero points of `f` as the values fake_quantize() takes.
std::vector<double> zero_points_of(const QFormat& f);

// Scale / zero point tensors of `f` shaped to broadcast along `axis` of a rank-`rank` tensor.
std::pair<torch::Tensor, torch::Tensor> format_tensors(const QFormat& f, int64_t axis, int64_t rank,
                                                       torch::Dtype dtype);

}  // namespace qat
