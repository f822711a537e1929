// How many threads a training run uses, and when it changes that: at most the configured
// `threads` (0: the cores this process may use), and with `adaptive_threads` at most one per
// core and one fewer per core that other processes keep busy, re-measured at most once a second
// between training steps.
// Every choice is logged with its reason. OpenMP's barriers make a thread that shares its core
// with another process stall all the others (bench/README.md), so the run steps aside instead.
// A changed thread count can change the last bits of float training (LibTorch's reductions are
// split per thread); `adaptive_threads: false` keeps the count, and the bits, fixed.
#pragma once

#include <chrono>
#include <cstdint>

#include "qat/cpu.h"

namespace qat {

class ThreadGovernor {
 public:
  ThreadGovernor(int64_t configured_threads, bool adaptive);
  // Sets the starting thread count (from the load measured since construction when that
  // covers enough time, e.g. the data loading) and logs it.
  void start();
  // Between training steps: re-measures the load at most once a second and sets the thread
  // count when it changes.
  void tick();

 private:
  void apply(int threads, double others_busy);
  int available_;
  int max_threads_;
  bool adaptive_;
  int threads_ = 0;
  CpuLoadMeter meter_;
  std::chrono::steady_clock::time_point next_check_;
};

}  // namespace qat
