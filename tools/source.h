// Resolving what to export or evaluate: a run directory (its model.pt, lowered), a config (its
// run directory), a float/QAT checkpoint, or an integer checkpoint (.json), plus the test data
// of the run when it is known.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "export/codegen.h"
#include "export/int_model.h"
#include "export/program.h"
#include "train/run_config.h"
#include "train/task.h"

namespace qat::exporter {

struct ExportSource {
  IntModel model;
  std::optional<RunConfig> run;  // when the source belongs to a run directory
  std::string run_dir;
};

// target: RUN_DIR, CONFIG.yaml, a checkpoint (.pt) inside a run, or an integer checkpoint
// (.json). checkpoint: overrides RUN_DIR/model.pt.
ExportSource resolve_source(const std::string& target, const std::string& checkpoint,
                            const std::vector<std::string>& overrides = {});

// The fusion request of `qat export` / `qat deploy`: --ram-budget (a size such as 64KiB; empty:
// the run's budget.ram, if any) and --fuse auto|off.
struct FusionFlags {
  std::string ram_budget;
  std::string fuse = "auto";
};

// The program to export for `s` under the flags (export/schedule.h): the budget it used is
// recorded in s.model.budget_ram (the header's <NAME>_BUDGET_RAM_BYTES, checked by qat deploy);
// prints the schedule. Throws Error for a malformed size, InfeasibleRamBudget.
Program export_program(ExportSource& s, const FusionFlags& flags);

// The run's test split, normalised as in training (requires a run).
TensorData test_split(const ExportSource& s);

// Test vectors: the first n test samples when a run is known, else seeded random input codes;
// expected outputs from the host integer engine.
std::vector<TestVector> make_vectors(const ExportSource& s, const Program& p, int n);

// Accuracy / mAP of the host integer engine on the run's test split; also returns the outputs.
EvalResult evaluate_int(const ExportSource& s, const Program& p, const TensorData& test,
                        int threads, torch::Tensor* outputs = nullptr);

}  // namespace qat::exporter
