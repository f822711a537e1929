// Untrained, quantized models for tests and benchmarks (speed, footprint and exactness do not
// depend on training): random weights, randomised batchnorm statistics, folded and calibrated
// on random normal inputs, observers frozen, in evaluation mode. Deterministic for a seed.
#pragma once

#include "qat/checkpoint_meta.h"
#include "qat/graph_module.h"

namespace qat {

// The scheme's default specs at one bit width for weights and activations.
QuantConfig quant_config_for(Scheme scheme, int bits);

GraphModule random_calibrated_model(const Graph& graph, const QuantConfig& quant,
                                    uint64_t seed = 11, int batches = 3, int batch_size = 16);

// Checkpoint metadata with identity input normalisation (mean 0, std 1) for lowering.
CheckpointMeta identity_input_meta(const Graph& graph,
                                   const ModelHead& head = ModelHead::classification());

}  // namespace qat
