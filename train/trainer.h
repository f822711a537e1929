// The training engine behind `qat train`: one run =
//   float training -> batchnorm folding -> calibration -> PTQ evaluation -> QAT -> QAT evaluation
// each step logged, timed and recorded in the run directory:
//   config.yaml   resolved config (dataset paths absolute)
//   metrics.csv   one row per epoch and the PTQ step: losses, metrics, seconds since the
//                 phase began and the epoch's training-only seconds (train_seconds)
//   float.pt, ptq.pt, qat.pt   checkpoints (atomic writes), model.pt the final model
//   state.json    where the run is, for --resume; summary.json the final figures
//                 (train/run_record.h)
// Quantized figures come from the integer-exact evaluation mode (equal to the C kernels).
#pragma once

#include <string>

#include "qat/process_group.h"
#include "train/run_config.h"
#include "train/run_record.h"

namespace qat {

struct TrainOptions {
  bool resume = false;
  bool progress = true;
  // Stop after this many epochs in this process as if interrupted (tests of --resume); -1: off.
  int64_t stop_after_epochs = -1;
  // Data-parallel training (train/data_parallel.h): this process's rank and the rendezvous.
  // Rank 0 alone writes the run directory; the others receive what they need from it.
  DistributedConfig distributed;
  // Tests of a rank that dies: rank `kill_rank` kills itself (SIGKILL) once it has trained
  // `kill_after_epochs` epochs in this session; -1: off.
  int kill_rank = -1;
  int64_t kill_after_epochs = -1;
  // Tests: every rank writes its final model to <dir>/rank<R>.pt (the ranks must hold the
  // same weights and observer state bit for bit).
  std::string rank_state_dir;
};

RunSummary train_run(const RunConfig& cfg, const TrainOptions& opts = {});

// Prints the final table ("step | metric | loss | time") to stdout.
void print_summary(const RunSummary& s, const RunConfig& cfg);

}  // namespace qat
