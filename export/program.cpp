#include "export/program.h"

#include <cstdio>
#include <sstream>

#include "qat/errors.h"

namespace qat::exporter {
namespace {

int32_t i32(int64_t v) {
  return static_cast<int32_t>(v);
}

std::string hwc_str(const Buffer& b) {
  std::ostringstream o;
  if (b.h > 1) o << b.h << "x";
  if (b.h > 1 || b.w > 1) o << b.w << "x";
  o << b.c;
  return o.str();
}

// Kernel geometry of a 1D or 2D conv/pool node (1D: height 1).
struct Window {
  int32_t kh, kw, sh, sw, ph, pw;
};
Window window_of(const Node& n, bool two_d) {
  return {i32(two_d ? n.kernel[0] : 1), i32(n.kernel.back()),          i32(two_d ? n.stride[0] : 1),
          i32(n.stride.back()),         i32(two_d ? n.padding[0] : 0), i32(n.padding.back())};
}

}  // namespace

const char* call_kind_name(CallKind k) {
  switch (k) {
    case CallKind::kConv:
      return "conv";
    case CallKind::kLinear:
      return "linear";
    case CallKind::kAdd:
      return "add";
    case CallKind::kMaxPool:
      return "maxpool";
    case CallKind::kAvgPool:
      return "avgpool";
    case CallKind::kGlobalMaxPool:
      return "global_maxpool";
    case CallKind::kGlobalAvgPool:
      return "global_avgpool";
    case CallKind::kClamp:
      return "clamp";
  }
  return "?";
}

void hwc_of(const Shape& s, int64_t& h, int64_t& w, int64_t& c) {
  c = s.at(0);
  h = s.size() == 3 ? s[1] : 1;
  w = s.size() == 3 ? s[2] : (s.size() == 2 ? s[1] : 1);
}

std::vector<double> to_channels_last(const double* chw, const Shape& s) {
  int64_t h, w, c;
  hwc_of(s, h, w, c);
  std::vector<double> out(static_cast<size_t>(h * w * c));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t p = 0; p < h * w; ++p) out[static_cast<size_t>(p * c + ci)] = chw[ci * h * w + p];
  return out;
}

std::vector<double> to_channels_first(const double* hwc, const Shape& s) {
  int64_t h, w, c;
  hwc_of(s, h, w, c);
  std::vector<double> out(static_cast<size_t>(h * w * c));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t p = 0; p < h * w; ++p) out[static_cast<size_t>(ci * h * w + p)] = hwc[p * c + ci];
  return out;
}

int64_t Program::weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& c : calls)
    bytes += static_cast<int64_t>(c.weights.size()) * dtype_bytes(weight_type) +
             static_cast<int64_t>(c.bias.size() * 4 + c.shift.size() + c.mult.size() * 4);
  return bytes;
}

int64_t Program::macs() const {
  int64_t m = 0;
  for (const auto& c : calls) m += c.macs;
  return m;
}

Program build_program(const IntModel& m) {
  const Graph& g = m.graph;
  Program p;
  p.act_type = m.activation_type;
  p.weight_type = m.weight_type;
  const auto plan = make_quant_plan(g);
  std::vector<int> buf_of(g.size(), -1);
  // For flat tensors that alias a spatial one: its graph shape, so a linear can permute its
  // weights from torch's channel-major flatten order to the channels-last memory order.
  std::vector<Shape> flat_src(g.size());

  auto new_buffer = [&](size_t node_index) {
    Buffer b;
    b.name = g.at(node_index).name;
    hwc_of(g.shape_at(node_index), b.h, b.w, b.c);
    b.first = static_cast<int>(p.calls.size());
    b.last = b.first;
    p.buffers.push_back(b);
    return static_cast<int>(p.buffers.size()) - 1;
  };

  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g.at(i);
    const IntNode& in_node = m.nodes[i];
    auto input_buf = [&](size_t k) { return buf_of[g.index_of(n.inputs.at(k))]; };
    auto fmt_of = [&](const std::string& name) -> const QFormat& {
      return m.nodes[g.index_of(plan[g.index_of(name)].format_from)].output;
    };
    if (n.op == OpType::kInput) {
      buf_of[i] = new_buffer(i);
      p.input = buf_of[i];
      continue;
    }
    if (n.op == OpType::kFlatten ||
        ((n.op == OpType::kRelu || n.op == OpType::kRelu6) && plan[i].fused_away)) {
      buf_of[i] = input_buf(0);
      const size_t src = g.index_of(n.inputs[0]);
      flat_src[i] = n.op == OpType::kFlatten
                        ? (flat_src[src].empty() ? g.shape_at(src) : flat_src[src])
                        : flat_src[src];
      continue;
    }
    if (n.op == OpType::kBatchNorm)
      throw ExportError("batchnorm node '" + n.name + "' in an integer model");

    Call c;
    c.node = n.name;
    for (size_t k = 0; k < n.inputs.size(); ++k) c.inputs.push_back(input_buf(k));
    const Shape& in_shape = g.shape_of(n.inputs[0]);
    int64_t ih, iw, ic, oh, ow, oc;
    hwc_of(in_shape, ih, iw, ic);
    hwc_of(g.shape_at(i), oh, ow, oc);
    const QFormat& in_f = fmt_of(n.inputs[0]);
    const QFormat& out_f = m.nodes[g.index_of(plan[i].format_from)].output;
    c.formats = in_f.str() + " -> " + out_f.str();
    const bool two_d = in_shape.size() == 3;

    switch (n.op) {
      case OpType::kConv:
      case OpType::kLinear: {
        // Requantization constants, shared by conv and linear.
        c.shift.clear();
        if (in_node.requant.scheme == Scheme::kPow2) {
          for (int s : in_node.requant.shift) c.shift.push_back(static_cast<int8_t>(s));
        } else {
          for (const auto& fm : in_node.requant.multiplier) {
            c.mult.push_back(i32(fm.multiplier));
            c.shift.push_back(static_cast<int8_t>(fm.shift));
          }
        }
        for (int64_t b : in_node.bias) c.bias.push_back(i32(b));
        c.macs = g.macs(n);
        c.formats = in_f.str() + " x " + in_node.weight_format.str() + " -> " + out_f.str();
        if (n.op == OpType::kConv) {
          c.kind = CallKind::kConv;
          const Window win = window_of(n, two_d);
          const int64_t kh = win.kh, kw = win.kw, icg = ic / n.groups;
          c.conv = {i32(ih),
                    i32(iw),
                    i32(ic),
                    i32(oh),
                    i32(ow),
                    i32(oc),
                    win.kh,
                    win.kw,
                    win.sh,
                    win.sw,
                    win.ph,
                    win.pw,
                    i32(n.groups),
                    i32(in_f.zero_point[0]),
                    i32(out_f.zero_point[0]),
                    i32(in_node.act_min),
                    i32(in_node.act_max)};
          // torch [O][I/g][kh][kw] -> kernels [O][kh][kw][I/g]
          c.weights.resize(in_node.weights.size());
          for (int64_t o = 0; o < oc; ++o)
            for (int64_t ci = 0; ci < icg; ++ci)
              for (int64_t y = 0; y < kh; ++y)
                for (int64_t x = 0; x < kw; ++x)
                  c.weights[static_cast<size_t>(((o * kh + y) * kw + x) * icg + ci)] =
                      in_node.weights[static_cast<size_t>(((o * icg + ci) * kh + y) * kw + x)];
          c.scratch_bytes =
              static_cast<int64_t>(p.act_type == DType::kInt8 ? qk_conv_s8_scratch_size(&c.conv)
                                                              : qk_conv_s16_scratch_size(&c.conv));
        } else {
          c.kind = CallKind::kLinear;
          const int64_t in_features = ic, out_features = oc;
          c.linear = {i32(in_features),         i32(out_features),    i32(in_f.zero_point[0]),
                      i32(out_f.zero_point[0]), i32(in_node.act_min), i32(in_node.act_max)};
          c.weights.assign(in_node.weights.begin(), in_node.weights.end());
          const Shape& src = flat_src[g.index_of(n.inputs[0])];
          if (!src.empty() && src.size() > 1) {
            int64_t sh, sw, sc;
            hwc_of(src, sh, sw, sc);
            // torch flatten index c*H*W + p  ->  channels-last memory index p*C + c
            for (int64_t o = 0; o < out_features; ++o)
              for (int64_t ch = 0; ch < sc; ++ch)
                for (int64_t pos = 0; pos < sh * sw; ++pos)
                  c.weights[static_cast<size_t>(o * in_features + pos * sc + ch)] =
                      in_node.weights[static_cast<size_t>(o * in_features + ch * sh * sw + pos)];
          }
          if (p.act_type == DType::kInt8)
            c.scratch_bytes = static_cast<int64_t>(qk_linear_s8_scratch_size(&c.linear));
        }
        break;
      }
      case OpType::kAdd: {
        c.kind = CallKind::kAdd;
        const QFormat& b_f = fmt_of(n.inputs[1]);
        c.add = {i32(oh * ow * oc),        i32(in_f.zero_point[0]), i32(b_f.zero_point[0]),
                 i32(out_f.zero_point[0]), i32(in_node.add.ma),     i32(in_node.add.mb),
                 i32(in_node.add.shift),   i32(in_node.act_min),    i32(in_node.act_max)};
        c.formats = in_f.str() + " + " + b_f.str() + " -> " + out_f.str();
        break;
      }
      case OpType::kMaxPool:
      case OpType::kAvgPool:
        c.kind = n.op == OpType::kMaxPool ? CallKind::kMaxPool : CallKind::kAvgPool;
        {
          const Window win = window_of(n, two_d);
          c.pool = {i32(ih),
                    i32(iw),
                    i32(ic),
                    i32(oh),
                    i32(ow),
                    win.kh,
                    win.kw,
                    win.sh,
                    win.sw,
                    win.ph,
                    win.pw,
                    i32(in_node.act_min),
                    i32(in_node.act_max)};
        }
        break;
      case OpType::kGlobalMaxPool:
      case OpType::kGlobalAvgPool:
        c.kind =
            n.op == OpType::kGlobalMaxPool ? CallKind::kGlobalMaxPool : CallKind::kGlobalAvgPool;
        c.spatial = i32(ih * iw);
        c.channels = i32(ic);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
        c.kind = CallKind::kClamp;
        c.size = i32(ih * iw * ic);
        c.lo = i32(in_node.act_min);
        c.hi = i32(in_node.act_max);
        break;
      default:
        throw ExportError("node '" + n.name + "': op " + op_name(n.op) + " has no kernel");
    }
    const int call_index = static_cast<int>(p.calls.size());
    for (int b : c.inputs)
      p.buffers[static_cast<size_t>(b)].last =
          std::max(p.buffers[static_cast<size_t>(b)].last, call_index);
    c.output = new_buffer(i);
    buf_of[i] = c.output;
    p.scratch_bytes = std::max(p.scratch_bytes, c.scratch_bytes);
    p.calls.push_back(std::move(c));
  }
  p.output = buf_of[g.size() - 1];
  const Shape& out_src = flat_src[g.size() - 1];
  if (out_src.size() > 1 &&
      out_src[0] * (out_src.size() == 3 ? out_src[2] : 1) * out_src[1] != out_src[0])
    throw ExportError(
        "the model output is a flattened feature map whose channels-last order differs "
        "from torch's; end the model with a linear layer or a global pool");
  if (p.calls.empty()) throw ExportError("the model has no layers");
  // The output must survive until it is copied out after the last call.
  p.buffers[static_cast<size_t>(p.output)].last = static_cast<int>(p.calls.size()) - 1;

  std::vector<PlanItem> items;
  for (const auto& b : p.buffers)
    items.push_back({b.elements() * dtype_bytes(p.act_type), b.first, b.last});
  p.plan = plan_arena(items);
  return p;
}

std::string Program::summary() const {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-18s %-15s %-12s %10s %12s  %s\n", "layer", "kernel", "output",
                "weight B", "MACs", "formats (input x weights -> output)");
  o << line;
  for (const auto& c : calls) {
    const int64_t wb = static_cast<int64_t>(c.weights.size()) * dtype_bytes(weight_type) +
                       static_cast<int64_t>(c.bias.size() * 4 + c.shift.size() + c.mult.size() * 4);
    std::snprintf(line, sizeof line, "%-18s %-15s %-12s %10lld %12lld  %s\n", c.node.c_str(),
                  call_kind_name(c.kind), hwc_str(buffers[static_cast<size_t>(c.output)]).c_str(),
                  static_cast<long long>(wb), static_cast<long long>(c.macs), c.formats.c_str());
    o << line;
  }
  std::snprintf(
      line, sizeof line,
      "totals: %s activations, %s weights | flash (weights + constants) %lld B | arena %lld B "
      "(lower bound %lld B) | scratch %lld B | %lld MACs\n",
      dtype_name(act_type), dtype_name(weight_type), static_cast<long long>(weight_bytes()),
      static_cast<long long>(plan.arena_bytes), static_cast<long long>(plan.lower_bound),
      static_cast<long long>(scratch_bytes), static_cast<long long>(macs()));
  o << line;
  return o.str();
}

}  // namespace qat::exporter
