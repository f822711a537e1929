// Per-layer weight sensitivity for the memory budget's `order: sensitivity` (export/budget.h):
// after float training, each conv / linear in turn gets 4- and then 2-bit weights while every
// other measured layer keeps 8-bit weights (where the allocator starts) and everything else its
// configured bits; the model is calibrated and its loss measured on the same training images
// each time. The increase over the model with 8-bit weights is what that cut
// costs, the figure the allocator ranks cuts by (in the spirit of HAWQ's per-layer ranking, with
// the measured loss instead of a Hessian trace).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "export/budget.h"
#include "qat/graph_module.h"
#include "train/task.h"

namespace qat {

// `folded`: the float model with batchnorm folded; `quant`: the configured quantization (before
// the budget's overrides); `layers`: the nodes to measure; `samples`: the images (calibration and
// loss both). Leaves the default random generator as it found it.
exporter::WeightSensitivity measure_weight_sensitivity(const GraphModuleImpl& folded,
                                                       const QuantConfig& quant,
                                                       const std::vector<std::string>& layers,
                                                       const TensorData& samples, const Task& task,
                                                       int64_t batch_size);

// The table for the log: layer, loss increase at 4 and 2 bits, the layers in `order` (graph
// order) first, then any others.
std::string sensitivity_table(const exporter::WeightSensitivity& s,
                              const std::vector<std::string>& order = {});

}  // namespace qat

namespace qat::exporter {
// sensitivity.json in the run directory: {"samples", "base_loss", "loss_increase": {node: {"4":
// x, "2": y}}}; reading checks every field (finite numbers, bits 4 and 2 only).
void to_json(nlohmann::json& j, const WeightSensitivity& s);
void from_json(const nlohmann::json& j, WeightSensitivity& s);
}  // namespace qat::exporter
