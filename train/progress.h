// Progress bar for long loops: one line per epoch, redrawn in place on a terminal
// ("[float 3/30] |#######-----| 640/822 1234 samples/s loss 0.532 acc 81.2% ETA 0:02"),
// and printed only at 25% steps and at the end when stderr is not a terminal (CI logs).
#pragma once

#include <chrono>
#include <string>

namespace qat {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  // Adds `n` done items and refreshes the running averages shown.
  void update(int64_t n, double loss, double metric, const std::string& metric_name);
  // Final line with extra text (e.g. test metrics).
  void finish(const std::string& extra = "");
  double seconds() const;

 private:
  void draw(bool final_line, const std::string& extra);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_;
  int last_quarter_ = 0;
  double loss_ = 0, metric_ = 0;
  std::string metric_name_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace qat
