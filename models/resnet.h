// ResNet family of MicroAI / Qualia, 1D and 2D:
//   conv -> [bn] -> relu -> stages of basic blocks -> global max (or avg) pool -> flatten -> linear
// A basic block: conv -> [bn] -> relu -> [maxpool(s)] -> conv -> [bn], shortcut (1x1 projection
// conv -> [bn] when channels change or the block downsamples) -> [maxpool(s)], add, relu.
// (ReLU and max pooling commute; the ReLU comes first so it fuses into the conv.)
// With downsample = stride, the first conv and the projection are strided instead of pooled
// (MLPerf Tiny ResNet-8).
#pragma once

#include <string>
#include <vector>

#include "qat/graph.h"

namespace qat::models {

struct ResNetOptions {
  Shape input;  // [C, L] or [C, H, W]
  int64_t num_classes = 6;
  std::vector<int64_t> filters{16, 16, 16};    // first conv, then one entry per stage
  std::vector<int64_t> kernel_sizes{3, 3, 3};  // per first conv / stage
  std::vector<int64_t> num_blocks{1, 1};       // per stage
  std::vector<int64_t> strides{1, 1, 2};       // first conv stride, then per stage
  std::vector<int64_t> paddings{1, 1, 1};
  bool batch_norm = false;
  std::string postpool = "max";        // max | avg
  std::string downsample = "maxpool";  // maxpool | stride
  bool force_projection_with_stride = true;
};

Graph build_resnet(const ResNetOptions& o);

// ResNet-8 of MLPerf Tiny image classification: 32x32x3, 16/32/64 filters, strided
// downsampling with projection shortcuts, batch norm, global average pool, 10 classes.
ResNetOptions mlperf_resnet8_options();

}  // namespace qat::models
