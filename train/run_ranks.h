// The ranks of one training run as the training engine sees them: which rank writes the run
// directory, what rank 0 alone decides (and how the others learn it, errors included), and the
// model state and random generator every rank continues from. Without a process group (one
// process) every call is the direct one.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <torch/types.h>

#include "qat/graph_module.h"
#include "qat/process_group.h"

namespace qat {

// The default CPU generator's state (what checkpoints store for an exact --resume).
torch::Tensor default_rng_state();
void set_default_rng_state(const torch::Tensor& state);
// A module of the graph built without moving the default generator (its random initial weights
// are overwritten by the caller): what a resumed run builds must not shift the random numbers
// the uninterrupted run would draw next.
GraphModule make_module_keeping_rng(const Graph& graph, const QuantConfig& quant);

class RunRanks {
 public:
  explicit RunRanks(std::shared_ptr<ProcessGroup> group) : group_(std::move(group)) {}

  ProcessGroup* group() const { return group_.get(); }
  const std::shared_ptr<ProcessGroup>& shared_group() const { return group_; }
  bool distributed() const { return group_ != nullptr; }
  int rank() const { return group_ ? group_->rank() : 0; }
  int size() const { return group_ ? group_->size() : 1; }
  // Rank 0 (or the only process) writes the run directory.
  bool writer() const { return rank() == 0; }

  // Runs `f` on rank 0 alone and returns its result on every rank; an error on rank 0 is
  // raised on every rank ("rank 0: ...") instead of leaving the others waiting for it.
  std::string on_writer(const std::function<std::string()>& f);

  // A model the run trains: the process group (synchronised batchnorm and observers), rank 0's
  // parameters and buffers, and rank 0's random generator. What rank 0 alone did (reading
  // `train.init_from` builds a model from the file, which draws initial weights) then cannot
  // leave the ranks drawing different permutations and augmentations.
  void attach(GraphModuleImpl& model);

 private:
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace qat
