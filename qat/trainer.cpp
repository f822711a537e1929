#include "qat/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <sstream>
#include <thread>

#include "qat/checkpoint.h"
#include "qat/errors.h"
#include "qat/log.h"
#include "qat/progress.h"
#include "qat/task.h"

namespace qat {
namespace fs = std::filesystem;
namespace {

torch::Tensor rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const torch::Tensor& s) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(GraphModuleImpl& m,
                                                        const OptimizerConfig& o) {
  if (o.name == "sgd")
    return std::make_unique<torch::optim::SGD>(m.parameters(), torch::optim::SGDOptions(o.lr)
                                                                   .momentum(o.momentum)
                                                                   .weight_decay(o.weight_decay)
                                                                   .nesterov(o.nesterov));
  return std::make_unique<torch::optim::Adam>(
      m.parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

void load_optimizer_state(const std::string& path, torch::optim::Optimizer& opt) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  torch::serialize::InputArchive opt_archive;
  if (archive.try_read("optimizer", opt_archive)) opt.load(opt_archive);
}

// Metrics CSV kept in memory and rewritten atomically after every epoch.
class MetricsLog {
 public:
  explicit MetricsLog(fs::path path) : path_(std::move(path)) {}
  void load() {
    std::ifstream in(path_);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line))
      if (!line.empty()) rows_.push_back(line);
  }
  // Keeps rows of earlier phases and rows of `phase` up to epoch `keep` (-1: none of it), so a
  // resumed run rewrites what comes after.
  void truncate(const std::string& phase, int64_t keep) {
    static const std::vector<std::string> order = {"float", "ptq", "qat"};
    const auto rank = [&](const std::string& p) {
      return std::find(order.begin(), order.end(), p) - order.begin();
    };
    std::vector<std::string> kept;
    for (const auto& r : rows_) {
      const std::string p = r.substr(0, r.find(','));
      const int64_t e = std::stoll(r.substr(r.find(',') + 1));
      if (rank(p) < rank(phase) || (p == phase && e <= keep)) kept.push_back(r);
    }
    rows_ = kept;
  }
  void add(const std::string& phase, int64_t epoch, double lr, double tl, double tm,
           const EvalResult* test, double seconds) {
    std::ostringstream o;
    o << phase << ',' << epoch << ',' << lr << ',' << tl << ',' << tm << ',';
    if (test)
      o << test->loss << ',' << test->metric;
    else
      o << ',';
    o << ',' << std::fixed << std::setprecision(2) << seconds;
    rows_.push_back(o.str());
    std::string text = "phase,epoch,lr,train_loss,train_metric,test_loss,test_metric,seconds\n";
    for (const auto& r : rows_) text += r + "\n";
    write_file_atomic(path_.string(), text);
  }

 private:
  fs::path path_;
  std::vector<std::string> rows_;
};

class Run {
 public:
  Run(const RunConfig& cfg, const TrainOptions& opts)
      : cfg_(cfg), opts_(opts), dir_(cfg.output), metrics_(dir_ / "metrics.csv") {}

  RunSummary execute() {
    prepare();
    summary_.run_dir = dir_.string();
    summary_.metric_name = task_->metric_name();
    GraphModule model = float_phase();
    if (summary_.interrupted) return summary_;
    if (!cfg_.quant.enabled) {
      finish(model);
      return summary_;
    }
    GraphModule qmodel = quantize_phase(model);
    if (summary_.interrupted) return summary_;
    finish(qmodel);
    return summary_;
  }

 private:
  void prepare() {
    fs::create_directories(dir_);
    const int64_t threads =
        cfg_.threads > 0 ? cfg_.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
    torch::set_num_threads(static_cast<int>(threads));
    task_ = make_task(cfg_.model.head);

    YAML::Emitter yaml;
    yaml << cfg_.resolved;
    const std::string config_text = std::string(yaml.c_str()) + "\n";
    const fs::path config_path = dir_ / "config.yaml";
    if (opts_.resume) {
      if (!fs::exists(dir_ / "state.json"))
        throw TrainingError(dir_.string() +
                            ": nothing to resume (no state.json); start without --resume");
      std::ifstream in(dir_ / "state.json");
      state_ = nlohmann::json::parse(in);
      std::ifstream cin(config_path);
      std::stringstream saved;
      saved << cin.rdbuf();
      if (saved.str() != config_text)
        throw TrainingError(config_path.string() +
                            " differs from the config given now; --resume continues the same run "
                            "(use a new output directory for a changed config)");
      metrics_.load();
      spdlog::info("resuming {} at {} epoch {}", dir_.string(), state_.value("phase", "float"),
                   state_.value("epoch", 0));
    } else {
      if (fs::exists(dir_ / "state.json"))
        spdlog::warn("{} holds a previous run; it is overwritten (use --resume to continue it)",
                     dir_.string());
      state_ = {{"phase", "float"}, {"epoch", 0}};
      write_file_atomic(config_path.string(), config_text);
      fs::remove(dir_ / "metrics.csv");
      fs::remove(dir_ / "summary.json");
    }
    load_data();
    spdlog::info("run {}: {} parameters, {} MACs per inference", cfg_.name,
                 cfg_.model.graph.parameter_count(), cfg_.model.graph.macs());
  }

  void load_data() {
    const auto t0 = std::chrono::steady_clock::now();
    if (cfg_.dataset.task == data::Task::kClassification) {
      train_ = to_tensors(data::load_classification(cfg_.dataset, data::Split::kTrain));
      test_ = to_tensors(data::load_classification(cfg_.dataset, data::Split::kTest));
    } else {
      train_ = to_tensors(data::load_detection(cfg_.dataset, data::Split::kTrain));
      test_ = to_tensors(data::load_detection(cfg_.dataset, data::Split::kTest));
    }
    // Per-channel z-score from the training split; stored with every checkpoint so export and
    // the MCU scale inputs the same way.
    const int64_t c = train_.x.size(1);
    std::vector<double> mean(static_cast<size_t>(c), 0.0), stdv(static_cast<size_t>(c), 1.0);
    if (cfg_.dataset.normalize) {
      const torch::Tensor flat = train_.x.transpose(0, 1).reshape({c, -1}).to(torch::kDouble);
      const torch::Tensor m = flat.mean(1), s = flat.std(1).clamp_min(1e-8);
      for (int64_t i = 0; i < c; ++i) {
        mean[static_cast<size_t>(i)] = m[i].item<double>();
        stdv[static_cast<size_t>(i)] = s[i].item<double>();
      }
      std::vector<int64_t> shape(static_cast<size_t>(train_.x.dim()), 1);
      shape[1] = c;
      const torch::Tensor mt = torch::tensor(mean, torch::kDouble).reshape(shape).to(torch::kFloat);
      const torch::Tensor st = torch::tensor(stdv, torch::kDouble).reshape(shape).to(torch::kFloat);
      train_.x = (train_.x - mt) / st;
      test_.x = (test_.x - mt) / st;
    }
    input_meta_ = {{"mean", mean}, {"std", stdv}, {"shape", cfg_.dataset.input}};
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("dataset {}: {} training and {} test samples of shape {} ({:.1f} s)",
                 cfg_.dataset.name, train_.size(), test_.size(), shape_str(cfg_.dataset.input), s);
    if (train_.size() == 0 || test_.size() == 0) throw TrainingError("dataset has an empty split");
  }

  nlohmann::json meta(const std::string& phase, int64_t epoch) const {
    return {{"run", cfg_.name},
            {"phase", phase},
            {"epoch", epoch},
            {"head", cfg_.model.head},
            {"input", input_meta_},
            {"dataset", cfg_.dataset.name},
            {"metric", task_->metric_name()}};
  }

  void save_state(const std::string& phase, int64_t epoch) {
    state_ = {{"phase", phase}, {"epoch", epoch}};
    write_file_atomic((dir_ / "state.json").string(), state_.dump(2) + "\n");
  }

  bool should_stop() {
    ++epochs_this_session_;
    if (opts_.stop_after_epochs >= 0 && epochs_this_session_ >= opts_.stop_after_epochs) {
      summary_.interrupted = true;
      spdlog::warn("stopping after {} epoch(s) as requested; continue with --resume",
                   epochs_this_session_);
      return true;
    }
    return false;
  }

  // One epoch of training; returns mean loss and metric over the batches.
  std::pair<double, double> train_epoch(GraphModuleImpl& model, torch::optim::Optimizer& opt,
                                        const PhaseConfig& phase, const std::string& label,
                                        int64_t epoch, Mode mode) {
    model.train();
    model.set_mode(mode);
    const int64_t n = train_.size(), bs = phase.batch_size;
    const torch::Tensor perm = torch::randperm(n, torch::kLong);
    Progress bar(label, n, opts_.progress);
    double loss_sum = 0, metric_sum = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i < n; i += bs) {
      const int64_t m = std::min(bs, n - i);
      if (m < 2 && model.has_batchnorm()) continue;  // batchnorm needs two samples
      Batch b = make_batch(train_, perm.narrow(0, i, m));
      augment(b, phase.augment);
      apply_mixup(b, phase.mixup);
      const torch::Tensor out = model.forward(b.x);
      const torch::Tensor loss = task_->loss(out, b);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw TrainingError("the " + label + " loss became " + (std::isnan(l) ? "NaN" : "Inf") +
                            " at epoch " + std::to_string(epoch + 1) + ", batch " +
                            std::to_string(batches + 1) + "; the last good checkpoint is kept in " +
                            dir_.string() + " (lower the learning rate, then --resume)");
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += l;
      metric_sum += task_->batch_metric(out.detach(), b);
      ++batches;
      bar.update(m, loss_sum / batches, metric_sum / batches, task_->metric_name());
    }
    bar.finish();
    return {loss_sum / std::max<int64_t>(1, batches), metric_sum / std::max<int64_t>(1, batches)};
  }

  EvalResult evaluate(GraphModuleImpl& model, Mode mode, const std::string& label) {
    model.eval();
    model.set_mode(mode);
    const EvalResult r = task_->evaluate(model, test_, 256, label, false);
    spdlog::info("{}: test {} {:.2f}%  loss {:.4f}", label, task_->metric_name(), 100.0 * r.metric,
                 r.loss);
    return r;
  }

  // One training phase's epochs: learning rate, training, evaluation, then the checkpoint, the
  // metrics row and the resume state, in that order (a crash between them loses nothing).
  struct EpochLoop {
    std::string phase;       // "float" / "qat": labels, metrics rows, checkpoint metadata
    std::string next_state;  // resume state once the last epoch is done
    Mode train_mode, eval_mode;
    fs::path checkpoint;
    PhaseResult* result;
    bool stop_after_last;  // an interruption may follow the phase's last epoch too
    std::function<void(int64_t)> before_epoch;
  };

  // Returns false when the run was stopped (--stop-after) before finishing the phase.
  bool run_epochs(const EpochLoop& l, GraphModuleImpl& model, torch::optim::Optimizer& opt,
                  const PhaseConfig& p, int64_t start, int64_t epochs) {
    const auto t0 = std::chrono::steady_clock::now();
    const double seconds_before = l.result->seconds;
    for (int64_t e = start; e < epochs; ++e) {
      const double lr = p.schedule.lr_at(p.optimizer.lr, e, epochs);
      set_lr(opt, lr);
      if (l.before_epoch) l.before_epoch(e);
      const std::string label =
          "[" + l.phase + " " + std::to_string(e + 1) + "/" + std::to_string(epochs) + "]";
      const auto [tl, tm] = train_epoch(model, opt, p, label, e, l.train_mode);
      std::optional<EvalResult> ev;
      if ((e + 1) % p.eval_every == 0 || e + 1 == epochs) ev = evaluate(model, l.eval_mode, label);
      const double secs =
          seconds_before +
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::json m = meta(l.phase, e + 1);
      m["seconds"] = secs;
      if (ev) m["test"] = {{"loss", ev->loss}, {"metric", ev->metric}};
      save_checkpoint(l.checkpoint.string(), model, m, &opt, {{"rng", rng_state()}});
      metrics_.add(l.phase, e + 1, lr, tl, tm, ev ? &*ev : nullptr, secs);
      save_state(e + 1 == epochs ? l.next_state : l.phase, e + 1);
      if (ev) *l.result = {true, ev->loss, ev->metric, secs};
      if ((e + 1 < epochs || l.stop_after_last) && should_stop()) return false;
    }
    return true;
  }

  // Float training (or its resumption); returns the trained float model.
  GraphModule float_phase() {
    const std::string phase = state_.value("phase", "float");
    const int64_t state_epoch = state_.value("epoch", 0);
    const fs::path ckpt = dir_ / "float.pt";
    GraphModule model{nullptr};
    int64_t start = 0;
    if (opts_.resume && (phase != "float" || state_epoch > 0)) {
      Checkpoint ck = load_checkpoint(ckpt.string());
      model = ck.model;
      start = ck.meta.at("epoch").get<int64_t>();
      if (ck.tensors.count("rng")) set_rng_state(ck.tensors.at("rng"));
      summary_.float_phase = float_result_from(ck.meta);
    } else {
      torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
      model = GraphModule(cfg_.model.graph, cfg_.quant);
      if (!cfg_.train.init_from.empty()) {
        const Checkpoint init = load_checkpoint(cfg_.train.init_from);
        if (init.model->graph().to_json() != model->graph().to_json())
          throw TrainingError("train.init_from: " + cfg_.train.init_from +
                              " holds a different model graph than this config builds");
        model->copy_weights_from(*init.model);
        spdlog::info("initialised from {}", cfg_.train.init_from);
      }
    }
    const PhaseConfig& p = cfg_.train;
    const int64_t epochs = p.enabled ? p.epochs : 0;
    if (phase != "float") return model;  // float phase finished earlier
    metrics_.truncate("float", start);
    auto opt = make_optimizer(*model, p.optimizer);
    if (start > 0) load_optimizer_state(ckpt.string(), *opt);
    const EpochLoop loop{
        "float",
        "ptq",
        Mode::kFloat,
        Mode::kFloat,
        ckpt,
        &summary_.float_phase,
        true,
        [&](int64_t e) {
          model->set_batchnorm_frozen(p.freeze_bn_epoch >= 0 && e >= p.freeze_bn_epoch);
        }};
    if (!run_epochs(loop, *model, *opt, p, start, epochs)) return model;
    if (epochs == 0 || !summary_.float_phase.ran) {
      const EvalResult ev = evaluate(*model, Mode::kFloat, "[float]");
      summary_.float_phase = {epochs > 0, ev.loss, ev.metric, 0.0};
      nlohmann::json m = meta("float", epochs);
      m["test"] = {{"loss", ev.loss}, {"metric", ev.metric}};
      save_checkpoint(ckpt.string(), *model, m, opt.get(), {{"rng", rng_state()}});
      save_state("ptq", epochs);
    }
    return model;
  }

  static PhaseResult float_result_from(const nlohmann::json& meta) {
    PhaseResult r;
    if (meta.contains("test")) {
      r.ran = true;
      r.loss = meta["test"]["loss"].get<double>();
      r.metric = meta["test"]["metric"].get<double>();
    }
    r.seconds = meta.value("seconds", 0.0);
    return r;
  }

  void calibrate(GraphModuleImpl& model, int64_t batches) {
    torch::NoGradGuard ng;
    model.eval();
    model.set_mode(Mode::kCalibrate);
    const int64_t bs = cfg_.ptq.batch_size;
    const torch::Tensor perm = torch::randperm(train_.size(), torch::kLong);
    int64_t done = 0;
    for (int64_t i = 0; i < train_.size() && done < batches; i += bs, ++done)
      model.forward(make_batch(train_, perm.narrow(0, i, std::min(bs, train_.size() - i))).x);
  }

  GraphModule quantize_phase(GraphModule float_model) {
    const std::string phase = state_.value("phase", "float");
    const int64_t state_epoch = state_.value("epoch", 0);
    const fs::path ptq_ckpt = dir_ / "ptq.pt", qat_ckpt = dir_ / "qat.pt";
    GraphModule qmodel{nullptr};
    int64_t start = 0;
    if (phase == "qat" || phase == "done") {
      Checkpoint ptq_ck = load_checkpoint(ptq_ckpt.string());
      summary_.ptq = float_result_from(ptq_ck.meta);
      summary_.ptq.ran = cfg_.ptq.enabled;
      if (state_epoch > 0) {
        Checkpoint ck = load_checkpoint(qat_ckpt.string());
        qmodel = ck.model;
        start = ck.meta.at("epoch").get<int64_t>();
        if (ck.tensors.count("rng")) set_rng_state(ck.tensors.at("rng"));
        summary_.qat = float_result_from(ck.meta);
      } else {
        qmodel = ptq_ck.model;
        if (ptq_ck.tensors.count("rng")) set_rng_state(ptq_ck.tensors.at("rng"));
      }
    } else {
      spdlog::info(
          "folding batchnorm and calibrating ({} scheme, {}-bit weights, {}-bit activations)",
          scheme_name(cfg_.quant.weights.scheme), cfg_.quant.weights.bits,
          cfg_.quant.activations.bits);
      qmodel = GraphModule(float_model->fold_batchnorm());
      const auto t0 = std::chrono::steady_clock::now();
      // Without PTQ one batch still initialises the observers (and LSQ scales) before QAT.
      calibrate(*qmodel, cfg_.ptq.enabled ? cfg_.ptq.batches : 1);
      for (const std::string& clip : qmodel->fixed_format_clipping())
        spdlog::warn("{} (quant frac_bits; drop it to let calibration choose each format)", clip);
      qmodel->freeze_observers(true);
      nlohmann::json m = meta("ptq", 0);
      if (cfg_.ptq.enabled) {
        const EvalResult ev = evaluate(*qmodel, Mode::kEval, "[ptq]");
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        summary_.ptq = {true, ev.loss, ev.metric, secs};
        m["test"] = {{"loss", ev.loss}, {"metric", ev.metric}};
        m["seconds"] = secs;
        metrics_.truncate("ptq", -1);
        metrics_.add("ptq", 0, 0.0, 0.0, 0.0, &ev, secs);
      }
      save_checkpoint(ptq_ckpt.string(), *qmodel, m, nullptr, {{"rng", rng_state()}});
      save_state("qat", 0);
    }
    const PhaseConfig& p = cfg_.qat;
    const int64_t epochs = p.enabled ? p.epochs : 0;
    if (epochs == 0) return qmodel;
    metrics_.truncate("qat", start);
    if (start == 0) {
      qmodel->freeze_observers(p.freeze_observers_epoch == 0);
      qmodel->init_learned_scales();
    }
    auto opt = make_optimizer(*qmodel, p.optimizer);
    if (start > 0) load_optimizer_state(qat_ckpt.string(), *opt);
    const EpochLoop loop{
        "qat", "done", Mode::kQat, Mode::kEval, qat_ckpt, &summary_.qat, false, [&](int64_t e) {
          if (p.freeze_observers_epoch >= 0 && e >= p.freeze_observers_epoch)
            qmodel->freeze_observers(true);
        }};
    run_epochs(loop, *qmodel, *opt, p, start, epochs);
    return qmodel;
  }

  void finish(GraphModule model) {
    model->eval();
    model->set_mode(cfg_.quant.enabled ? Mode::kEval : Mode::kFloat);
    model->freeze_observers(true);
    nlohmann::json m = meta(cfg_.quant.enabled ? (summary_.qat.ran ? "qat" : "ptq") : "float", 0);
    const PhaseResult& final_result =
        summary_.qat.ran ? summary_.qat : (summary_.ptq.ran ? summary_.ptq : summary_.float_phase);
    m["test"] = {{"loss", final_result.loss}, {"metric", final_result.metric}};
    save_checkpoint((dir_ / "model.pt").string(), *model, m);
    save_state("done", 0);
    nlohmann::json s = summary_.to_json();
    s["parameters"] = cfg_.model.graph.parameter_count();
    s["macs"] = cfg_.model.graph.macs();
    s["config"] = cfg_.config_file;
    write_file_atomic((dir_ / "summary.json").string(), s.dump(2) + "\n");
  }

  const RunConfig& cfg_;
  TrainOptions opts_;
  fs::path dir_;
  MetricsLog metrics_;
  std::unique_ptr<Task> task_;
  TensorData train_, test_;
  nlohmann::json input_meta_, state_;
  RunSummary summary_;
  int64_t epochs_this_session_ = 0;
};

}  // namespace

nlohmann::json PhaseResult::to_json() const {
  return {{"ran", ran}, {"loss", loss}, {"metric", metric}, {"seconds", seconds}};
}

nlohmann::json RunSummary::to_json() const {
  return {{"run_dir", run_dir},   {"metric", metric_name}, {"float", float_phase.to_json()},
          {"ptq", ptq.to_json()}, {"qat", qat.to_json()},  {"interrupted", interrupted}};
}

RunSummary train_run(const RunConfig& cfg, const TrainOptions& opts) {
  Run run(cfg, opts);
  return run.execute();
}

void print_summary(const RunSummary& s, const RunConfig& cfg) {
  const auto bits = [&] {
    std::ostringstream o;
    o << scheme_name(cfg.quant.weights.scheme) << " w" << cfg.quant.weights.bits << "a"
      << cfg.quant.activations.bits;
    return o.str();
  }();
  std::printf("\n%-22s %10s %10s %10s\n", "step", s.metric_name.c_str(), "loss", "time");
  const auto row = [&](const std::string& name, const PhaseResult& r) {
    if (!r.ran) return;
    std::printf("%-22s %9.2f%% %10.4f %10s\n", name.c_str(), 100.0 * r.metric, r.loss,
                format_duration(r.seconds).c_str());
  };
  row("float", s.float_phase);
  row("ptq " + bits, s.ptq);
  row("qat " + bits, s.qat);
  std::printf("run directory: %s\n", s.run_dir.c_str());
}

}  // namespace qat
