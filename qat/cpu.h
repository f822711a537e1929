// What the process can count on from the CPU: the cores it may run on, how busy other
// processes keep them, and the allocator setting that keeps training steps out of the kernel.
// Linux (/proc/stat, sched_getaffinity, getrusage); elsewhere the functions fall back to
// std::thread::hardware_concurrency and "no load measured".
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace qat {

// Cores in this process's affinity mask (taskset, cgroup cpusets), at least 1.
int available_cores();

// glibc: serve tensors up to 32 MiB from the heap and keep freed memory for reuse. By default
// every activation above the dynamic mmap threshold is a fresh mmap whose pages the kernel
// zeroes on first touch and unmaps on free: a third of a small model's QAT step went to page
// faults (bench/README.md). No effect with other C libraries.
void keep_freed_memory_for_reuse();

// The cores other processes kept busy between two samples: busy time of the CPUs this process
// may use (/proc/stat: user, nice, system, irq, softirq) minus this process's own CPU time
// (getrusage), per second of wall time. Its own spinning OpenMP threads therefore count as its
// own, not as load.
class CpuLoadMeter {
 public:
  CpuLoadMeter();
  // Cores busy with other work since the previous call (or construction); nullopt when less
  // than `min_seconds` passed or /proc/stat is unreadable.
  std::optional<double> others_busy_cores(double min_seconds);

 private:
  struct Sample {
    double wall = 0, busy = 0, own = 0;  // seconds
    bool ok = false;
  };
  Sample take() const;
  std::vector<int> cpus_;
  Sample last_;
};

// The thread count for training next to that load: `max_threads` minus the cores others keep
// busy (rounded to the nearest core), at least 1. One OpenMP thread sharing a core with another
// process stalls every parallel region at its barrier (a 2-thread epoch next to one busy core
// took 3.6-20x its idle time, bench/README.md), so a busy core is better left to its owner.
int threads_next_to(double others_busy_cores, int available, int max_threads);

}  // namespace qat
