#include "export/engine.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>

#include "qat/errors.h"

namespace qat::exporter {

Engine::Engine(const Program& program, PackedWeights packed) : p_(program) {
  arena_.assign(static_cast<size_t>((p_.plan.arena_bytes + 7) / 8), 0);
  input_.assign(static_cast<size_t>((p_.input_bytes() + 7) / 8), 0);
  // Kernel-typed weights, converted once (packed ones as the program packed them).
  for (const auto& c : p_.calls) {
    w8_.emplace_back();
    w16_.emplace_back();
    fused_.emplace_back();
    kernel_.push_back(c.kernel);
    if (c.kind() == CallKind::kFused) {
      auto f = std::make_unique<Fused>();
      f->d = describe(*c.fused, p_);
      f->w8.resize(c.fused->layers.size());
      f->w16.resize(c.fused->layers.size());
      for (size_t k = 0; k < c.fused->layers.size(); ++k) {
        const Call& l = c.fused->layers[k];
        if (!l.weighted()) continue;
        if (!l.packed.empty()) {
          f->d.layers[k].weights = l.packed.data();
        } else if (l.kernel->weight == DType::kInt16) {
          f->w16[k].assign(l.weights.begin(), l.weights.end());
          f->d.layers[k].weights = f->w16[k].data();
        } else {
          f->w8[k].assign(l.weights.begin(), l.weights.end());
          f->d.layers[k].weights = f->w8[k].data();
        }
      }
      fused_.back() = std::move(f);
      continue;
    }
    if (!c.weighted()) continue;
    if (!c.packed.empty() && packed == PackedWeights::kUnpackedOnce) {
      kernel_.back() = &find_kernel(c.kind(), c.kernel->act, DType::kInt8);
      w8_.back().assign(c.weights.begin(), c.weights.end());
    }
    if (c.kernel->weight == DType::kInt8) w8_.back().assign(c.weights.begin(), c.weights.end());
    if (c.kernel->weight == DType::kInt16) w16_.back().assign(c.weights.begin(), c.weights.end());
  }
}

void* Engine::ptr(int buffer) {
  if (p_.buffers[static_cast<size_t>(buffer)].external) return input_.data();
  return reinterpret_cast<uint8_t*>(arena_.data()) + p_.plan.offsets[static_cast<size_t>(buffer)];
}

void Engine::poison_dead(size_t call) {
  const int ci = static_cast<int>(call);
  // Byte ranges that are dead after this call, minus those of buffers still alive.
  std::vector<std::pair<int64_t, int64_t>> dead, live;
  for (size_t b = 0; b < p_.buffers.size(); ++b) {
    const Buffer& bf = p_.buffers[b];
    if (bf.external) continue;
    const int64_t lo = p_.plan.offsets[b], hi = lo + bf.bytes();
    if (bf.last == ci && static_cast<int>(b) != p_.output)
      dead.emplace_back(lo, hi);
    else if (bf.first <= ci && ci < bf.last)
      live.emplace_back(lo, hi);
    else if (static_cast<int>(b) == p_.output && bf.first <= ci)
      live.emplace_back(lo, hi);
  }
  const Call& c = p_.calls[call];
  if (c.scratch_offset >= 0)
    dead.emplace_back(c.scratch_offset, c.scratch_offset + c.scratch_bytes);
  uint8_t* base = reinterpret_cast<uint8_t*>(arena_.data());
  for (const auto& [lo, hi] : dead)
    for (int64_t x = lo; x < hi; ++x) {
      bool keep = false;
      for (const auto& [a, b] : live) keep = keep || (a <= x && x < b);
      if (!keep) base[x] = 0x5A;
    }
}

namespace {

int32_t code_at(const void* base, DType t, size_t i) {
  return t == DType::kInt8 ? static_cast<const int8_t*>(base)[i]
                           : static_cast<const int16_t*>(base)[i];
}

void set_code(void* base, DType t, size_t i, int32_t v) {
  if (t == DType::kInt8)
    static_cast<int8_t*>(base)[i] = static_cast<int8_t>(v);
  else
    static_cast<int16_t*>(base)[i] = static_cast<int16_t>(v);
}

}  // namespace

std::vector<int32_t> Engine::buffer_codes(int buffer) const {
  const Buffer& b = p_.buffers[static_cast<size_t>(buffer)];
  const uint8_t* base = b.external ? reinterpret_cast<const uint8_t*>(input_.data())
                                   : reinterpret_cast<const uint8_t*>(arena_.data()) +
                                         p_.plan.offsets[static_cast<size_t>(buffer)];
  std::vector<int32_t> out(static_cast<size_t>(b.elements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = code_at(base, b.type, i);
  return out;
}

void Engine::run(const std::vector<int32_t>& input, std::vector<int32_t>& output) {
  if (static_cast<int64_t>(input.size()) != p_.input_elements())
    throw ExportError("engine: input has " + std::to_string(input.size()) + " codes, expected " +
                      std::to_string(p_.input_elements()));
  // Input codes into the arena.
  void* in = ptr(p_.input);
  for (size_t i = 0; i < input.size(); ++i) set_code(in, p_.input_type(), i, input[i]);
  for (size_t ci = 0; ci < p_.calls.size(); ++ci) {
    const Call& c = p_.calls[ci];
    if (c.kind() == CallKind::kFused) {
      const FusedBlock& b = *c.fused;
      std::vector<void*> data;
      for (const FusedBlock::Tensor& t : b.tensors) data.push_back(ptr(t.buffer));
      void* scratch = c.scratch_offset >= 0
                          ? reinterpret_cast<uint8_t*>(arena_.data()) + c.scratch_offset
                          : nullptr;
      const int32_t e =
          qk_fused_run(&fused_[ci]->d.block, data.data(), ptr(b.work_buffer), scratch);
      if (e != QK_FUSED_OK)
        throw ExportError("engine: fused block " + b.name + " failed (qk_fused_run " +
                          std::to_string(e) + ")");
      if (poison_) poison_dead(ci);
      continue;
    }
    const qk_requant rq = c.requant();
    KernelArgs args;
    args.params = param_data(c.params);
    for (size_t k = 0; k < c.inputs.size() && k < 2; ++k) args.in[k] = ptr(c.inputs[k]);
    args.out = ptr(c.output);
    if (c.weighted()) {
      args.weights = !w8_[ci].empty()    ? static_cast<const void*>(w8_[ci].data())
                     : !c.packed.empty() ? static_cast<const void*>(c.packed.data())
                                         : static_cast<const void*>(w16_[ci].data());
      args.bias = c.bias.data();
      args.rq = &rq;
      args.scratch = c.scratch_offset >= 0
                         ? reinterpret_cast<uint8_t*>(arena_.data()) + c.scratch_offset
                         : nullptr;
    }
    kernel_[ci]->run(args);
    if (poison_) poison_dead(ci);
  }
  const void* o = ptr(p_.output);
  output.resize(static_cast<size_t>(p_.output_elements()));
  for (size_t i = 0; i < output.size(); ++i) output[i] = code_at(o, p_.output_type(), i);
}

std::vector<int32_t> quantize_input(const float* chw, const Shape& shape, const QFormat& f) {
  int64_t h, w, c;
  hwc_of(shape, h, w, c);
  std::vector<int32_t> q(static_cast<size_t>(h * w * c));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t pos = 0; pos < h * w; ++pos)
      q[static_cast<size_t>(pos * c + ci)] =
          static_cast<int32_t>(f.quantize(static_cast<double>(chw[ci * h * w + pos])));
  return q;
}

std::vector<TestVector> random_test_vectors(const IntModel& m, const Program& p, int n,
                                            uint32_t seed) {
  std::mt19937 rng(seed);
  const QFormat& f = m.input_format();
  std::uniform_int_distribution<int64_t> dist(f.qmin(), f.qmax());
  Engine engine(p);
  std::vector<TestVector> vectors(static_cast<size_t>(n));
  for (auto& v : vectors) {
    for (int64_t k = 0; k < p.input_elements(); ++k)
      v.input.push_back(static_cast<int32_t>(dist(rng)));
    engine.run(v.input, v.output);
  }
  return vectors;
}

std::vector<double> run_batch(const IntModel& m, const Program& p, const float* inputs, int64_t n,
                              int threads) {
  const Shape& in_shape = m.graph.input_node().shape;
  int64_t numel = 1;
  for (auto d : in_shape) numel *= d;
  const int64_t outs = p.output_elements();
  const Shape& out_shape = m.graph.shape_at(m.graph.size() - 1);
  std::vector<double> result(static_cast<size_t>(n * outs));
  const QFormat& in_f = m.input_format();
  const QFormat& out_f = m.output_format();
  threads = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  auto worker = [&](int t) {
    Engine e(p, PackedWeights::kUnpackedOnce);
    std::vector<int32_t> out;
    for (int64_t i = t; i < n; i += threads) {
      e.run(quantize_input(inputs + i * numel, in_shape, in_f), out);
      std::vector<double> real(out.size());
      for (size_t k = 0; k < out.size(); ++k) real[k] = out_f.dequantize(out[k]);
      // Back to torch's channel-first order for scoring.
      const std::vector<double> chw = to_channels_first(real.data(), out_shape);
      std::copy(chw.begin(), chw.end(), result.begin() + i * outs);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
  return result;
}

}  // namespace qat::exporter
