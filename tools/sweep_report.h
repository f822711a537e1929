// Results of a sweep, rebuilt from the run directories alone (so `--report-only` regenerates
// them at any time): one row per grid run from summary.json (`qat train`), eval.json
// (`qat eval --json`) and the runner's status file; then results.csv, summary.md (mean ± std
// over seeds, drop vs float) and the figures acc_vs_filters.png and acc_vs_memory.png.
// Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/sweep_spec.h"

namespace qat::sweep {

struct ResultRow {
  std::string run_id;
  std::string status;  // done, failed, interrupted, incomplete (started, no result), pending
  std::map<std::string, std::string> coords;  // grid coordinates other than method/bits/seed
  std::string method;
  int w_bits = 32, a_bits = 32;
  int64_t seed = 1;
  std::string metric_name;
  // Fractions in [0, 1]: the integer engine's (float forward for float runs), the float32
  // fake-quant forward's, and the float model's this run started from.
  std::optional<double> metric, fake_quant_metric, float_metric, loss;
  std::optional<int64_t> weight_bytes, arena_bytes, arena_lower_bound, flash_estimate, macs,
      parameters;
  // Training phases of this run plus those of its shared float run / of this run alone.
  std::optional<double> train_seconds, own_train_seconds;
  std::string error;
};

// Coordinate columns: the sweep's axes except method, the bit widths and the seed, which have
// their own resolved columns.
std::vector<std::string> coordinate_keys(const SweepSpec& spec);

std::vector<ResultRow> collect_rows(const SweepSpec& spec);
std::string results_csv(const std::vector<std::string>& coordinate_keys,
                        const std::vector<ResultRow>& rows);

struct Stat {
  double mean = 0.0, std = 0.0;  // std: sample standard deviation (n - 1), 0 for one value
  int n = 0;
};
Stat stat_of(const std::vector<double>& values);

// The runs that differ only in their seed.
struct Group {
  std::map<std::string, std::string> coords;
  std::string method;
  int w_bits = 32, a_bits = 32;
  std::string metric_name;
  int runs = 0;
  Stat metric, fake_quant;
  Stat drop;  // float_metric - metric, per seed
  // Means over the finished runs.
  std::optional<double> parameters, weight_bytes, arena_bytes, flash_estimate, macs, train_seconds;
};

// Groups ordered by filters, method, bit widths, then the other coordinates.
std::vector<Group> summarize(const std::vector<std::string>& coordinate_keys,
                             const std::vector<ResultRow>& rows);
// "qat-pow2 int8", "float32", "ptq-pow2 int16 frac_bits=9": method, bits and the coordinates
// other than filters (one line of a figure).
std::string variant_label(const Group& g);
std::string summary_markdown(const std::string& title,
                             const std::vector<std::string>& coordinate_keys,
                             const std::vector<Group>& groups, const std::vector<ResultRow>& rows);
// acc_vs_filters.png (when the sweep has a filters axis), acc_vs_memory.png and, when the runs
// report a flash estimate, acc_vs_flash.png (Pareto front per method) in `dir`;
// returns the files written.
std::vector<std::string> write_plots(const std::string& dir, const std::string& title,
                                     const std::vector<Group>& groups);

// results.csv, summary.md and the figures in spec.output.
void write_report(const SweepSpec& spec, const std::vector<ResultRow>& rows);

}  // namespace qat::sweep
