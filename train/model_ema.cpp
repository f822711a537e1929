#include "train/model_ema.h"

#include <algorithm>

#include "qat/errors.h"
#include "train/run_ranks.h"

namespace qat {
namespace {

constexpr const char* kRawPrefix = "ema_raw/";
constexpr const char* kUpdates = "ema_updates";

// Parameters and buffers by name (the two name spaces of a torch module do not overlap).
std::map<std::string, torch::Tensor> tensors_of(const GraphModuleImpl& m) {
  std::map<std::string, torch::Tensor> t;
  for (const auto& p : m.named_parameters()) t[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) t[b.key()] = b.value();
  return t;
}

}  // namespace

ModelEma::ModelEma(const GraphModuleImpl& model, double decay)
    : ema_(make_module_keeping_rng(model.graph(), model.quant_config())), decay_(decay) {
  torch::NoGradGuard ng;
  const auto src = tensors_of(model);
  for (auto& [name, t] : tensors_of(*ema_)) t.copy_(src.at(name));
  ema_->eval();
}

void ModelEma::update(const GraphModuleImpl& model) {
  torch::NoGradGuard ng;
  ++updates_;
  const double k = static_cast<double>(updates_);
  const double d = std::min(decay_, (1.0 + k) / (10.0 + k));
  const auto src = tensors_of(model);
  for (auto& [name, t] : tensors_of(*ema_)) {
    const torch::Tensor& s = src.at(name);
    if (t.is_floating_point())
      t.mul_(d).add_(s.detach(), 1.0 - d);
    else
      t.copy_(s);
  }
}

std::map<std::string, torch::Tensor> ModelEma::raw_state(const GraphModuleImpl& raw,
                                                         int64_t updates) {
  std::map<std::string, torch::Tensor> extras;
  for (const auto& [name, t] : tensors_of(raw)) extras[kRawPrefix + name] = t.detach().clone();
  extras[kUpdates] = torch::tensor({updates}, torch::kLong);
  return extras;
}

bool ModelEma::has_raw_state(const std::map<std::string, torch::Tensor>& extras) {
  return extras.count(kUpdates) != 0;
}

int64_t ModelEma::load_raw_state(const std::map<std::string, torch::Tensor>& extras,
                                 GraphModuleImpl& raw, const std::string& file) {
  torch::NoGradGuard ng;
  for (auto& [name, t] : tensors_of(raw)) {
    const auto it = extras.find(kRawPrefix + name);
    if (it == extras.end())
      throw Error(file + ": the EMA run's raw model lacks tensor '" + name + "'");
    if (!it->second.sizes().equals(t.sizes()))
      throw Error(file + ": the EMA run's raw tensor '" + name + "' has shape " +
                  c10::str(it->second.sizes()) + ", the model needs " + c10::str(t.sizes()));
    t.copy_(it->second);
  }
  const torch::Tensor& k = extras.at(kUpdates);
  if (k.numel() != 1 || k.item<int64_t>() < 0)
    throw Error(file + ": entry '" + std::string(kUpdates) + "' is not a count");
  return k.item<int64_t>();
}

}  // namespace qat
