#include "tools/launcher.h"

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "qat/errors.h"
#include "qat/process.h"
#include "qat/process_group.h"

namespace qat::cli {

std::string self_executable() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

int launch_local_ranks(const LaunchPlan& plan) {
  const int port = plan.master_port > 0 ? plan.master_port : free_local_port();
  spdlog::info("starting {} ranks on this machine (rendezvous at {}:{})", plan.nproc,
               plan.master_host, port);
  std::vector<pid_t> pids;
  for (int r = 0; r < plan.nproc; ++r) {
    std::vector<std::string> argv = plan.worker_argv;
    for (const std::string& a :
         {std::string("--world-size"), std::to_string(plan.nproc), std::string("--rank"),
          std::to_string(r), std::string("--local-world-size"), std::to_string(plan.nproc),
          std::string("--master"), plan.master_host + ":" + std::to_string(port),
          std::string("--timeout"), std::to_string(plan.timeout.count())})
      argv.push_back(a);
    SpawnOptions o;  // no output paths: the ranks write to this terminal
    pids.push_back(spawn_process(argv, o));
  }
  std::vector<std::optional<int>> status(pids.size());
  std::optional<size_t> first_failure;
  std::chrono::steady_clock::time_point deadline;
  bool terminated = false;
  for (;;) {
    size_t running = 0;
    for (size_t r = 0; r < pids.size(); ++r) {
      if (status[r]) continue;
      status[r] = poll_process(pids[r]);
      if (!status[r]) {
        ++running;
        continue;
      }
      const bool ok = WIFEXITED(*status[r]) && WEXITSTATUS(*status[r]) == 0;
      if (!ok && !first_failure) {
        first_failure = r;
        // The others see the failure in their next collective; give them the timeout.
        deadline = std::chrono::steady_clock::now() + plan.timeout + std::chrono::seconds(10);
        spdlog::error("rank {} (pid {}) {}; waiting for the other ranks to stop", r, pids[r],
                      describe_exit(*status[r]));
      }
    }
    if (running == 0) break;
    if (first_failure && std::chrono::steady_clock::now() > deadline) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (!status[r]) ::kill(pids[r], terminated ? SIGKILL : SIGTERM);
      if (!terminated)
        spdlog::error("stopping the ranks still running {} s after rank {} failed",
                      plan.timeout.count() + 10, *first_failure);
      terminated = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!first_failure) return 0;
  spdlog::error(
      "distributed run failed: rank {} {}; the last good checkpoint is kept in {} (continue "
      "with --resume)",
      *first_failure, describe_exit(*status[*first_failure]), plan.run_dir);
  const int s = *status[*first_failure];
  return WIFEXITED(s) ? WEXITSTATUS(s) : 1;
}

}  // namespace qat::cli
