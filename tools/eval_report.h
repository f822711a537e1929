// eval.json: what `qat eval --json` writes and `qat sweep`'s report reads. Every field is
// written; the ones that do not apply to an engine are null (a float model has no planned arena,
// an integer checkpoint no fake-quant forward). Reading with read_json_file<EvalReport>() fails
// on a missing or mistyped field, naming the file and the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace qat {

struct EvalReport {
  std::string engine;       // int (the C kernels), sim (integer-exact simulation), float
  std::string metric_name;  // acc, mAP50
  double metric = 0.0, loss = 0.0;
  int64_t samples = 0;
  std::string checkpoint;
  int64_t parameters = 0, macs = 0;
  // Memory of the deployed model: integer programs from the planner; a float model's weights as
  // float32; null where nothing is planned.
  std::optional<int64_t> weight_bytes, arena_bytes, arena_lower_bound, scratch_bytes,
      flash_estimate;
  // The float32 fake-quantized forward (what QAT trained), next to the integer engine.
  std::optional<double> fake_quant_metric, fake_quant_loss;
};
void to_json(nlohmann::json& j, const EvalReport& r);
void from_json(const nlohmann::json& j, EvalReport& r);

}  // namespace qat
