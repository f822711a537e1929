// What the training-engine tests share: a quiet TrainOptions, a checkpoint's tensors and the
// bit-for-bit comparison that exact resume and determinism are asserted with.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "qat/checkpoint.h"
#include "train/trainer.h"

namespace qat::test {

// Training options without progress bars (ctest output stays readable).
inline TrainOptions quiet_training() {
  TrainOptions o;
  o.progress = false;
  return o;
}

// The parameters and buffers of the model a checkpoint holds, in registration order.
inline std::vector<torch::Tensor> checkpoint_tensors(const std::string& path) {
  std::vector<torch::Tensor> w;
  const Checkpoint ck = load_checkpoint(path);
  for (const auto& p : ck.model->named_parameters()) w.push_back(p.value().clone());
  for (const auto& b : ck.model->named_buffers()) w.push_back(b.value().clone());
  return w;
}

inline void expect_same_tensors(const std::vector<torch::Tensor>& a,
                                const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

}  // namespace qat::test
