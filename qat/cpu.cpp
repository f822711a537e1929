#include "qat/cpu.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#ifdef __linux__
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace qat {
namespace {

// The CPUs in this process's affinity mask; empty where it cannot be read.
std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
#endif
  return cpus;
}

}  // namespace

int available_cores() {
  const std::vector<int> cpus = affinity_cpus();
  if (!cpus.empty()) return static_cast<int>(cpus.size());
  return std::max(1u, std::thread::hardware_concurrency());
}

void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

CpuLoadMeter::CpuLoadMeter() : cpus_(affinity_cpus()), last_(take()) {}

CpuLoadMeter::Sample CpuLoadMeter::take() const {
  Sample s;
  s.wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#ifdef __linux__
  std::ifstream in("/proc/stat");
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (!in || tick <= 0) return s;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(line[3])) continue;
    std::istringstream f(line.substr(3));
    int cpu = -1;
    uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    if (!(f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq)) return s;
    if (std::find(cpus_.begin(), cpus_.end(), cpu) == cpus_.end()) continue;
    s.busy += static_cast<double>(user + nice + system + irq + softirq) / tick;
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return s;
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  s.own = secs(ru.ru_utime) + secs(ru.ru_stime);
  s.ok = true;
#endif
  return s;
}

std::optional<double> CpuLoadMeter::others_busy_cores(double min_seconds) {
  const Sample now = take();
  if (!now.ok || !last_.ok) {
    last_ = now;
    return std::nullopt;
  }
  const double wall = now.wall - last_.wall;
  if (wall < min_seconds) return std::nullopt;
  const double others = ((now.busy - last_.busy) - (now.own - last_.own)) / wall;
  last_ = now;
  return std::max(0.0, others);
}

int threads_next_to(double others_busy_cores, int available, int max_threads) {
  const int busy = static_cast<int>(std::lround(std::max(0.0, others_busy_cores)));
  return std::max(1, std::min(max_threads, available - busy));
}

}  // namespace qat
