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
}

void to_json(nlohmann::json& j, const RunState& s) {
  j = {{"phase", s.phase}, {"epoch", s.epoch}};
}

void from_json(const nlohmann::json& j, RunState& s) {
  s.phase = json_field<Phase>(j, "phase");
  s.epoch = json_field<int64_t>(j, "epoch");
}

}  // namespace qat
