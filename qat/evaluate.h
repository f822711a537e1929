// Evaluation of a trained run (`qat eval`): loads the run's test split with the input
// normalisation stored in the checkpoint and scores a model.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "qat/checkpoint.h"
#include "qat/run_config.h"
#include "qat/task.h"

namespace qat {

// The run directory of a CONFIG file (its `output`) or RUN_DIR itself.
std::string run_dir_of(const std::string& config_or_run_dir,
                       const std::vector<std::string>& overrides);
// The run's config (RUN_DIR/config.yaml).
RunConfig load_run(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// Test split as tensors, normalised like the checkpoint's training data.
TensorData load_test_split(const RunConfig& cfg, const nlohmann::json& checkpoint_meta);

// Scores the checkpoint's model in the given mode (kFloat or kEval).
EvalResult evaluate_checkpoint(const Checkpoint& ck, const TensorData& test, Mode mode,
                               bool progress);

}  // namespace qat
