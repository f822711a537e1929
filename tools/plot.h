// Line plots written as PNG with OpenCV's drawing functions: axes with "nice" ticks (linear or
// logarithmic x), grid, axis labels, a title, one coloured line with markers per series,
// vertical error bars and a legend. Small and generic: the sweep report draws its figures with
// it. OpenCV stays inside plot.cpp.
#pragma once

#include <string>
#include <vector>

namespace qat::plot {

struct Point {
  double x = 0.0, y = 0.0;
  double err = 0.0;  // half-height of the error bar (0: none)
};

struct Series {
  std::string label;
  std::vector<Point> points;  // drawn in increasing x
};

struct LinePlot {
  std::string title, x_label, y_label;
  bool log_x = false;           // points with x <= 0 are left out
  std::vector<double> x_ticks;  // explicit x ticks (e.g. the filter counts); empty: automatic
  // Pixels between neighbouring series at the same x, so that identical curves and their error
  // bars stay visible side by side (0: drawn at the exact x).
  int dodge = 0;
  std::vector<Series> series;
  int width = 1000, height = 620;  // pixels
};

// Renders `plot` and writes it as PNG. Throws qat::Error when no series has a point or the
// file cannot be written.
void write_png(const LinePlot& plot, const std::string& path);

// Ticks at 1, 2 or 5 times a power of ten covering [lo, hi], about `target` of them.
std::vector<double> linear_ticks(double lo, double hi, int target = 6);
// Ticks at powers of ten, or 1-2-5 steps when [lo, hi] spans less than about two decades.
std::vector<double> log_ticks(double lo, double hi);
// Compact tick text: 0.5, 12, 2.5k, 1M.
std::string tick_label(double v);

}  // namespace qat::plot
