#include <cstdio>

#include <torch/version.h>

#include "qat/process_group.h"
#include "qat/version.h"
#include "tools/commands.h"
#include "train/run_config.h"

namespace qat::cli {

std::string build_description() {
  return "qat " + qat_version() + "\nLibTorch " + TORCH_VERSION +
         "\ndistributed training: " + distributed_backend_description();
}

Runner add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "validate a config and print its model graph");
  struct Args {
    std::string config;
    std::vector<std::string> set;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("config", a->config, "experiment YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", a->set, "override a config value");
  return [a] {
    const RunConfig cfg = load_run_config(a->config, a->set);
    std::printf("run %s -> %s\ndataset %s, input %s, %lld classes\n\n%s", cfg.name.c_str(),
                cfg.output.c_str(), cfg.dataset.name.c_str(), shape_str(cfg.dataset.input).c_str(),
                static_cast<long long>(cfg.dataset.num_classes), cfg.model.graph.summary().c_str());
    std::printf("quant: weights %s %d-bit %s, activations %s %d-bit\n",
                scheme_name(cfg.quant.weights.scheme), cfg.quant.weights.bits,
                granularity_name(cfg.quant.weights.granularity),
                scheme_name(cfg.quant.activations.scheme), cfg.quant.activations.bits);
    if (cfg.precision)
      std::printf("\nbits chosen for the memory budget:\n%s", cfg.precision->table().c_str());
    std::printf("\ndistributed training (qat train --nproc N): %s\n",
                distributed_backend_description().c_str());
    return 0;
  };
}

}  // namespace qat::cli
