#include "export/program.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "export/fusion.h"
#include "export/packing.h"
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
// The window fields, which conv and pool parameter structs name alike.
template <class Params>
void set_window(Params& p, const Window& w) {
  p.k_h = w.kh;
  p.k_w = w.kw;
  p.stride_h = w.sh;
  p.stride_w = w.sw;
  p.pad_h = w.ph;
  p.pad_w = w.pw;
}

Window window_of(const Node& n, bool two_d) {
  return {i32(two_d ? n.kernel[0] : 1), i32(n.kernel.back()),          i32(two_d ? n.stride[0] : 1),
          i32(n.stride.back()),         i32(two_d ? n.padding[0] : 0), i32(n.padding.back())};
}

}  // namespace

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

qk_requant Call::requant() const {
  return {mult.empty() ? nullptr : mult.data(), shift.data(), shift.size() > 1 ? 1 : 0};
}

int64_t Call::constant_bytes() const {
  if (fused) {
    int64_t bytes = 0;
    for (const Call& l : fused->layers) bytes += l.constant_bytes();
    return bytes;
  }
  const int64_t w =
      weighted() ? storage_bytes(kernel->weight, static_cast<int64_t>(weights.size())) : 0;
  return w + static_cast<int64_t>(bias.size() * 4 + shift.size() + mult.size() * 4);
}

int64_t Program::weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& c : calls) bytes += c.constant_bytes();
  return bytes;
}

std::vector<const Call*> Program::kernel_calls() const {
  std::vector<const Call*> out;
  for (const auto& c : calls) {
    if (c.fused)
      for (const Call& l : c.fused->layers) out.push_back(&l);
    else
      out.push_back(&c);
  }
  return out;
}

int64_t Program::macs() const {
  int64_t m = 0;
  for (const auto& c : calls) m += c.macs;
  return m;
}

namespace {

// Builds a Program node by node, in graph order: every node either aliases its input's buffer
// (flatten, a relu fused into its producer), is the input, or becomes one kernel call with an
// output buffer; then lifetimes are closed and the arena planned.
class ProgramBuilder {
 public:
  explicit ProgramBuilder(const IntModel& m)
      : m_(m),
        g_(m.graph),
        plan_(make_quant_plan(g_)),
        buf_of_(g_.size(), -1),
        flat_src_(g_.size()) {
    p_.act_type = m.activation_type;
    p_.weight_type = m.weight_type;
  }

  Program build() {
    for (size_t i = 0; i < g_.size(); ++i) add_node(i);
    finish();
    return std::move(p_);
  }

 private:
  void add_node(size_t i) {
    const Node& n = g_.at(i);
    if (n.op == OpType::kInput) {
      buf_of_[i] = new_buffer(i, stored_type(i));
      p_.input = buf_of_[i];
      p_.buffers[static_cast<size_t>(p_.input)].external = true;
      return;
    }
    if (n.op == OpType::kFlatten ||
        ((n.op == OpType::kRelu || n.op == OpType::kRelu6) && plan_[i].fused_away)) {
      alias(i);
      return;
    }
    if (n.op == OpType::kBatchNorm)
      throw ExportError("batchnorm node '" + n.name + "' in an integer model");
    Call c = call_of(i);
    append(i, std::move(c));
  }

  // The storage type of node i's output tensor.
  DType stored_type(size_t i) const { return activation_storage(output_format(i)); }

  // The buffer of node i's output in type t: the buffer itself, or a converted copy made once
  // (by a cast call appended now) and shared by every later consumer in that type.
  int buffer_in(int b, DType t) {
    if (p_.buffers[static_cast<size_t>(b)].type == t) return b;
    const auto key = std::make_pair(b, t);
    const auto it = converted_.find(key);
    if (it != converted_.end()) return it->second;
    const int copy = cast_into_new(b, t);
    converted_[key] = copy;
    return copy;
  }

  // Appends a cast of buffer b into a new buffer of type t (same node, same codes).
  int cast_into_new(int b, DType t) {
    const Buffer src = p_.buffers[static_cast<size_t>(b)];
    Call c;
    c.kernel = &find_cast(src.type, t);
    c.node = src.name;
    c.inputs = {b};
    c.params = CastParams{i32(src.elements())};
    c.formats = std::string(dtype_name(src.type)) + " -> " + dtype_name(t);
    const int out = add_buffer(src, t, true);
    push_call(std::move(c), out);
    return out;
  }

  // Flatten and fused relus are views of their input's buffer.
  void alias(size_t i) {
    const Node& n = g_.at(i);
    buf_of_[i] = input_buffer(n, 0);
    const size_t src = g_.index_of(n.inputs[0]);
    flat_src_[i] = n.op == OpType::kFlatten
                       ? (flat_src_[src].empty() ? g_.shape_at(src) : flat_src_[src])
                       : flat_src_[src];
  }

  // The kernel call of node i: the common part, then what its kind needs.
  Call call_of(size_t i) {
    const Node& n = g_.at(i);
    Call c;
    c.node = n.name;
    const QFormat& in_f = format_of(n.inputs[0]);
    const QFormat& out_f = m_.nodes[g_.index_of(plan_[i].format_from)].output;
    c.formats = in_f.str() + " -> " + out_f.str();
    switch (n.op) {
      case OpType::kConv:
        conv_call(i, c);
        break;
      case OpType::kLinear:
        linear_call(i, c);
        break;
      case OpType::kAdd:
        add_call(i, c);
        break;
      case OpType::kMaxPool:
      case OpType::kAvgPool:
        pool_call(i, c);
        break;
      case OpType::kGlobalMaxPool:
      case OpType::kGlobalAvgPool:
        global_pool_call(i, c);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
        clamp_call(i, c);
        break;
      default:
        throw ExportError("node '" + n.name + "': op " + op_name(n.op) + " has no kernel");
    }
    // The inputs in the type the kernel computes in (converted copies where they differ).
    for (size_t k = 0; k < n.inputs.size(); ++k)
      c.inputs.push_back(buffer_in(input_buffer(n, k), c.kernel->act));
    c.scratch_bytes = static_cast<int64_t>(c.kernel->scratch(c.params));
    return c;
  }

  // Requantization constants, bias, MACs and formats shared by conv and linear.
  void weighted_constants(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    if (in_node.requant.scheme == Scheme::kPow2) {
      for (int s : in_node.requant.shift) c.shift.push_back(static_cast<int8_t>(s));
    } else {
      for (const auto& fm : in_node.requant.multiplier) {
        c.mult.push_back(i32(fm.multiplier));
        c.shift.push_back(static_cast<int8_t>(fm.shift));
      }
    }
    for (int64_t b : in_node.bias) c.bias.push_back(i32(b));
    c.macs = g_.macs(n);
    c.formats = format_of(n.inputs[0]).str() + " x " + in_node.weight_format.str() + " -> " +
                output_format(i).str();
  }

  void conv_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    weighted_constants(i, c);
    c.kernel = &find_kernel(CallKind::kConv, compute_type(m_, i), in_node.weight_type);
    const Shape& in_shape = g_.shape_of(n.inputs[0]);
    int64_t ih, iw, ic, oh, ow, oc;
    hwc_of(in_shape, ih, iw, ic);
    hwc_of(g_.shape_at(i), oh, ow, oc);
    const Window win = window_of(n, in_shape.size() == 3);
    const int64_t kh = win.kh, kw = win.kw, icg = ic / n.groups;
    qk_conv_params cp{};
    cp.in_h = i32(ih);
    cp.in_w = i32(iw);
    cp.in_c = i32(ic);
    cp.out_h = i32(oh);
    cp.out_w = i32(ow);
    cp.out_c = i32(oc);
    set_window(cp, win);
    cp.groups = i32(n.groups);
    cp.in_zp = i32(format_of(n.inputs[0]).zero_point[0]);
    cp.out_zp = i32(output_format(i).zero_point[0]);
    cp.act_min = i32(in_node.act_min);
    cp.act_max = i32(in_node.act_max);
    c.params = cp;
    // torch [O][I/g][kh][kw] -> kernels [O][kh][kw][I/g]
    c.weights.resize(in_node.weights.size());
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t ci = 0; ci < icg; ++ci)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            c.weights[static_cast<size_t>(((o * kh + y) * kw + x) * icg + ci)] =
                in_node.weights[static_cast<size_t>(((o * icg + ci) * kh + y) * kw + x)];
  }

  void linear_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    weighted_constants(i, c);
    c.kernel = &find_kernel(CallKind::kLinear, compute_type(m_, i), in_node.weight_type);
    int64_t ih, iw, in_features, oh, ow, out_features;
    hwc_of(g_.shape_of(n.inputs[0]), ih, iw, in_features);
    hwc_of(g_.shape_at(i), oh, ow, out_features);
    qk_linear_params lp{};
    lp.in_features = i32(in_features);
    lp.out_features = i32(out_features);
    lp.in_zp = i32(format_of(n.inputs[0]).zero_point[0]);
    lp.out_zp = i32(output_format(i).zero_point[0]);
    lp.act_min = i32(in_node.act_min);
    lp.act_max = i32(in_node.act_max);
    c.params = lp;
    c.weights.assign(in_node.weights.begin(), in_node.weights.end());
    const Shape& src = flat_src_[g_.index_of(n.inputs[0])];
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
  }

  void add_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    c.kernel = &find_kernel(CallKind::kAdd, compute_type(m_, i), DType::kInt8);
    int64_t oh, ow, oc;
    hwc_of(g_.shape_at(i), oh, ow, oc);
    const QFormat& a_f = format_of(n.inputs[0]);
    const QFormat& b_f = format_of(n.inputs[1]);
    qk_add_params ap{};
    ap.size = i32(oh * ow * oc);
    ap.a_zp = i32(a_f.zero_point[0]);
    ap.b_zp = i32(b_f.zero_point[0]);
    ap.out_zp = i32(output_format(i).zero_point[0]);
    ap.a_mult = i32(in_node.add.ma);
    ap.b_mult = i32(in_node.add.mb);
    ap.shift = i32(in_node.add.shift);
    ap.act_min = i32(in_node.act_min);
    ap.act_max = i32(in_node.act_max);
    c.params = ap;
    c.formats = a_f.str() + " + " + b_f.str() + " -> " + output_format(i).str();
  }

  void pool_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    c.kernel = &find_kernel(n.op == OpType::kMaxPool ? CallKind::kMaxPool : CallKind::kAvgPool,
                            compute_type(m_, i), DType::kInt8);
    const Shape& in_shape = g_.shape_of(n.inputs[0]);
    int64_t ih, iw, ic, oh, ow, oc;
    hwc_of(in_shape, ih, iw, ic);
    hwc_of(g_.shape_at(i), oh, ow, oc);
    const Window win = window_of(n, in_shape.size() == 3);
    qk_pool_params pp{};
    pp.in_h = i32(ih);
    pp.in_w = i32(iw);
    pp.c = i32(ic);
    pp.out_h = i32(oh);
    pp.out_w = i32(ow);
    set_window(pp, win);
    pp.act_min = i32(in_node.act_min);
    pp.act_max = i32(in_node.act_max);
    c.params = pp;
  }

  void global_pool_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    c.kernel = &find_kernel(
        n.op == OpType::kGlobalMaxPool ? CallKind::kGlobalMaxPool : CallKind::kGlobalAvgPool,
        compute_type(m_, i), DType::kInt8);
    int64_t ih, iw, ic;
    hwc_of(g_.shape_of(n.inputs[0]), ih, iw, ic);
    c.params = GlobalPoolParams{i32(ih * iw), i32(ic)};
  }

  // A relu / relu6 that could not be fused into its producer.
  void clamp_call(size_t i, Call& c) {
    const Node& n = g_.at(i);
    const IntNode& in_node = m_.nodes[i];
    c.kernel = &find_kernel(CallKind::kClamp, compute_type(m_, i), DType::kInt8);
    int64_t ih, iw, ic;
    hwc_of(g_.shape_of(n.inputs[0]), ih, iw, ic);
    c.params = ClampParams{i32(ih * iw * ic), i32(in_node.act_min), i32(in_node.act_max)};
  }

  // Gives the call an output buffer in the type it computes in and appends it; when the node's
  // tensor is stored in the other type, a cast into its own buffer follows (exact: the kernel
  // clamped the codes to the tensor's format).
  void append(size_t i, Call c) {
    if (c.weighted() && dtype_bits(c.kernel->weight) < 8)
      c.packed = pack_weights(c.weights, dtype_bits(c.kernel->weight));
    const DType computed = c.kernel->act, stored = stored_type(i);
    Buffer shape;
    shape.name = g_.at(i).name;
    hwc_of(g_.shape_at(i), shape.h, shape.w, shape.c);
    const int out = add_buffer(shape, computed, computed != stored);
    push_call(std::move(c), out);
    buf_of_[i] = computed == stored ? out : cast_into_new(out, stored);
    if (computed != stored) {
      // The cast's source is the converted copy; the node's buffer is the cast's output.
      p_.buffers[static_cast<size_t>(buf_of_[i])].converted = false;
      converted_[std::make_pair(buf_of_[i], computed)] = out;
    }
  }

  // Extends the lifetimes of the call's inputs and appends it with output buffer `out`.
  void push_call(Call c, int out) {
    const int call_index = static_cast<int>(p_.calls.size());
    for (int b : c.inputs) {
      Buffer& buf = p_.buffers[static_cast<size_t>(b)];
      buf.last = std::max(buf.last, call_index);
    }
    c.output = out;
    p_.buffers[static_cast<size_t>(out)].first = call_index;
    p_.buffers[static_cast<size_t>(out)].last = call_index;
    p_.scratch_bytes = std::max(p_.scratch_bytes, c.scratch_bytes);
    p_.calls.push_back(std::move(c));
  }

  // Output checks, the output's lifetime, and the arena plan.
  void finish() {
    p_.output = buf_of_[g_.size() - 1];
    const Shape& out_src = flat_src_[g_.size() - 1];
    if (out_src.size() > 1 &&
        out_src[0] * (out_src.size() == 3 ? out_src[2] : 1) * out_src[1] != out_src[0])
      throw ExportError(
          "the model output is a flattened feature map whose channels-last order differs "
          "from torch's; end the model with a linear layer or a global pool");
    if (p_.calls.empty()) throw ExportError("the model has no layers");
    // The output must survive until it is copied out after the last call.
    p_.buffers[static_cast<size_t>(p_.output)].last = static_cast<int>(p_.calls.size()) - 1;
    add_in_place();
    plan_memory(p_);
  }

  // An add that reads an input for the last time writes its result over it (the kernel reads
  // each element before writing the same element).
  void add_in_place() {
    for (size_t ci = 0; ci < p_.calls.size(); ++ci) {
      const Call& c = p_.calls[ci];
      if (c.kind() != CallKind::kAdd) continue;
      Buffer& out = p_.buffers[static_cast<size_t>(c.output)];
      for (int b : c.inputs) {
        const Buffer& in = p_.buffers[static_cast<size_t>(b)];
        if (in.external || in.last != static_cast<int>(ci) || in.type != out.type ||
            in.elements() != out.elements())
          continue;
        out.alias_of = b;
        out.alias_offset = 0;
        break;
      }
    }
  }

  int new_buffer(size_t node_index, DType type) {
    Buffer b;
    b.name = g_.at(node_index).name;
    hwc_of(g_.shape_at(node_index), b.h, b.w, b.c);
    return add_buffer(b, type, false);
  }

  int add_buffer(Buffer b, DType type, bool converted) {
    b.type = type;
    b.converted = converted;
    b.first = static_cast<int>(p_.calls.size());
    b.last = b.first;
    p_.buffers.push_back(b);
    return static_cast<int>(p_.buffers.size()) - 1;
  }

  int input_buffer(const Node& n, size_t k) const { return buf_of_[g_.index_of(n.inputs.at(k))]; }
  // The format a tensor is stored in (its quantizing node's output format).
  const QFormat& format_of(const std::string& name) const {
    return m_.nodes[g_.index_of(plan_[g_.index_of(name)].format_from)].output;
  }
  const QFormat& output_format(size_t i) const {
    return m_.nodes[g_.index_of(plan_[i].format_from)].output;
  }

  const IntModel& m_;
  const Graph& g_;
  const std::vector<NodePlan> plan_;
  Program p_;
  std::vector<int> buf_of_;
  std::map<std::pair<int, DType>, int> converted_;  // (buffer, type) -> its converted copy
  // For flat tensors that alias a spatial one: its graph shape, so a linear can permute its
  // weights from torch's channel-major flatten order to the channels-last memory order.
  std::vector<Shape> flat_src_;
};

}  // namespace

void plan_memory(Program& p) {
  std::vector<PlanItem> items;
  for (const auto& b : p.buffers) {
    PlanItem it{b.external ? 0 : b.bytes(), b.first, b.last};
    if (b.alias_of >= 0) {
      it.anchor = b.alias_of;
      it.anchor_offset = b.alias_offset;
    }
    items.push_back(it);
  }
  for (size_t ci = 0; ci < p.calls.size(); ++ci)
    if (p.calls[ci].scratch_bytes > 0)
      items.push_back({p.calls[ci].scratch_bytes, static_cast<int>(ci), static_cast<int>(ci)});
  p.plan = plan_arena(items);
  p.scratch_bytes = 0;
  for (const auto& c : p.calls) p.scratch_bytes = std::max(p.scratch_bytes, c.scratch_bytes);
  size_t k = p.buffers.size();
  for (auto& c : p.calls) c.scratch_offset = c.scratch_bytes > 0 ? p.plan.offsets[k++] : -1;
  check_program_memory(p);
}

Program build_program(const IntModel& m) {
  return ProgramBuilder(m).build();
}

void check_program_memory(const Program& p) {
  struct Area {
    std::string what;
    int64_t lo, hi;
    int first, last;
    int buffer;  // -1 for scratch
  };
  std::vector<Area> areas;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const Buffer& bf = p.buffers[b];
    if (bf.external) continue;
    const int64_t off = p.plan.offsets.at(b);
    areas.push_back({"buffer '" + bf.name + "'", off, off + bf.bytes(), bf.first, bf.last,
                     static_cast<int>(b)});
  }
  for (size_t ci = 0; ci < p.calls.size(); ++ci) {
    const Call& c = p.calls[ci];
    if (c.scratch_bytes <= 0) continue;
    areas.push_back({"the scratch of '" + c.node + "'", c.scratch_offset,
                     c.scratch_offset + c.scratch_bytes, static_cast<int>(ci), static_cast<int>(ci),
                     -1});
  }
  // An alias is safe when the call that starts the aliased buffer reads the other buffer for the
  // last time and either is an element-wise add writing each element over the one it reads, or
  // is a fused block whose access trace proves the output far enough below the input.
  const auto declared = [&](const Area& a, const Area& b) {
    if (a.buffer < 0 || b.buffer < 0) return false;
    const Buffer& x = p.buffers[static_cast<size_t>(a.buffer)];
    const Buffer& y = p.buffers[static_cast<size_t>(b.buffer)];
    const auto ok = [&](const Buffer& out, int out_index, int in_index) {
      if (out.alias_of != in_index) return false;
      const Buffer& in = p.buffers[static_cast<size_t>(in_index)];
      const Call& c = p.calls.at(static_cast<size_t>(out.first));
      if (c.output != out_index || in.last != out.first ||
          std::find(c.inputs.begin(), c.inputs.end(), in_index) == c.inputs.end())
        return false;
      if (c.kind() == CallKind::kAdd) return out.alias_offset == 0;
      if (c.kind() != CallKind::kFused || out.alias_offset > 0) return false;
      const FusedBlock& block = *c.fused;
      for (size_t t = 0; t < block.tensors.size(); ++t)
        if (block.tensors[t].buffer == in_index && !block.tensors[t].window)
          return -out.alias_offset >= in_place_distance(block, p, static_cast<int>(t));
      return false;
    };
    return ok(x, a.buffer, b.buffer) || ok(y, b.buffer, a.buffer);
  };
  for (size_t i = 0; i < areas.size(); ++i) {
    const Area& a = areas[i];
    if (a.lo < 0 || a.hi > p.plan.arena_bytes)
      throw ExportError("memory plan: " + a.what + " [" + std::to_string(a.lo) + ", " +
                        std::to_string(a.hi) + ") lies outside the " +
                        std::to_string(p.plan.arena_bytes) + "-byte arena");
    for (size_t j = i + 1; j < areas.size(); ++j) {
      const Area& b = areas[j];
      if (a.first > b.last || b.first > a.last) continue;
      if (a.hi <= b.lo || b.hi <= a.lo || a.lo == a.hi || b.lo == b.hi) continue;
      if (declared(a, b)) continue;
      throw ExportError("memory plan: " + a.what + " and " + b.what +
                        " overlap in the arena while both are alive");
    }
  }
}

std::string Program::type_summary() const {
  // In order of storage width, so the text does not depend on the layer order.
  const std::vector<DType> order = {DType::kInt2, DType::kInt4, DType::kInt8, DType::kInt16};
  const auto join = [&](const auto& used) {
    std::string s;
    for (DType t : order)
      if (used(t)) s += (s.empty() ? "" : " + ") + std::string(dtype_name(t));
    return s;
  };
  const std::string acts = join([&](DType t) {
    return std::any_of(buffers.begin(), buffers.end(),
                       [&](const Buffer& b) { return b.type == t; });
  });
  const std::vector<const Call*> leaves = kernel_calls();
  std::string weights = join([&](DType t) {
    return std::any_of(leaves.begin(), leaves.end(),
                       [&](const Call* c) { return c->weighted() && c->kernel->weight == t; });
  });
  if (weights.empty()) weights = "no";
  return acts + " activations, " + weights + " weights";
}

std::string Program::summary() const {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-18s %-15s %-12s %10s %12s  %s\n", "layer", "kernel", "output",
                "weight B", "MACs", "formats (input x weights -> output)");
  o << line;
  const auto row = [&](const Call& c, const std::string& prefix) {
    std::snprintf(line, sizeof line, "%-18s %-15s %-12s %10lld %12lld  %s\n",
                  (prefix + c.node).c_str(), call_kind_name(c.kind()),
                  hwc_str(buffers[static_cast<size_t>(c.output)]).c_str(),
                  static_cast<long long>(c.constant_bytes()), static_cast<long long>(c.macs),
                  c.formats.c_str());
    o << line;
  };
  for (const auto& c : calls) {
    row(c, "");
    if (c.fused)
      for (const Call& l : c.fused->layers) row(l, "  ");
  }
  std::snprintf(
      line, sizeof line,
      "totals: %s | flash (weights + constants) %lld B | arena %lld B "
      "(activations + scratch; lower bound %lld B; largest scratch %lld B) | input %lld B "
      "read in place | %lld MACs\n",
      type_summary().c_str(), static_cast<long long>(weight_bytes()),
      static_cast<long long>(plan.arena_bytes), static_cast<long long>(plan.lower_bound),
      static_cast<long long>(scratch_bytes), static_cast<long long>(input_bytes()),
      static_cast<long long>(macs()));
  o << line;
  return o.str();
}

}  // namespace qat::exporter
