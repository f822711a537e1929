#include "train/trainer.h"

#include <signal.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "qat/checkpoint.h"
#include "qat/cpu.h"
#include "qat/errors.h"
#include "qat/json_fields.h"
#include "qat/log.h"
#include "qat/version.h"
#include "train/data_parallel.h"
#include "train/evaluate.h"
#include "train/model_ema.h"
#include "train/progress.h"
#include "train/run_ranks.h"
#include "train/sensitivity.h"
#include "train/task.h"
#include "train/thread_governor.h"

namespace qat {
namespace fs = std::filesystem;
namespace {

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

void load_optimizer_state(const std::string& bytes, torch::optim::Optimizer& opt) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  torch::serialize::InputArchive opt_archive;
  if (archive.try_read("optimizer", opt_archive)) opt.load(opt_archive);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TrainingError(path.string() + ": checkpoint not found");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Metrics CSV kept in memory and rewritten atomically after every epoch.
class MetricsLog {
 public:
  static constexpr int kColumns = 9;
  explicit MetricsLog(fs::path path) : path_(std::move(path)) {}
  // The rows of an earlier session. A row that does not parse (a hand-edited or damaged file)
  // is dropped with a warning naming the line: the checkpoints, not this log, are what the run
  // continues from.
  void load() {
    std::ifstream in(path_);
    std::string line;
    std::getline(in, line);  // header
    for (size_t n = 2; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      const size_t comma = line.find(',');
      bool ok = comma != std::string::npos && phase_from_name(line.substr(0, comma)).has_value();
      if (ok) {
        const std::string epoch = line.substr(comma + 1, line.find(',', comma + 1) - comma - 1);
        ok = !epoch.empty() && epoch.find_first_not_of("0123456789") == std::string::npos;
      }
      // A row written before the train_seconds column existed gets an empty one.
      if (ok && std::count(line.begin(), line.end(), ',') == kColumns - 2) line += ',';
      if (ok)
        rows_.push_back(line);
      else
        spdlog::warn("{}:{}: unreadable row '{}' dropped (expected phase,epoch,...)",
                     path_.string(), n, line.substr(0, 60));
    }
  }
  // Keeps rows of earlier phases and rows of `phase` up to epoch `keep` (-1: none of it), so a
  // resumed run rewrites what comes after.
  void truncate(Phase phase, int64_t keep) {
    std::vector<std::string> kept;
    for (const auto& r : rows_) {
      const std::optional<Phase> p = phase_from_name(r.substr(0, r.find(',')));
      const int64_t e = std::stoll(r.substr(r.find(',') + 1));  // load() checked both
      if (*p < phase || (*p == phase && e <= keep)) kept.push_back(r);
    }
    rows_ = kept;
  }
  // `seconds`: since the phase started (training, evaluation, checkpoints); `train_seconds`:
  // this epoch's training steps alone (what bench/train_speed.sh compares; empty for PTQ).
  void add(Phase phase, int64_t epoch, double lr, double tl, double tm, const EvalResult* test,
           double seconds, std::optional<double> train_seconds) {
    std::ostringstream o;
    o << phase_name(phase) << ',' << epoch << ',' << lr << ',' << tl << ',' << tm << ',';
    if (test)
      o << test->loss << ',' << test->metric;
    else
      o << ',';
    o << ',' << std::fixed << std::setprecision(2) << seconds << ',';
    if (train_seconds) o << std::setprecision(4) << *train_seconds;
    rows_.push_back(o.str());
    std::string text =
        "phase,epoch,lr,train_loss,train_metric,test_loss,test_metric,seconds,train_seconds\n";
    for (const auto& r : rows_) text += r + "\n";
    write_file_atomic(path_.string(), text);
  }

 private:
  fs::path path_;
  std::vector<std::string> rows_;
};

// The figures of a phase as a checkpoint recorded them.
PhaseResult result_from(const CheckpointMeta& meta) {
  PhaseResult r;
  if (meta.test) {
    r.ran = true;
    r.loss = meta.test->loss;
    r.metric = meta.test->metric;
  }
  r.seconds = meta.seconds.value_or(0.0);
  return r;
}

BudgetRecord budget_record(const exporter::PrecisionPlan& p) {
  BudgetRecord r;
  r.flash = p.budget.flash;
  r.ram = p.budget.ram;
  r.order = exporter::cut_order_name(p.budget.order);
  r.estimated_flash = p.flash_bytes();
  r.estimated_ram = p.ram_bytes();
  for (const auto& l : p.layers)
    r.layers.push_back(
        {l.node, l.weight_bits, l.activation_bits, l.weight_bytes, l.weight_share, l.cuts});
  return r;
}

// A tenth of `lr`, as the NaN message suggests it.
std::string lower_lr(double lr) {
  std::ostringstream o;
  o << lr / 10.0;
  return o.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Loads both splits, normalised with the training split's statistics (identity when the
// dataset's `normalize` is off); returns the statistics through `stats`.
template <class Dataset>
void load_normalised(Dataset train, Dataset test, bool normalize, TensorData& train_t,
                     TensorData& test_t, data::ChannelStats& stats) {
  const auto c = static_cast<size_t>(train.shape.at(0));
  stats = {std::vector<double>(c, 0.0), std::vector<double>(c, 1.0)};
  if (normalize) {
    stats = data::compute_channel_stats(train);
    data::normalize(train, stats);
    data::normalize(test, stats);
  }
  train_t = to_tensors(train);
  test_t = to_tensors(test);
}

class Run {
 public:
  Run(const RunConfig& cfg, const TrainOptions& opts, std::shared_ptr<ProcessGroup> process_group)
      : cfg_(cfg),
        opts_(opts),
        dir_(cfg.output),
        metrics_(dir_ / "metrics.csv"),
        governor_(cfg.threads, cfg.adaptive_threads),
        precision_(cfg.precision),
        ranks_(std::move(process_group)) {}

  RunSummary execute() {
    prepare();
    if (complete_) return summary_;
    summary_.run_dir = dir_.string();
    summary_.metric_name = task_->metric_name();
    GraphModule model = float_phase();
    if (summary_.interrupted) return summary_;
    if (!cfg_.quant.enabled) {
      finish(model);
      return summary_;
    }
    if (by_sensitivity()) plan_by_sensitivity(*model);
    GraphModule qmodel = ptq_phase(model);
    qmodel = qat_phase(qmodel);
    if (summary_.interrupted) return summary_;
    finish(qmodel);
    return summary_;
  }

 private:
  void prepare() {
    task_ = make_task(cfg_.model.head, cfg_.loss);
    YAML::Emitter yaml;
    yaml << cfg_.resolved;
    const std::string config_text = std::string(yaml.c_str()) + "\n";
    if (group()) check_same_run(config_text);
    // Rank 0 reads and writes the run directory and tells the others where the run stands.
    const std::string decision = ranks_.on_writer([&] {
      prepare_run_directory(config_text);
      nlohmann::json d = {
          {"phase", phase_name(state_.phase)}, {"epoch", state_.epoch}, {"complete", complete_}};
      if (complete_) d["summary"] = summary_;
      return d.dump();
    });
    if (!writer()) {
      const nlohmann::json d = nlohmann::json::parse(decision);
      state_ = {*phase_from_name(d.at("phase").get<std::string>()), d.at("epoch").get<int64_t>()};
      complete_ = d.at("complete").get<bool>();
      if (complete_) summary_ = d.at("summary").get<RunSummary>();
    }
    if (complete_) return;
    load_data();
    governor_.start();  // after loading: the load it measures covers that time
    if (cfg_.precision)
      spdlog::info(
          "bits chosen for the memory budget (before training; `qat deploy` measures the "
          "export):\n{}",
          cfg_.precision->table());
    spdlog::info("run {}: {} parameters, {} MACs per inference", cfg_.name,
                 cfg_.model.graph.parameter_count(), cfg_.model.graph.macs());
  }

  bool writer() const { return ranks_.writer(); }
  ProcessGroup* group() const { return ranks_.group(); }  // null: one process

  // Every rank must run the same config with the same code: an error naming the difference.
  void check_same_run(const std::string& config_text) {
    check_ranks_agree(*group(), "qat version", qat_version(),
                      [](const std::string& a, const std::string& b) { return a + " vs " + b; });
    check_ranks_agree(*group(), "config", config_text,
                      [](const std::string& a, const std::string& b) {
                        std::vector<std::string> keys;
                        try {
                          yaml_differences(YAML::Load(a), YAML::Load(b), "", keys);
                        } catch (const YAML::Exception&) {
                          return std::string("(unreadable)");
                        }
                        std::string out;
                        for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
                        return out;
                      });
  }

  // A checkpoint of this run as bytes: rank 0 reads the file and sends it to the other ranks.
  // (Through the store: a checkpoint of a few MB is one value there.)
  std::string checkpoint_bytes(const fs::path& path) {
    return ranks_.on_writer([&] { return read_bytes(path); });
  }

  void prepare_run_directory(const std::string& config_text) {
    fs::create_directories(dir_);
    const fs::path config_path = dir_ / "config.yaml";
    const bool resumable =
        opts_.resume && (fs::exists(dir_ / "state.json") || fs::exists(dir_ / "float.pt"));
    if (opts_.resume && !resumable)
      spdlog::info(
          "{}: nothing to resume (the run stopped before its first epoch ended); "
          "starting it from scratch",
          dir_.string());
    if (resumable) {
      accept_config_change(config_path, config_text);
      state_ = resume_state();
      metrics_.load();
      spdlog::info("resuming {} at {} epoch {}", dir_.string(), phase_name(state_.phase),
                   state_.epoch);
    } else {
      if (fs::exists(dir_ / "state.json"))
        spdlog::warn("{} holds a previous run; it is overwritten (use --resume to continue it)",
                     dir_.string());
      state_ = {};
      write_file_atomic(config_path.string(), config_text);
      fs::remove(dir_ / "metrics.csv");
      fs::remove(dir_ / "summary.json");
    }
    // A complete run has nothing to continue: report it instead of training its QAT again.
    if (resumable && state_.phase == Phase::kDone && fs::exists(dir_ / "summary.json")) {
      summary_ = read_json_file<RunSummary>((dir_ / "summary.json").string());
      spdlog::info("{} is complete; nothing to resume (start it without --resume to run it again)",
                   dir_.string());
      complete_ = true;
    }
  }

  // --resume continues the same run: the config may change only in what a continuation can
  // honour (learning rate and the optimizer's other numbers, schedule, epochs, evaluation
  // interval, threads), e.g. to resume a diverged run at a lower learning rate. Those changes
  // are logged and saved; any other difference is an error naming the keys.
  void accept_config_change(const fs::path& config_path, const std::string& config_text) {
    if (!fs::exists(config_path)) {
      write_file_atomic(config_path.string(), config_text);
      return;
    }
    std::ifstream cin(config_path);
    std::stringstream saved;
    saved << cin.rdbuf();
    if (saved.str() == config_text) return;
    std::vector<std::string> changed;
    try {
      yaml_differences(YAML::Load(saved.str()), YAML::Load(config_text), "", changed);
    } catch (const YAML::Exception& e) {
      throw TrainingError(config_path.string() + " is not readable YAML (" + e.msg +
                          "); start the run again without --resume");
    }
    static const std::vector<std::string> allowed = {"threads",
                                                     "adaptive_threads",
                                                     "train.epochs",
                                                     "train.eval_every",
                                                     "train.schedule",
                                                     "train.optimizer.lr",
                                                     "train.optimizer.momentum",
                                                     "qat.epochs",
                                                     "train.optimizer.weight_decay",
                                                     "train.optimizer.nesterov",
                                                     "qat.eval_every",
                                                     "qat.schedule",
                                                     "qat.optimizer.lr",
                                                     "qat.optimizer.momentum",
                                                     "qat.optimizer.weight_decay",
                                                     "qat.optimizer.nesterov"};
    std::string refused, accepted;
    for (const auto& key : changed) {
      const bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
        return key == a || key.rfind(a + ".", 0) == 0;
      });
      (ok ? accepted : refused) += (ok ? accepted : refused).empty() ? key : ", " + key;
    }
    if (!refused.empty())
      throw TrainingError(config_path.string() + " differs from the config given now in " +
                          refused +
                          "; --resume continues the same run and may change only learning "
                          "rates, optimizer numbers, schedules, epochs, eval_every and threads "
                          "(use a new output directory for a changed config)");
    spdlog::warn("resuming with a changed {}; the run's config.yaml is updated", accepted);
    write_file_atomic(config_path.string(), config_text);
  }

  // Dotted keys whose values differ between two YAML trees (a key present in one only counts).
  static void yaml_differences(const YAML::Node& a, const YAML::Node& b, const std::string& path,
                               std::vector<std::string>& out) {
    if (a.IsMap() && b.IsMap()) {
      std::set<std::string> keys;
      for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it->first.Scalar());
      for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it->first.Scalar());
      for (const auto& k : keys)
        yaml_differences(a[k], b[k], path.empty() ? k : path + "." + k, out);
      return;
    }
    YAML::Emitter ea, eb;
    ea << a;
    eb << b;
    if (std::string(ea.c_str()) != eb.c_str())
      out.push_back(path.empty() ? "(the whole file)" : path);
  }

  // Where the run stands: state.json, or, when that is unreadable, the newest checkpoint (they
  // record their phase and epoch), so a damaged state file never blocks a resume.
  RunState resume_state() {
    const fs::path path = dir_ / "state.json";
    try {
      return read_json_file<RunState>(path.string());
    } catch (const Error& e) {
      RunState s;
      if (fs::exists(dir_ / "qat.pt"))
        s = {Phase::kQat, load_checkpoint((dir_ / "qat.pt").string()).meta.epoch};
      else if (fs::exists(dir_ / "ptq.pt"))
        s = {Phase::kQat, 0};
      else if (fs::exists(dir_ / "float.pt"))
        s = {Phase::kFloat, load_checkpoint((dir_ / "float.pt").string()).meta.epoch};
      spdlog::warn("{}; continuing from the newest checkpoint instead: {} epoch {}", e.what(),
                   phase_name(s.phase), s.epoch);
      return s;
    }
  }

  void load_data() {
    const auto t0 = std::chrono::steady_clock::now();
    // Per-channel z-score from the training split (datasets/dataset.h); stored with every
    // checkpoint so export and the MCU scale inputs the same way.
    data::ChannelStats stats;
    const bool normalize = cfg_.dataset.normalize;
    if (cfg_.dataset.task == TaskKind::kClassification) {
      data::ArrayDataset train = data::load_classification(cfg_.dataset, data::Split::kTrain);
      load_normalised(std::move(train), data::load_classification(cfg_.dataset, data::Split::kTest),
                      normalize, train_, test_, stats);
    } else {
      data::DetectionDataset train = data::load_detection(cfg_.dataset, data::Split::kTrain);
      load_normalised(std::move(train), data::load_detection(cfg_.dataset, data::Split::kTest),
                      normalize, train_, test_, stats);
    }
    input_ = {stats.mean, stats.std, cfg_.dataset.input};
    spdlog::info("dataset {}: {} training and {} test samples of shape {} ({:.1f} s)",
                 cfg_.dataset.name, train_.size(), test_.size(), shape_str(cfg_.dataset.input),
                 seconds_since(t0));
    if (train_.size() == 0 || test_.size() == 0) throw TrainingError("dataset has an empty split");
    if (group()) {
      // Each rank loads its own copy (on its own machine): the same samples, or an error.
      std::ostringstream f;
      f << std::setprecision(17) << "train " << train_.size() << " samples, checksum "
        << train_.x.sum(torch::kDouble).item<double>() << "; test " << test_.size()
        << " samples, checksum " << test_.x.sum(torch::kDouble).item<double>();
      check_ranks_agree(*group(), "dataset", f.str(),
                        [](const std::string& a, const std::string& b) {
                          return "(rank 0: " + a + "; this rank: " + b + ")";
                        });
      if (cfg_.train.batch_size < group()->size() || cfg_.qat.batch_size < group()->size())
        throw TrainingError("a global batch of " +
                            std::to_string(std::min(cfg_.train.batch_size, cfg_.qat.batch_size)) +
                            " cannot be shared by " + std::to_string(group()->size()) +
                            " ranks (batch_size >= processes)");
    }
  }

  CheckpointMeta meta(Phase phase, int64_t epoch) const {
    CheckpointMeta m;
    m.run = cfg_.name;
    m.phase = phase;
    m.epoch = epoch;
    m.head = cfg_.model.head;
    m.input = input_;
    m.dataset = cfg_.dataset.name;
    m.metric = task_->metric_name();
    return m;
  }

  void save_state(Phase phase, int64_t epoch) {
    state_ = {phase, epoch};
    if (writer()) write_json_file((dir_ / "state.json").string(), state_);
  }

  // Checkpoints: rank 0 writes them (every rank holds the same model).
  void save(const fs::path& path, GraphModuleImpl& model, const CheckpointMeta& m,
            torch::optim::Optimizer* opt, bool with_rng,
            std::map<std::string, torch::Tensor> extra = {}) {
    if (!writer()) return;
    if (with_rng) extra["rng"] = default_rng_state();
    save_checkpoint(path.string(), model, m, opt, extra);
  }

  bool should_stop() {
    ++epochs_this_session_;
    if (group() && group()->rank() == opts_.kill_rank &&
        epochs_this_session_ >= opts_.kill_after_epochs) {
      spdlog::warn("rank {} kills itself after {} epoch(s) as requested (a test of a dying rank)",
                   group()->rank(), epochs_this_session_);
      ::raise(SIGKILL);
    }
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
                                        int64_t epoch, Mode mode, double lr, ModelEma* ema) {
    model.train();
    model.set_mode(mode);
    const int64_t n = train_.size(), bs = phase.batch_size;
    // Linear warmup per step over the first warmup_epochs, from 0 to the schedule's rate.
    const int64_t steps_per_epoch = (n + bs - 1) / bs;
    const double warmup_steps = phase.warmup_epochs * static_cast<double>(steps_per_epoch);
    int64_t step = epoch * steps_per_epoch;
    const torch::Tensor perm = torch::randperm(n, torch::kLong);
    Progress bar(label, n, opts_.progress && writer());
    double loss_sum = 0, metric_sum = 0;
    int64_t batches = 0;
    const std::vector<torch::Tensor> params = model.parameters();
    if (group()) {
      group()->reset_collective_time();
      allreduce_->take_seconds();
    }
    for (int64_t i = 0; i < n; i += bs) {
      const int64_t m = std::min(bs, n - i);
      if (m < 2 && model.has_batchnorm()) continue;  // batchnorm needs two samples
      // A final batch smaller than the world cannot give every rank a sample.
      if (m < ranks_.size()) continue;
      // Every rank draws the whole global batch's augmentation (the same random numbers as
      // one process) and keeps its shard.
      Batch b = make_batch(train_, perm.narrow(0, i, m));
      augment(b, phase.augment);
      apply_mixup(b, phase.mixup);
      double weight = 1.0;  // this rank's share of the global batch
      if (group()) {
        const Shard part = shard_of(m, group());
        b = slice_batch(b, part.begin, part.count);
        weight = static_cast<double>(part.count) / static_cast<double>(m);
      }
      if (static_cast<double>(step) < warmup_steps)
        set_lr(opt, lr * static_cast<double>(step + 1) / warmup_steps);
      else if (warmup_steps > 0)
        set_lr(opt, lr);
      ++step;
      const torch::Tensor out = model.forward(b.x);
      const torch::Tensor loss = task_->loss(out, b);
      double l = loss.item<double>();
      double metric = 0;
      opt.zero_grad();
      if (group()) {
        // The rank's mean loss scaled by its share: the ranks' gradients sum to the global
        // batch's mean-loss gradient (and loss and metric to the global batch's).
        (loss * weight).backward();
        metric = task_->batch_metric(out.detach(), b);
        std::vector<double> figures{l * weight, metric * weight};
        allreduce_->run(params, figures);
        l = figures[0];
        metric = figures[1];
      }
      if (!std::isfinite(l))
        throw TrainingError("the " + label + " loss became " + (std::isnan(l) ? "NaN" : "Inf") +
                            " at epoch " + std::to_string(epoch + 1) + ", batch " +
                            std::to_string(batches + 1) + "; the last good checkpoint is kept in " +
                            dir_.string() + ". Continue it at a lower learning rate: qat train " +
                            cfg_.config_file + " --resume --set " +
                            (mode == Mode::kFloat ? "train" : "qat") +
                            ".optimizer.lr=" + lower_lr(phase.optimizer.lr));
      if (!group()) {
        loss.backward();
        metric = task_->batch_metric(out.detach(), b);
      }
      // After the allreduce every rank holds the same gradients, so the same clipping.
      if (phase.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, phase.clip_grad_norm);
      opt.step();
      if (ema) ema->update(model);
      loss_sum += l;
      metric_sum += metric;
      ++batches;
      bar.update(m, loss_sum / batches, metric_sum / batches, task_->metric_name());
      governor_.tick();
    }
    bar.finish();
    if (group() && batches > 0) {
      // Collectives include waiting for the slowest rank of each step.
      const double grads = allreduce_->take_seconds(), all = group()->collective_seconds();
      spdlog::info(
          "{} rank {}: gradient allreduce {:.1f} ms per step ({} bucket(s), {} values), all "
          "collectives {:.1f} ms per step ({} steps)",
          label, group()->rank(), 1e3 * grads / static_cast<double>(batches), allreduce_->buckets(),
          std::accumulate(params.begin(), params.end(), int64_t{0},
                          [](int64_t a, const torch::Tensor& p) { return a + p.numel(); }),
          1e3 * all / static_cast<double>(batches), batches);
    }
    return {loss_sum / std::max<int64_t>(1, batches), metric_sum / std::max<int64_t>(1, batches)};
  }

  EvalResult evaluate(GraphModuleImpl& model, Mode mode, const std::string& label) {
    model.eval();
    model.set_mode(mode);
    const EvalResult r = task_->evaluate(model, test_, kEvalBatchSize, label, false, group());
    spdlog::info("{}: test {} {:.2f}%  loss {:.4f}", label, task_->metric_name(), 100.0 * r.metric,
                 r.loss);
    return r;
  }

  // One training phase's epochs: learning rate, training, evaluation, then the checkpoint, the
  // metrics row and the resume state, in that order (a crash between them loses nothing).
  struct EpochLoop {
    Phase phase;       // kFloat / kQat: labels, metrics rows, checkpoint metadata
    Phase next_state;  // resume state once the last epoch is done
    Mode train_mode, eval_mode;
    fs::path checkpoint;
    PhaseResult* result;
    bool stop_after_last;  // an interruption may follow the phase's last epoch too
    std::function<void(int64_t)> before_epoch;
  };

  // Returns false when the run was stopped (--stop-after) before finishing the phase.
  // With an EMA the average is evaluated and saved as the checkpoint's model, the raw model
  // rides along for a resumption.
  bool run_epochs(const EpochLoop& l, GraphModuleImpl& model, torch::optim::Optimizer& opt,
                  const PhaseConfig& p, int64_t start, int64_t epochs, ModelEma* ema = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    const double seconds_before = l.result->seconds;
    for (int64_t e = start; e < epochs; ++e) {
      const double lr = p.schedule.lr_at(p.optimizer.lr, e, epochs);
      set_lr(opt, lr);
      if (l.before_epoch) l.before_epoch(e);
      const std::string label = "[" + std::string(phase_name(l.phase)) + " " +
                                std::to_string(e + 1) + "/" + std::to_string(epochs) + "]";
      const auto t_epoch = std::chrono::steady_clock::now();
      const auto [tl, tm] = train_epoch(model, opt, p, label, e, l.train_mode, lr, ema);
      const double train_secs = seconds_since(t_epoch);
      GraphModuleImpl& scored = ema ? *ema->module() : model;
      std::optional<EvalResult> ev;
      if ((e + 1) % p.eval_every == 0 || e + 1 == epochs) ev = evaluate(scored, l.eval_mode, label);
      const double secs = seconds_before + seconds_since(t0);
      CheckpointMeta m = meta(l.phase, e + 1);
      m.seconds = secs;
      if (ev) m.test = TestFigures{ev->loss, ev->metric};
      save(l.checkpoint, scored, m, &opt, true,
           ema ? ModelEma::raw_state(model, ema->updates())
               : std::map<std::string, torch::Tensor>{});
      if (writer()) metrics_.add(l.phase, e + 1, lr, tl, tm, ev ? &*ev : nullptr, secs, train_secs);
      save_state(e + 1 == epochs ? l.next_state : l.phase, e + 1);
      if (ev) *l.result = {true, ev->loss, ev->metric, secs};
      if ((e + 1 < epochs || l.stop_after_last) && should_stop()) return false;
    }
    return true;
  }

  // Loads a checkpoint of this run (rank 0's file on every rank) and restores the random
  // generator it saved; `optimizer_state` receives the bytes for the optimizer.
  Checkpoint resume_from(const fs::path& path, std::string* optimizer_state = nullptr) {
    const std::string bytes = checkpoint_bytes(path);
    Checkpoint ck = load_checkpoint_bytes(bytes, path.string());
    if (ck.tensors.count("rng")) set_default_rng_state(ck.tensors.at("rng"));
    if (optimizer_state) *optimizer_state = bytes;
    return ck;
  }

  // Float training (or its resumption); returns the trained float model.
  GraphModule float_phase() {
    const fs::path ckpt = dir_ / "float.pt";
    GraphModule model{nullptr};
    int64_t start = 0;
    std::string optimizer_state;
    const PhaseConfig& p = cfg_.train;
    std::unique_ptr<ModelEma> ema;
    if (opts_.resume && (state_.phase != Phase::kFloat || state_.epoch > 0)) {
      Checkpoint ck = resume_from(ckpt, &optimizer_state);
      model = ck.model;
      start = ck.meta.epoch;
      summary_.float_phase = result_from(ck.meta);
      if (state_.phase != Phase::kFloat) {  // float phase finished earlier: hand on what it saved
        ranks_.attach(*ck.model);
        return ck.model;
      }
      if (ModelEma::has_raw_state(ck.tensors)) {
        // The checkpoint's model is the average; training goes on from the raw weights.
        ema = std::make_unique<ModelEma>(*ck.model, p.ema);
        model = make_module_keeping_rng(cfg_.model.graph, cfg_.quant);
        ema->set_updates(ModelEma::load_raw_state(ck.tensors, *model, ckpt.string()));
      }
    } else {
      torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
      model = GraphModule(cfg_.model.graph, cfg_.quant);
      if (!cfg_.train.init_from.empty())
        ranks_.on_writer([&] {  // rank 0's file; attach() gives the others its weights
          const Checkpoint init = load_checkpoint(cfg_.train.init_from);
          if (init.model->graph().to_json() != model->graph().to_json())
            throw TrainingError("train.init_from: " + cfg_.train.init_from +
                                " holds a different model graph than this config builds");
          model->copy_weights_from(*init.model);
          spdlog::info("initialised from {}", cfg_.train.init_from);
          return std::string();
        });
    }
    ranks_.attach(*model);
    const int64_t epochs = p.enabled ? p.epochs : 0;
    if (p.ema > 0 && !ema) ema = std::make_unique<ModelEma>(*model, p.ema);
    if (ema) ranks_.attach(*ema->module());
    metrics_.truncate(Phase::kFloat, start);
    auto opt = make_optimizer(*model, p.optimizer);
    if (start > 0) load_optimizer_state(optimizer_state, *opt);
    const EpochLoop loop{
        Phase::kFloat,
        Phase::kPtq,
        Mode::kFloat,
        Mode::kFloat,
        ckpt,
        &summary_.float_phase,
        true,
        [&](int64_t e) {
          model->set_batchnorm_frozen(p.freeze_bn_epoch >= 0 && e >= p.freeze_bn_epoch);
        }};
    const bool finished = run_epochs(loop, *model, *opt, p, start, epochs, ema.get());
    GraphModule result = ema ? ema->module() : model;
    if (!finished) return result;
    if (epochs == 0 || !summary_.float_phase.ran) {
      const EvalResult ev = evaluate(*result, Mode::kFloat, "[float]");
      summary_.float_phase = {epochs > 0, ev.loss, ev.metric, 0.0};
      CheckpointMeta m = meta(Phase::kFloat, epochs);
      m.test = TestFigures{ev.loss, ev.metric};
      save(ckpt, *result, m, opt.get(), true);
      save_state(Phase::kPtq, epochs);
    }
    return result;
  }

  bool by_sensitivity() const {
    return precision_ && cfg_.budget.order == exporter::CutOrder::kSensitivity;
  }

  // budget.order sensitivity: rank 0 measures what 4 and 2 bits cost each layer of the trained
  // float model (sensitivity.json keeps the figures, so a resumed run plans the same bits), and
  // every rank plans the bits from them.
  void plan_by_sensitivity(const GraphModuleImpl& float_model) {
    const fs::path file = dir_ / "sensitivity.json";
    const std::string text = ranks_.on_writer([&] {
      if (opts_.resume && fs::exists(file)) {
        spdlog::info("weight sensitivity from {}", file.string());
        return nlohmann::json(read_json_file<exporter::WeightSensitivity>(file.string())).dump();
      }
      std::vector<std::string> layers;
      for (const auto& l : precision_->layers)
        if (l.weight_bits > 0) layers.push_back(l.node);
      const torch::Tensor rng = default_rng_state();
      torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
      const int64_t n = std::min(cfg_.sensitivity_samples, train_.size());
      const torch::Tensor idx = torch::randperm(train_.size(), torch::kLong).narrow(0, 0, n);
      set_default_rng_state(rng);
      const Batch b = make_batch(train_, idx);
      const TensorData samples{b.x, b.labels, b.boxes, train_.class_names};
      spdlog::info(
          "budget.order sensitivity: calibrating and scoring {} models on {} training images "
          "(each of {} layers at 4 and at 2 bits)",
          2 * layers.size() + 1, n, layers.size());
      const auto t0 = std::chrono::steady_clock::now();
      const exporter::WeightSensitivity s =
          measure_weight_sensitivity(*float_model.fold_batchnorm(), cfg_.quant_before_budget,
                                     layers, samples, *task_, cfg_.ptq.batch_size);
      spdlog::info("loss increase per layer ({:.1f} s):\n{}", seconds_since(t0),
                   sensitivity_table(s, layers));
      const nlohmann::json record = s;
      write_json_file(file.string(), record);
      return record.dump();
    });
    const auto s = nlohmann::json::parse(text).get<exporter::WeightSensitivity>();
    precision_ =
        exporter::plan_precision(cfg_.model.graph, cfg_.quant_before_budget, cfg_.budget, &s);
    spdlog::info("bits chosen for the memory budget by sensitivity:\n{}", precision_->table());
  }

  void calibrate(GraphModuleImpl& model, int64_t batches) {
    torch::NoGradGuard ng;
    model.eval();
    model.set_mode(Mode::kCalibrate);
    const int64_t bs = cfg_.ptq.batch_size;
    const torch::Tensor perm = torch::randperm(train_.size(), torch::kLong);
    int64_t done = 0;
    for (int64_t i = 0; i < train_.size() && done < batches; i += bs, ++done) {
      torch::Tensor idx = perm.narrow(0, i, std::min(bs, train_.size() - i));
      if (group()) {  // each rank its shard; the observers reduce (every rank: the same ranges)
        if (idx.size(0) < group()->size()) break;
        const Shard part = shard_of(idx.size(0), group());
        idx = idx.narrow(0, part.begin, part.count);
      }
      model.forward(make_batch(train_, idx).x);
    }
  }

  // Batchnorm folding, calibration and the PTQ evaluation (or, resuming after them, the PTQ
  // checkpoint); returns the calibrated model QAT starts from.
  GraphModule ptq_phase(GraphModule float_model) {
    const fs::path ckpt = dir_ / "ptq.pt";
    if (state_.phase == Phase::kQat || state_.phase == Phase::kDone) {
      Checkpoint ck = resume_from(ckpt);
      summary_.ptq = result_from(ck.meta);
      summary_.ptq.ran = cfg_.ptq.enabled;
      ranks_.attach(*ck.model);
      return ck.model;
    }
    if (precision_)
      spdlog::info(
          "folding batchnorm and calibrating ({} scheme, per-layer bits of the memory "
          "budget)",
          scheme_name(cfg_.quant.weights.scheme));
    else
      spdlog::info(
          "folding batchnorm and calibrating ({} scheme, {}-bit weights, {}-bit activations)",
          scheme_name(cfg_.quant.weights.scheme), cfg_.quant.weights.bits,
          cfg_.quant.activations.bits);
    GraphModule qmodel(float_model->fold_batchnorm());
    if (by_sensitivity()) {  // the bits planned after float training, not the config's
      GraphModule planned = make_module_keeping_rng(
          qmodel->graph(), precision_->applied_to(cfg_.quant_before_budget));
      planned->copy_weights_from(*qmodel);
      qmodel = planned;
    }
    ranks_.attach(*qmodel);
    const auto t0 = std::chrono::steady_clock::now();
    // Without PTQ one batch still initialises the observers (and LSQ scales) before QAT.
    calibrate(*qmodel, cfg_.ptq.enabled ? cfg_.ptq.batches : 1);
    for (const std::string& clip : qmodel->fixed_format_clipping())
      spdlog::warn("{} (quant frac_bits; drop it to let calibration choose each format)", clip);
    qmodel->freeze_observers(true);
    CheckpointMeta m = meta(Phase::kPtq, 0);
    if (cfg_.ptq.enabled) {
      const EvalResult ev = evaluate(*qmodel, Mode::kEval, "[ptq]");
      const double secs = seconds_since(t0);
      summary_.ptq = {true, ev.loss, ev.metric, secs};
      m.test = TestFigures{ev.loss, ev.metric};
      m.seconds = secs;
      metrics_.truncate(Phase::kPtq, -1);
      if (writer()) metrics_.add(Phase::kPtq, 0, 0.0, 0.0, 0.0, &ev, secs, std::nullopt);
    }
    save(ckpt, *qmodel, m, nullptr, true);
    save_state(Phase::kQat, 0);
    return qmodel;
  }

  // Quantization-aware training from the calibrated model (or its resumption).
  GraphModule qat_phase(GraphModule qmodel) {
    const fs::path ckpt = dir_ / "qat.pt";
    int64_t start = 0;
    std::string optimizer_state;
    if (state_.phase == Phase::kQat || state_.phase == Phase::kDone) {
      if (state_.epoch > 0) {
        Checkpoint ck = resume_from(ckpt, &optimizer_state);
        qmodel = ck.model;
        ranks_.attach(*qmodel);
        start = ck.meta.epoch;
        summary_.qat = result_from(ck.meta);
      }
    }
    const PhaseConfig& p = cfg_.qat;
    const int64_t epochs = p.enabled ? p.epochs : 0;
    if (epochs == 0) return qmodel;
    metrics_.truncate(Phase::kQat, start);
    if (start == 0) {
      qmodel->freeze_observers(p.freeze_observers_epoch == 0);
      qmodel->init_learned_scales();
    }
    auto opt = make_optimizer(*qmodel, p.optimizer);
    if (start > 0) load_optimizer_state(optimizer_state, *opt);
    const EpochLoop loop{Phase::kQat,
                         Phase::kDone,
                         Mode::kQat,
                         Mode::kEval,
                         ckpt,
                         &summary_.qat,
                         false,
                         [&](int64_t e) {
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
    CheckpointMeta m = meta(
        cfg_.quant.enabled ? (summary_.qat.ran ? Phase::kQat : Phase::kPtq) : Phase::kFloat, 0);
    const PhaseResult& final_result =
        summary_.qat.ran ? summary_.qat : (summary_.ptq.ran ? summary_.ptq : summary_.float_phase);
    m.test = TestFigures{final_result.loss, final_result.metric};
    save(dir_ / "model.pt", *model, m, nullptr, false);
    if (!opts_.rank_state_dir.empty()) {
      fs::create_directories(opts_.rank_state_dir);
      save_checkpoint(
          (fs::path(opts_.rank_state_dir) / ("rank" + std::to_string(ranks_.rank()) + ".pt"))
              .string(),
          *model, m);
    }
    save_state(Phase::kDone, 0);
    summary_.parameters = cfg_.model.graph.parameter_count();
    summary_.macs = cfg_.model.graph.macs();
    summary_.config = cfg_.config_file;
    if (precision_) summary_.budget = budget_record(*precision_);
    if (writer()) write_json_file((dir_ / "summary.json").string(), summary_);
  }

  const RunConfig& cfg_;
  TrainOptions opts_;
  fs::path dir_;
  MetricsLog metrics_;
  ThreadGovernor governor_;
  std::unique_ptr<Task> task_;
  TensorData train_, test_;
  InputNormalization input_;
  RunState state_;
  RunSummary summary_;
  // The memory budget's plan: the config's, or with budget.order sensitivity the one made after
  // float training (PTQ and QAT then train precision_->applied_to(cfg_.quant_before_budget)).
  std::optional<exporter::PrecisionPlan> precision_;
  int64_t epochs_this_session_ = 0;
  bool complete_ = false;  // --resume of a finished run
  RunRanks ranks_;
  std::unique_ptr<GradientAllreduce> allreduce_ =
      group() ? std::make_unique<GradientAllreduce>(*group()) : nullptr;
};

}  // namespace

RunSummary train_run(const RunConfig& cfg_in, const TrainOptions& opts) {
  if (!opts.distributed.distributed()) {
    Run run(cfg_in, opts, nullptr);
    return run.execute();
  }
  RunConfig cfg = cfg_in;
  const DistributedConfig& d = opts.distributed;
  // Threads per rank: the cores shared by the ranks on this machine.
  if (cfg.threads == 0)
    cfg.threads = std::max(1, available_cores() / std::max(1, d.local_world_size));
  spdlog::info("rank {} of {}: rendezvous at {}:{} ({}; {} training thread(s) per rank)", d.rank,
               d.world_size, d.master_host, d.master_port, distributed_backend_description(),
               cfg.threads);
  std::shared_ptr<ProcessGroup> group = ProcessGroup::connect(d);
  Run run(cfg, opts, group);
  RunSummary s = run.execute();
  group->barrier();  // rank 0's last files are written before any rank reports success
  return s;
}

void print_summary(const RunSummary& s, const RunConfig& cfg) {
  const auto bits = [&] {
    std::ostringstream o;
    o << scheme_name(cfg.quant.weights.scheme);
    if (cfg.precision)
      o << " mixed";
    else
      o << " w" << cfg.quant.weights.bits << "a" << cfg.quant.activations.bits;
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
