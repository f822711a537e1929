#include <cstdio>
#include <filesystem>
#include <thread>

#include "export/source.h"
#include "qat/errors.h"
#include "qat/evaluate.h"
#include "tools/commands.h"

namespace qat::cli {

Runner add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a trained run on its test split");
  struct Args {
    std::string target, checkpoint, engine = "int";
    bool compare = false;
    std::vector<std::string> set;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->target, "run directory, the config that produced it, or a checkpoint")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint (default RUN_DIR/model.pt); .json = integer checkpoint");
  cmd->add_option("--engine", a->engine,
                  "int: the C kernel library (default for quantized models) / sim: integer-exact "
                  "simulation in LibTorch / float: float forward")
      ->check(CLI::IsMember({"int", "sim", "float"}));
  cmd->add_flag("--compare", a->compare, "with --engine int: also run sim and count identical outputs");
  cmd->add_option("--set", a->set, "override a config value (e.g. dataset.path=...)");
  return [a] {
    namespace fs = std::filesystem;
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const bool int_ckpt = fs::path(a->checkpoint.empty() ? a->target : a->checkpoint).extension() == ".json";
    if (a->engine == "int" || int_ckpt) {
      const exporter::ExportSource src = exporter::resolve_source(a->target, a->checkpoint, a->set);
      const exporter::Program program = exporter::build_program(src.model);
      const TensorData test = exporter::test_split(src);
      torch::Tensor int_out;
      const EvalResult r = exporter::evaluate_int(src, program, test, threads, &int_out);
      std::printf("%s  integer engine (C kernels)  %s %.2f%%  loss %.4f  (%lld samples)\n", src.model.source.c_str(),
                  src.model.metric.c_str(), 100.0 * r.metric, r.loss, static_cast<long long>(r.samples));
      if (a->compare && !int_ckpt) {
        const Checkpoint ck = load_checkpoint(src.model.source);
        GraphModule m = ck.model;
        m->eval();
        m->set_mode(Mode::kEval);
        torch::NoGradGuard ng;
        std::vector<torch::Tensor> outs;
        for (int64_t i = 0; i < test.size(); i += 256)
          outs.push_back(m->forward(test.x.narrow(0, i, std::min<int64_t>(256, test.size() - i))));
        const torch::Tensor sim = torch::cat(outs).to(torch::kDouble).reshape(int_out.sizes());
        const int64_t same = sim.eq(int_out).all(1).sum().item<int64_t>();
        std::printf("integer engine vs integer-exact simulation: %lld/%lld samples with identical outputs\n",
                    static_cast<long long>(same), static_cast<long long>(test.size()));
        if (same != test.size()) return 2;
      }
      return 0;
    }
    const std::string dir = run_dir_of(a->target, a->set);
    const RunConfig cfg = load_run(dir, a->set);
    const std::string path = a->checkpoint.empty() ? (fs::path(dir) / "model.pt").string() : a->checkpoint;
    const Checkpoint ck = load_checkpoint(path);
    const TensorData test = load_test_split(cfg, ck.meta);
    const bool quantized = ck.model->mode() == Mode::kEval;
    const Mode mode = a->engine == "float" || !quantized ? Mode::kFloat : Mode::kEval;
    const EvalResult r = evaluate_checkpoint(ck, test, mode, true);
    std::printf("%s  %s  %s %.2f%%  loss %.4f  (%lld samples)\n", path.c_str(),
                mode == Mode::kEval ? "integer-exact simulation" : "float forward",
                ck.meta.value("metric", "metric").c_str(), 100.0 * r.metric, r.loss,
                static_cast<long long>(r.samples));
    return 0;
  };
}

}  // namespace qat::cli
