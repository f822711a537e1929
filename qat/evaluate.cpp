#include "qat/evaluate.h"

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

TensorData load_test_split(const RunConfig& cfg, const nlohmann::json& meta) {
  TensorData test = cfg.dataset.task == data::Task::kClassification
                        ? to_tensors(data::load_classification(cfg.dataset, data::Split::kTest))
                        : to_tensors(data::load_detection(cfg.dataset, data::Split::kTest));
  const auto mean = meta.at("input").at("mean").get<std::vector<double>>();
  const auto stdv = meta.at("input").at("std").get<std::vector<double>>();
  std::vector<int64_t> shape(static_cast<size_t>(test.x.dim()), 1);
  shape[1] = static_cast<int64_t>(mean.size());
  test.x = (test.x - torch::tensor(mean, torch::kDouble).reshape(shape).to(torch::kFloat)) /
           torch::tensor(stdv, torch::kDouble).reshape(shape).to(torch::kFloat);
  return test;
}

EvalResult evaluate_checkpoint(const Checkpoint& ck, const TensorData& test, Mode mode,
                               bool progress) {
  GraphModule m = ck.model;
  m->eval();
  m->set_mode(mode);
  const auto task = make_task(ck.meta.at("head"));
  return task->evaluate(*m, test, 256, std::string("[eval ") + mode_name(mode) + "]", progress);
}

}  // namespace qat
