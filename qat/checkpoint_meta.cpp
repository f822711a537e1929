#include "qat/checkpoint_meta.h"

#include "qat/json_fields.h"

namespace qat {

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kFloat:
      return "float";
    case Phase::kPtq:
      return "ptq";
    case Phase::kQat:
      return "qat";
    case Phase::kDone:
      return "done";
  }
  return "?";
}

std::optional<Phase> phase_from_name(const std::string& name) {
  for (const Phase k : {Phase::kFloat, Phase::kPtq, Phase::kQat, Phase::kDone})
    if (name == phase_name(k)) return k;
  return std::nullopt;
}

void to_json(nlohmann::json& j, Phase p) {
  j = phase_name(p);
}

void from_json(const nlohmann::json& j, Phase& p) {
  const std::string s = j.get<std::string>();
  const std::optional<Phase> k = phase_from_name(s);
  if (!k) throw JsonFieldError("", "is '" + s + "'; allowed: float, ptq, qat, done");
  p = *k;
}

void to_json(nlohmann::json& j, const InputNormalization& n) {
  j = {{"mean", n.mean}, {"std", n.std}, {"shape", n.shape}};
}

void from_json(const nlohmann::json& j, InputNormalization& n) {
  n.mean = json_field<std::vector<double>>(j, "mean");
  n.std = json_field<std::vector<double>>(j, "std");
  n.shape = json_field<Shape>(j, "shape");
  if (n.mean.size() != n.std.size())
    throw JsonFieldError("", "has " + std::to_string(n.mean.size()) + " means and " +
                                 std::to_string(n.std.size()) + " standard deviations");
}

void to_json(nlohmann::json& j, const TestFigures& t) {
  j = {{"loss", t.loss}, {"metric", t.metric}};
}

void from_json(const nlohmann::json& j, TestFigures& t) {
  t.loss = json_field<double>(j, "loss");
  t.metric = json_field<double>(j, "metric");
}

void to_json(nlohmann::json& j, const CheckpointMeta& m) {
  j = {{"run", m.run},     {"phase", m.phase},     {"epoch", m.epoch},  {"head", m.head},
       {"input", m.input}, {"dataset", m.dataset}, {"metric", m.metric}};
  if (m.seconds) j["seconds"] = *m.seconds;
  if (m.test) j["test"] = *m.test;
}

void from_json(const nlohmann::json& j, CheckpointMeta& m) {
  m.run = json_field<std::string>(j, "run");
  m.phase = json_field<Phase>(j, "phase");
  m.epoch = json_field<int64_t>(j, "epoch");
  m.head = json_field<ModelHead>(j, "head");
  m.input = json_field<InputNormalization>(j, "input");
  m.dataset = json_field<std::string>(j, "dataset");
  m.metric = json_field<std::string>(j, "metric");
  m.seconds = json_optional<double>(j, "seconds");
  m.test = json_optional<TestFigures>(j, "test");
}

}  // namespace qat
