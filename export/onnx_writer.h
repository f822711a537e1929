// ONNX writer: IntModel -> QDQ ONNX model (opset 13, IR version 7), see docs/ONNX.md.
// Float tensors flow between the ops in the graph's channel-first layout ([N, C, ...]); every
// tensor the integer model quantizes goes through QuantizeLinear -> DequantizeLinear with its
// format, weights are int8 initializers behind DequantizeLinear, biases int32 initializers in the
// accumulator scale. Torch-free: only the integer checkpoint and libonnx are needed.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "export/int_model.h"

namespace qat::exporter {

// Builds the model and runs the ONNX checker (and strict shape inference) on it. Throws
// ExportError for what opset 13 QDQ cannot represent (int16 activations or weights, unsigned or
// per-channel activation formats), for an inconsistent IntModel, and with the checker's message
// when the checker rejects the result.
onnx::ModelProto to_onnx(const IntModel& m);

// to_onnx, then serialises to `path` atomically (path + ".tmp", then rename), so a failed export
// never leaves a truncated .onnx behind.
void write_onnx(const IntModel& m, const std::string& path);

}  // namespace qat::exporter
