// Untrained, quantized models for tests and benchmarks (speed, footprint and exactness do not
// depend on training): random weights, randomised batchnorm statistics, folded and calibrated
// on random normal inputs, observers frozen, in evaluation mode. Deterministic for a seed.
#pragma once

#include "qat/checkpoint_meta.h"
#include "qat/graph_module.h"

namespace qat {

// The scheme's default specs at one bit width for weights and activations.
QuantConfig quant_config_for(Scheme scheme, int bits);

// Mixed precision with every combination the kernels meet, for tests and benchmarks: weights at
// 4 / 2 / 8 bits in turn, a 16-bit input and every third layer's output at 16 bits (int8 ->
// int16 -> int8 transitions, sub-byte weights in int16 layers), the rest 8 bits.
QuantConfig mixed_precision_config(const Graph& graph, Scheme scheme);

// Uniform precision with `weight_bits` weights and 8-bit activations (e.g. w4a8).
QuantConfig weight_bits_config(Scheme scheme, int weight_bits);

GraphModule random_calibrated_model(const Graph& graph, const QuantConfig& quant,
                                    uint64_t seed = 11, int batches = 3, int batch_size = 16);

// Checkpoint metadata with identity input normalisation (mean 0, std 1) for lowering.
CheckpointMeta identity_input_meta(const Graph& graph,
                                   const ModelHead& head = ModelHead::classification());

}  // namespace qat
