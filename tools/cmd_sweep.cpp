// `qat sweep SWEEP.yaml [--jobs N] [--resume] [--report-only] [--dry-run]`: trains and evaluates
// every run of a sweep file (tools/sweep_spec.h) as child `qat train` + `qat eval --json`
// processes, then writes results.csv, summary.md and the figures (tools/sweep_report.h).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "qat/cpu.h"
#include "qat/errors.h"
#include "qat/json_fields.h"
#include "tools/commands.h"
#include "tools/eval_report.h"
#include "tools/launcher.h"
#include "tools/sweep_jobs.h"
#include "tools/sweep_report.h"
#include "tools/sweep_runner.h"
#include "tools/sweep_spec.h"
#include "train/progress.h"
#include "train/run_config.h"

namespace qat::cli {
namespace {
namespace fs = std::filesystem;
using sweep::Job;
using sweep::JobEvent;
using sweep::JobResult;
using sweep::JobState;
using sweep::SweepRun;
using sweep::SweepSpec;

volatile std::sig_atomic_t g_cancel = 0;
extern "C" void on_stop_signal(int) {
  g_cancel = 1;
}

// SIGINT/SIGTERM stop the sweep (its children are terminated, --resume continues) instead of
// killing it outright; the previous handlers come back when the sweep ends.
class StopSignals {
 public:
  StopSignals() {
    g_cancel = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

// Every run's config is built and checked before anything starts, so a bad axis value fails in a
// second instead of after the first trainings. The shared float checkpoint does not exist yet,
// so its init_from is left out here.
void validate(const SweepSpec& spec) {
  for (const SweepRun& r : spec.runs) {
    std::vector<std::string> o = spec.overrides_of(r);
    if (!r.float_run.empty()) o.push_back("train.epochs=0");
    o.push_back("output=" + spec.run_dir(r));
    o.push_back("name=" + r.id);
    try {
      load_run_config(spec.base, o);
    } catch (const Error& e) {
      throw ConfigError(spec.explain(r, e.what()));
    }
  }
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = a.find_first_of(" {}[]'\"*?$") == std::string::npos && !a.empty();
    s += (s.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return s;
}

// One line per started and finished run, with the metric and "k/N done, ETA".
class ProgressPrinter {
 public:
  ProgressPrinter(const std::vector<Job>& jobs, int parallel)
      : jobs_(jobs), parallel_(parallel), started_(jobs.size(), false) {}

  void operator()(const JobEvent& e) {
    const Job& job = jobs_[e.job];
    if (e.kind == JobEvent::Kind::kStarted) {
      started_[e.job] = true;
      ++running_;
      spdlog::info("start  {}  ({} running)", job.id, running_);
      return;
    }
    ++finished_;
    if (e.result.state == JobState::kSkipped) {
      ++skipped_;
      return;
    }
    if (started_[e.job]) {
      --running_;
      ran_seconds_ += e.result.seconds;
      ++ran_;
    }
    const std::string count =
        std::to_string(finished_) + "/" + std::to_string(jobs_.size()) + " done";
    if (e.result.state == JobState::kDone) {
      spdlog::info("done   {}  {}  {}   {}, ETA {}", job.id, metric_text(job),
                   format_duration(e.result.seconds), count, eta());
    } else if (e.result.state == JobState::kFailed) {
      spdlog::error("FAILED {}  {}: {}   {} (log: {}/train.log)", job.id,
                    format_duration(e.result.seconds), e.result.error, count, job.dir);
    } else {
      spdlog::warn("interrupted {} after {}", job.id, format_duration(e.result.seconds));
    }
  }

  int skipped() const { return skipped_; }

 private:
  // The figures of a finished job; a missing or malformed eval.json is shown, not fatal here
  // (the report names it again).
  static std::string metric_text(const Job& job) {
    EvalReport r;
    try {
      r = read_json_file<EvalReport>((fs::path(job.dir) / "eval.json").string());
    } catch (const Error& e) {
      return std::string("(") + e.what() + ")";
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %.2f%% (%s)", r.metric_name.c_str(), 100.0 * r.metric,
                  r.engine.c_str());
    std::string s = buf;
    if (r.fake_quant_metric) {
      std::snprintf(buf, sizeof buf, ", fake-quant %.2f%%", 100.0 * *r.fake_quant_metric);
      s += buf;
    }
    return s;
  }

  std::string eta() const {
    if (ran_ == 0) return "?";
    const double left = static_cast<double>(jobs_.size() - static_cast<size_t>(finished_));
    return format_duration(left * (ran_seconds_ / ran_) / parallel_);
  }

  const std::vector<Job>& jobs_;
  int parallel_;
  std::vector<bool> started_;
  int running_ = 0, finished_ = 0, skipped_ = 0, ran_ = 0;
  double ran_seconds_ = 0.0;
};

void report(const SweepSpec& spec) {
  const auto rows = sweep::collect_rows(spec);
  sweep::write_report(spec, rows);
  std::printf("results: %s/results.csv, summary.md, acc_vs_filters.png, acc_vs_memory.png\n",
              spec.output.c_str());
}

// Keeps the sweep file next to its results; warns when --resume runs a changed file (finished
// runs keep the settings they were trained with).
void record_sweep_file(const SweepSpec& spec) {
  const fs::path copy = fs::path(spec.output) / "sweep.yaml";
  std::ifstream in(spec.file);
  std::stringstream text;
  text << in.rdbuf();
  if (fs::exists(copy)) {
    std::ifstream old(copy);
    std::stringstream old_text;
    old_text << old.rdbuf();
    if (old_text.str() != text.str())
      spdlog::warn(
          "{} differs from the sweep file this sweep started with ({}); finished runs are kept as "
          "they are",
          spec.file, copy.string());
    return;
  }
  std::ofstream(copy) << text.str();
}

}  // namespace

Runner add_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "train and evaluate a grid of runs (methods x bits x filters x seeds ...) and report them");
  struct Args {
    std::string file;
    int jobs = 1;
    int nproc = 1;
    bool resume = false, report_only = false, dry_run = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("sweep", a->file, "sweep YAML (docs/CONFIG.md, Sweeps)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--jobs,-j", a->jobs, "runs in parallel (each gets cores / jobs threads)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--nproc", a->nproc,
                  "train each run data-parallel on N local ranks (`qat train --nproc`)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--resume", a->resume,
                "continue a sweep: skip finished runs, resume interrupted ones");
  cmd->add_flag("--report-only", a->report_only,
                "rewrite results.csv, summary.md and the figures from the run directories");
  cmd->add_flag("--dry-run", a->dry_run, "print the runs and their commands without running them");
  return [a] {
    const SweepSpec spec = sweep::load_sweep(a->file);
    if (a->report_only) {
      if (!fs::is_directory(spec.output))
        throw Error(spec.output + ": no such sweep directory; run the sweep first");
      report(spec);
      return 0;
    }
    validate(spec);
    const int64_t cores = qat::available_cores();
    const int64_t threads = std::max<int64_t>(1, cores / (a->jobs * a->nproc));
    const std::string exe = self_executable();
    if (a->dry_run) {
      for (const Job& j : sweep::make_jobs(spec, {exe, threads, false, a->nproc})) {
        std::printf("%s%s\n", j.id.c_str(),
                    j.deps.empty() ? "" : ("  (after " + spec.runs[j.deps[0]].id + ")").c_str());
        for (const auto& step : j.steps) std::printf("  %s\n", command_line(step).c_str());
      }
      return 0;
    }
    if (fs::exists(spec.output) && !fs::is_empty(spec.output) && !a->resume)
      throw Error(
          spec.output +
          " already exists: continue that sweep with --resume (finished runs are skipped) " +
          "or set another `output` in " + spec.file);
    fs::create_directories(fs::path(spec.output) / "runs");
    record_sweep_file(spec);
    const std::vector<Job> jobs = sweep::make_jobs(spec, {exe, threads, a->resume, a->nproc});
    const auto float_runs =
        std::count_if(spec.runs.begin(), spec.runs.end(),
                      [](const SweepRun& r) { return r.method == sweep::Method::kFloat; });
    spdlog::info(
        "sweep {}: {} runs ({} float trainings), {} in parallel with {} thread(s) each, in {}",
        spec.name, jobs.size(), float_runs, a->jobs, threads, spec.output);

    ProgressPrinter printer(jobs, a->jobs);
    sweep::RunnerOptions opts;
    opts.jobs = a->jobs;
    opts.cancel = &g_cancel;
    opts.on_event = [&printer](const JobEvent& e) { printer(e); };
    std::vector<JobResult> results;
    {
      const StopSignals stop;
      results = sweep::run_jobs(jobs, opts);
    }
    if (printer.skipped() > 0)
      spdlog::info("{} run(s) finished earlier were skipped", printer.skipped());
    report(spec);
    const auto count = [&](JobState s) {
      return std::count_if(results.begin(), results.end(),
                           [s](const JobResult& r) { return r.state == s; });
    };
    if (g_cancel) {
      spdlog::warn("interrupted; continue with: qat sweep {} --resume", a->file);
      return 130;
    }
    if (count(JobState::kFailed) > 0) {
      spdlog::error(
          "{} of {} run(s) failed (see the error column of results.csv and each run's train.log)",
          count(JobState::kFailed), jobs.size());
      return 1;
    }
    spdlog::info("all {} runs finished", jobs.size());
    return 0;
  };
}

}  // namespace qat::cli
