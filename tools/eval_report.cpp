#include "tools/eval_report.h"

#include "qat/json_fields.h"

namespace qat {

void to_json(nlohmann::json& j, const EvalReport& r) {
  j = {{"engine", r.engine},         {"metric_name", r.metric_name},
       {"metric", r.metric},         {"loss", r.loss},
       {"samples", r.samples},       {"checkpoint", r.checkpoint},
       {"parameters", r.parameters}, {"macs", r.macs}};
  json_put(j, "weight_bytes", r.weight_bytes);
  json_put(j, "arena_bytes", r.arena_bytes);
  json_put(j, "arena_lower_bound", r.arena_lower_bound);
  json_put(j, "scratch_bytes", r.scratch_bytes);
  json_put(j, "flash_estimate", r.flash_estimate);
  json_put(j, "fake_quant_metric", r.fake_quant_metric);
  json_put(j, "fake_quant_loss", r.fake_quant_loss);
}

void from_json(const nlohmann::json& j, EvalReport& r) {
  r.engine = json_field<std::string>(j, "engine");
  r.metric_name = json_field<std::string>(j, "metric_name");
  r.metric = json_field<double>(j, "metric");
  r.loss = json_field<double>(j, "loss");
  r.samples = json_field<int64_t>(j, "samples");
  r.checkpoint = json_field<std::string>(j, "checkpoint");
  r.parameters = json_field<int64_t>(j, "parameters");
  r.macs = json_field<int64_t>(j, "macs");
  r.weight_bytes = json_nullable<int64_t>(j, "weight_bytes");
  r.arena_bytes = json_nullable<int64_t>(j, "arena_bytes");
  r.arena_lower_bound = json_nullable<int64_t>(j, "arena_lower_bound");
  r.scratch_bytes = json_nullable<int64_t>(j, "scratch_bytes");
  r.flash_estimate = json_nullable<int64_t>(j, "flash_estimate");
  r.fake_quant_metric = json_nullable<double>(j, "fake_quant_metric");
  r.fake_quant_loss = json_nullable<double>(j, "fake_quant_loss");
}

}  // namespace qat
