#include "train/run_ranks.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "qat/errors.h"
#include "train/data_parallel.h"

namespace qat {

torch::Tensor default_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_default_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

GraphModule make_module_keeping_rng(const Graph& graph, const QuantConfig& quant) {
  const torch::Tensor state = default_rng_state();
  GraphModule m(graph, quant);
  set_default_rng_state(state);
  return m;
}

std::string RunRanks::on_writer(const std::function<std::string()>& f) {
  if (!group_) return f();
  if (writer()) {
    std::string out;
    try {
      out = f();
    } catch (const std::exception& e) {
      group_->broadcast_string(std::string("error\n") + e.what());
      throw;
    }
    group_->broadcast_string("ok\n" + out);
    return out;
  }
  // The first line says which; the payload may hold anything (checkpoint bytes).
  const std::string got = group_->broadcast_string("");
  const size_t nl = got.find('\n');
  if (got.compare(0, nl, "error") == 0) throw TrainingError("rank 0: " + got.substr(nl + 1));
  return got.substr(nl + 1);
}

void RunRanks::attach(GraphModuleImpl& model) {
  if (!group_) return;
  model.set_process_group(group_);
  broadcast_module(*group_, model);
  std::vector<torch::Tensor> rng{default_rng_state().contiguous()};
  group_->broadcast(rng, 0);
  set_default_rng_state(rng[0]);
}

}  // namespace qat
