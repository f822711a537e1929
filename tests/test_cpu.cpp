// qat/cpu.h: the thread count next to other load, and the load meter against a real busy
// process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "qat/cpu.h"
#include "qat/process.h"

namespace qat {
namespace {

TEST(Cpu, ThreadsStepAsideForBusyCores) {
  EXPECT_EQ(threads_next_to(0.0, 2, 2), 2);
  EXPECT_EQ(threads_next_to(0.3, 2, 2), 2);  // a little background work: keep both
  EXPECT_EQ(threads_next_to(0.7, 2, 2), 1);  // one core (mostly) taken
  EXPECT_EQ(threads_next_to(1.0, 2, 2), 1);
  EXPECT_EQ(threads_next_to(3.0, 2, 2), 1);  // never below one
  EXPECT_EQ(threads_next_to(1.0, 8, 4), 4);  // the configured maximum still applies
  EXPECT_EQ(threads_next_to(5.2, 8, 4), 3);
  EXPECT_EQ(threads_next_to(-1.0, 4, 4), 4);
}

TEST(Cpu, AvailableCoresIsPositive) {
  EXPECT_GE(available_cores(), 1);
}

// A child spinning for a second is load of another process; this process sleeping is none.
TEST(Cpu, MeterSeesAnotherProcessSpinning) {
#ifndef __linux__
  GTEST_SKIP() << "the load meter reads /proc/stat (Linux only)";
#endif
  CpuLoadMeter meter;
  SpawnOptions o;
  o.stdout_path = "/dev/null";
  o.search_path = true;
  const pid_t hog = spawn_process({"sh", "-c", "while :; do :; done"}, o);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const std::optional<double> others = meter.others_busy_cores(0.5);
  kill(hog, SIGKILL);
  int status = 0;
  waitpid(hog, &status, 0);
  ASSERT_TRUE(others.has_value());
  // The hog had at least a good share of a core (other tests may run beside it).
  EXPECT_GE(*others, 0.4);
  EXPECT_FALSE(meter.others_busy_cores(10.0).has_value());  // too soon for another sample
}

}  // namespace
}  // namespace qat
