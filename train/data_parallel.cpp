#include "train/data_parallel.h"

#include <chrono>

namespace qat {

Shard shard_of(int64_t n, int rank, int world) {
  const int64_t base = n / world, extra = n % world;
  const int64_t r = rank;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
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
  for (size_t i = 0; i < buckets.size(); ++i) {
    const bool last = i + 1 == buckets.size();
    std::vector<torch::Tensor> flat;
    for (const torch::Tensor& p : buckets[i]) flat.push_back(p.grad().reshape({-1}));
    torch::Tensor extra_t;
    if (last && !extras.empty()) {
      // The extras travel in double in their own tensor of the same call when the bucket is
      // float: exact enough for a loss, and one collective either way.
      extra_t = torch::tensor(extras, torch::kDouble);
    }
    if (flat.empty() && !extra_t.defined()) continue;
    std::vector<torch::Tensor> call;
    torch::Tensor bucket;
    if (!flat.empty()) {
      bucket = torch::cat(flat);
      call.push_back(bucket);
    }
    if (extra_t.defined()) call.push_back(extra_t);
    group_.allreduce(call, ReduceOp::kSum);
    ++buckets_;
    int64_t offset = 0;
    for (const torch::Tensor& p : buckets[i]) {
      p.mutable_grad().copy_(bucket.narrow(0, offset, p.numel()).view_as(p));
      offset += p.numel();
    }
    if (extra_t.defined())
      for (size_t k = 0; k < extras.size(); ++k)
        extras[k] = extra_t[static_cast<int64_t>(k)].item<double>();
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
