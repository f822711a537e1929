// `qat sweep`: sweep files (expansion, method overrides, shared float runs, errors with
// file:line), the child-process runner on /bin/sh stand-ins (failures, dependencies, resume,
// cancel), the report (mean ± std, drop vs float, CSV), the PNG figures, and one end-to-end
// sweep of the real `qat` binary on the bundled sample.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "qat/errors.h"
#include "tools/plot.h"
#include "tools/sweep_jobs.h"
#include "tools/sweep_report.h"
#include "tools/sweep_runner.h"
#include "tools/sweep_spec.h"

namespace qat::sweep {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test.
fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / "qat_sweep_tests" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A sweep file next to a minimal base config (the spec only reads the base's quant section and
// seed; the dataset is never loaded here).
fs::path write_sweep(const fs::path& dir, const std::string& body,
                     const std::string& base = "quant: {bits: 8}\n") {
  write(dir / "base.yaml", base);
  write(dir / "sweep.yaml", "base: base.yaml\noutput: " + (dir / "out").string() + "\n" + body);
  return dir / "sweep.yaml";
}

std::string load_error(const fs::path& file) {
  try {
    load_sweep(file.string());
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << read(file);
  return "";
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::vector<std::string> ids(const SweepSpec& s) {
  std::vector<std::string> out;
  for (const auto& r : s.runs) out.push_back(r.id);
  return out;
}

TEST(SweepSpec, GridsUnionMethodsAndSharedFloatRuns) {
  const fs::path dir = temp_dir("spec_union");
  const SweepSpec s = load_sweep(
      write_sweep(
          dir,
          "set: {train.epochs: 3}\n"
          "grids:\n"
          "  - {filters: [16, 24], method: [float, qat-pow2, ptq-affine], bits: [8], seed: [1, "
          "2]}\n"
          "  - {filters: [16], method: [ptq-pow2], bits: [16], quant.frac_bits: [9], seed: [1]}\n")
          .string());
  EXPECT_EQ(s.name, "sweep");
  EXPECT_EQ(s.base, (dir / "base.yaml").string());
  EXPECT_EQ(s.set, std::vector<std::string>{"train.epochs=3"});
  EXPECT_EQ(s.axis_keys,
            (std::vector<std::string>{"filters", "method", "bits", "quant.frac_bits", "seed"}));
  // 2 filters x 3 methods x 2 seeds + 1; the float runs of the second grid exist already.
  ASSERT_EQ(s.runs.size(), 13u);
  const auto all = ids(s);
  for (const char* id : {"filters16_float_s1", "filters24_float_s2", "filters16_qat-pow2_b8_s1",
                         "filters24_ptq-affine_b8_s2", "filters16_ptq-pow2_b16_frac_bits9_s1"})
    EXPECT_TRUE(has(all, id)) << id;
  // Float runs come first, the others wait for theirs.
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(s.runs[i].method, Method::kFloat) << s.runs[i].id;
  const SweepRun& q = *s.find("filters16_ptq-pow2_b16_frac_bits9_s1");
  EXPECT_EQ(q.float_run, "filters16_float_s1");
  EXPECT_TRUE(s.find("filters16_float_s1")->in_grid);
  EXPECT_EQ(q.w_bits, 16);
  EXPECT_EQ(q.a_bits, 16);
  EXPECT_EQ(q.seed, 1);
  EXPECT_TRUE(has(q.overrides, "quant.frac_bits=9"));
  EXPECT_TRUE(has(q.overrides, "quant.bits=16"));
  EXPECT_TRUE(has(q.overrides, "quant.scheme=pow2"));
  EXPECT_TRUE(has(q.overrides, "quant.weights.granularity=tensor"));
  EXPECT_TRUE(has(q.overrides, "qat.enabled=false"));
  EXPECT_TRUE(has(q.overrides, "model.filters=16"));
  EXPECT_TRUE(has(q.overrides, "seed=1"));
  const SweepRun& a = *s.find("filters24_ptq-affine_b8_s2");
  EXPECT_TRUE(has(a.overrides, "quant.scheme=affine"));
  EXPECT_TRUE(has(a.overrides, "quant.weights.granularity=channel"));
  const SweepRun& f = *s.find("filters24_float_s2");
  EXPECT_TRUE(has(f.overrides, "quant.enabled=false"));
  EXPECT_FALSE(has(f.overrides, "quant.bits=8"));  // bits do not concern a float run
  EXPECT_EQ(f.w_bits, 32);
  EXPECT_TRUE(has(s.find("filters16_qat-pow2_b8_s2")->overrides, "qat.enabled=true"));
  // The sweep's `set` comes first, then the run's own overrides.
  EXPECT_EQ(s.overrides_of(q).front(), "train.epochs=3");
  EXPECT_EQ(s.run_dir(q), (dir / "out" / "runs" / q.id).string());
}

TEST(SweepSpec, FloatSharingFollowsFloatRelevantAxes) {
  const fs::path dir = temp_dir("spec_sharing");
  // train.epochs changes the float model (two float runs); qat.epochs and the bits do not.
  const SweepSpec s =
      load_sweep(write_sweep(dir,
                             "grid: {method: [qat-pow2], bits: [8, 4], train.epochs: [1, 2], "
                             "qat.epochs: [1, 3]}\n")
                     .string());
  int floats = 0;
  for (const auto& r : s.runs) floats += r.method == Method::kFloat;
  EXPECT_EQ(floats, 2);
  EXPECT_EQ(s.runs.size(), 2u + 8u);
  const SweepRun* r = s.find("qat-pow2_b4_train-epochs2_qat-epochs3");
  ASSERT_NE(r, nullptr) << ::testing::PrintToString(ids(s));
  EXPECT_EQ(r->float_run, "float_train-epochs2");
  EXPECT_FALSE(s.find("float_train-epochs2")->in_grid);  // nobody asked for a float row
  EXPECT_EQ(r->seed, 1);                                 // from the base config's default
  EXPECT_EQ(r->w_bits, 4);
}

TEST(SweepSpec, SeparateWeightAndActivationBitsAndNoSharing) {
  const fs::path dir = temp_dir("spec_wa");
  const SweepSpec s = load_sweep(
      write_sweep(dir,
                  "share_float: false\n"
                  "grid: {method: [qat-affine, float], w_bits: [4], a_bits: [8], seed: 3}\n",
                  "seed: 7\nquant: {bits: 6}\n")
          .string());
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[0].id, "float_s3");
  const SweepRun& q = s.runs[1];
  EXPECT_EQ(q.id, "qat-affine_w4_a8_s3");
  EXPECT_TRUE(q.float_run.empty());
  EXPECT_EQ(q.w_bits, 4);
  EXPECT_EQ(q.a_bits, 8);
  EXPECT_EQ(q.seed, 3);
  EXPECT_TRUE(has(q.overrides, "quant.weights.bits=4"));
  EXPECT_TRUE(has(q.overrides, "quant.activations.bits=8"));
}

TEST(SweepSpec, Pow2ChannelMethodsQuantizeWeightsPerChannel) {
  const fs::path dir = temp_dir("spec_pow2ch");
  const SweepSpec s = load_sweep(
      write_sweep(dir,
                  "grid: {method: [ptq-pow2-channel, qat-pow2-channel], w_bits: [4], seed: 1}\n",
                  "seed: 1\n")
          .string());
  const SweepRun* p = s.find("ptq-pow2-channel_w4_s1");
  const SweepRun* q = s.find("qat-pow2-channel_w4_s1");
  ASSERT_TRUE(p && q);
  for (const SweepRun* r : {p, q}) {
    EXPECT_TRUE(has(r->overrides, "quant.scheme=pow2"));
    EXPECT_TRUE(has(r->overrides, "quant.weights.granularity=channel"));
  }
  EXPECT_TRUE(has(p->overrides, "qat.enabled=false"));
  EXPECT_TRUE(has(q->overrides, "qat.enabled=true"));
}

TEST(SweepSpec, ErrorsNameFileLineAndAllowedValues) {
  const fs::path dir = temp_dir("spec_errors");
  const auto err = [&](const std::string& body) { return load_error(write_sweep(dir, body)); };
  const std::string f = (dir / "sweep.yaml").string();

  std::string e = err("grid:\n  method: [float]\n  filterz: [8]\n");
  EXPECT_NE(e.find(f + ":5:3: grid.filterz: unknown axis; allowed: filters, method"),
            std::string::npos)
      << e;
  e = err("grid: {method: [float, qat-pow3]}\n");
  EXPECT_NE(e.find(f + ":3:"), std::string::npos) << e;
  EXPECT_NE(
      e.find(
          "'qat-pow3' is not a method; allowed: float, ptq-pow2, ptq-affine, qat-pow2, qat-affine, "
          "ptq-pow2-channel, qat-pow2-channel"),
      std::string::npos)
      << e;
  e = err("grids:\n  - {method: [float]}\n  - {method: [qat-pow2], bits: [8, 17]}\n");
  EXPECT_NE(e.find(f + ":5:"), std::string::npos) << e;
  EXPECT_NE(e.find("grids[1].bits: element 17 is out of range; allowed: 2..16"), std::string::npos)
      << e;
  e = err("grid: {filters: [8]}\n");
  EXPECT_NE(e.find("needs a `method` axis"), std::string::npos) << e;
  e = err("grd: {method: [float]}\ngrid: {method: [float]}\n");
  EXPECT_NE(
      e.find(f + ":3:1: unknown key 'grd' in 'config'; allowed: base, grid, grids, name, output"),
      std::string::npos)
      << e;
  e = err("grid: {method: [qat-pow2], quant.scheme: [affine]}\n");
  EXPECT_NE(e.find("it is set by the `method` axis"), std::string::npos) << e;
  e = err("grid: {method: [float], seed: []}\n");
  EXPECT_NE(e.find("needs at least one value"), std::string::npos) << e;
  e = err("set: {output: x}\ngrid: {method: [float]}\n");
  EXPECT_NE(e.find(f + ":3:7: set.output: cannot be set for the whole sweep"), std::string::npos)
      << e;
  // An error inside the run config points at the sweep line the override came from.
  e = err("grid:\n  method: [ptq-affine]\n  quant.frac_bits: [9]\n");
  EXPECT_NE(e.find(f + ":5:3: quant.frac_bits: a fixed Qm.n format needs scheme: pow2 (run "
                       "ptq-affine_frac_bits9)"),
            std::string::npos)
      << e;
  write(dir / "nobase.yaml", "base: missing.yaml\ngrid: {method: [float]}\n");
  e = load_error(dir / "nobase.yaml");
  EXPECT_NE(e.find("base: no such config file"), std::string::npos) << e;
}

// --- report -----------------------------------------------------------------------------------

ResultRow row(const std::string& method, int bits, int64_t seed, const std::string& filters,
              double metric, double float_metric, const std::string& status = "done") {
  ResultRow r;
  r.run_id = "filters" + filters + "_" + method + "_s" + std::to_string(seed);
  r.status = status;
  r.coords["filters"] = filters;
  r.method = method;
  r.w_bits = r.a_bits = bits;
  r.seed = seed;
  r.metric_name = "acc";
  if (status == "done") {
    r.metric = metric;
    r.float_metric = float_metric;
    r.weight_bytes = method == "float" ? 4000 : 1000 + std::stoll(filters);
    r.train_seconds = 10.0;
  } else {
    r.error = "qat train exited with status 1: loss became NaN, at epoch 3";
  }
  return r;
}

TEST(SweepReport, MeanStdOverSeedsAndDropVsFloat) {
  EXPECT_NEAR(stat_of({0.90, 0.92, 0.94}).std, 0.02, 1e-12);
  EXPECT_EQ(stat_of({0.5}).std, 0.0);
  const std::vector<ResultRow> rows = {
      row("float", 32, 1, "16", 0.95, 0.95),       row("float", 32, 2, "16", 0.97, 0.97),
      row("qat-pow2", 8, 1, "16", 0.90, 0.95),     row("qat-pow2", 8, 2, "16", 0.94, 0.97),
      row("qat-pow2", 8, 3, "16", 0, 0, "failed"), row("qat-pow2", 8, 1, "8", 0.80, 0.85)};
  const std::vector<std::string> keys = {"filters"};
  const auto groups = summarize(keys, rows);
  ASSERT_EQ(groups.size(), 3u);
  // Ordered by filters (numerically), then method.
  EXPECT_EQ(groups[0].coords.at("filters"), "8");
  EXPECT_EQ(groups[1].method, "float");
  const Group& q = groups[2];
  EXPECT_EQ(q.runs, 3);
  EXPECT_EQ(q.metric.n, 2);
  EXPECT_NEAR(q.metric.mean, 0.92, 1e-12);
  EXPECT_NEAR(q.metric.std, std::sqrt(0.0008), 1e-12);
  EXPECT_NEAR(q.drop.mean, 0.04, 1e-12);  // (0.05 + 0.03) / 2
  EXPECT_NEAR(*q.weight_bytes, 1016.0, 1e-9);
  EXPECT_EQ(groups[1].drop.n, 0);
  EXPECT_EQ(variant_label(q), "qat-pow2 int8");
  EXPECT_EQ(variant_label(groups[1]), "float32");

  const std::string md = summary_markdown("t", keys, groups, rows);
  EXPECT_NE(md.find("| 16 | qat-pow2 | int8 | 2/3 | 92.00 ± 2.83 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| +4.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 16 | float | float32 | 2/2 | 96.00 ± 1.41 | — | — |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("5/6 runs done, 1 failed"), std::string::npos) << md;
  EXPECT_NE(md.find("`filters16_qat-pow2_s3`: failed: qat train exited"), std::string::npos) << md;

  const std::string csv = results_csv(keys, rows);
  std::istringstream lines(csv);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(
      header.rfind(
          "run_id,status,filters,method,w_bits,a_bits,seed,metric_name,metric,fake_quant_metric,"
          "float_metric,loss,weight_bytes,arena_bytes,arena_lower_bound,flash_estimate,macs,",
          0),
      0u)
      << header;
  EXPECT_EQ(first,
            "filters16_float_s1,done,16,float,32,32,1,acc,0.950000,,0.950000,,4000,,,,,,10.0,,");
  // The error holds a comma: quoted.
  EXPECT_NE(csv.find(",\"qat train exited with status 1: loss became NaN, at epoch 3\"\n"),
            std::string::npos);
}

TEST(SweepReport, FiguresAreWritten) {
  const fs::path dir = temp_dir("figures");
  const std::vector<ResultRow> rows = {
      row("float", 32, 1, "8", 0.9, 0.9), row("float", 32, 1, "16", 0.95, 0.95),
      row("qat-pow2", 8, 1, "8", 0.88, 0.9), row("qat-pow2", 8, 1, "16", 0.93, 0.95)};
  const auto files = write_plots(dir.string(), "test", summarize({"filters"}, rows));
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) {
    const cv::Mat img = cv::imread(f);
    ASSERT_FALSE(img.empty()) << f;
    EXPECT_EQ(img.cols, 1000);
    EXPECT_EQ(img.rows, 620);
  }
  EXPECT_TRUE(fs::exists(dir / "acc_vs_filters.png"));
  EXPECT_TRUE(fs::exists(dir / "acc_vs_memory.png"));
}

// --- plot -------------------------------------------------------------------------------------

TEST(Plot, WritesADecodablePngWithTheRequestedSize) {
  const fs::path dir = temp_dir("plot");
  plot::LinePlot p;
  p.title = "accuracy vs memory";
  p.x_label = "bytes";
  p.y_label = "accuracy (%)";
  p.log_x = true;
  p.width = 800;
  p.height = 500;
  p.series = {{"float32", {{4000, 92.0, 1.0}, {16000, 94.0, 0.5}}},
              {"int8", {{1000, 91.0, 0.0}, {4000, 93.5, 2.0}}}};
  const std::string path = (dir / "p.png").string();
  plot::write_png(p, path);
  const cv::Mat img = cv::imread(path);
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, 800);
  EXPECT_EQ(img.rows, 500);
  // Something besides the white background and black ink: the series colours.
  cv::Mat channels[3];
  cv::split(img, channels);
  EXPECT_GT(cv::countNonZero(channels[0] != channels[2]), 100);

  EXPECT_THROW(plot::write_png(plot::LinePlot{}, path), Error);
  p.series = {{"a", {{1, 1, 0}}}};
  EXPECT_THROW(plot::write_png(p, (dir / "no_such_dir" / "p.png").string()), Error);
}

TEST(Plot, Ticks) {
  EXPECT_EQ(plot::linear_ticks(0.0, 10.0, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(plot::linear_ticks(81.3, 94.2, 6), (std::vector<double>{82, 84, 86, 88, 90, 92, 94}));
  EXPECT_EQ(plot::log_ticks(300, 5000), (std::vector<double>{500, 1000, 2000, 5000}));
  EXPECT_EQ(plot::log_ticks(50, 2e6), (std::vector<double>{100, 1000, 10000, 100000, 1000000}));
  // Within one decade digit and no 1-2-5 step: round numbers evenly spaced (a budget's flash).
  EXPECT_EQ(plot::log_ticks(14600, 16200), (std::vector<double>{15000, 15500, 16000}));
  EXPECT_EQ(plot::log_ticks(3500, 6500), (std::vector<double>{4000, 5000, 6000}));
  EXPECT_EQ(plot::tick_label(2500), "2.5k");
  EXPECT_EQ(plot::tick_label(1e6), "1M");
  EXPECT_EQ(plot::tick_label(92.5), "92.5");
}

// --- runner -----------------------------------------------------------------------------------

Job sh_job(const fs::path& dir, const std::string& id, const std::string& script) {
  Job j;
  j.id = id;
  j.dir = (dir / id).string();
  j.steps = {{"/bin/sh", "-c", script}};
  return j;
}

TEST(SweepRunner, AFailedJobIsRecordedAndTheOthersRun) {
  const fs::path dir = temp_dir("runner_fail");
  std::vector<Job> jobs = {sh_job(dir, "a", "echo hello"),
                           sh_job(dir, "b",
                                  "echo working; echo '[12:00:01] error the loss became NaN' >&2; "
                                  "echo trailing noise; exit 3"),
                           sh_job(dir, "c", "touch " + (dir / "ran").string())};
  // Steps run in order, the second only after the first succeeded.
  jobs[2].steps.push_back(
      {"/bin/sh", "-c",
       "test -f " + (dir / "ran").string() + " && touch " + (dir / "second").string()});
  jobs.push_back(sh_job(dir, "d", "touch " + (dir / "d_ran").string()));
  jobs[3].deps = {1};
  jobs[3].dependency_error = "float run b failed";
  RunnerOptions opts;
  opts.jobs = 2;
  opts.status_name = "status.json";
  const auto results = run_jobs(jobs, opts);
  EXPECT_EQ(results[0].state, JobState::kDone);
  EXPECT_EQ(results[1].state, JobState::kFailed);
  EXPECT_EQ(results[1].error, "sh exited with status 3: the loss became NaN");
  EXPECT_EQ(results[2].state, JobState::kDone);
  EXPECT_TRUE(fs::exists(dir / "second"));
  EXPECT_EQ(results[3].state, JobState::kFailed);
  EXPECT_EQ(results[3].error, "float run b failed: sh exited with status 3: the loss became NaN");
  EXPECT_FALSE(fs::exists(dir / "d_ran"));
  EXPECT_TRUE(read(dir / "a" / "train.log").find("hello") != std::string::npos);
  const auto st = read_job_status((dir / "b" / "status.json").string());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, JobState::kFailed);
  EXPECT_EQ(st->error, results[1].error);
  EXPECT_EQ(read_job_status((dir / "d" / "status.json").string())->error, results[3].error);
}

TEST(SweepRunner, RunsJobsInParallelAndSkipsFinishedOnes) {
  const fs::path dir = temp_dir("runner_parallel");
  // Each job waits (up to 20 s) for the other's marker: only possible when both run at once.
  const auto waiting = [&](const std::string& me, const std::string& other) {
    return sh_job(dir, me,
                  "touch " + (dir / me).string() + ".mark; for i in $(seq 200); do test -f " +
                      (dir / other).string() + ".mark && exit 0; sleep 0.1; done; exit 1");
  };
  std::vector<Job> jobs = {waiting("x", "y"), waiting("y", "x"),
                           sh_job(dir, "z", "touch " + (dir / "z_ran").string())};
  jobs[2].skip = true;
  std::vector<std::string> events;
  RunnerOptions opts;
  opts.jobs = 2;
  opts.on_event = [&](const JobEvent& e) {
    events.push_back(std::string(e.kind == JobEvent::Kind::kStarted ? "start " : "end ") +
                     jobs[e.job].id);
  };
  const auto results = run_jobs(jobs, opts);
  EXPECT_EQ(results[0].state, JobState::kDone) << results[0].error;
  EXPECT_EQ(results[1].state, JobState::kDone) << results[1].error;
  EXPECT_EQ(results[2].state, JobState::kSkipped);
  EXPECT_FALSE(fs::exists(dir / "z_ran"));
  EXPECT_EQ(events.front(), "end z");
  EXPECT_EQ(events.size(), 5u);
}

TEST(SweepRunner, CancelStopsTheChildren) {
  const fs::path dir = temp_dir("runner_cancel");
  std::vector<Job> jobs = {sh_job(dir, "long", "sleep 60"),
                           sh_job(dir, "later", "touch " + (dir / "later_ran").string())};
  jobs[1].deps = {0};
  volatile std::sig_atomic_t cancel = 0;
  RunnerOptions opts;
  opts.cancel = &cancel;
  opts.on_event = [&](const JobEvent& e) {
    if (e.kind == JobEvent::Kind::kStarted) cancel = 1;  // as a Ctrl-C would
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = run_jobs(jobs, opts);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  EXPECT_EQ(results[0].state, JobState::kInterrupted);
  EXPECT_EQ(results[1].state, JobState::kPending);
  EXPECT_FALSE(fs::exists(dir / "later_ran"));
}

TEST(SweepRunner, LastErrorLine) {
  const fs::path dir = temp_dir("runner_log");
  write(dir / "log",
        "$ qat train x\n[10:00:00] info fine\n[10:00:01] error bad value\nprogress\r50%\r100%\n");
  EXPECT_EQ(last_error_line((dir / "log").string()), "bad value");
  write(dir / "log2", "$ cmd\nsome output\nlast words\n\n");
  EXPECT_EQ(last_error_line((dir / "log2").string()), "last words");
  EXPECT_EQ(last_error_line((dir / "log2").string(), 6), "last words");
  EXPECT_EQ(last_error_line((dir / "missing").string()), "");
}

// --- jobs + runner + report with a stand-in for qat -------------------------------------------

// Mimics `qat train` (state.json, summary.json; fails for filters 13) and `qat eval --json`,
// and records every call.
const char* kFakeQat = R"(#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls.txt"
cmd=$1; shift
if [ "$cmd" = train ]; then
  for a in "$@"; do case $a in output=*) out=${a#output=};; name=*) name=${a#name=};; esac; done
  mkdir -p "$out"
  case $name in *filters13*) echo "[10:00:00] error dataset exploded"; exit 1;; esac
  echo '{"phase": "done"}' > "$out/state.json"
  echo '{"run_dir": "'$out'", "metric": "acc", "float": {"ran": true, "loss": 0.3, "seconds": 2.0, "metric": 0.9}, "ptq": {"ran": true, "loss": 0.3, "metric": 0.9, "seconds": 1.0}, "qat": {"ran": true, "loss": 0.3, "metric": 0.9, "seconds": 0.5}, "interrupted": false, "parameters": 50, "macs": 5, "config": "base.yaml"}' > "$out/summary.json"
  exit 0
fi
dir=$1; json=""; prev=""
for a in "$@"; do [ "$prev" = --json ] && json=$a; prev=$a; done
echo '{"engine": "x", "metric_name": "acc", "metric": 0.8, "loss": 0.4, "samples": 10, "checkpoint": "'$dir'/model.pt", "fake_quant_metric": 0.81, "fake_quant_loss": 0.4, "weight_bytes": 100, "arena_bytes": null, "arena_lower_bound": null, "scratch_bytes": null, "flash_estimate": null, "macs": 5, "parameters": 50}' > "$json"
)";

TEST(SweepJobs, FakeSweepFailuresDependentsAndResume) {
  const fs::path dir = temp_dir("fake_sweep");
  write(dir / "qat", kFakeQat);
  fs::permissions(dir / "qat", fs::perms::owner_all);
  const SweepSpec spec = load_sweep(
      write_sweep(dir, "grid: {filters: [8, 13], method: [float, qat-pow2, ptq-pow2], seed: [1]}\n")
          .string());
  const std::string calls = (dir / "calls.txt").string();
  const auto count_calls = [&] {
    std::istringstream in(read(calls));
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  };

  JobOptions jo{(dir / "qat").string(), 2, false};
  auto jobs = make_jobs(spec, jo);
  ASSERT_EQ(jobs.size(), 6u);
  const Job& q8 = jobs[2];
  EXPECT_EQ(q8.id, "filters8_qat-pow2_s1");
  EXPECT_EQ(q8.deps, std::vector<size_t>{0});
  const auto& argv = q8.steps[0];
  EXPECT_TRUE(
      has(argv, "train.init_from=" + (dir / "out/runs/filters8_float_s1/float.pt").string()));
  EXPECT_TRUE(has(argv, "train.epochs=0"));
  EXPECT_TRUE(has(argv, "threads=2"));
  EXPECT_TRUE(has(argv, "--no-progress"));
  EXPECT_EQ(q8.steps[1][1], "eval");
  EXPECT_TRUE(has(q8.steps[1], "int"));
  EXPECT_TRUE(has(jobs[0].steps[1], "float"));
  EXPECT_FALSE(has(argv, "--nproc"));
  // --nproc P: every training step starts P local ranks.
  JobOptions distributed = jo;
  distributed.nproc = 2;
  const std::vector<Job> djobs = make_jobs(spec, distributed);
  const auto& dargv = djobs[2].steps[0];
  const auto at = std::find(dargv.begin(), dargv.end(), "--nproc");
  ASSERT_NE(at, dargv.end());
  EXPECT_EQ(*(at + 1), "2");

  RunnerOptions opts;
  opts.jobs = 2;
  auto results = run_jobs(jobs, opts);
  std::map<std::string, JobResult> by_id;
  for (size_t i = 0; i < jobs.size(); ++i) by_id[jobs[i].id] = results[i];
  EXPECT_EQ(by_id["filters8_qat-pow2_s1"].state, JobState::kDone);
  EXPECT_EQ(by_id["filters13_float_s1"].state, JobState::kFailed);
  EXPECT_EQ(by_id["filters13_float_s1"].error, "qat train exited with status 1: dataset exploded");
  EXPECT_EQ(
      by_id["filters13_qat-pow2_s1"].error,
      "float run filters13_float_s1 failed: qat train exited with status 1: dataset exploded");
  EXPECT_EQ(count_calls(), 2 * 3 + 1);  // dependents of the failed float run never started

  const auto rows = collect_rows(spec);
  ASSERT_EQ(rows.size(), 6u);
  const auto r8 = std::find_if(rows.begin(), rows.end(), [](const ResultRow& r) {
    return r.run_id == "filters8_qat-pow2_s1";
  });
  EXPECT_EQ(r8->status, "done");
  EXPECT_DOUBLE_EQ(*r8->metric, 0.8);
  EXPECT_DOUBLE_EQ(*r8->fake_quant_metric, 0.81);
  EXPECT_DOUBLE_EQ(*r8->float_metric, 0.8);  // the float run's eval
  EXPECT_DOUBLE_EQ(*r8->own_train_seconds, 3.5);
  EXPECT_DOUBLE_EQ(*r8->train_seconds, 7.0);  // plus the shared float run's
  EXPECT_EQ(r8->w_bits, 8);
  const auto r13 = std::find_if(rows.begin(), rows.end(), [](const ResultRow& r) {
    return r.run_id == "filters13_ptq-pow2_s1";
  });
  EXPECT_EQ(r13->status, "failed");
  EXPECT_EQ(r13->error, by_id["filters13_qat-pow2_s1"].error);
  write_report(spec, rows);
  for (const char* f : {"results.csv", "summary.md", "acc_vs_filters.png", "acc_vs_memory.png"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;

  // Resume: finished runs are skipped, a trained but unevaluated run is only evaluated, an
  // interrupted one continues with --resume, failed ones run again.
  fs::remove(dir / "out/runs/filters8_ptq-pow2_s1/eval.json");
  fs::remove(dir / "out/runs/filters8_qat-pow2_s1/eval.json");
  fs::remove(dir / "out/runs/filters8_qat-pow2_s1/summary.json");
  write(dir / "out/runs/filters8_qat-pow2_s1/config.yaml", "threads: 5\n");
  jo.resume = true;
  jobs = make_jobs(spec, jo);
  EXPECT_TRUE(jobs[0].skip);
  const Job& ptq8 = *std::find_if(jobs.begin(), jobs.end(),
                                  [](const Job& j) { return j.id == "filters8_ptq-pow2_s1"; });
  ASSERT_EQ(ptq8.steps.size(), 1u);
  EXPECT_EQ(ptq8.steps[0][1], "eval");
  const Job& qat8 = *std::find_if(jobs.begin(), jobs.end(),
                                  [](const Job& j) { return j.id == "filters8_qat-pow2_s1"; });
  EXPECT_TRUE(has(qat8.steps[0], "--resume"));
  EXPECT_TRUE(has(qat8.steps[0], "threads=5"));  // as it started
  EXPECT_FALSE(jobs[1].skip);                    // the failed float run is retried
  const auto before = count_calls();
  results = run_jobs(jobs, opts);
  EXPECT_EQ(count_calls(),
            before + 1 + 2 + 1);  // eval; train --resume + eval; the failing float run
  EXPECT_EQ(read(calls).find("--resume"), read(calls).rfind("--resume"));
}

// The report reads typed records: a field missing from eval.json or summary.json (e.g. renamed
// by another version) is an error naming the file and the field, not an empty cell.
TEST(SweepReport, MissingFieldNamesTheFileAndTheField) {
  const fs::path dir = temp_dir("missing_field");
  write(dir / "qat", kFakeQat);
  fs::permissions(dir / "qat", fs::perms::owner_all);
  const SweepSpec spec =
      load_sweep(write_sweep(dir, "grid: {filters: [8], method: [float], seed: [1]}\n").string());
  RunnerOptions opts;
  run_jobs(make_jobs(spec, JobOptions{(dir / "qat").string(), 1, false}), opts);
  ASSERT_EQ(collect_rows(spec).size(), 1u);
  const fs::path run = dir / "out/runs/filters8_float_s1";
  nlohmann::json eval = nlohmann::json::parse(read(run / "eval.json"));
  eval.erase("metric");
  eval["accuracy"] = 0.8;
  write(run / "eval.json", eval.dump());
  try {
    collect_rows(spec);
    FAIL() << "a renamed field was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), (run / "eval.json").string() + ": field 'metric' is missing");
  }
  eval["metric"] = 0.8;
  write(run / "eval.json", eval.dump());
  nlohmann::json summary = nlohmann::json::parse(read(run / "summary.json"));
  summary["qat"].erase("seconds");
  write(run / "summary.json", summary.dump());
  try {
    collect_rows(spec);
    FAIL() << "a missing field was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              (run / "summary.json").string() + ": field 'qat.seconds' is missing");
  }
}

// Splits a CSV line without quoted fields, keeping empty ones (also a trailing one).
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  for (const char c : line) {
    if (c == ',')
      fields.emplace_back();
    else
      fields.back() += c;
  }
  return fields;
}

// --- end to end -------------------------------------------------------------------------------

TEST(SweepEndToEnd, RealQatOnTheBundledSample) {
  const fs::path dir = temp_dir("e2e");
  write(dir / "sweep.yaml",
        std::string("name: e2e\nbase: ") + QAT_SOURCE_DIR + "/configs/demo.yaml\n" +
            "output: " + (dir / "out").string() + "\n" +
            "set: {train.epochs: 2, qat.epochs: 1}\n"
            "grid: {filters: [4, 8], method: [float, ptq-pow2, qat-pow2], seed: [1]}\n");
  const std::string qat = QAT_BINARY;
  const std::string run = qat + " sweep " + (dir / "sweep.yaml").string() + " --jobs 2 > " +
                          (dir / "sweep.log").string() + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system(run.c_str()), 0) << read(dir / "sweep.log");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60.0);

  const std::string csv = read(dir / "out" / "results.csv");
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_NE(line.find(",done,"), std::string::npos) << line;
    const auto fields = split_csv_line(line);
    ASSERT_EQ(fields.size(), 21u) << line;
    if (line.find("qat-pow2") != std::string::npos) {
      // Every figure is there (metric, fake-quant and float metric, bytes, MACs, times); only
      // the error column is empty.
      EXPECT_NE(line.find(",8,8,1,acc,0."), std::string::npos) << line;
      for (size_t i = 0; i + 1 < fields.size(); ++i)
        EXPECT_FALSE(fields[i].empty()) << i << ": " << line;
      EXPECT_TRUE(fields.back().empty()) << line;
    }
  }
  EXPECT_EQ(n, 6);
  const std::string md = read(dir / "out" / "summary.md");
  EXPECT_NE(md.find("| 8 | qat-pow2 | int8 | 1/1 |"), std::string::npos) << md;
  for (const char* f : {"acc_vs_filters.png", "acc_vs_memory.png"}) {
    const cv::Mat img = cv::imread((dir / "out" / f).string());
    EXPECT_FALSE(img.empty()) << f;
  }
  // The float run is shared: the quantized runs start from its float.pt without training.
  const std::string cfg = read(dir / "out/runs/filters8_qat-pow2_s1/config.yaml");
  EXPECT_NE(cfg.find("filters8_float_s1/float.pt"), std::string::npos) << cfg;

  // Without --resume an existing sweep is left alone; with it everything is skipped.
  const std::string again = qat + " sweep " + (dir / "sweep.yaml").string() + " > " +
                            (dir / "again.log").string() + " 2>&1";
  EXPECT_NE(std::system(again.c_str()), 0);
  EXPECT_NE(read(dir / "again.log").find("--resume"), std::string::npos);
  const std::string resume = qat + " sweep " + (dir / "sweep.yaml").string() + " --resume > " +
                             (dir / "resume.log").string() + " 2>&1";
  EXPECT_EQ(std::system(resume.c_str()), 0) << read(dir / "resume.log");
  EXPECT_NE(read(dir / "resume.log").find("6 run(s) finished earlier were skipped"),
            std::string::npos)
      << read(dir / "resume.log");
}

}  // namespace
}  // namespace qat::sweep
