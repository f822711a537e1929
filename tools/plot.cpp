#include "tools/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "qat/errors.h"

namespace qat::plot {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kBlack(0, 0, 0), kWhite(255, 255, 255), kGrid(225, 225, 225), kText(40, 40, 40);

// Matplotlib's "tab10" colours (BGR): distinct for up to ten series, then they repeat with
// another marker shape.
const std::vector<cv::Scalar> kPalette = {
    {180, 119, 31}, {14, 127, 255},  {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
    {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};

struct Text {
  double scale;
  int thickness;
  cv::Size size(const std::string& s) const {
    int base = 0;
    return cv::getTextSize(s, kFont, scale, thickness, &base);
  }
  // Draws `s` with its anchor at `at`: ax/ay = 0 left/top, 0.5 centre, 1 right/bottom.
  void draw(cv::Mat& img, const std::string& s, cv::Point at, double ax, double ay,
            const cv::Scalar& color = kText) const {
    const cv::Size sz = size(s);
    const cv::Point org(at.x - static_cast<int>(ax * sz.width),
                        at.y + static_cast<int>((1.0 - ay) * sz.height));
    cv::putText(img, s, org, kFont, scale, color, thickness, cv::LINE_AA);
  }
};
const Text kTitleFont{0.75, 2}, kLabelFont{0.6, 1}, kTickFont{0.5, 1}, kLegendFont{0.5, 1};

// Data range with a margin, so that markers and error bars do not sit on the frame.
struct Range {
  double lo, hi;
};

Range padded(double lo, double hi, bool log) {
  if (log) {
    if (lo == hi) return {lo / 2.0, hi * 2.0};
    const double pad = std::pow(hi / lo, 0.06);
    return {lo / pad, hi * pad};
  }
  if (lo == hi) {
    const double d = lo == 0.0 ? 1.0 : std::abs(lo) * 0.1;
    return {lo - d, hi + d};
  }
  const double pad = 0.06 * (hi - lo);
  return {lo - pad, hi + pad};
}

void draw_marker(cv::Mat& img, cv::Point c, int shape, const cv::Scalar& color) {
  constexpr int r = 5;
  switch (shape % 5) {
    case 0:
      cv::circle(img, c, r, color, cv::FILLED, cv::LINE_AA);
      break;
    case 1:
      cv::rectangle(img, {c.x - r + 1, c.y - r + 1}, {c.x + r - 1, c.y + r - 1}, color, cv::FILLED,
                    cv::LINE_AA);
      break;
    case 2: {
      const std::vector<cv::Point> tri = {
          {c.x, c.y - r - 1}, {c.x - r, c.y + r - 1}, {c.x + r, c.y + r - 1}};
      cv::fillConvexPoly(img, tri, color, cv::LINE_AA);
      break;
    }
    case 3: {
      const std::vector<cv::Point> dia = {
          {c.x, c.y - r - 1}, {c.x + r + 1, c.y}, {c.x, c.y + r + 1}, {c.x - r - 1, c.y}};
      cv::fillConvexPoly(img, dia, color, cv::LINE_AA);
      break;
    }
    default:
      cv::circle(img, c, r, color, 2, cv::LINE_AA);
  }
}

std::string fit(const std::string& s, size_t max_chars) {
  return s.size() <= max_chars ? s : s.substr(0, max_chars - 3) + "...";
}

}  // namespace

std::vector<double> linear_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  std::vector<double> ticks;
  const double eps = step * 1e-9;
  for (double t = std::ceil((lo - eps) / step) * step; t <= hi + eps; t += step)
    ticks.push_back(std::abs(t) < eps ? 0.0 : t);
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  const auto within = [&](const std::vector<double>& mantissas) {
    std::vector<double> ticks;
    for (int k = static_cast<int>(std::floor(std::log10(lo)));
         k <= static_cast<int>(std::ceil(std::log10(hi))); ++k)
      for (const double m : mantissas) {
        const double t = m * std::pow(10.0, k);
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
      }
    return ticks;
  };
  if (!(lo > 0.0) || !(hi > lo)) return {lo};
  if (std::log10(hi / lo) > 2.2) {
    const auto decades = within({1.0});
    if (decades.size() >= 2) return decades;
  }
  const auto steps = within({1.0, 2.0, 5.0});
  if (steps.size() >= 2) return steps;
  const auto digits = within({1, 2, 3, 4, 5, 6, 7, 8, 9});
  // Less than a factor of ~2 (flash figures of one budget): evenly spaced round numbers, which
  // look nearly even on a log axis that narrow.
  return digits.size() >= 2 ? digits : linear_ticks(lo, hi, 5);
}

std::string tick_label(double v) {
  const double a = std::abs(v);
  const char* suffix = "";
  if (a >= 1e6) {
    v /= 1e6;
    suffix = "M";
  } else if (a >= 1e3) {
    v /= 1e3;
    suffix = "k";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, suffix);
  return buf;
}

void write_png(const LinePlot& plot, const std::string& path) {
  // Data ranges (y includes the error bars).
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  std::vector<Series> series;
  for (const Series& s : plot.series) {
    Series kept{s.label, {}};
    for (const Point& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || (plot.log_x && p.x <= 0.0)) continue;
      kept.points.push_back(p);
      xlo = std::min(xlo, p.x);
      xhi = std::max(xhi, p.x);
      ylo = std::min(ylo, p.y - std::abs(p.err));
      yhi = std::max(yhi, p.y + std::abs(p.err));
    }
    std::sort(kept.points.begin(), kept.points.end(),
              [](const Point& a, const Point& b) { return a.x < b.x; });
    series.push_back(kept);
  }
  if (!std::isfinite(xlo)) throw Error(path + ": nothing to plot (no series has a point)");
  const Range xr = padded(xlo, xhi, plot.log_x), yr = padded(ylo, yhi, false);
  std::vector<double> xticks;
  for (const double t : plot.x_ticks)
    if (t >= xr.lo && t <= xr.hi && (!plot.log_x || t > 0.0)) xticks.push_back(t);
  if (xticks.empty()) xticks = plot.log_x ? log_ticks(xr.lo, xr.hi) : linear_ticks(xr.lo, xr.hi, 7);
  const std::vector<double> yticks = linear_ticks(yr.lo, yr.hi, 6);

  // Layout: y label and tick labels on the left, legend on the right, title on top.
  int ytick_w = 0;
  for (const double t : yticks) ytick_w = std::max(ytick_w, kTickFont.size(tick_label(t)).width);
  int legend_w = 0;
  for (const Series& s : series)
    legend_w = std::max(legend_w, kLegendFont.size(fit(s.label, 40)).width);
  legend_w += 60;
  const int W = plot.width, H = plot.height;
  const int left = 16 + kLabelFont.size("Ag").height + 14 + ytick_w + 10;
  const int right = W - legend_w - 24, top = 56, bottom = H - 64;
  if (right - left < 100 || bottom - top < 100)
    throw Error(path + ": plot too small for its labels");
  cv::Mat img(H, W, CV_8UC3, kWhite);

  const auto tx = [&](double x) { return plot.log_x ? std::log10(x) : x; };
  const auto px = [&](double x) {
    return left + static_cast<int>(
                      std::lround((tx(x) - tx(xr.lo)) / (tx(xr.hi) - tx(xr.lo)) * (right - left)));
  };
  const auto py = [&](double y) {
    return bottom - static_cast<int>(std::lround((y - yr.lo) / (yr.hi - yr.lo) * (bottom - top)));
  };

  // Grid, ticks and frame.
  for (const double t : xticks) {
    const int x = px(t);
    cv::line(img, {x, top}, {x, bottom}, kGrid, 1);
    cv::line(img, {x, bottom}, {x, bottom + 5}, kBlack, 1);
    kTickFont.draw(img, tick_label(t), {x, bottom + 10}, 0.5, 0.0);
  }
  for (const double t : yticks) {
    const int y = py(t);
    cv::line(img, {left, y}, {right, y}, kGrid, 1);
    cv::line(img, {left - 5, y}, {left, y}, kBlack, 1);
    kTickFont.draw(img, tick_label(t), {left - 9, y}, 1.0, 0.5);
  }
  cv::rectangle(img, {left, top}, {right, bottom}, kBlack, 1);

  // Titles. OpenCV draws text horizontally only, so the y label is drawn on its own image and
  // rotated into place.
  // Centred over the plot area, moved right as far as a long line needs to start inside the image.
  const auto centred = [&](const Text& font, const std::string& s) {
    return std::max((left + right) / 2, 8 + font.size(s).width / 2);
  };
  kTitleFont.draw(img, plot.title, {centred(kTitleFont, plot.title), 18}, 0.5, 0.0, kBlack);
  kLabelFont.draw(img, plot.x_label, {centred(kLabelFont, plot.x_label), bottom + 36}, 0.5, 0.0);
  if (!plot.y_label.empty()) {
    const cv::Size sz = kLabelFont.size(plot.y_label);
    cv::Mat label(sz.height + 8, sz.width + 4, CV_8UC3, kWhite);
    kLabelFont.draw(label, plot.y_label, {2, 2}, 0.0, 0.0);
    cv::Mat rotated;
    cv::rotate(label, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int y = std::clamp((top + bottom - rotated.rows) / 2, 0, H - rotated.rows);
    if (rotated.rows <= H) rotated.copyTo(img(cv::Rect(12, y, rotated.cols, rotated.rows)));
  }

  // Series: lines, error bars, markers.
  for (size_t i = 0; i < series.size(); ++i) {
    const cv::Scalar& color = kPalette[i % kPalette.size()];
    const auto& pts = series[i].points;
    const int shift = static_cast<int>(
        std::lround(plot.dodge * (static_cast<double>(i) - (series.size() - 1) / 2.0)));
    const auto pxs = [&](double x) { return px(x) + shift; };
    for (size_t k = 1; k < pts.size(); ++k)
      cv::line(img, {pxs(pts[k - 1].x), py(pts[k - 1].y)}, {pxs(pts[k].x), py(pts[k].y)}, color, 2,
               cv::LINE_AA);
    for (const Point& p : pts) {
      if (p.err > 0.0) {
        const int x = pxs(p.x), y0 = py(p.y - p.err), y1 = py(p.y + p.err);
        cv::line(img, {x, y0}, {x, y1}, color, 1, cv::LINE_AA);
        cv::line(img, {x - 4, y0}, {x + 4, y0}, color, 1, cv::LINE_AA);
        cv::line(img, {x - 4, y1}, {x + 4, y1}, color, 1, cv::LINE_AA);
      }
      draw_marker(img, {pxs(p.x), py(p.y)}, static_cast<int>(i), color);
    }
  }

  // Legend to the right of the plot area, one entry per series.
  const int lx = right + 16;
  int ly = top + 4;
  for (size_t i = 0; i < series.size(); ++i) {
    const cv::Scalar& color = kPalette[i % kPalette.size()];
    cv::line(img, {lx, ly + 8}, {lx + 30, ly + 8}, color, 2, cv::LINE_AA);
    draw_marker(img, {lx + 15, ly + 8}, static_cast<int>(i), color);
    kLegendFont.draw(img, fit(series[i].label, 40), {lx + 40, ly + 8}, 0.0, 0.5);
    ly += 24;
  }

  bool written = false;
  try {
    written = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    throw Error(path + ": cannot write the PNG: " + e.what());
  }
  if (!written) throw Error(path + ": cannot write the PNG");
}

}  // namespace qat::plot
