#include "export/lower.h"

#include "qat/errors.h"

namespace qat::exporter {

IntModel lower(GraphModuleImpl& model, const CheckpointMeta& meta) {
  if (model.has_batchnorm())
    throw ExportError(
        "the model still has batchnorm nodes: export a quantized checkpoint (ptq/qat), not the "
        "float one");
  if (!model.quant_config().enabled)
    throw ExportError("quantization is disabled in this run; nothing to export as integers");
  if (!model.quantizers_ready())
    throw ExportError(
        "the model's quantizers are not calibrated; export the run's model.pt, ptq.pt or qat.pt");
  const Graph& g = model.graph();
  const auto& plan = model.plan();
  IntModel m;
  m.graph = g;
  m.head = meta.head;
  m.metric = meta.metric;
  m.input_mean = meta.input.mean;
  m.input_std = meta.input.std;
  torch::NoGradGuard ng;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& node = g.at(i);
    IntNode n;
    n.name = node.name;
    if (!plan[i].fused_away) {
      n.has_output_format = true;
      n.output = model.activation_format(node.name);
      n.act_min = n.output.qmin();
      n.act_max = n.output.qmax();
    }
    try {
      if (node.has_weights()) {
        const IntLayer il = model.int_layer(node.name);
        n.activation = il.activation;
        n.weight_format = il.weight;
        n.weight_shape = il.weight_codes.sizes().vec();
        const torch::Tensor w = il.weight_codes.contiguous();
        n.weights.assign(w.data_ptr<int64_t>(), w.data_ptr<int64_t>() + w.numel());
        const torch::Tensor b = il.bias_codes.contiguous();
        n.bias.assign(b.data_ptr<int64_t>(), b.data_ptr<int64_t>() + b.numel());
        n.acc_bound = il.acc_bound;
        n.requant = make_requant(il.input, il.weight, il.output, il.acc_bound);
        std::tie(n.act_min, n.act_max) = activation_bounds(n.output, n.activation);
      } else if (node.op == OpType::kAdd) {
        n.activation = plan[i].fused;
        n.add = make_add_rescale(model.activation_format(node.inputs[0]),
                                 model.activation_format(node.inputs[1]), n.output);
        std::tie(n.act_min, n.act_max) = activation_bounds(n.output, n.activation);
      } else if ((node.op == OpType::kRelu || node.op == OpType::kRelu6) && !plan[i].fused_away) {
        std::tie(n.act_min, n.act_max) = activation_bounds(
            n.output, node.op == OpType::kRelu ? Activation::kRelu : Activation::kRelu6);
      }
    } catch (const ExportError&) {
      throw;
    } catch (const Error& e) {
      throw ExportError("layer '" + node.name + "': " + e.what());
    }
    m.nodes.push_back(std::move(n));
  }
  // Storage per layer: packed where the weights' bits and the layer's activations allow.
  for (size_t i = 0; i < g.size(); ++i) {
    if (!g.at(i).has_weights()) continue;
    IntNode& n = m.nodes[i];
    n.weight_type = DType::kInt8;
    n.weight_type = weight_storage(n.weight_format.bits, compute_type(m, i));
  }
  set_widest_types(m);
  check_structure(m);
  check_representable(m);
  return m;
}

}  // namespace qat::exporter
