#include "train/run_config.h"

#include <cmath>
#include <filesystem>

#include "qat/config_reader.h"
#include "qat/errors.h"

namespace qat {
namespace fs = std::filesystem;
namespace {

OptimizerConfig parse_optimizer(ConfigNode n, const OptimizerConfig& base) {
  OptimizerConfig o = base;
  o.name = n.get_enum("name", base.name, {"adam", "sgd"});
  o.lr = n.get_double("lr", base.lr, 0.0, 1e6, true);
  o.momentum = n.get_double("momentum", base.momentum, 0.0, 1.0);
  o.weight_decay = n.get_double("weight_decay", base.weight_decay, 0.0, 1.0);
  o.nesterov = n.get_bool("nesterov", base.nesterov);
  n.finish();
  return o;
}

ScheduleConfig parse_schedule(ConfigNode n, const ScheduleConfig& base) {
  ScheduleConfig s = base;
  s.name = n.get_enum("name", base.name, {"constant", "multistep", "cosine"});
  s.milestones = n.get_int_list("milestones", base.milestones, 1);
  s.gamma = n.get_double("gamma", base.gamma, 0.0, 1.0, true);
  s.min_lr = n.get_double("min_lr", base.min_lr, 0.0);
  if (s.name == "multistep" && s.milestones.empty())
    n.fail("milestones", "multistep needs at least one milestone epoch");
  n.finish();
  return s;
}

// What an input allows: the image augmentations need [C, H, W] inputs, mosaic needs boxes that
// follow the pixels (detection), the HSV jitter RGB. Refused rather than silently skipped.
struct AugmentTarget {
  bool image = false, rgb = false, detection = false;
};

void check_augment_target(ConfigNode& aug, const AugmentConfig& a, const AugmentTarget& t) {
  const std::pair<const char*, double> image_only[] = {
      {"mosaic", a.mosaic}, {"scale", a.scale}, {"translate", a.translate}, {"degrees", a.degrees},
      {"shear", a.shear},   {"hsv_h", a.hsv_h}, {"hsv_s", a.hsv_s},         {"hsv_v", a.hsv_v}};
  for (const auto& [key, value] : image_only)
    if (value > 0 && !t.image)
      aug.fail(key, "an image augmentation; this dataset's samples are not [C, H, W] images");
  if (a.mosaic > 0 && !t.detection)
    aug.fail("mosaic",
             "mosaic puts four images into one sample: only detection models, whose boxes follow "
             "the pixels, can use it");
  const std::pair<const char*, double> colour[] = {
      {"hsv_h", a.hsv_h}, {"hsv_s", a.hsv_s}, {"hsv_v", a.hsv_v}};
  for (const auto& [key, value] : colour)
    if (value > 0 && !t.rgb) aug.fail(key, "the HSV jitter needs 3-channel (RGB) images");
}

PhaseConfig parse_phase(ConfigNode n, const PhaseConfig& base, bool is_qat,
                        const AugmentTarget& target) {
  PhaseConfig p = base;
  p.enabled = n.get_bool("enabled", base.enabled);
  p.epochs = n.get_int("epochs", base.epochs, 0, 100000);
  p.batch_size = n.get_int("batch_size", base.batch_size, 1, 1 << 20);
  p.optimizer = parse_optimizer(n.child("optimizer"), base.optimizer);
  p.schedule = parse_schedule(n.child("schedule"), base.schedule);
  p.mixup = n.get_double("mixup", base.mixup, 0.0, 100.0);
  ConfigNode aug = n.child("augment");
  p.augment.hflip = aug.get_bool("hflip", base.augment.hflip);
  p.augment.shift = aug.get_int("shift", base.augment.shift, 0, 64);
  const AugmentConfig& ba = base.augment;
  p.augment.mosaic = aug.get_double("mosaic", ba.mosaic, 0.0, 1.0);
  p.augment.scale = aug.get_double("scale", ba.scale, 0.0, 0.9);
  p.augment.translate = aug.get_double("translate", ba.translate, 0.0, 0.5);
  p.augment.degrees = aug.get_double("degrees", ba.degrees, 0.0, 180.0);
  p.augment.shear = aug.get_double("shear", ba.shear, 0.0, 45.0);
  p.augment.hsv_h = aug.get_double("hsv_h", ba.hsv_h, 0.0, 0.5);
  p.augment.hsv_s = aug.get_double("hsv_s", ba.hsv_s, 0.0, 1.0);
  p.augment.hsv_v = aug.get_double("hsv_v", ba.hsv_v, 0.0, 1.0);
  p.augment.min_box_area = aug.get_double("min_box_area", ba.min_box_area, 0.0, 1.0);
  check_augment_target(aug, p.augment, target);
  aug.finish();
  p.warmup_epochs = n.get_double("warmup_epochs", base.warmup_epochs, 0.0, 100000.0);
  p.clip_grad_norm = n.get_double("clip_grad_norm", base.clip_grad_norm, 0.0);
  p.ema = n.get_double("ema", base.ema, 0.0, 1.0);
  if (p.ema >= 1.0) n.fail("ema", "the EMA decay must be below 1 (0 = off; e.g. 0.999)");
  if (is_qat && p.ema > 0)
    n.fail("ema",
           "only the float phase keeps a weight average (QAT's observers and learned scales "
           "are not averaged); set train.ema");
  p.eval_every = n.get_int("eval_every", base.eval_every, 1, 100000);
  if (!is_qat && n.has("init_from")) {
    namespace fs = std::filesystem;
    fs::path f(n.get_string("init_from", ""));
    if (f.is_relative() && n.where("init_from").rfind("--set", 0) != 0)
      f = fs::path(n.source()->file).parent_path() / f;
    if (!fs::exists(f)) n.fail("init_from", "no such checkpoint: " + f.string());
    p.init_from = fs::absolute(f).lexically_normal().string();
  }
  if (is_qat) {
    p.freeze_observers_epoch =
        n.get_int("freeze_observers_epoch", base.freeze_observers_epoch, -1, 100000);
  } else {
    p.freeze_bn_epoch = n.get_int("freeze_bn_epoch", base.freeze_bn_epoch, -1, 100000);
  }
  n.finish();
  return p;
}

}  // namespace

double ScheduleConfig::lr_at(double base_lr, int64_t epoch, int64_t epochs) const {
  if (name == "multistep") {
    double lr = base_lr;
    for (int64_t m : milestones)
      if (epoch >= m) lr *= gamma;
    return lr;
  }
  if (name == "cosine" && epochs > 0) {
    const double t = static_cast<double>(epoch) / static_cast<double>(epochs);
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * t));
  }
  return base_lr;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  LoadedConfig loaded = load_config_file(path, overrides);
  ConfigNode root(loaded.root, "", loaded.source);
  RunConfig rc;
  rc.config_file = path;
  const std::string stem = fs::path(path).stem().string();
  rc.name = root.get_string("name", stem);
  rc.seed = root.get_int("seed", 1, 0);
  rc.output = root.get_string("output", (fs::path("runs") / rc.name).string());
  rc.threads = root.get_int("threads", 0, 0, 1024);
  rc.adaptive_threads = root.get_bool("adaptive_threads", true);

  const std::string base_dir = fs::absolute(path).parent_path().string();
  rc.dataset = data::parse_dataset_spec(root.child("dataset"), base_dir);
  rc.model = models::build_model(root.child("model"), rc.dataset.input, rc.dataset.num_classes);
  rc.quant = parse_quant_config(root.child("quant"));
  rc.quant.check_against(rc.model.graph);
  ConfigNode budget = root.child("budget");
  rc.budget.flash = budget.get_size("flash");
  rc.budget.ram = budget.get_size("ram");
  const std::string order =
      budget.get_enum("order", "largest_share", {"largest_share", "levels", "sensitivity"});
  rc.budget.order = order == "levels"        ? exporter::CutOrder::kLevels
                    : order == "sensitivity" ? exporter::CutOrder::kSensitivity
                                             : exporter::CutOrder::kLargestShare;
  if (budget.has("samples") && order != "sensitivity")
    budget.fail("samples", "only budget.order sensitivity measures on training samples");
  rc.sensitivity_samples = budget.get_int("samples", 1024, 16, 1000000);
  budget.finish();
  rc.quant_before_budget = rc.quant;
  if (rc.budget.any()) {
    if (!rc.quant.enabled)
      budget.fail(rc.budget.flash ? "flash" : "ram",
                  "a memory budget needs quantization (quant.enabled is false)");
    try {
      rc.precision = exporter::plan_precision(rc.model.graph, rc.quant, rc.budget);
    } catch (const exporter::InfeasibleBudget& e) {
      budget.fail(e.key, e.what());
    }
    rc.quant = rc.precision->applied_to(rc.quant);
  }

  const bool detection = rc.model.head.task == TaskKind::kDetection;
  ConfigNode loss = root.child("loss");
  rc.loss.label_smoothing = loss.get_double("label_smoothing", 0.0, 0.0, 0.5);
  for (const char* key : {"objectness", "lambda_coord", "lambda_noobj"})
    if (loss.has(key) && !detection)
      loss.fail(key,
                "a detection loss setting; this model classifies (only label_smoothing "
                "applies)");
  rc.loss.objectness = loss.get_enum("objectness", "mse", {"mse", "bce"});
  rc.loss.lambda_coord = loss.get_double("lambda_coord", 5.0, 0.0);
  rc.loss.lambda_noobj = loss.get_double("lambda_noobj", 0.5, 0.0);
  loss.finish();
  AugmentTarget target;
  target.image = rc.dataset.input.size() == 3;
  target.rgb = target.image && rc.dataset.input[0] == 3;
  target.detection = detection;

  PhaseConfig train_defaults;
  train_defaults.epochs = 30;
  rc.train = parse_phase(root.child("train"), train_defaults, false, target);

  ConfigNode ptq = root.child("ptq");
  rc.ptq.enabled = ptq.get_bool("enabled", true);
  rc.ptq.batches = ptq.get_int("batches", rc.ptq.batches, 1, 1 << 20);
  rc.ptq.batch_size = ptq.get_int("batch_size", rc.ptq.batch_size, 1, 1 << 20);
  ptq.finish();

  // QAT defaults: the float phase's settings at a tenth of its learning rate.
  PhaseConfig qat_defaults = rc.train;
  qat_defaults.epochs = 10;
  qat_defaults.optimizer.lr = rc.train.optimizer.lr * 0.1;
  qat_defaults.schedule = ScheduleConfig{};
  qat_defaults.freeze_bn_epoch = -1;
  qat_defaults.warmup_epochs = 0.0;
  qat_defaults.ema = 0.0;
  // Calibrated ranges stay fixed during QAT; without calibration the observers learn them in
  // the first QAT epoch.
  qat_defaults.freeze_observers_epoch = rc.ptq.enabled ? 0 : 1;
  rc.qat = parse_phase(root.child("qat"), qat_defaults, true, target);
  // A float-only run (quant.enabled: false) has nothing to calibrate or fine-tune.
  if (!rc.quant.enabled) rc.ptq.enabled = rc.qat.enabled = false;
  root.finish();

  rc.resolved = YAML::Clone(loaded.root);
  rc.resolved["dataset"] = YAML::Load(rc.dataset.resolved_yaml);
  if (!rc.train.init_from.empty()) rc.resolved["train"]["init_from"] = rc.train.init_from;
  return rc;
}

}  // namespace qat
