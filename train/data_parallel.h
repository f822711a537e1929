// Data parallelism for the training engine, on the process group of qat/process_group.h:
// shards of a global batch, the bucketed gradient allreduce, the broadcast of a module's state,
// and the checks that the ranks run the same thing.
//
// One process with a global batch B and N processes with shards of B compute the same step:
// every rank draws the same permutation and augmentation (the same seed, the whole global
// batch), takes its contiguous shard, and scales its mean loss by shard / B, so that the sum of
// the ranks' gradients (the allreduce) is the gradient of the global batch's mean loss; batchnorm
// and observers reduce over the global batch (GraphModule::set_process_group).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "qat/process_group.h"

namespace qat {

struct Shard {
  int64_t begin = 0, count = 0;
};
// Rank `rank`'s contiguous part of n items: sizes differ by at most one, in rank order.
Shard shard_of(int64_t n, int rank, int world);
// This process's part of n items: all of them without a group.
Shard shard_of(int64_t n, const ProcessGroup* group);

// Sums gradients across the ranks, in buckets of at most `bucket_bytes` (one flat tensor and one
// allreduce per bucket, the way DDP's Reducer groups them).
class GradientAllreduce {
 public:
  explicit GradientAllreduce(ProcessGroup& group, int64_t bucket_bytes = 4 << 20)
      : group_(group), bucket_bytes_(bucket_bytes) {}
  // Every parameter's gradient (undefined gradients count as zero and become defined) is
  // replaced by its sum over the ranks; `extras` (the scaled loss and metric) are summed too,
  // in double, after the buckets.
  void run(const std::vector<torch::Tensor>& parameters, std::vector<double>& extras);
  int64_t buckets() const { return buckets_; }
  // Wall time in run() since the last take_seconds() (flattening, allreduce, copying back).
  double take_seconds() { return std::exchange(seconds_, 0.0); }

 private:
  ProcessGroup& group_;
  int64_t bucket_bytes_;
  int64_t buckets_ = 0;
  double seconds_ = 0;
};

// Rank 0's parameters and buffers on every rank (in place).
void broadcast_module(ProcessGroup& group, torch::nn::Module& module);

// Throws DistributedError on every rank when a rank's `what` differs from rank 0's; `describe`
// turns (rank 0's text, the other's) into the difference to name (e.g. the config keys).
void check_ranks_agree(
    ProcessGroup& group, const std::string& what, const std::string& mine,
    const std::function<std::string(const std::string&, const std::string&)>& describe);

}  // namespace qat
