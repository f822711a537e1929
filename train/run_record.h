// What a training run leaves in its directory for other programs, as typed records (torch-free,
// so `qat sweep`'s report reads them without LibTorch):
//   summary.json  RunSummary: the figures of each step, written when the run completes
//   state.json    RunState: where the run is, for --resume
// Reading either with read_json_file<T>() fails on a missing or mistyped field, naming the file
// and the field (qat/json_fields.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qat/checkpoint_meta.h"

namespace qat {

// One step of a run (float training, PTQ, QAT) on the test split.
struct PhaseResult {
  bool ran = false;
  double loss = 0.0;
  double metric = 0.0;
  double seconds = 0.0;
};
void to_json(nlohmann::json& j, const PhaseResult& r);
void from_json(const nlohmann::json& j, PhaseResult& r);

// The bits a memory budget chose (export/budget.h), as the run recorded them.
struct LayerBitsRecord {
  std::string node;
  int weight_bits = 0, activation_bits = 0;  // 0: the node has no weights / no quantizer
  int64_t weight_bytes = 0;
  double weight_share = 0.0;
  std::vector<std::string> cuts;
};
struct BudgetRecord {
  std::optional<int64_t> flash, ram;               // the budget, bytes
  std::string order = "largest_share";             // budget.order
  int64_t estimated_flash = 0, estimated_ram = 0;  // of the plan, before training
  std::vector<LayerBitsRecord> layers;
};
void to_json(nlohmann::json& j, const LayerBitsRecord& r);
void from_json(const nlohmann::json& j, LayerBitsRecord& r);
void to_json(nlohmann::json& j, const BudgetRecord& r);
void from_json(const nlohmann::json& j, BudgetRecord& r);

struct RunSummary {
  std::string run_dir;
  std::string metric_name;  // "acc" / "mAP50"
  PhaseResult float_phase, ptq, qat;
  bool interrupted = false;
  int64_t parameters = 0, macs = 0;
  std::string config;                  // the config file the run was started from
  std::optional<BudgetRecord> budget;  // runs with a memory budget
};
void to_json(nlohmann::json& j, const RunSummary& s);
void from_json(const nlohmann::json& j, RunSummary& s);

// The next thing the run does: `phase` with `epoch` of its epochs done (kDone: complete).
struct RunState {
  Phase phase = Phase::kFloat;
  int64_t epoch = 0;
};
void to_json(nlohmann::json& j, const RunState& s);
void from_json(const nlohmann::json& j, RunState& s);

}  // namespace qat
