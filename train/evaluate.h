// Evaluation of a trained run (`qat eval`): loads the run's test split with the input
// normalisation stored in the checkpoint and scores a model.
#pragma once

#include <string>

#include "qat/checkpoint.h"
#include "train/run_config.h"
#include "train/task.h"

namespace qat {

// The run directory of a CONFIG file (its `output`) or RUN_DIR itself.
std::string run_dir_of(const std::string& config_or_run_dir,
                       const std::vector<std::string>& overrides);
// The run's config (RUN_DIR/config.yaml).
RunConfig load_run(const std::string& run_dir, const std::vector<std::string>& overrides = {});

// Test split as tensors, normalised with the statistics a checkpoint stored (the training
// split's), by the same data::normalize() training used.
TensorData load_test_split(const RunConfig& cfg, const InputNormalization& input);

// Scores the checkpoint's model in the given mode (kFloat or kEval).
// Samples per evaluation batch. Small enough that the exact evaluation mode's double tensors
// of a 32-filter 32x32 model (64 x 32 x 32 x 32 x 8 B = 16 MiB) stay in the heap that
// keep_freed_memory_for_reuse() keeps (qat/cpu.h), and in cache more often.
inline constexpr int64_t kEvalBatchSize = 64;

// `loss`: the run's `loss:` section (the checkpoint does not hold it), for the loss figure.
EvalResult evaluate_checkpoint(const Checkpoint& ck, const TensorData& test, Mode mode,
                               bool progress, const LossConfig& loss = {});

}  // namespace qat
