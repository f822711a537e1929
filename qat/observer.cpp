#include "qat/observer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "qat/errors.h"
#include "qat/fake_quantize.h"
#include "qat/process_group.h"

namespace qat {
namespace {

constexpr int64_t kReservoirSize = 1 << 16;
constexpr int64_t kSamplesPerBatch = 1 << 14;
constexpr uint64_t kReservoirSeed = 0x5eed;

// Scale / zero point tensors ([C, 1]) of the formats derived from per-channel ranges.
std::pair<torch::Tensor, torch::Tensor> params_for(const torch::Tensor& lo, const torch::Tensor& hi,
                                                   const QuantSpec& spec) {
  const auto lo_a = lo.accessor<double, 1>();
  const auto hi_a = hi.accessor<double, 1>();
  const int64_t c = lo.size(0);
  auto scale = torch::empty({c, 1}, torch::kDouble);
  auto zp = torch::empty({c, 1}, torch::kDouble);
  for (int64_t i = 0; i < c; ++i) {
    QFormat f = format_for_range(spec, {lo_a[i]}, {hi_a[i]}, false);
    scale[i][0] = f.scale[0];
    zp[i][0] = static_cast<double>(f.zero_point[0]);
  }
  return {scale, zp};
}

}  // namespace

torch::Tensor quantization_mse(const torch::Tensor& x_by_channel, const torch::Tensor& lo,
                               const torch::Tensor& hi, const QuantSpec& spec) {
  const auto [scale, zp] = params_for(lo, hi, spec);
  const IntRange r = int_range(spec.bits, spec.is_signed);
  const torch::Tensor x = x_by_channel.to(torch::kDouble);
  const torch::Tensor q = quantize_codes(x, scale, zp, r.qmin, r.qmax);
  return ((q - zp) * scale - x).pow(2).mean(1);
}

ObserverImpl::ObserverImpl(const QuantSpec& spec, int64_t channels) : spec_(spec) {
  min_ = register_buffer("min", torch::zeros({channels}, torch::kDouble));
  max_ = register_buffer("max", torch::zeros({channels}, torch::kDouble));
  initialized_ = register_buffer("initialized", torch::zeros({1}, torch::kBool));
  frozen_ = register_buffer("frozen", torch::zeros({1}, torch::kBool));
}

void ObserverImpl::reset() {
  min_.zero_();
  max_.zero_();
  initialized_.fill_(false);
  reservoir_ = torch::Tensor();
  gen_ = at::Generator();
}

torch::Tensor ObserverImpl::reservoir_sample(const torch::Tensor& flat) {
  // Deterministic subsample: this observer's own fixed-seed generator, advanced by its updates
  // only, so runs with the same data give the same ranges whatever else ran before.
  if (!gen_.defined()) gen_ = at::make_generator<at::CPUGeneratorImpl>(kReservoirSeed);
  at::Generator& gen = gen_;
  torch::Tensor sample = flat;
  if (flat.numel() > kSamplesPerBatch)
    sample =
        flat.index_select(0, torch::randperm(flat.numel(), gen).narrow(0, 0, kSamplesPerBatch));
  reservoir_ = reservoir_.defined() ? torch::cat({reservoir_, sample}) : sample;
  if (reservoir_.numel() > kReservoirSize)
    reservoir_ = reservoir_.index_select(
        0, torch::randperm(reservoir_.numel(), gen).narrow(0, 0, kReservoirSize));
  return reservoir_;
}

void ObserverImpl::update(const torch::Tensor& x_in) {
  if (frozen()) return;
  torch::NoGradGuard no_grad;
  const int64_t c = channels();
  const bool searches =
      spec_.observer == ObserverKind::kMse || spec_.observer == ObserverKind::kPercentile;
  // The range in x's own dtype, one pass: a float's min / max is exactly representable in
  // double, so this is the double computation's result without converting the tensor. NaN
  // propagates through min / max, so a non-finite extreme is the same test as any
  // non-finite element.
  const bool shared = group_ != nullptr && group_->size() > 1;
  if (shared && c != 1)
    throw TrainingError("a per-channel observer cannot observe a sharded batch");
  // The reservoir samples the global batch: gather it (in rank order = the batch's order).
  const torch::Tensor x_seen =
      shared && searches ? group_->allgather_rows(x_in.detach().to(torch::kCPU)) : x_in.detach();
  const torch::Tensor xs = x_seen.to(torch::kCPU).reshape({c, -1});
  auto [lo, hi] = torch::aminmax(xs, 1);
  torch::Tensor bmin = lo.to(torch::kDouble), bmax = hi.to(torch::kDouble);
  if (shared && !searches) {
    // One MAX over [-min, max]; a non-finite local extreme becomes +inf so every rank sees it.
    torch::Tensor both = torch::cat({-bmin, bmax});
    both.masked_fill_(both.isnan(), std::numeric_limits<double>::infinity());
    group_->allreduce(both, ReduceOp::kMax);
    bmin = -both.narrow(0, 0, c);
    bmax = both.narrow(0, c, c);
  }
  if (!torch::cat({bmin, bmax}).isfinite().all().item<bool>())
    throw TrainingError("observer saw a NaN or Inf value; the model diverged");
  const bool init = initialized();
  switch (spec_.observer) {
    case ObserverKind::kMinMax:
      min_.copy_(bmin);
      max_.copy_(bmax);
      break;
    case ObserverKind::kRunningMinMax:
      min_.copy_(init ? torch::minimum(min_, bmin) : bmin);
      max_.copy_(init ? torch::maximum(max_, bmax) : bmax);
      break;
    case ObserverKind::kEma: {
      const double m = spec_.ema_momentum;
      min_.copy_(init ? min_ * (1 - m) + bmin * m : bmin);
      max_.copy_(init ? max_ * (1 - m) + bmax * m : bmax);
      break;
    }
    case ObserverKind::kMse:
    case ObserverKind::kPercentile:
      // Per channel (weights): search on the tensor itself. Per tensor: on the reservoir of
      // everything observed so far.
      if (searches) {
        const torch::Tensor x = xs.to(torch::kDouble);
        search_range(c > 1 ? x : reservoir_sample(x.reshape({-1})).reshape({1, -1}));
      }
      break;
  }
  initialized_.fill_(true);
}

void ObserverImpl::search_range(const torch::Tensor& xc) {
  const torch::Tensor lo0 = std::get<0>(xc.min(1)).clamp_max(0.0);
  const torch::Tensor hi0 = std::get<0>(xc.max(1)).clamp_min(0.0);
  const bool symmetric = spec_.symmetric;
  if (spec_.observer == ObserverKind::kPercentile) {
    const double p = spec_.percentile / 100.0;
    if (symmetric) {
      const torch::Tensor t = torch::quantile(xc.abs(), p, 1);
      min_.copy_(torch::maximum(lo0, -t));
      max_.copy_(torch::minimum(hi0, t));
    } else {
      min_.copy_(torch::minimum(torch::quantile(xc, 1.0 - p, 1), torch::zeros_like(lo0)));
      max_.copy_(torch::maximum(torch::quantile(xc, p, 1), torch::zeros_like(hi0)));
    }
    return;
  }
  // MSE: shrink the observed range by alpha = k / K, keep the best alpha per channel.
  torch::Tensor amax = torch::maximum(-lo0, hi0);
  torch::Tensor best_lo = symmetric ? -amax : lo0.clone();
  torch::Tensor best_hi = symmetric ? amax.clone() : hi0.clone();
  torch::Tensor best_err = quantization_mse(xc, best_lo, best_hi, spec_);
  const int k_max = spec_.mse_candidates;
  for (int k = 1; k < k_max; ++k) {
    const double alpha = static_cast<double>(k) / k_max;
    const torch::Tensor lo = symmetric ? -amax * alpha : lo0 * alpha;
    const torch::Tensor hi = symmetric ? amax * alpha : hi0 * alpha;
    const torch::Tensor err = quantization_mse(xc, lo, hi, spec_);
    const torch::Tensor better = err < best_err;
    best_err = torch::where(better, err, best_err);
    best_lo = torch::where(better, lo, best_lo);
    best_hi = torch::where(better, hi, best_hi);
  }
  min_.copy_(best_lo);
  max_.copy_(best_hi);
}

}  // namespace qat
