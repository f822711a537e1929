#include "train/evaluate.h"

#include <filesystem>

#include "qat/errors.h"

namespace qat {
namespace fs = std::filesystem;

std::string run_dir_of(const std::string& arg, const std::vector<std::string>& overrides) {
  if (fs::is_directory(arg)) return arg;
  if (!fs::exists(arg)) throw Error(arg + ": no such config file or run directory");
  return load_run_config(arg, overrides).output;
}

RunConfig load_run(const std::string& run_dir, const std::vector<std::string>& overrides) {
  const fs::path cfg = fs::path(run_dir) / "config.yaml";
  if (!fs::exists(cfg))
    throw Error(run_dir +
                ": not a run directory (no config.yaml); train it first with `qat train`");
  return load_run_config(cfg.string(), overrides);
}

TensorData load_test_split(const RunConfig& cfg, const InputNormalization& input) {
  const data::ChannelStats stats{input.mean, input.std};
  if (cfg.dataset.task == TaskKind::kClassification) {
    data::ArrayDataset d = data::load_classification(cfg.dataset, data::Split::kTest);
    data::normalize(d, stats);
    return to_tensors(d);
  }
  data::DetectionDataset d = data::load_detection(cfg.dataset, data::Split::kTest);
  data::normalize(d, stats);
  return to_tensors(d);
}

EvalResult evaluate_checkpoint(const Checkpoint& ck, const TensorData& test, Mode mode,
                               bool progress, const LossConfig& loss) {
  GraphModule m = ck.model;
  m->eval();
  m->set_mode(mode);
  const auto task = make_task(ck.meta.head, loss);
  return task->evaluate(*m, test, kEvalBatchSize, std::string("[eval ") + mode_name(mode) + "]",
                        progress);
}

}  // namespace qat
