#include "train/sensitivity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "qat/json_fields.h"
#include "train/run_ranks.h"

namespace qat {
namespace {

// Calibrates a copy of `folded` quantized by `quant` on `samples` and returns its loss there in
// evaluation mode (the integer-exact forward, what PTQ would score).
double calibrated_loss(const GraphModuleImpl& folded, const QuantConfig& quant,
                       const TensorData& samples, const Task& task, int64_t batch_size) {
  GraphModule m = make_module_keeping_rng(folded.graph(), quant);
  m->copy_weights_from(folded);
  {
    torch::NoGradGuard no_grad;
    m->eval();
    m->set_mode(Mode::kCalibrate);
    for (int64_t i = 0; i < samples.size(); i += batch_size)
      m->forward(samples.x.narrow(0, i, std::min(batch_size, samples.size() - i)));
  }
  m->freeze_observers(true);
  m->set_mode(Mode::kEval);
  return task.evaluate(*m, samples, batch_size, "", false, nullptr).loss;
}

}  // namespace

exporter::WeightSensitivity measure_weight_sensitivity(const GraphModuleImpl& folded,
                                                       const QuantConfig& quant,
                                                       const std::vector<std::string>& layers,
                                                       const TensorData& samples, const Task& task,
                                                       int64_t batch_size) {
  const torch::Tensor rng = default_rng_state();
  // `layer` at `bits`, after the overrides before it (the later override wins).
  const auto with_bits = [](QuantConfig q, const std::string& layer, int bits) {
    NodeOverride o;
    o.pattern = layer;
    o.where = "budget.order sensitivity";
    o.weights = q.weights_for(layer);
    o.weights->bits = bits;
    q.overrides.push_back(std::move(o));
    return q;
  };
  // Where the allocator starts: every measured layer at 8-bit weights.
  QuantConfig base = quant;
  for (const std::string& layer : layers) base = with_bits(std::move(base), layer, 8);
  exporter::WeightSensitivity s;
  s.samples = samples.size();
  s.base_loss = calibrated_loss(folded, base, samples, task, batch_size);
  for (const std::string& layer : layers)
    for (const int bits : {4, 2})
      s.loss_increase[layer][bits] =
          calibrated_loss(folded, with_bits(base, layer, bits), samples, task, batch_size) -
          s.base_loss;
  set_default_rng_state(rng);
  return s;
}

std::string sensitivity_table(const exporter::WeightSensitivity& s,
                              const std::vector<std::string>& order) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "%-20s %12s %12s   (loss %.4f with 8-bit weights, %lld training images)\n", "layer",
                "4-bit", "2-bit", s.base_loss, static_cast<long long>(s.samples));
  out += line;
  std::vector<std::string> rows;
  for (const std::string& layer : order)
    if (s.loss_increase.count(layer)) rows.push_back(layer);
  for (const auto& entry : s.loss_increase)
    if (std::find(rows.begin(), rows.end(), entry.first) == rows.end()) rows.push_back(entry.first);
  for (const std::string& layer : rows) {
    const auto& by_bits = s.loss_increase.at(layer);
    const auto at = [&](int b) {
      const auto it = by_bits.find(b);
      return it == by_bits.end() ? std::nan("") : it->second;
    };
    std::snprintf(line, sizeof line, "%-20s %+12.4f %+12.4f\n", layer.c_str(), at(4), at(2));
    out += line;
  }
  return out;
}

}  // namespace qat

namespace qat::exporter {

void to_json(nlohmann::json& j, const WeightSensitivity& s) {
  nlohmann::json layers = nlohmann::json::object();
  for (const auto& [layer, by_bits] : s.loss_increase)
    for (const auto& [bits, increase] : by_bits) layers[layer][std::to_string(bits)] = increase;
  j = {{"samples", s.samples}, {"base_loss", s.base_loss}, {"loss_increase", layers}};
}

void from_json(const nlohmann::json& j, WeightSensitivity& s) {
  s = {};
  s.samples = json_field<int64_t>(j, "samples");
  if (s.samples <= 0) throw JsonFieldError("samples", "must be positive");
  s.base_loss = json_field<double>(j, "base_loss");
  if (!std::isfinite(s.base_loss)) throw JsonFieldError("base_loss", "is not a finite number");
  const auto layers = json_field<nlohmann::json>(j, "loss_increase");
  if (!layers.is_object()) throw JsonFieldError("loss_increase", "is not an object");
  for (const auto& [layer, by_bits] : layers.items()) {
    const std::string path = "loss_increase." + layer;
    if (!by_bits.is_object()) throw JsonFieldError(path, "is not an object");
    for (const int bits : {4, 2}) {
      const std::string key = std::to_string(bits);
      if (!by_bits.contains(key) || !by_bits.at(key).is_number())
        throw JsonFieldError(path + "." + key, "is missing or not a number");
      const double v = by_bits.at(key).get<double>();
      if (!std::isfinite(v)) throw JsonFieldError(path + "." + key, "is not a finite number");
      s.loss_increase[layer][bits] = v;
    }
    if (by_bits.size() != 2) throw JsonFieldError(path, "holds other bit widths than 4 and 2");
  }
}

}  // namespace qat::exporter
