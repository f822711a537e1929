// `qat train --nproc N`: starts N local ranks of the same `qat train` and watches them. The
// ranks rendezvous at 127.0.0.1 on a free port (or the one given), inherit the terminal, and
// rank 0 alone writes the run directory. When a rank fails the launcher names it, gives the
// others the collective timeout to stop on their own (they report the failed rank too), then
// stops them; its exit status is the first failure's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace qat::cli {

struct LaunchPlan {
  int nproc = 2;
  std::string master_host = "127.0.0.1";
  int master_port = 0;  // 0: a free port of this machine
  std::chrono::seconds timeout{120};
  // The worker's command line without the rank options (this binary, "train", ...).
  std::vector<std::string> worker_argv;
  std::string run_dir;  // named in the failure message (its last good checkpoint)
};

// Returns the process exit status: 0 when every rank succeeded.
int launch_local_ranks(const LaunchPlan& plan);

// This program's path (/proc/self/exe), for starting more of itself.
std::string self_executable();

}  // namespace qat::cli
