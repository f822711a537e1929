// Float / QAT checkpoints: the graph, quantization config and metadata (CheckpointMeta) as JSON
// plus the module's
// parameters and buffers (observer state included) and, optionally, the optimizer state.
// Written atomically: to "<path>.tmp", then renamed, so an interrupted write never replaces the
// last good checkpoint.
#pragma once

#include <map>
#include <string>

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "qat/atomic_file.h"
#include "qat/checkpoint_meta.h"
#include "qat/graph_module.h"

namespace qat {

// `tensors` are stored alongside (e.g. the RNG state for an exact --resume).
void save_checkpoint(const std::string& path, GraphModuleImpl& model, const CheckpointMeta& meta,
                     torch::optim::Optimizer* optimizer = nullptr,
                     const std::map<std::string, torch::Tensor>& tensors = {});

struct Checkpoint {
  GraphModule model{nullptr};
  CheckpointMeta meta;
  std::map<std::string, torch::Tensor> tensors;
};

// Rebuilds the model from the stored graph and quant config and loads its state; also loads
// the optimizer state when `optimizer` is given and the checkpoint has one.
Checkpoint load_checkpoint(const std::string& path, torch::optim::Optimizer* optimizer = nullptr);
// The same from a checkpoint file's bytes (what rank 0 sends the other ranks of a distributed
// run); `origin` names it in errors.
Checkpoint load_checkpoint_bytes(const std::string& bytes, const std::string& origin,
                                 torch::optim::Optimizer* optimizer = nullptr);

}  // namespace qat
