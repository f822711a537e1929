#include "train/data_parallel.h"

#include <chrono>

namespace qat {

Shard shard_of(int64_t n, int rank, int world) {
  const int64_t base = n / world, extra = n % world;
  const int64_t r = rank;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

Shard shard_of(int64_t n, const ProcessGroup* group) {
  return group ? shard_of(n, group->rank(), group->size()) : Shard{0, n};
}

void GradientAllreduce::run(const std::vector<torch::Tensor>& parameters,
                            std::vector<double>& extras) {
  torch::NoGradGuard ng;
  const auto t0 = std::chrono::steady_clock::now();
  // Buckets of consecutive parameters of one dtype (float32 in practice).
  std::vector<std::vector<torch::Tensor>> buckets(1);
  int64_t bytes = 0;
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    const bool other_type =
        !buckets.back().empty() && buckets.back().front().scalar_type() != p.scalar_type();
    if (!buckets.back().empty() && (bytes + b > bucket_bytes_ || other_type)) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(p);
    bytes += b;
  }
  buckets_ = 0;
  for (const std::vector<torch::Tensor>& in_bucket : buckets) {
    if (in_bucket.empty()) continue;  // no parameters at all
    std::vector<torch::Tensor> flat;
    for (const torch::Tensor& p : in_bucket) flat.push_back(p.grad().reshape({-1}));
    torch::Tensor bucket = torch::cat(flat);
    group_.allreduce(bucket, ReduceOp::kSum);
    ++buckets_;
    int64_t offset = 0;
    for (const torch::Tensor& p : in_bucket) {
      p.mutable_grad().copy_(bucket.narrow(0, offset, p.numel()).view_as(p));
      offset += p.numel();
    }
  }
  // The extras in double, one more (small) allreduce: Gloo reduces one tensor per call here.
  if (!extras.empty()) {
    torch::Tensor sums = torch::tensor(extras, torch::kDouble);
    group_.allreduce(sums, ReduceOp::kSum);
    for (size_t k = 0; k < extras.size(); ++k)
      extras[k] = sums[static_cast<int64_t>(k)].item<double>();
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void broadcast_module(ProcessGroup& group, torch::nn::Module& module) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> all;
  for (const auto& p : module.parameters()) all.push_back(p.data());
  for (const auto& b : module.buffers()) all.push_back(b);
  group.broadcast(all, 0);
}

void check_ranks_agree(
    ProcessGroup& group, const std::string& what, const std::string& mine,
    const std::function<std::string(const std::string&, const std::string&)>& describe) {
  const std::vector<std::string> all = group.allgather_strings(mine);
  std::string differences;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      differences += (differences.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) +
                     "'s " + what + " differs from rank 0's" + [&] {
                       const std::string d = describe(all[0], all[r]);
                       return d.empty() ? std::string() : " in " + d;
                     }();
  if (!differences.empty())
    throw DistributedError(differences + " (every rank must run the same " + what + ")");
}

}  // namespace qat
