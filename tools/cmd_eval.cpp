#include <cstdio>
#include <filesystem>

#include "qat/evaluate.h"
#include "qat/errors.h"
#include "tools/commands.h"

namespace qat::cli {

Runner add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a trained run on its test split");
  struct Args {
    std::string target, checkpoint, engine = "sim";
    std::vector<std::string> set;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->target, "run directory or the config that produced it")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint file (default RUN_DIR/model.pt)");
  cmd->add_option("--engine", a->engine,
                  "sim: integer-exact simulation (quantized) / float: float forward")
      ->check(CLI::IsMember({"sim", "float"}));
  cmd->add_option("--set", a->set, "override a config value (e.g. dataset.path=...)");
  return [a] {
    const std::string dir = run_dir_of(a->target, a->set);
    const RunConfig cfg = load_run(dir, a->set);
    const std::string path = a->checkpoint.empty() ? (std::filesystem::path(dir) / "model.pt").string() : a->checkpoint;
    const Checkpoint ck = load_checkpoint(path);
    const TensorData test = load_test_split(cfg, ck.meta);
    const bool quantized = ck.model->mode() == Mode::kEval;
    const Mode mode = a->engine == "float" || !quantized ? Mode::kFloat : Mode::kEval;
    if (a->engine == "float" && quantized && ck.model->has_batchnorm() == false)
      std::fprintf(stderr, "note: float forward of a quantized checkpoint uses its float weights\n");
    const EvalResult r = evaluate_checkpoint(ck, test, mode, true);
    std::printf("%s  %s engine  %s %.2f%%  loss %.4f  (%lld samples)\n", path.c_str(),
                mode == Mode::kEval ? "integer-exact sim" : "float", ck.meta.value("metric", "metric").c_str(),
                100.0 * r.metric, r.loss, static_cast<long long>(r.samples));
    return 0;
  };
}

}  // namespace qat::cli
