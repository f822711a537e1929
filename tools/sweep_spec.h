// A sweep file (`qat sweep SWEEP.yaml`): a base run config, overrides for every run and grids
// (a union of cartesian products) over methods, bit widths, seeds, filters and any config key.
// load_sweep() validates it like every other config (file:line, allowed values) and expands it
// into runs: readable ids, the `--set` overrides of each run and, with share_float, one float
// run per distinct float setting that the quantized runs start from (the MicroAI protocol:
// PTQ and QAT variants of one trained float model). Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qat::sweep {

// pow2 quantizes weights per tensor (one shift per layer, the MicroAI setting); pow2-channel one
// shift per output channel, which sub-byte weights need (bench/README.md, Int4 QAT).
enum class Method {
  kFloat,
  kPtqPow2,
  kPtqAffine,
  kQatPow2,
  kQatAffine,
  kPtqPow2Channel,
  kQatPow2Channel
};

// "float", "ptq-pow2", "ptq-affine", "qat-pow2", "qat-affine", "ptq-pow2-channel",
// "qat-pow2-channel" (Method order).
const std::vector<std::string>& method_names();
const std::string& method_name(Method m);
bool is_quantized(Method m);
// The --set overrides that select a method (quant scheme, weight granularity, phases).
std::vector<std::string> method_overrides(Method m);

// Whether a grid axis can change the float model: everything but the method, the bit widths
// and the quant/ptq/qat/budget sections.
bool affects_float_training(const std::string& axis);

// One coordinate of a grid point. `value` is YAML text, as given to --set.
struct AxisValue {
  std::string key;  // method, bits, w_bits, a_bits, seed, filters or a dotted config key
  std::string value;
  bool operator==(const AxisValue& o) const { return key == o.key && value == o.value; }
};

struct SweepRun {
  std::string id;  // readable, unique; also the run directory name
  Method method = Method::kFloat;
  // Grid coordinates in canonical axis order; a float run keeps only float-relevant ones.
  std::vector<AxisValue> axes;
  // key=value for `qat train --set`, applied after the sweep's `set`.
  std::vector<std::string> overrides;
  int w_bits = 32, a_bits = 32;  // resolved from the axes or the base config; 32 = float
  int64_t seed = 1;              // resolved likewise
  std::string float_run;         // share_float: id of the float run this run starts from
  bool in_grid = true;           // false: a shared float run that no grid point asked for
  // Sweep file location of each override key (for error messages).
  std::map<std::string, std::string> origins;
};

struct SweepSpec {
  std::string file;  // the sweep file as given
  std::string name;
  std::string base;              // base run config (absolute)
  std::string output;            // sweep directory (absolute)
  std::vector<std::string> set;  // key=value applied to every run
  std::map<std::string, std::string> set_origins;
  bool share_float = true;
  std::vector<std::string> axis_keys;  // every axis used by some grid, canonical order
  std::vector<SweepRun> runs;          // float runs first, then grid order

  std::string run_dir(const SweepRun& r) const;  // <output>/runs/<id>
  const SweepRun* find(const std::string& id) const;
  // Every --set override of a run, in application order (sweep `set`, then the run's own).
  std::vector<std::string> overrides_of(const SweepRun& r) const;
  // Rewrites a config error about `r` that names "--set key" into the sweep file location the
  // override came from, and names the run.
  std::string explain(const SweepRun& r, const std::string& message) const;
};

// Reads and validates a sweep file and expands its grids. Throws ConfigError.
SweepSpec load_sweep(const std::string& path);

}  // namespace qat::sweep
