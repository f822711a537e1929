#include "losses/detection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace qat::detect {
namespace {

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

}  // namespace

float iou(float acx, float acy, float aw, float ah, float bcx, float bcy, float bw, float bh) {
  const float ax0 = acx - aw / 2, ax1 = acx + aw / 2, ay0 = acy - ah / 2, ay1 = acy + ah / 2;
  const float bx0 = bcx - bw / 2, bx1 = bcx + bw / 2, by0 = bcy - bh / 2, by1 = bcy + bh / 2;
  const float iw = std::max(0.0f, std::min(ax1, bx1) - std::max(ax0, bx0));
  const float ih = std::max(0.0f, std::min(ay1, by1) - std::max(ay0, by0));
  const float inter = iw * ih;
  const float uni = aw * ah + bw * bh - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

std::vector<Detection> decode_yolo(const float* out, const YoloLayout& L, float score_threshold) {
  std::vector<Detection> dets;
  const int64_t S = L.grid;
  std::vector<float> probs(static_cast<size_t>(L.classes));
  std::vector<float> values(static_cast<size_t>(L.per_cell()));
  for (int64_t row = 0; row < S; ++row)
    for (int64_t col = 0; col < S; ++col) {
      for (int64_t k = 0; k < L.per_cell(); ++k) values[k] = out[L.index(row, col, k)];
      const float* cell = values.data();
      const float* logits = cell + L.boxes * 5;
      const float mx = *std::max_element(logits, logits + L.classes);
      float sum = 0;
      for (int64_t c = 0; c < L.classes; ++c) sum += probs[c] = std::exp(logits[c] - mx);
      for (auto& p : probs) p /= sum;
      for (int64_t b = 0; b < L.boxes; ++b) {
        const float* p = cell + b * 5;
        const float conf = sigmoid(p[4]);
        const float sw = std::max(0.0f, p[2]), sh = std::max(0.0f, p[3]);
        for (int64_t c = 0; c < L.classes; ++c) {
          const float score = conf * probs[c];
          if (score < score_threshold) continue;
          dets.push_back({(static_cast<float>(col) + sigmoid(p[0])) / static_cast<float>(S),
                          (static_cast<float>(row) + sigmoid(p[1])) / static_cast<float>(S),
                          sw * sw, sh * sh, score, c});
        }
      }
    }
  return dets;
}

std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold) {
  std::stable_sort(dets.begin(), dets.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (const auto& d : dets) {
    bool suppressed = false;
    for (const auto& k : kept)
      if (k.cls == d.cls && iou(k.cx, k.cy, k.w, k.h, d.cx, d.cy, d.w, d.h) > iou_threshold) {
        suppressed = true;
        break;
      }
    if (!suppressed) kept.push_back(d);
  }
  return kept;
}

MapResult mean_average_precision(const std::vector<std::vector<Detection>>& detections,
                                 const std::vector<std::vector<Box>>& ground_truth,
                                 int64_t num_classes, float iou_threshold,
                                 ApInterpolation interpolation) {
  MapResult r;
  r.ap_per_class.assign(static_cast<size_t>(num_classes), std::numeric_limits<double>::quiet_NaN());
  r.gt_per_class.assign(static_cast<size_t>(num_classes), 0);
  r.curves.assign(static_cast<size_t>(num_classes), {});
  double sum = 0;
  int64_t counted = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    struct Scored {
      float score;
      size_t image;
      const Detection* det;
    };
    std::vector<Scored> all;
    for (size_t i = 0; i < detections.size(); ++i)
      for (const auto& d : detections[i])
        if (d.cls == c) all.push_back({d.score, i, &d});
    std::stable_sort(all.begin(), all.end(),
                     [](const Scored& a, const Scored& b) { return a.score > b.score; });
    int64_t n_gt = 0;
    std::vector<std::vector<bool>> used(ground_truth.size());
    for (size_t i = 0; i < ground_truth.size(); ++i) {
      used[i].assign(ground_truth[i].size(), false);
      for (const auto& g : ground_truth[i]) n_gt += g.cls == c;
    }
    r.gt_per_class[static_cast<size_t>(c)] = n_gt;
    if (n_gt == 0) continue;
    // Greedy matching in score order: a detection is a true positive when it overlaps an unused
    // ground-truth box of its class by at least the threshold.
    std::vector<double> tp(all.size(), 0.0), fp(all.size(), 0.0);
    for (size_t k = 0; k < all.size(); ++k) {
      const auto& gts = ground_truth[all[k].image];
      const Detection& d = *all[k].det;
      float best = 0;
      int best_j = -1;
      for (size_t j = 0; j < gts.size(); ++j) {
        if (gts[j].cls != c) continue;
        const float o = iou(d.cx, d.cy, d.w, d.h, gts[j].cx, gts[j].cy, gts[j].w, gts[j].h);
        if (o > best) {
          best = o;
          best_j = static_cast<int>(j);
        }
      }
      if (best_j >= 0 && best >= iou_threshold &&
          !used[all[k].image][static_cast<size_t>(best_j)]) {
        used[all[k].image][static_cast<size_t>(best_j)] = true;
        tp[k] = 1;
      } else {
        fp[k] = 1;
      }
    }
    // Precision/recall curve, then the all-point interpolated area.
    std::vector<double> rec(all.size() + 2, 0.0), prec(all.size() + 2, 0.0);
    double ctp = 0, cfp = 0;
    for (size_t k = 0; k < all.size(); ++k) {
      ctp += tp[k];
      cfp += fp[k];
      rec[k + 1] = ctp / static_cast<double>(n_gt);
      prec[k + 1] = ctp / (ctp + cfp);
    }
    PrCurve& curve = r.curves[static_cast<size_t>(c)];
    curve.recall.assign(rec.begin() + 1, rec.end() - 1);
    curve.precision.assign(prec.begin() + 1, prec.end() - 1);
    rec[all.size() + 1] = 1.0;  // sentinels as in the VOC devkit: (0, 0) ... (1, 0)
    prec[all.size() + 1] = 0.0;
    for (size_t k = prec.size() - 1; k > 0; --k) prec[k - 1] = std::max(prec[k - 1], prec[k]);
    double ap = 0;
    if (interpolation == ApInterpolation::kAllPoint) {
      for (size_t k = 1; k < rec.size(); ++k) ap += (rec[k] - rec[k - 1]) * prec[k];
    } else {
      // The envelope at the first curve point reaching each recall threshold (the sentinel at
      // recall 1 has precision 0: thresholds past the last real recall count 0).
      size_t k = 1;
      for (int t = 0; t <= 100; ++t) {
        const double r_t = t / 100.0;
        while (k + 1 < rec.size() && rec[k] < r_t - 1e-12) ++k;
        ap += rec[k] >= r_t - 1e-12 ? prec[k] : 0.0;
      }
      ap /= 101.0;
    }
    r.ap_per_class[static_cast<size_t>(c)] = ap;
    sum += ap;
    ++counted;
  }
  r.map = counted ? sum / static_cast<double>(counted) : 0.0;
  return r;
}

DetectionFigures detection_figures(const std::vector<std::vector<Detection>>& detections,
                                   const std::vector<std::vector<Box>>& ground_truth,
                                   int64_t num_classes) {
  DetectionFigures f;
  const MapResult voc = mean_average_precision(detections, ground_truth, num_classes, 0.5f);
  f.map50_voc = voc.map;
  f.ap50_voc_per_class = voc.ap_per_class;
  f.gt_per_class = voc.gt_per_class;
  f.curves50 = voc.curves;
  f.ap50_95_per_class.assign(static_cast<size_t>(num_classes), 0.0);
  for (int t = 0; t < 10; ++t) {
    const float iou_t = 0.5f + 0.05f * static_cast<float>(t);
    const MapResult m = mean_average_precision(detections, ground_truth, num_classes, iou_t,
                                               ApInterpolation::kCoco101);
    if (t == 0) f.map50 = m.map;
    if (t == 5) f.map75 = m.map;
    f.map50_95 += m.map / 10.0;
    for (size_t c = 0; c < m.ap_per_class.size(); ++c)
      f.ap50_95_per_class[c] += m.ap_per_class[c] / 10.0;  // NaN stays NaN
  }
  f.detections = detections;
  return f;
}

}  // namespace qat::detect
