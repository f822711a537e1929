// An exponential moving average of a model's weights (Polyak averaging, as YOLO trainers
// evaluate): after each optimizer step every floating-point parameter and buffer (batchnorm
// statistics included) becomes ema = d * ema + (1 - d) * model, with the decay ramped up as
// d = min(decay, (1 + k) / (10 + k)) after k updates so early weights do not linger. Other
// tensors are copied. The average is a model of the same graph: it is what the phase evaluates,
// saves and hands on, while the optimizer keeps training the raw model.
#pragma once

#include <map>
#include <string>

#include <torch/types.h>

#include "qat/graph_module.h"

namespace qat {

class ModelEma {
 public:
  ModelEma(const GraphModuleImpl& model, double decay);

  void update(const GraphModuleImpl& model);
  GraphModule module() const { return ema_; }
  int64_t updates() const { return updates_; }

  // Checkpoint extras that let a run resume: the raw model's tensors and the update count (the
  // averaged model itself is the checkpoint's model).
  static std::map<std::string, torch::Tensor> raw_state(const GraphModuleImpl& raw,
                                                        int64_t updates);
  static bool has_raw_state(const std::map<std::string, torch::Tensor>& extras);
  // Restores the raw model from those extras (throws naming `file` when a tensor is missing or
  // misshapen) and returns the update count.
  static int64_t load_raw_state(const std::map<std::string, torch::Tensor>& extras,
                                GraphModuleImpl& raw, const std::string& file);
  void set_updates(int64_t k) { updates_ = k; }

 private:
  GraphModule ema_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace qat
