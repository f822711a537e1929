// qat — quantization-aware training for microcontrollers.
//   qat train CONFIG [--set key=value ...] [--resume] [--nproc N | --world-size N --rank R
//             --master HOST:PORT]
//   qat eval  CONFIG|RUN_DIR [--checkpoint FILE] [--engine int|sim|float]
//   qat export RUN_DIR|CONFIG|CHECKPOINT [--format c,onnx,ckpt] [--out DIR]
//   qat deploy EXPORT_DIR|RUN_DIR --target cortex-m4|cortex-m7 [--vectors N] [--keep-build]
//   qat info  CONFIG
//   qat sweep SWEEP.yaml [--jobs N] [--resume] [--report-only]
#include <cstdio>
#include <map>

#include <spdlog/spdlog.h>

#include "qat/cpu.h"
#include "qat/errors.h"
#include "qat/log.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  qat::keep_freed_memory_for_reuse();  // before the first tensor (qat/cpu.h says why)
  CLI::App app{"qat: quantization-aware training toolkit for microcontrollers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", qat::cli::build_description);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::map<CLI::App*, qat::cli::Runner> runners;
  for (auto add : {qat::cli::add_train, qat::cli::add_eval, qat::cli::add_export,
                   qat::cli::add_deploy, qat::cli::add_info, qat::cli::add_sweep}) {
    const size_t before = app.get_subcommands({}).size();
    auto runner = add(app);
    runners[app.get_subcommands({})[before]] = runner;
  }
  CLI11_PARSE(app, argc, argv);
  qat::init_logging(log_level);
  try {
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const qat::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const c10::Error& e) {
    spdlog::error("LibTorch: {}", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
