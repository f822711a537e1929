#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace qat {

std::string format_duration(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  return buf;
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t n, double loss, double metric, const std::string& metric_name) {
  done_ += n;
  loss_ = loss;
  metric_ = metric;
  metric_name_ = metric_name;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ > std::chrono::milliseconds(100) || done_ >= total_) {
      last_draw_ = now;
      draw(false, "");
    }
  } else {
    const int quarter = total_ > 0 ? static_cast<int>(4 * done_ / total_) : 4;
    if (quarter > last_quarter_ && quarter < 4) {
      last_quarter_ = quarter;
      draw(false, "");
    }
  }
}

void Progress::finish(const std::string& extra) {
  if (enabled_) draw(true, extra);
}

void Progress::draw(bool final_line, const std::string& extra) {
  const double s = seconds();
  const double rate = s > 0 ? static_cast<double>(done_) / s : 0.0;
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  constexpr int kWidth = 20;
  std::string bar(kWidth, '-');
  for (int i = 0; i < static_cast<int>(frac * kWidth + 1e-9) && i < kWidth; ++i) bar[i] = '#';
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  char line[512];
  std::snprintf(line, sizeof line, "%s |%s| %lld/%lld %.0f samples/s loss %.4f %s %.2f%% %s %s",
                label_.c_str(), bar.c_str(), static_cast<long long>(done_),
                static_cast<long long>(total_), rate, loss_, metric_name_.c_str(), 100.0 * metric_,
                final_line ? format_duration(s).c_str() : ("ETA " + format_duration(eta)).c_str(),
                extra.c_str());
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

}  // namespace qat
