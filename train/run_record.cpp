#include "train/run_record.h"

#include "qat/json_fields.h"

namespace qat {

void to_json(nlohmann::json& j, const PhaseResult& r) {
  j = {{"ran", r.ran}, {"loss", r.loss}, {"metric", r.metric}, {"seconds", r.seconds}};
}

void from_json(const nlohmann::json& j, PhaseResult& r) {
  r.ran = json_field<bool>(j, "ran");
  r.loss = json_field<double>(j, "loss");
  r.metric = json_field<double>(j, "metric");
  r.seconds = json_field<double>(j, "seconds");
}

void to_json(nlohmann::json& j, const LayerBitsRecord& r) {
  j = {{"node", r.node},
       {"weight_bits", r.weight_bits},
       {"activation_bits", r.activation_bits},
       {"weight_bytes", r.weight_bytes},
       {"weight_share", r.weight_share},
       {"cuts", r.cuts}};
}

void from_json(const nlohmann::json& j, LayerBitsRecord& r) {
  r.node = json_field<std::string>(j, "node");
  r.weight_bits = json_field<int>(j, "weight_bits");
  r.activation_bits = json_field<int>(j, "activation_bits");
  r.weight_bytes = json_field<int64_t>(j, "weight_bytes");
  r.weight_share = json_field<double>(j, "weight_share");
  r.cuts = json_field<std::vector<std::string>>(j, "cuts");
}

void to_json(nlohmann::json& j, const BudgetRecord& r) {
  j = {{"estimated_flash", r.estimated_flash},
       {"estimated_ram", r.estimated_ram},
       {"order", r.order},
       {"layers", r.layers}};
  json_put(j, "flash", r.flash);
  json_put(j, "ram", r.ram);
}

void from_json(const nlohmann::json& j, BudgetRecord& r) {
  r.flash = json_nullable<int64_t>(j, "flash");
  r.ram = json_nullable<int64_t>(j, "ram");
  r.estimated_flash = json_field<int64_t>(j, "estimated_flash");
  r.estimated_ram = json_field<int64_t>(j, "estimated_ram");
  // Absent in summaries written before the key existed: the only order there was.
  r.order = json_nullable<std::string>(j, "order").value_or("largest_share");
  r.layers = json_field<std::vector<LayerBitsRecord>>(j, "layers");
}

void to_json(nlohmann::json& j, const RunSummary& s) {
  j = {{"run_dir", s.run_dir},
       {"metric", s.metric_name},
       {"float", s.float_phase},
       {"ptq", s.ptq},
       {"qat", s.qat},
       {"interrupted", s.interrupted},
       {"parameters", s.parameters},
       {"macs", s.macs},
       {"config", s.config}};
  json_put(j, "budget", s.budget);
}

void from_json(const nlohmann::json& j, RunSummary& s) {
  s.run_dir = json_field<std::string>(j, "run_dir");
  s.metric_name = json_field<std::string>(j, "metric");
  s.float_phase = json_field<PhaseResult>(j, "float");
  s.ptq = json_field<PhaseResult>(j, "ptq");
  s.qat = json_field<PhaseResult>(j, "qat");
  s.interrupted = json_field<bool>(j, "interrupted");
  s.parameters = json_field<int64_t>(j, "parameters");
  s.macs = json_field<int64_t>(j, "macs");
  s.config = json_field<std::string>(j, "config");
  s.budget = json_optional<BudgetRecord>(j, "budget");  // absent in runs without one
}

void to_json(nlohmann::json& j, const RunState& s) {
  j = {{"phase", s.phase}, {"epoch", s.epoch}};
}

void from_json(const nlohmann::json& j, RunState& s) {
  s.phase = json_field<Phase>(j, "phase");
  s.epoch = json_field<int64_t>(j, "epoch");
}

}  // namespace qat
