#include "train/thread_governor.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "qat/log.h"

namespace qat {
namespace {

constexpr auto kMeasureEvery = std::chrono::seconds(1);

}  // namespace

ThreadGovernor::ThreadGovernor(int64_t configured_threads, bool adaptive)
    : available_(available_cores()),
      max_threads_(configured_threads > 0 ? static_cast<int>(configured_threads) : available_),
      adaptive_(adaptive) {}

void ThreadGovernor::start() {
  std::optional<double> others;
  if (adaptive_) others = meter_.others_busy_cores(0.1);
  // Adaptive: never more threads than cores, even when `threads` asks for more.
  const int t = others      ? threads_next_to(*others, available_, max_threads_)
                : adaptive_ ? std::min(max_threads_, available_)
                            : max_threads_;
  threads_ = t;
  at::set_num_threads(t);
  next_check_ = std::chrono::steady_clock::now() + kMeasureEvery;
  const std::string source = max_threads_ == available_
                                 ? ""
                                 : ", at most " + std::to_string(max_threads_) + " by `threads`";
  if (others && t < max_threads_)
    spdlog::info("training on {} thread(s): {} core(s) available{}, {:.1f} busy with other work", t,
                 available_, source, *others);
  else
    spdlog::info("training on {} thread(s): {} core(s) available{}{}", t, available_, source,
                 adaptive_ ? "" : " (adaptive_threads off)");
}

void ThreadGovernor::tick() {
  if (!adaptive_ || max_threads_ <= 1) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + kMeasureEvery;
  const std::optional<double> others = meter_.others_busy_cores(0.5);
  if (!others) return;
  apply(threads_next_to(*others, available_, max_threads_), *others);
}

void ThreadGovernor::apply(int threads, double others_busy) {
  if (threads == threads_) return;
  spdlog::info(
      "other processes keep {:.1f} of {} core(s) busy: training on {} thread(s) (was {}; a "
      "changed thread count can change the last bits of the result, `adaptive_threads: false` "
      "keeps it fixed)",
      others_busy, available_, threads, threads_);
  threads_ = threads;
  at::set_num_threads(threads);
}

}  // namespace qat
