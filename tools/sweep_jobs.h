// The jobs of a sweep: for every run, the `qat train` and `qat eval --json` command lines, the
// float run it waits for, and what an earlier session already did (--resume): finished runs
// (summary.json + eval.json) are skipped, trained but unevaluated ones only evaluated,
// interrupted ones (state.json) continued with `qat train --resume`, the rest started afresh.
// Torch-free; `exe` is the qat program (tests pass a stand-in script).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/sweep_runner.h"
#include "tools/sweep_spec.h"

namespace qat::sweep {

struct JobOptions {
  std::string exe;      // the qat executable
  int64_t threads = 1;  // LibTorch threads per child (cores / --jobs), per rank with nproc
  bool resume = false;
  int nproc = 1;  // ranks per training run (`qat train --nproc`)
};

// One job per spec.runs entry, same order (a job's deps index into it).
std::vector<Job> make_jobs(const SweepSpec& spec, const JobOptions& opts);

}  // namespace qat::sweep
