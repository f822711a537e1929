// Tasks: what a model's output means, how it is trained and how it is scored.
//   classification: cross-entropy (with optional mixup), top-1 accuracy
//   detection:      YOLOv1 loss, mAP@0.5 after decoding and NMS
// Also the tensor form of the datasets and the batch augmentations.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "datasets/dataset.h"
#include "losses/detection.h"
#include "qat/graph_module.h"
#include "qat/model_head.h"
#include "train/run_config.h"

namespace qat {

struct TensorData {
  torch::Tensor x;                       // [N, ...] float
  torch::Tensor labels;                  // [N] int64 (classification)
  std::vector<std::vector<Box>> boxes;   // detection
  std::vector<std::string> class_names;  // what label / Box::cls i means
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};
TensorData to_tensors(const data::ArrayDataset& d);
TensorData to_tensors(const data::DetectionDataset& d);

struct Batch {
  torch::Tensor x, labels;
  std::vector<std::vector<Box>> boxes;
  // Mixup partner labels and weight: loss = lambda * L(y) + (1 - lambda) * L(y2).
  torch::Tensor labels2;
  double lambda = 1.0;
};
Batch make_batch(const TensorData& d, const torch::Tensor& indices);
// Samples [begin, begin + count) of a batch (a rank's shard of the global batch).
Batch slice_batch(const Batch& b, int64_t begin, int64_t count);
// Mosaic and random affine, HSV jitter (images), horizontal flip (images), random shift (zero
// padded; images and time series), in that order; boxes follow.
void augment(Batch& b, const AugmentConfig& a);
void apply_mixup(Batch& b, double alpha);

struct EvalResult {
  double loss = 0.0;
  double metric = 0.0;
  int64_t samples = 0;
  // Detection: the metric is the VOC mAP@0.5; these are the COCO figures and the per-class APs.
  std::optional<detect::DetectionFigures> detection;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string metric_name() const = 0;
  virtual torch::Tensor loss(const torch::Tensor& out, const Batch& b) const = 0;
  // Metric on one training batch (a running indication, not the reported figure).
  virtual double batch_metric(const torch::Tensor& out, const Batch& b) const = 0;
  // Loss and metric on a whole split, in the model's current mode. With a process group each
  // rank scores its shard of the split and the figures are reduced (every rank returns the
  // whole split's result; the metric equals one process's, the loss up to summation order).
  virtual EvalResult evaluate(GraphModuleImpl& model, const TensorData& d, int64_t batch_size,
                              const std::string& label, bool progress,
                              ProcessGroup* group = nullptr) const = 0;
};

// `loss` shapes the training loss (and the loss figure of evaluations), never the metric.
std::unique_ptr<Task> make_task(const ModelHead& head, const LossConfig& loss = {});

// Evaluates raw model outputs [N, ...] (any engine) against a split; `loss` as in make_task (the
// run's `loss:` section, so the loss figure matches the one training reported).
EvalResult score_outputs(const ModelHead& head, const torch::Tensor& outputs, const TensorData& d,
                         const LossConfig& loss = {});

}  // namespace qat
