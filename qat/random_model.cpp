#include "qat/random_model.h"

namespace qat {

QuantConfig quant_config_for(Scheme scheme, int bits) {
  QuantConfig q;
  q.weights = default_spec(scheme, TensorRole::kWeights);
  q.activations = default_spec(scheme, TensorRole::kActivations);
  q.bias = default_spec(scheme, TensorRole::kBias);
  q.weights.bits = q.activations.bits = bits;
  return q;
}

QuantConfig mixed_precision_config(const Graph& g, Scheme scheme) {
  QuantConfig q = quant_config_for(scheme, 8);
  const int wbits[] = {4, 2, 8};
  int layer = 0;
  for (const Node& n : g.nodes()) {
    NodeOverride o;
    o.pattern = n.name;
    o.where = "mixed_precision_config";
    if (n.op == OpType::kInput) {
      o.activations = q.activations;
      o.activations->bits = 16;
    } else if (n.has_weights()) {
      o.weights = q.weights;
      o.weights->bits = wbits[layer % 3];
      if (layer % 3 == 1) {
        o.activations = q.activations;
        o.activations->bits = 16;
      }
      ++layer;
    } else {
      continue;
    }
    q.overrides.push_back(o);
  }
  return q;
}

QuantConfig weight_bits_config(Scheme scheme, int weight_bits) {
  QuantConfig q = quant_config_for(scheme, 8);
  q.weights.bits = weight_bits;
  return q;
}

GraphModule random_calibrated_model(const Graph& graph, const QuantConfig& quant, uint64_t seed,
                                    int batches, int batch_size) {
  torch::manual_seed(seed);
  GraphModule m(graph, quant);
  {
    torch::NoGradGuard ng;
    for (const auto& n : graph.nodes())
      if (n.op == OpType::kBatchNorm) {
        auto l = m->layer(n.name);
        l->weight.uniform_(0.5, 1.5);
        l->bias.uniform_(-0.2, 0.2);
        l->running_mean.uniform_(-0.2, 0.2);
        l->running_var.uniform_(0.5, 2.0);
      }
  }
  m->eval();
  GraphModule q(m->fold_batchnorm());
  q->eval();
  q->set_mode(Mode::kCalibrate);
  std::vector<int64_t> shape{batch_size};
  const Shape& in = graph.input_node().shape;
  shape.insert(shape.end(), in.begin(), in.end());
  torch::NoGradGuard ng;
  for (int i = 0; i < batches; ++i) q->forward(torch::randn(shape));
  q->freeze_observers(true);
  q->set_mode(Mode::kEval);
  return q;
}

CheckpointMeta identity_input_meta(const Graph& graph, const ModelHead& head) {
  const Shape& shape = graph.input_node().shape;
  const size_t c = static_cast<size_t>(shape[0]);
  CheckpointMeta m;
  m.phase = Phase::kDone;
  m.head = head;
  m.metric = head.metric_name();
  m.input = {std::vector<double>(c, 0.0), std::vector<double>(c, 1.0), shape};
  return m;
}

}  // namespace qat
