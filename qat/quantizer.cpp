#include "qat/quantizer.h"

#include <algorithm>
#include <cmath>

#include "qat/errors.h"
#include "qat/fake_quantize.h"

namespace qat {

std::pair<torch::Tensor, torch::Tensor> format_tensors(const QFormat& f, int64_t axis, int64_t rank,
                                                       torch::Dtype dtype) {
  const int64_t c = static_cast<int64_t>(f.channels());
  const auto shape = broadcast_shape(c, f.per_channel ? axis : -1, rank);
  auto scale = torch::tensor(f.scale, torch::kDouble).reshape(shape).to(dtype);
  std::vector<double> zp(f.zero_point.begin(), f.zero_point.end());
  auto zero = torch::tensor(zp, torch::kDouble).reshape(shape).to(dtype);
  return {scale, zero};
}

std::vector<double> zero_points_of(const QFormat& f) {
  return std::vector<double>(f.zero_point.begin(), f.zero_point.end());
}

FakeQuantizerImpl::FakeQuantizerImpl(const QuantSpec& spec, TensorRole role, int64_t channels)
    : spec_(spec),
      role_(role),
      channels_(spec.granularity == Granularity::kPerChannel ? channels : 1) {
  observer = register_module("observer", Observer(spec_, channels_));
  lsq_ready_ = register_buffer("lsq_ready", torch::zeros({1}, torch::kBool));
  if (spec_.learn_scale) {
    scale_ = register_parameter("scale", torch::ones({channels_}));
    lsq_zp_ = register_buffer("lsq_zero_point", torch::zeros({channels_}));
  }
}

void FakeQuantizerImpl::observe(const torch::Tensor& x) {
  if (spec_.frac_bits) {
    // Nothing to observe for the format itself; the peak feeds the saturation report, and like
    // an observer it stops updating once frozen.
    if (!observer->frozen())
      fixed_format_peak_ = std::max(fixed_format_peak_, x.detach().abs().max().item<double>());
    return;
  }
  if (learned_scale_ready()) return;
  observer->update(x);
}

bool FakeQuantizerImpl::ready() const {
  return spec_.frac_bits.has_value() || learned_scale_ready() || observer->initialized();
}

QFormat FakeQuantizerImpl::format(const std::string& owner) const {
  const bool pc = channels_ > 1;
  if (spec_.frac_bits)
    return QFormat::pow2(spec_.bits,
                         std::vector<int>(static_cast<size_t>(channels_), *spec_.frac_bits), pc);
  if (learned_scale_ready()) {
    const torch::Tensor s = scale_.detach().abs().clamp_min(1e-12).to(torch::kDouble).contiguous();
    const torch::Tensor z = lsq_zp_.to(torch::kLong).contiguous();
    return QFormat::affine(
        spec_.bits, spec_.is_signed,
        std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel()),
        std::vector<int64_t>(z.data_ptr<int64_t>(), z.data_ptr<int64_t>() + z.numel()), pc);
  }
  if (!observer->initialized())
    throw TrainingError("quantizer of '" + owner +
                        "' has observed nothing yet: calibrate (or run a QAT step) before using "
                        "quantized modes");
  const torch::Tensor lo = observer->min().contiguous(), hi = observer->max().contiguous();
  return format_for_range(
      spec_, std::vector<double>(lo.data_ptr<double>(), lo.data_ptr<double>() + lo.numel()),
      std::vector<double>(hi.data_ptr<double>(), hi.data_ptr<double>() + hi.numel()), pc);
}

void FakeQuantizerImpl::init_learned_scale() {
  if (!spec_.learn_scale || learned_scale_ready()) return;
  const QFormat f = format();
  torch::NoGradGuard no_grad;
  scale_.copy_(torch::tensor(f.scale, torch::kDouble).to(scale_.dtype()));
  std::vector<double> zp(f.zero_point.begin(), f.zero_point.end());
  lsq_zp_.copy_(torch::tensor(zp, torch::kDouble).to(lsq_zp_.dtype()));
  lsq_ready_.fill_(true);
  observer->set_frozen(true);
}

torch::Tensor FakeQuantizerImpl::forward(const torch::Tensor& x) {
  const QFormat f = format();
  const IntRange r = int_range(f.bits, f.is_signed);
  if (spec_.learn_scale && learned_scale_ready() && x.requires_grad()) {
    const auto shape = broadcast_shape(channels_, channels_ > 1 ? 0 : -1, x.dim());
    const torch::Tensor scale = scale_.abs().clamp_min(1e-12).reshape(shape).to(x.dtype());
    const torch::Tensor zp = lsq_zp_.reshape(shape).to(x.dtype());
    // LSQ gradient scale: 1 / sqrt(elements per scale * qmax); activations per sample.
    const double elements = role_ == TensorRole::kActivations
                                ? static_cast<double>(x[0].numel())
                                : static_cast<double>(x.numel()) / static_cast<double>(channels_);
    const double g = 1.0 / std::sqrt(elements * static_cast<double>(r.qmax));
    return fake_quantize_lsq(x, scale, zp, r.qmin, r.qmax, g);
  }
  return fake_quantize(x, f.scale, zero_points_of(f), r.qmin, r.qmax);
}

}  // namespace qat
