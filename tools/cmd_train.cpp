#include <cstdlib>

#include <spdlog/spdlog.h>

#include "qat/errors.h"
#include "qat/log.h"
#include "tools/commands.h"
#include "tools/launcher.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace qat::cli {
namespace {

// An environment variable as a number (torchrun's WORLD_SIZE, RANK, ...), or `fallback`.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 20)
    throw Error(std::string("environment variable ") + name + "='" + v +
                "' is not a non-negative integer");
  return static_cast<int>(x);
}

// HOST:PORT -> (host, port), with an error naming the option.
std::pair<std::string, int> parse_master(const std::string& s) {
  const size_t colon = s.rfind(':');
  const std::string host = colon == std::string::npos ? "" : s.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : s.substr(colon + 1);
  char* end = nullptr;
  const long p = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
  if (host.empty() || p < 1 || p > 65535 || *end != '\0')
    throw Error("--master '" + s + "': expected HOST:PORT with a port in 1..65535");
  return {host, static_cast<int>(p)};
}

}  // namespace

Runner add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "float training, calibration (PTQ) and QAT of a config");
  struct Args {
    std::string config;
    std::vector<std::string> set;
    bool resume = false, no_progress = false;
    int64_t stop_after = -1;
    int nproc = 1;
    int world_size = 0, rank = -1, local_world_size = 0;
    std::string master;
    int timeout = 120;
    std::string kill_rank;  // tests: "R:E"
    std::string rank_state_dir;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("config", a->config, "experiment YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", a->set, "override a config value: key.path=value (repeatable)");
  cmd->add_flag("--resume", a->resume, "continue an interrupted run from its last checkpoint");
  cmd->add_flag("--no-progress", a->no_progress, "no progress bars");
  cmd->add_option("--stop-after", a->stop_after, "stop after N epochs (then --resume)")->group("");
  const char* dist = "Distributed (data-parallel, c10d Gloo; see docs/DISTRIBUTED.md)";
  cmd->add_option("--nproc", a->nproc, "start N ranks on this machine (global batch shared)")
      ->check(CLI::Range(1, 256))
      ->group(dist);
  cmd->add_option("--world-size", a->world_size, "ranks in all (default: $WORLD_SIZE)")
      ->check(CLI::Range(1, 1 << 16))
      ->group(dist);
  cmd->add_option("--rank", a->rank, "this process's rank (default: $RANK)")
      ->check(CLI::Range(0, 1 << 16))
      ->group(dist);
  cmd->add_option("--local-world-size", a->local_world_size,
                  "ranks on this machine, for threads per rank (default: $LOCAL_WORLD_SIZE, "
                  "else 1)")
      ->check(CLI::Range(1, 1 << 16))
      ->group(dist);
  cmd->add_option("--master", a->master,
                  "HOST:PORT of rank 0's rendezvous (default: $MASTER_ADDR:$MASTER_PORT)")
      ->group(dist);
  cmd->add_option("--timeout", a->timeout,
                  "seconds a rank waits for the others (rendezvous, each collective)")
      ->check(CLI::Range(5, 24 * 3600))
      ->group(dist);
  cmd->add_option("--kill-rank", a->kill_rank, "tests: R:E, rank R dies after E epochs")->group("");
  cmd->add_option("--rank-state-dir", a->rank_state_dir, "tests: each rank's final model")
      ->group("");
  return [a] {
    const RunConfig cfg = load_run_config(a->config, a->set);  // errors once, before any rank
    TrainOptions opts;
    opts.resume = a->resume;
    opts.progress = !a->no_progress;
    opts.stop_after_epochs = a->stop_after;
    opts.rank_state_dir = a->rank_state_dir;
    if (!a->kill_rank.empty()) {
      const size_t colon = a->kill_rank.find(':');
      if (colon == std::string::npos) throw Error("--kill-rank: expected R:E");
      opts.kill_rank = std::stoi(a->kill_rank.substr(0, colon));
      opts.kill_after_epochs = std::stoll(a->kill_rank.substr(colon + 1));
    }
    DistributedConfig& d = opts.distributed;
    d.timeout = std::chrono::seconds(a->timeout);
    d.world_size = a->world_size > 0 ? a->world_size : env_int("WORLD_SIZE", 1);
    d.rank = a->rank >= 0 ? a->rank : env_int("RANK", 0);
    d.local_world_size =
        a->local_world_size > 0 ? a->local_world_size : env_int("LOCAL_WORLD_SIZE", 1);
    if (!a->master.empty()) {
      std::tie(d.master_host, d.master_port) = parse_master(a->master);
    } else {
      if (const char* h = std::getenv("MASTER_ADDR"); h && *h) d.master_host = h;
      d.master_port = env_int("MASTER_PORT", d.master_port);
    }

    if (a->nproc > 1) {  // the launcher: start the ranks, watch them
      if (a->world_size > 0 || a->rank >= 0)
        throw Error(
            "--nproc starts the ranks itself; it cannot be combined with --world-size "
            "or --rank");
      if (!distributed_training_available())
        throw Error("--nproc: distributed training is " + distributed_backend_description());
      LaunchPlan plan;
      plan.nproc = a->nproc;
      plan.timeout = d.timeout;
      if (!a->master.empty() || std::getenv("MASTER_PORT")) {
        plan.master_host = d.master_host;
        plan.master_port = d.master_port;
      }
      plan.run_dir = cfg.output;
      plan.worker_argv = {self_executable(), "train", a->config};
      for (const auto& s : a->set) plan.worker_argv.insert(plan.worker_argv.end(), {"--set", s});
      if (a->resume) plan.worker_argv.push_back("--resume");
      if (a->no_progress) plan.worker_argv.push_back("--no-progress");
      if (a->stop_after >= 0)
        plan.worker_argv.insert(plan.worker_argv.end(),
                                {"--stop-after", std::to_string(a->stop_after)});
      if (!a->kill_rank.empty())
        plan.worker_argv.insert(plan.worker_argv.end(), {"--kill-rank", a->kill_rank});
      if (!a->rank_state_dir.empty())
        plan.worker_argv.insert(plan.worker_argv.end(), {"--rank-state-dir", a->rank_state_dir});
      return launch_local_ranks(plan);
    }
    if (d.rank >= d.world_size)
      throw Error("rank " + std::to_string(d.rank) + " is outside the world of " +
                  std::to_string(d.world_size) + " processes (--rank / $RANK)");
    if (d.distributed() && d.rank > 0) {
      // One voice on the terminal: the other ranks say only warnings and errors, prefixed.
      spdlog::set_pattern("[%H:%M:%S] [rank " + std::to_string(d.rank) + "] %^%l%$ %v");
      if (spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
      opts.progress = false;
    }
    const RunSummary s = train_run(cfg, opts);
    if (!s.interrupted && (!d.distributed() || d.rank == 0)) print_summary(s, cfg);
    return 0;
  };
}

}  // namespace qat::cli
