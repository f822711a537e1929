#include "train/task.h"

#include <ATen/ATen.h>

#include "losses/yolo_loss.h"
#include "qat/errors.h"
#include "qat/process_group.h"
#include "train/data_parallel.h"
#include "train/detection_augment.h"
#include "train/progress.h"

namespace qat {
namespace {

namespace F = torch::nn::functional;

torch::Tensor shape_tensor(const std::vector<float>& data, int64_t n,
                           const std::vector<int64_t>& shape) {
  std::vector<int64_t> full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  return torch::from_blob(const_cast<float*>(data.data()), full, torch::kFloat).clone();
}

class Classification : public Task {
 public:
  explicit Classification(const LossConfig& loss) : smoothing_(loss.label_smoothing) {}
  std::string metric_name() const override { return "acc"; }

  torch::Tensor loss(const torch::Tensor& out, const Batch& b) const override {
    const torch::Tensor logits = out.to(torch::kFloat);
    const auto opts = F::CrossEntropyFuncOptions().label_smoothing(smoothing_);
    torch::Tensor l = F::cross_entropy(logits, b.labels, opts);
    if (b.lambda < 1.0)
      l = b.lambda * l + (1.0 - b.lambda) * F::cross_entropy(logits, b.labels2, opts);
    return l;
  }

  double batch_metric(const torch::Tensor& out, const Batch& b) const override {
    return out.argmax(1).eq(b.labels).to(torch::kDouble).mean().item<double>();
  }

  EvalResult evaluate(GraphModuleImpl& model, const TensorData& d, int64_t batch_size,
                      const std::string& label, bool progress, ProcessGroup* group) const override {
    torch::NoGradGuard ng;
    EvalResult r;
    const Shard part = shard_of(d.size(), group);
    Progress bar(label, part.count, progress);
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < part.count; i += batch_size) {
      const int64_t n = std::min(batch_size, part.count - i);
      const torch::Tensor out = model.forward(d.x.narrow(0, part.begin + i, n)).to(torch::kFloat);
      const torch::Tensor y = d.labels.narrow(0, part.begin + i, n);
      loss_sum += F::cross_entropy(out, y, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += out.argmax(1).eq(y).sum().item<int64_t>();
      bar.update(n, loss_sum / static_cast<double>(i + n),
                 static_cast<double>(correct) / static_cast<double>(i + n), "acc");
    }
    if (group) {
      torch::Tensor sums = torch::tensor({loss_sum, static_cast<double>(correct)}, torch::kDouble);
      group->allreduce(sums, ReduceOp::kSum);
      loss_sum = sums[0].item<double>();
      correct = static_cast<int64_t>(sums[1].item<double>());
    }
    r.samples = d.size();
    r.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, d.size()));
    r.metric = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, d.size()));
    return r;
  }

 private:
  double smoothing_;
};

class Detection : public Task {
 public:
  Detection(const ModelHead& head, const LossConfig& loss)
      : layout_{head.grid, head.boxes, head.classes, head.order},
        loss_{loss.lambda_coord, loss.lambda_noobj, loss.objectness == "bce",
              loss.label_smoothing} {}
  std::string metric_name() const override { return "mAP50"; }

  torch::Tensor loss(const torch::Tensor& out, const Batch& b) const override {
    const torch::Tensor t = detect::build_yolo_targets(b.boxes, layout_);
    return detect::yolo_loss(out.to(torch::kFloat), t, layout_, loss_).total;
  }

  double batch_metric(const torch::Tensor& out, const Batch& b) const override {
    return map_of(out, b.boxes);
  }

  EvalResult evaluate(GraphModuleImpl& model, const TensorData& d, int64_t batch_size,
                      const std::string& label, bool progress, ProcessGroup* group) const override {
    torch::NoGradGuard ng;
    const Shard part = shard_of(d.size(), group);
    Progress bar(label, part.count, progress);
    std::vector<torch::Tensor> outs;
    double loss_sum = 0;
    for (int64_t i = 0; i < part.count; i += batch_size) {
      const int64_t n = std::min(batch_size, part.count - i);
      const int64_t at = part.begin + i;
      const torch::Tensor out = model.forward(d.x.narrow(0, at, n)).to(torch::kFloat);
      outs.push_back(out);
      std::vector<std::vector<Box>> gt(d.boxes.begin() + at, d.boxes.begin() + at + n);
      loss_sum += detect::yolo_loss(out, detect::build_yolo_targets(gt, layout_), layout_, loss_)
                      .total.item<double>() *
                  static_cast<double>(n);
      bar.update(n, loss_sum / static_cast<double>(i + n), 0.0, "mAP50");
    }
    if (group) {
      // mAP needs every image's detections: gather the outputs (rank order = split order).
      // A rank with no images (a split smaller than the world) sends none of the right shape.
      const torch::Tensor mine =
          outs.empty() ? model.forward(d.x.narrow(0, 0, 1)).to(torch::kFloat).narrow(0, 0, 0)
                       : torch::cat(outs);
      outs = {group->allgather_rows(mine)};
      torch::Tensor sums = torch::tensor({loss_sum}, torch::kDouble);
      group->allreduce(sums, ReduceOp::kSum);
      loss_sum = sums[0].item<double>();
    }
    EvalResult r;
    r.samples = d.size();
    r.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, d.size()));
    if (!outs.empty()) {
      r.detection = figures_of(torch::cat(outs), d.boxes);
      r.metric = r.detection->map50_voc;
    }
    return r;
  }

  std::vector<std::vector<detect::Detection>> detections_of(const torch::Tensor& out) const {
    const torch::Tensor o = out.detach().to(torch::kFloat).contiguous();
    std::vector<std::vector<detect::Detection>> dets;
    for (int64_t i = 0; i < o.size(0); ++i)
      dets.push_back(
          detect::nms(detect::decode_yolo(o[i].data_ptr<float>(), layout_, 0.01f), 0.5f));
    return dets;
  }

  double map_of(const torch::Tensor& out, const std::vector<std::vector<Box>>& gt) const {
    return detect::mean_average_precision(detections_of(out), gt, layout_.classes, 0.5f).map;
  }

  detect::DetectionFigures figures_of(const torch::Tensor& out,
                                      const std::vector<std::vector<Box>>& gt) const {
    return detect::detection_figures(detections_of(out), gt, layout_.classes);
  }

 private:
  detect::YoloLayout layout_;
  detect::YoloLossOptions loss_;
};

}  // namespace

TensorData to_tensors(const data::ArrayDataset& d) {
  TensorData t;
  const int64_t n = static_cast<int64_t>(d.size());
  t.x = shape_tensor(d.data, n, d.shape);
  t.labels = torch::tensor(d.labels, torch::kLong);
  t.class_names = d.class_names;
  return t;
}

TensorData to_tensors(const data::DetectionDataset& d) {
  TensorData t;
  t.x = shape_tensor(d.data, static_cast<int64_t>(d.size()), d.shape);
  t.boxes = d.boxes;
  t.class_names = d.class_names;
  return t;
}

Batch make_batch(const TensorData& d, const torch::Tensor& indices) {
  Batch b;
  b.x = d.x.index_select(0, indices);
  if (d.labels.defined()) b.labels = d.labels.index_select(0, indices);
  if (!d.boxes.empty()) {
    const auto idx = indices.accessor<int64_t, 1>();
    for (int64_t i = 0; i < indices.size(0); ++i)
      b.boxes.push_back(d.boxes[static_cast<size_t>(idx[i])]);
  }
  return b;
}

Batch slice_batch(const Batch& b, int64_t begin, int64_t count) {
  Batch out;
  out.x = b.x.narrow(0, begin, count);
  if (b.labels.defined()) out.labels = b.labels.narrow(0, begin, count);
  if (b.labels2.defined()) out.labels2 = b.labels2.narrow(0, begin, count);
  out.lambda = b.lambda;
  if (!b.boxes.empty()) out.boxes.assign(b.boxes.begin() + begin, b.boxes.begin() + begin + count);
  return out;
}

void augment(Batch& b, const AugmentConfig& a) {
  const int64_t n = b.x.size(0);
  const bool image = b.x.dim() == 4;
  if (image) {
    augment_geometry(b.x, b.boxes, a);
    augment_hsv(b.x, a);
  }
  if (a.hflip && image) {
    const torch::Tensor flip = torch::rand({n}) < 0.5;
    const auto f = flip.accessor<bool, 1>();
    b.x = torch::where(flip.reshape({n, 1, 1, 1}), b.x.flip({3}), b.x);
    for (int64_t i = 0; i < n && !b.boxes.empty(); ++i)
      if (f[i])
        for (auto& box : b.boxes[static_cast<size_t>(i)]) box.cx = 1.0f - box.cx;
  }
  if (a.shift > 0) {
    const int64_t s = a.shift;
    const torch::Tensor offsets = torch::randint(-s, s + 1, {n, 2}, torch::kLong);
    const auto off = offsets.accessor<int64_t, 2>();
    torch::Tensor padded = image ? F::pad(b.x, F::PadFuncOptions({s, s, s, s}))
                                 : F::pad(b.x, F::PadFuncOptions({s, s}));
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t dx = off[i][0], dy = image ? off[i][1] : 0;
      torch::Tensor xi = padded[i];
      if (image) {
        const int64_t h = b.x.size(2), w = b.x.size(3);
        xi = xi.narrow(1, s - dy, h).narrow(2, s - dx, w);
        if (!b.boxes.empty())
          for (auto& box : b.boxes[static_cast<size_t>(i)]) {
            box.cx += static_cast<float>(dx) / static_cast<float>(w);
            box.cy += static_cast<float>(dy) / static_cast<float>(h);
          }
      } else {
        xi = xi.narrow(1, s - dx, b.x.size(2));
      }
      out.push_back(xi);
    }
    b.x = torch::stack(out);
    // Drop boxes whose centre left the image.
    for (auto& boxes : b.boxes)
      boxes.erase(std::remove_if(boxes.begin(), boxes.end(),
                                 [](const Box& box) {
                                   return box.cx < 0 || box.cx >= 1 || box.cy < 0 || box.cy >= 1;
                                 }),
                  boxes.end());
  }
}

void apply_mixup(Batch& b, double alpha) {
  if (alpha <= 0 || !b.labels.defined()) return;
  // lambda ~ Beta(alpha, alpha) from two Gamma(alpha) draws of the default generator.
  const torch::Tensor g = at::_standard_gamma(torch::full({2}, alpha, torch::kDouble));
  const double lambda = g[0].item<double>() / (g[0].item<double>() + g[1].item<double>());
  const torch::Tensor perm = torch::randperm(b.x.size(0), torch::kLong);
  b.x = lambda * b.x + (1.0 - lambda) * b.x.index_select(0, perm);
  b.labels2 = b.labels.index_select(0, perm);
  b.lambda = lambda;
}

std::unique_ptr<Task> make_task(const ModelHead& head, const LossConfig& loss) {
  if (head.task == TaskKind::kDetection) return std::make_unique<Detection>(head, loss);
  return std::make_unique<Classification>(loss);
}

EvalResult score_outputs(const ModelHead& head, const torch::Tensor& outputs, const TensorData& d,
                         const LossConfig& loss) {
  EvalResult r;
  r.samples = outputs.size(0);
  const torch::Tensor out = outputs.to(torch::kFloat);
  if (head.task == TaskKind::kClassification) {
    r.loss = F::cross_entropy(out, d.labels).item<double>();
    r.metric = out.argmax(1).eq(d.labels).to(torch::kDouble).mean().item<double>();
  } else {
    const Detection det(head, loss);
    Batch all;
    all.boxes = d.boxes;
    r.loss = det.loss(out, all).item<double>();
    r.detection = det.figures_of(out, d.boxes);
    r.metric = r.detection->map50_voc;
  }
  return r;
}

}  // namespace qat
