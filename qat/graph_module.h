// GraphModule: the one LibTorch module that executes a model Graph, in four modes:
//   float      plain float training / inference (batchnorm live)
//   calibrate  float forward; activation and weight observers record ranges (PTQ)
//   qat        fake-quantized forward with STE (observers update unless frozen)
//   eval       the integer model simulated exactly: for pow2 the fake-quant forward itself
//              (exact because every scale is a power of two), for affine the integer
//              accumulator and the kernels' fixed-point requantization. Layers accumulate in
//              float32 when their worst-case accumulator is below 2^24 (exact) and in double
//              otherwise. Both schemes equal the C kernel engine bit for bit
//              (tests/test_export_equivalence.cpp).
// Quantized modes need a graph without batchnorm: fold_batchnorm() returns the folded model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "qat/graph.h"
#include "qat/quant_config.h"
#include "qat/quant_plan.h"
#include "qat/quantizer.h"

namespace qat {

class ProcessGroup;

enum class Mode { kFloat, kCalibrate, kQat, kEval };
const char* mode_name(Mode m);

// Parameters and quantizers of one node (registered under the node's name).
class LayerImpl : public torch::nn::Module {
 public:
  torch::Tensor weight, bias;               // conv / linear; batchnorm gamma / beta
  torch::Tensor running_mean, running_var;  // batchnorm
  FakeQuantizer weight_quantizer{nullptr};  // conv / linear
  FakeQuantizer act_quantizer{nullptr};     // quantization points
};
TORCH_MODULE(Layer);

// Integer view of one conv/linear layer in the current quantization state (used by the
// exporter and tests): weights and bias as integers, formats, requantization.
struct IntLayer {
  QFormat input, weight, bias, output;
  torch::Tensor weight_codes;  // int64, torch layout [O, I/g, k...] or [O, I]
  torch::Tensor bias_codes;    // int64 [O], already in the accumulator scale (s_in * s_w)
  Activation activation = Activation::kNone;
  int64_t acc_bound = 0;  // worst-case |accumulator| over all inputs of the input format
};

class GraphModuleImpl : public torch::nn::Module {
 public:
  GraphModuleImpl(Graph graph, QuantConfig qconfig);

  torch::Tensor forward(const torch::Tensor& x);
  // Outputs of every node (same order as graph().nodes()).
  std::vector<torch::Tensor> forward_all(const torch::Tensor& x);

  void set_mode(Mode m);  // also drops the evaluation-mode cache
  Mode mode() const { return mode_; }
  const Graph& graph() const { return graph_; }
  const QuantConfig& quant_config() const { return qconfig_; }
  const std::vector<NodePlan>& plan() const;  // throws while batchnorm is present

  Layer layer(const std::string& name) const;
  bool has_layer(const std::string& name) const { return layers_.count(name) != 0; }
  bool has_batchnorm() const;

  // Batchnorm in float training: frozen means running statistics are used (and not updated).
  void set_batchnorm_frozen(bool frozen) { bn_frozen_ = frozen; }
  bool batchnorm_frozen() const { return bn_frozen_; }

  // Data-parallel training: each rank runs a shard of the global batch. Training batchnorm
  // then normalises with the global batch's statistics (qat/sync_batchnorm.h) and activation
  // observers reduce their updates across the ranks, so every rank computes what one process
  // would on the whole batch. nullptr (the default): one process.
  void set_process_group(std::shared_ptr<ProcessGroup> group);

  // A new module with every batchnorm folded into the conv/linear before it (exact in float
  // up to rounding): W' = W * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta.
  // Quantizer state is not copied (calibrate after folding).
  std::shared_ptr<GraphModuleImpl> fold_batchnorm() const;

  // Copies only the model's weights, biases and batchnorm statistics (not quantizer state), e.g.
  // to start a differently quantized run from a trained float model.
  void copy_weights_from(const GraphModuleImpl& other);

  void freeze_observers(bool frozen);
  void init_learned_scales();
  bool quantizers_ready() const;
  // Tensors whose fixed pow2 format (quant frac_bits) saturates values seen so far (weights, and
  // activations observed in calibration): one message per tensor naming the node, the peak |x|
  // and the format's limit. Empty when nothing clips or no format is fixed.
  std::vector<std::string> fixed_format_clipping() const;

  QFormat activation_format(const std::string& node) const;
  QFormat weight_format(const std::string& node) const;
  IntLayer int_layer(const std::string& node) const;

 private:
  torch::Tensor run(const torch::Tensor& x, std::vector<torch::Tensor>* all);
  torch::Tensor quantized_weight(Layer l);
  torch::Tensor quantized_bias(const std::string& name, Layer l, const QFormat& in,
                               const QFormat& w);
  torch::Tensor quantize_output(Layer l, const torch::Tensor& y);
  torch::Tensor apply_layer(const Node& n, const torch::Tensor& in, const torch::Tensor& w,
                            const torch::Tensor& b) const;
  // Evaluation mode (graph_module_exact.cpp): a conv/linear layer, see the header comment.
  torch::Tensor eval_layer(const Node& n, const torch::Tensor& in, Activation act);
  // The integer accumulator (without bias) of a conv/linear layer on integer input codes:
  // exact integers in a double tensor (see graph_module_exact.cpp for how).
  torch::Tensor exact_accumulator(const Node& n, const torch::Tensor& x_codes,
                                  const IntLayer& il) const;
  const IntLayer& cached_int_layer(const std::string& name);
  torch::Tensor eval_affine_add(const Node& n, const torch::Tensor& a, const torch::Tensor& b,
                                Activation act);

  Graph graph_;
  QuantConfig qconfig_;
  std::vector<NodePlan> plan_;
  bool has_plan_ = false;
  std::map<std::string, Layer> layers_;
  Mode mode_ = Mode::kFloat;
  bool bn_frozen_ = false;
  std::shared_ptr<ProcessGroup> group_;
  std::map<std::string, IntLayer> eval_cache_;  // integer layers, valid while in eval mode
};
TORCH_MODULE(GraphModule);

// Bias format of a conv/linear: affine -> int32 in the accumulator scale s_in * s_w[c];
// pow2 -> per channel n_b[c] = min(n from max|b| at spec.bits, n_in + n_w[c]) (32 bits: the
// accumulator format itself), so the bias shifts left into the accumulator exactly.
QFormat bias_format_for(const QuantSpec& spec, const QFormat& in, const QFormat& w, size_t channels,
                        double max_abs_bias);

// Worst-case |accumulator| of a layer: max over output channels of
// sum |w_q| * max |x_q - zp_in| + |b_acc|.
int64_t accumulator_bound(const torch::Tensor& weight_codes, const torch::Tensor& bias_codes,
                          const QFormat& in);

// A fused activation (relu / relu6) on float values.
torch::Tensor apply_activation(const torch::Tensor& y, Activation a);

}  // namespace qat
