#include "tools/commands.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace qat::cli {

Runner add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "float training, calibration (PTQ) and QAT of a config");
  struct Args {
    std::string config;
    std::vector<std::string> set;
    bool resume = false, no_progress = false;
    int64_t stop_after = -1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("config", a->config, "experiment YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", a->set, "override a config value: key.path=value (repeatable)");
  cmd->add_flag("--resume", a->resume, "continue an interrupted run from its last checkpoint");
  cmd->add_flag("--no-progress", a->no_progress, "no progress bars");
  cmd->add_option("--stop-after", a->stop_after, "stop after N epochs (then --resume)")->group("");
  return [a] {
    const RunConfig cfg = load_run_config(a->config, a->set);
    TrainOptions opts;
    opts.resume = a->resume;
    opts.progress = !a->no_progress;
    opts.stop_after_epochs = a->stop_after;
    const RunSummary s = train_run(cfg, opts);
    if (!s.interrupted) print_summary(s, cfg);
    return 0;
  };
}

}  // namespace qat::cli
