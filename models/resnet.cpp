#include "models/resnet.h"

#include "qat/errors.h"

namespace qat::models {
namespace {

// Per-dimension vectors for a square kernel/stride/padding.
std::vector<int64_t> rep(int64_t v, int dims) {
  return std::vector<int64_t>(static_cast<size_t>(dims), v);
}

std::string conv_bn(Graph& g, const std::string& name, const std::string& in, int64_t out,
                    int64_t k, int64_t stride, int64_t pad, bool bn, int dims) {
  g.conv(name, in, out, rep(k, dims), rep(stride, dims), rep(pad, dims), 1, !bn);
  return bn ? g.batchnorm(name + "_bn", name) : name;
}

}  // namespace

Graph build_resnet(const ResNetOptions& o) {
  const int dims = static_cast<int>(o.input.size()) - 1;
  if (dims != 1 && dims != 2) throw GraphError("resnet: input must be [C, L] or [C, H, W]");
  const size_t stages = o.num_blocks.size();
  if (o.filters.size() != stages + 1 || o.kernel_sizes.size() != stages + 1 ||
      o.strides.size() != stages + 1 || o.paddings.size() != stages + 1)
    throw GraphError(
        "resnet: filters, kernel_sizes, strides and paddings need one entry for the "
        "first conv plus one per stage (" +
        std::to_string(stages + 1) + ")");
  if (o.postpool != "max" && o.postpool != "avg")
    throw GraphError("resnet: postpool must be max or avg");
  const bool pool_down = o.downsample == "maxpool";
  if (!pool_down && o.downsample != "stride")
    throw GraphError("resnet: downsample must be maxpool or stride");

  Graph g;
  std::string x = g.input("input", o.input);
  x = conv_bn(g, "conv1", x, o.filters[0], o.kernel_sizes[0], o.strides[0], o.paddings[0],
              o.batch_norm, dims);
  x = g.relu("relu1", x);
  int64_t in_planes = o.filters[0];
  for (size_t s = 0; s < stages; ++s) {
    for (int64_t b = 0; b < o.num_blocks[s]; ++b) {
      const std::string p = "s" + std::to_string(s + 1) + "b" + std::to_string(b + 1) + "_";
      const int64_t planes = o.filters[s + 1], k = o.kernel_sizes[s + 1], pad = o.paddings[s + 1];
      const int64_t stride = b == 0 ? o.strides[s + 1] : 1;
      const std::string block_in = x;
      // Main branch.
      std::string y = conv_bn(g, p + "conv1", block_in, planes, k, pool_down ? 1 : stride, pad,
                              o.batch_norm, dims);
      y = g.relu(p + "relu1", y);
      if (pool_down && stride != 1) y = g.maxpool(p + "pool1", y, rep(stride, dims), {});
      y = conv_bn(g, p + "conv2", y, planes, k, 1, pad, o.batch_norm, dims);
      // Shortcut.
      std::string sc = block_in;
      if (in_planes != planes || (o.force_projection_with_stride && stride != 1))
        sc = conv_bn(g, p + "proj", sc, planes, 1, pool_down ? 1 : stride, 0, o.batch_norm, dims);
      else if (!pool_down && stride != 1)
        throw GraphError("resnet: strided blocks need a projection shortcut");
      if (pool_down && stride != 1) sc = g.maxpool(p + "pool_sc", sc, rep(stride, dims), {});
      x = g.add_node(p + "add", y, sc);
      x = g.relu(p + "relu2", x);
      in_planes = planes;
    }
  }
  x = o.postpool == "max" ? g.global_maxpool("pool", x) : g.global_avgpool("pool", x);
  x = g.flatten("flatten", x);
  g.linear("fc", x, o.num_classes);
  return g;
}

ResNetOptions mlperf_resnet8_options() {
  ResNetOptions o;
  o.input = {3, 32, 32};
  o.num_classes = 10;
  o.filters = {16, 16, 32, 64};
  o.kernel_sizes = {3, 3, 3, 3};
  o.num_blocks = {1, 1, 1};
  o.strides = {1, 1, 2, 2};
  o.paddings = {1, 1, 1, 1};
  o.batch_norm = true;
  o.postpool = "avg";
  o.downsample = "stride";
  return o;
}

}  // namespace qat::models
