// A training run's configuration: the whole YAML file, validated up front (before any data is
// loaded) so a typo fails in a second, naming the key, file and line.
//
//   name, seed, output, threads, adaptive_threads
//   dataset:  see datasets/registry.h
//   model:    see models/registry.h
//   train:    float phase (epochs, batch_size, optimizer, schedule, mixup, augment, ...)
//   quant:    see qat/quant_config.h
//   ptq:      calibration (enabled, batches)
//   qat:      quantization-aware phase (enabled, epochs, optimizer, schedule, freeze epochs)
//   loss:     label_smoothing, detection objectness (mse | bce), lambda_coord, lambda_noobj
//   budget:   {flash, ram}: per-layer bits chosen to fit (export/budget.h), before training
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "datasets/registry.h"
#include "export/budget.h"
#include "models/registry.h"
#include "qat/quant_config.h"

namespace qat {

struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd
  double lr = 1e-3;
  double momentum = 0.9;  // sgd
  double weight_decay = 0.0;
  bool nesterov = false;
};

struct ScheduleConfig {
  std::string name = "constant";    // constant | multistep | cosine
  std::vector<int64_t> milestones;  // multistep: epochs at which lr *= gamma
  double gamma = 0.1;
  double min_lr = 0.0;  // cosine
  // Learning rate at the start of `epoch` (0-based) of a phase of `epochs` epochs.
  double lr_at(double base_lr, int64_t epoch, int64_t epochs) const;
};

struct AugmentConfig {
  bool hflip = false;  // images: random horizontal flip (boxes follow)
  int64_t shift = 0;   // random translation by up to this many pixels / samples
  // Images (train/detection_augment.h): 4-image mosaic probability, random affine (zoom in
  // [1 - scale, 1 + scale], translation up to `translate` of the input, rotation and shear in
  // degrees), HSV jitter, and the least fraction of a transformed box that must stay inside.
  double mosaic = 0.0;
  double scale = 0.0, translate = 0.0, degrees = 0.0, shear = 0.0;
  double hsv_h = 0.0, hsv_s = 0.0, hsv_v = 0.0;
  double min_box_area = 0.25;
};

struct PhaseConfig {
  bool enabled = true;
  int64_t epochs = 0;
  int64_t batch_size = 32;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  double mixup = 0.0;  // classification: Beta(alpha, alpha) mixup, 0 = off
  AugmentConfig augment;
  int64_t freeze_bn_epoch = -1;         // float phase: batchnorm statistics frozen from here
  int64_t freeze_observers_epoch = -1;  // qat phase: observers frozen from here
  int64_t eval_every = 1;
  // The recipe: linear learning-rate warmup over the first `warmup_epochs` (per step, from 0),
  // gradient-norm clipping (0: off), and an exponential moving average of the weights (decay,
  // 0: off; ramped as min(decay, (1 + k) / (10 + k)) after k steps) that is what the phase
  // evaluates, saves and hands on.
  double warmup_epochs = 0.0;
  double clip_grad_norm = 0.0;
  double ema = 0.0;
  // Float phase: start from this float checkpoint (same model) instead of a random init, e.g.
  // to compare PTQ/QAT variants from one trained float model.
  std::string init_from;
};

// The task's loss. Classification: cross-entropy with label smoothing. Detection
// (losses/yolo_loss.h): the YOLOv1 loss, its objectness as MSE to the IoU (YOLOv1) or BCE to the
// IoU (IoU-aware, YOLOv3+), class targets smoothed by label_smoothing.
struct LossConfig {
  double label_smoothing = 0.0;
  std::string objectness = "mse";  // mse | bce
  double lambda_coord = 5.0, lambda_noobj = 0.5;
};

struct PtqConfig {
  bool enabled = true;
  int64_t batches = 16;  // calibration batches of the training set (no augmentation)
  int64_t batch_size = 64;
};

struct RunConfig {
  std::string name;
  int64_t seed = 1;
  std::string output;   // run directory
  int64_t threads = 0;  // the most training threads; 0: the cores this process may use
  // Train on fewer threads while other processes keep cores busy (train/thread_governor.h).
  bool adaptive_threads = true;
  data::DatasetSpec dataset;
  models::BuiltModel model;
  QuantConfig quant;
  LossConfig loss;
  PhaseConfig train;
  PtqConfig ptq;
  PhaseConfig qat;
  // The memory budget and, when one is set, the bits chosen for it (already applied to `quant`
  // as per-node overrides; with budget.order sensitivity a preliminary plan, which training
  // replaces after the float phase, starting again from `quant_before_budget`).
  exporter::MemoryBudget budget;
  std::optional<exporter::PrecisionPlan> precision;
  QuantConfig quant_before_budget;
  // Training images the sensitivity order measures each layer's loss on (budget.samples).
  int64_t sensitivity_samples = 1024;
  std::string config_file;
  YAML::Node resolved;  // the YAML after --set, with dataset paths made absolute
};

// Loads and validates a run config; `overrides` are --set key=value strings.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace qat
