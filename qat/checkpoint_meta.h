// The metadata stored with every float / QAT checkpoint: where in a run it was written, what the
// model's output means, and how raw inputs are normalised before the model sees them (the
// exporter and the MCU must scale inputs exactly as training did).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qat/graph.h"
#include "qat/model_head.h"

namespace qat {

// The steps of a training run, in order; kDone: the run is complete.
enum class Phase { kFloat, kPtq, kQat, kDone };
const char* phase_name(Phase p);  // "float", "ptq", "qat", "done"
std::optional<Phase> phase_from_name(const std::string& name);
void to_json(nlohmann::json& j, Phase p);
void from_json(const nlohmann::json& j, Phase& p);

// Per-channel z-score of the raw input, x = (raw - mean[c]) / std[c], from the training split.
struct InputNormalization {
  std::vector<double> mean, std;
  Shape shape;  // per-sample input shape, channel first
};
void to_json(nlohmann::json& j, const InputNormalization& n);
void from_json(const nlohmann::json& j, InputNormalization& n);

// Loss and metric on the test split.
struct TestFigures {
  double loss = 0.0, metric = 0.0;
};
void to_json(nlohmann::json& j, const TestFigures& t);
void from_json(const nlohmann::json& j, TestFigures& t);

struct CheckpointMeta {
  std::string run;  // run name
  Phase phase = Phase::kFloat;
  int64_t epoch = 0;  // epochs of `phase` done
  ModelHead head;
  InputNormalization input;
  std::string dataset;
  std::string metric;               // name of the metric in `test` ("acc", "mAP50")
  std::optional<double> seconds;    // time spent in the phase so far
  std::optional<TestFigures> test;  // when the checkpoint was evaluated
};
void to_json(nlohmann::json& j, const CheckpointMeta& m);
void from_json(const nlohmann::json& j, CheckpointMeta& m);

}  // namespace qat
