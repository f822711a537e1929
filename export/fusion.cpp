#include "export/fusion.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "qat/errors.h"

namespace qat::exporter {

bool is_global_pool(const Call& c) {
  return c.kind() == CallKind::kGlobalMaxPool || c.kind() == CallKind::kGlobalAvgPool;
}

int block_tile_buffer(const Program& p, int last) {
  const Call& c = p.calls[static_cast<size_t>(last)];
  return is_global_pool(c) ? c.inputs.at(0) : c.output;
}

bool fusable_call(const Call& c) {
  switch (c.kind()) {
    case CallKind::kConv:
    case CallKind::kMaxPool:
    case CallKind::kAvgPool:
    case CallKind::kAdd:
    case CallKind::kClamp:
    case CallKind::kCast:
    case CallKind::kGlobalMaxPool:
    case CallKind::kGlobalAvgPool:
      return fused_kind(*c.kernel) >= 0;
    default:
      return false;
  }
}

std::string fusable(const Program& p, int first, int last) {
  const int n = static_cast<int>(p.calls.size());
  if (first < 0 || last < first || last >= n)
    return "calls " + std::to_string(first) + ".." + std::to_string(last) +
           " are not a range of the " + std::to_string(n) + " calls";
  std::set<int> produced;
  for (int i = first; i <= last; ++i) {
    const Call& c = p.calls[static_cast<size_t>(i)];
    if (!fusable_call(c))
      return "'" + c.node + "' is a " + call_kind_name(c.kind()) + ", which a block cannot hold";
    if (is_global_pool(c) && (i != last || i == first))
      return "'" + c.node + "' is a global pool, which can only end a block of several calls";
    if (i < last) produced.insert(c.output);
  }
  if (is_global_pool(p.calls[static_cast<size_t>(last)])) {
    const int in = p.calls[static_cast<size_t>(last)].inputs.at(0);
    if (!produced.count(in))
      return "the global pool '" + p.calls[static_cast<size_t>(last)].node +
             "' must reduce a tensor the block computes";
    for (int i = first; i < last; ++i)
      for (int b : p.calls[static_cast<size_t>(i)].inputs)
        if (b == in) return "the tensor the global pool reduces is read by another layer";
  }
  for (int b : produced) {
    if (b == p.output) return "the model output would be inside the block";
    for (int i = 0; i < n; ++i) {
      if (i >= first && i <= last) continue;
      const Call& c = p.calls[static_cast<size_t>(i)];
      if (std::find(c.inputs.begin(), c.inputs.end(), b) != c.inputs.end())
        return "'" + p.buffers[static_cast<size_t>(b)].name + "' is also read by '" + c.node +
               "' outside the block";
    }
  }
  std::set<int> tensors;
  for (int i = first; i <= last; ++i) {
    const Call& c = p.calls[static_cast<size_t>(i)];
    tensors.insert(c.inputs.begin(), c.inputs.end());
    tensors.insert(c.output);
  }
  if (tensors.size() > QK_FUSED_MAX_TENSORS)
    return "a block holds at most " + std::to_string(QK_FUSED_MAX_TENSORS) + " tensors";
  const Buffer& out = p.buffers[static_cast<size_t>(block_tile_buffer(p, last))];
  for (int i = first; i <= last; ++i)
    for (int b : p.calls[static_cast<size_t>(i)].inputs)
      if ((p.buffers[static_cast<size_t>(b)].h == 1) != (out.h == 1) && out.h == 1)
        return "a block mixes 1D and 2D tensors";
  return "";
}

FusedDescriptor describe(const FusedBlock& b, const Program& p) {
  FusedDescriptor d;
  for (const FusedBlock::Tensor& t : b.tensors) {
    const Buffer& bf = p.buffers[static_cast<size_t>(t.buffer)];
    qk_fused_tensor ft{};
    ft.h = static_cast<int32_t>(bf.h);
    ft.w = static_cast<int32_t>(bf.w);
    ft.c = static_cast<int32_t>(bf.c);
    ft.elem_bytes = static_cast<int32_t>(dtype_bytes(bf.type));
    ft.storage = t.window ? QK_FUSED_WINDOW : QK_FUSED_WHOLE;
    ft.capacity = t.window ? static_cast<int32_t>(std::max<int64_t>(0, bf.window_bytes)) : 0;
    d.tensors.push_back(ft);
  }
  d.rq.resize(b.layers.size());
  d.clamp.resize(b.layers.size());
  d.layers.resize(b.layers.size());
  for (size_t k = 0; k < b.layers.size(); ++k) {
    const Call& c = b.layers[k];
    qk_fused_layer& l = d.layers[k];
    l.kind = fused_kind(*c.kernel);
    l.fn = fused_function(*c.kernel);
    if (c.kind() == CallKind::kClamp) {
      const auto& cp = std::get<ClampParams>(c.params);
      d.clamp[k] = {cp.lo, cp.hi};
      l.params = &d.clamp[k];
    } else if (c.kind() == CallKind::kCast || is_global_pool(c)) {
      l.params = nullptr;
    } else {
      l.params = param_data(c.params);
    }
    if (c.weighted()) {
      d.rq[k] = c.requant();
      l.rq = &d.rq[k];
      l.bias = c.bias.empty() ? nullptr : c.bias.data();
    }
    l.in0 = b.io[k].in0;
    l.in1 = b.io[k].in1;
    l.out = b.io[k].out;
  }
  d.block.tensors = d.tensors.data();
  d.block.n_tensors = static_cast<int32_t>(d.tensors.size());
  d.block.layers = d.layers.data();
  d.block.n_layers = static_cast<int32_t>(d.layers.size());
  d.block.output = b.output;
  d.block.tile_h = b.tile_h;
  d.block.tile_w = b.tile_w;
  d.block.retain = b.retain ? 1 : 0;
  d.block.work_bytes = static_cast<int32_t>(b.work_bytes);
  return d;
}

namespace {

struct Access {
  int64_t call;
  int32_t tensor;
  bool write;
  int64_t lo, hi;
  bool elementwise;
};

void record(void* ctx, int64_t call, int32_t tensor, int32_t write, int64_t lo, int64_t hi,
            int32_t elementwise) {
  static_cast<std::vector<Access>*>(ctx)->push_back(
      {call, tensor, write != 0, lo, hi, elementwise != 0});
}

qk_fused_stats plan_block(const FusedDescriptor& d, std::vector<Access>* trace) {
  std::vector<int64_t> state((qk_fused_state_size(&d.block) + 7) / 8 + 1);
  qk_fused_stats st{};
  qk_fused_plan(&d.block, state.data(), &st, trace ? record : nullptr, trace);
  return st;
}

const char* fused_error(int32_t e) {
  switch (e) {
    case QK_FUSED_E_BLOCK:
      return "inconsistent block";
    case QK_FUSED_E_REGION:
      return "a layer needs input the block does not hold";
    case QK_FUSED_E_CAPACITY:
      return "a buffer is too small";
    default:
      return "unknown error";
  }
}

int64_t round8(int64_t v) {
  return (v + 7) / 8 * 8;
}

}  // namespace

int64_t in_place_distance(const FusedBlock& block, const Program& p, int input) {
  const FusedDescriptor d = describe(block, p);
  std::vector<Access> trace;
  const qk_fused_stats st = plan_block(d, &trace);
  if (st.error != QK_FUSED_OK)
    throw ExportError("fused block " + block.name + ": " + fused_error(st.error));
  const bool same_elements = d.tensors[static_cast<size_t>(input)].elem_bytes ==
                             d.tensors[static_cast<size_t>(block.output)].elem_bytes;
  // For every write of the output: the lowest byte of `input` that a later call reads, or the
  // same call unless it is element-wise over equal element sizes (each element read before the
  // one at its index is written, and the output is never above the input).
  std::map<int64_t, int64_t> lowest;       // call -> lowest byte of `input` it reads
  std::map<int64_t, int64_t> lowest_same;  // the same, non-element-wise reads only
  for (const Access& a : trace) {
    if (a.write || a.tensor != input) continue;
    auto it = lowest.emplace(a.call, a.lo).first;
    it->second = std::min(it->second, a.lo);
    if (!a.elementwise || !same_elements) {
      auto jt = lowest_same.emplace(a.call, a.lo).first;
      jt->second = std::min(jt->second, a.lo);
    }
  }
  std::vector<std::pair<int64_t, int64_t>> suffix(lowest.begin(), lowest.end());  // (call, min)
  for (size_t k = suffix.size(); k-- > 1;)
    suffix[k - 1].second = std::min(suffix[k - 1].second, suffix[k].second);
  int64_t distance = 0;
  for (const Access& a : trace) {
    if (!a.write || a.tensor != block.output) continue;
    int64_t low = std::numeric_limits<int64_t>::max();
    const auto later = std::upper_bound(
        suffix.begin(), suffix.end(), a.call,
        [](int64_t c, const std::pair<int64_t, int64_t>& e) { return c < e.first; });
    if (later != suffix.end()) low = later->second;
    const auto same = lowest_same.find(a.call);
    if (same != lowest_same.end()) low = std::min(low, same->second);
    if (low != std::numeric_limits<int64_t>::max()) distance = std::max(distance, a.hi - low);
  }
  return round8(distance);
}

Program fuse(const Program& lw, const std::vector<BlockChoice>& choices_in) {
  std::vector<BlockChoice> choices = choices_in;
  std::sort(choices.begin(), choices.end(),
            [](const BlockChoice& a, const BlockChoice& b) { return a.first < b.first; });
  for (size_t k = 0; k < choices.size(); ++k) {
    const std::string why = fusable(lw, choices[k].first, choices[k].last);
    if (!why.empty())
      throw ExportError("cannot fuse calls " + std::to_string(choices[k].first) + ".." +
                        std::to_string(choices[k].last) + ": " + why);
    if (k > 0 && choices[k].first <= choices[k - 1].last)
      throw ExportError("fused blocks overlap at call " + std::to_string(choices[k].first));
  }
  Program p;
  p.act_type = lw.act_type;
  p.weight_type = lw.weight_type;
  p.buffers = lw.buffers;
  p.input = lw.input;
  p.output = lw.output;
  // Old call index -> new one.
  std::vector<int> remap(lw.calls.size(), -1);
  std::vector<const BlockChoice*> block_at(lw.calls.size(), nullptr);
  for (const BlockChoice& c : choices) block_at[static_cast<size_t>(c.first)] = &c;
  std::set<int> in_block_buffers;  // windows and block outputs: their old aliases do not hold
  struct Pending {
    size_t call;
    const BlockChoice* choice;
  };
  std::vector<Pending> pending;
  for (size_t i = 0; i < lw.calls.size();) {
    const int index = static_cast<int>(p.calls.size());
    if (!block_at[i]) {
      remap[i] = index;
      p.calls.push_back(lw.calls[i]);
      ++i;
      continue;
    }
    const BlockChoice& ch = *block_at[i];
    auto block = std::make_shared<FusedBlock>();
    block->name = "fused" + std::to_string(pending.size());
    block->tile_h = std::max(1, ch.tile_h);
    block->tile_w = std::max(1, ch.tile_w);
    block->retain = ch.retain;
    std::map<int, int> tensor_of;  // program buffer -> block tensor
    const int out_buffer = lw.calls[static_cast<size_t>(ch.last)].output;
    std::set<int> produced;
    for (int k = ch.first; k < ch.last; ++k)
      produced.insert(lw.calls[static_cast<size_t>(k)].output);
    const auto tensor = [&](int buffer) {
      const auto it = tensor_of.find(buffer);
      if (it != tensor_of.end()) return it->second;
      FusedBlock::Tensor t;
      t.buffer = buffer;
      t.window = produced.count(buffer) != 0;
      block->tensors.push_back(t);
      const int idx = static_cast<int>(block->tensors.size()) - 1;
      tensor_of[buffer] = idx;
      return idx;
    };
    Call fc;
    fc.kernel = &fused_kernel();
    fc.node = block->name;
    fc.params = FusedParams{};
    for (int k = ch.first; k <= ch.last; ++k) {
      const Call& c = lw.calls[static_cast<size_t>(k)];
      FusedBlock::Io io;
      io.in0 = tensor(c.inputs.at(0));
      io.in1 = c.inputs.size() > 1 ? tensor(c.inputs[1]) : -1;
      io.out = tensor(c.output);
      block->layers.push_back(c);
      block->io.push_back(io);
      block->layerwise_macs += c.macs;
      fc.scratch_bytes = std::max(fc.scratch_bytes, c.scratch_bytes);
      for (int b : c.inputs)
        if (!produced.count(b) &&
            std::find(fc.inputs.begin(), fc.inputs.end(), b) == fc.inputs.end())
          fc.inputs.push_back(b);
      remap[static_cast<size_t>(k)] = index;
    }
    block->output = tensor_of.at(out_buffer);
    fc.output = out_buffer;
    fc.formats = std::to_string(block->layers.size()) + " layers, " +
                 (block->retain ? "line buffers" : "patches");
    for (int b : produced) in_block_buffers.insert(b);
    in_block_buffers.insert(out_buffer);
    fc.fused = block;
    p.calls.push_back(std::move(fc));
    pending.push_back({p.calls.size() - 1, &ch});
    i = static_cast<size_t>(ch.last) + 1;
  }
  // Lifetimes in the new call indices.
  for (auto& b : p.buffers) {
    b.first = remap[static_cast<size_t>(b.first)];
    b.last = remap[static_cast<size_t>(b.last)];
  }
  for (int b : in_block_buffers) {
    Buffer& bf = p.buffers[static_cast<size_t>(b)];
    bf.alias_of = -1;
    bf.alias_offset = 0;
  }
  // Size each block's windows and work buffer with the executor's own walk.
  for (const Pending& pd : pending) {
    Call& fc = p.calls[pd.call];
    FusedBlock& block = *fc.fused;
    FusedDescriptor d = describe(block, p);
    const qk_fused_stats st = plan_block(d, nullptr);
    if (st.error != QK_FUSED_OK)
      throw ExportError("fused block " + block.name + " (" + block.layers.front().node + " .. " +
                        block.layers.back().node + "): " + fused_error(st.error));
    block.stats = st;
    for (size_t t = 0; t < block.tensors.size(); ++t)
      if (block.tensors[t].window) {
        Buffer& bf = p.buffers[static_cast<size_t>(block.tensors[t].buffer)];
        bf.window_bytes = st.window_bytes[t];
        bf.first = bf.last = static_cast<int>(pd.call);
      }
    block.work_bytes = round8(static_cast<int64_t>(qk_fused_state_size(&d.block)) + st.stage_bytes);
    Buffer work;
    work.name = block.name + ".work";
    work.window_bytes = block.work_bytes;
    work.first = work.last = static_cast<int>(pd.call);
    p.buffers.push_back(work);
    block.work_buffer = static_cast<int>(p.buffers.size()) - 1;
    fc.macs = st.macs;
    if (pd.choice->in_place) {
      // The largest whole input the block reads for the last time takes the output.
      int best = -1;
      for (size_t t = 0; t < block.tensors.size(); ++t) {
        const FusedBlock::Tensor& ft = block.tensors[t];
        const Buffer& bf = p.buffers[static_cast<size_t>(ft.buffer)];
        if (ft.window || static_cast<int>(t) == block.output || bf.external ||
            bf.last != static_cast<int>(pd.call) || bf.alias_of >= 0)
          continue;
        if (best < 0 ||
            bf.bytes() >
                p.buffers[static_cast<size_t>(block.tensors[static_cast<size_t>(best)].buffer)]
                    .bytes())
          best = static_cast<int>(t);
      }
      if (best >= 0) {
        const int64_t dist = in_place_distance(block, p, best);
        Buffer& out = p.buffers[static_cast<size_t>(fc.output)];
        out.alias_of = block.tensors[static_cast<size_t>(best)].buffer;
        out.alias_offset = -dist;
        block.in_place_distance = dist;
      }
    }
  }
  // The scratch of a fused call serves its layers one after the other.
  plan_memory(p);
  return p;
}

}  // namespace qat::exporter
