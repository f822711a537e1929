// ONNX writer (export/onnx_writer.h) on integer models built here by hand: three small nets are
// "calibrated" on random data by a double-precision reference of the IntModel semantics
// (dequantized weights, float conv loops, round half up into every activation format), exported,
// and checked for structure (op counts, initializer types, per-channel axes, names, metadata),
// for the int16 refusal and for consistency errors. When /usr/bin/python3 has onnx, torch and
// numpy, tests/onnx_eval.py evaluates the exported files independently; every quantization step
// is compared with the reference (teacher-forced, at most 1 LSB and only at ties), and the end
// to end results with the reference and the integer engine.
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "export/engine.h"
#include "export/onnx_writer.h"
#include "export/program.h"
#include "qat/errors.h"
#include "qat/number_format.h"
#include "qat/quant_plan.h"

namespace {

using qat::Activation;
using qat::Graph;
using qat::Node;
using qat::OpType;
using qat::QFormat;
using qat::Scheme;
using qat::exporter::IntModel;
using qat::exporter::IntNode;

// ---------------------------------------------------------------------------------------------
// Double-precision reference of an IntModel. Values are real numbers in [N, C, H, W] order; a 1D
// tensor [C, L] is H = 1, a flat one [C] is H = W = 1, so one set of loops serves 1D and 2D.

using Values = std::vector<double>;

struct Dims {
  int64_t c = 1, h = 1, w = 1;
  int64_t size() const { return c * h * w; }
};

Dims dims_of(const qat::Shape& s) {
  if (s.size() == 1) return {s[0], 1, 1};
  if (s.size() == 2) return {s[0], 1, s[1]};
  return {s[0], s[1], s[2]};
}

struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
};

Window window_of(const Node& n) {
  if (n.kernel.size() == 1) return {1, n.kernel[0], 1, n.stride[0], 0, n.padding[0]};
  return {n.kernel[0], n.kernel[1], n.stride[0], n.stride[1], n.padding[0], n.padding[1]};
}

// How each quantization step of the reference fell: exact ties (where half up and half to even
// differ) and near ties (within float32 noise of one, where float32 ONNX may round differently).
struct Ties {
  int64_t exact = 0, near = 0, output_exact = 0, steps = 0;
};

// What the builder chooses while calibrating.
struct Recipe {
  Scheme scheme = Scheme::kAffine;
  std::set<std::string> per_channel;    // conv/linear nodes with per-channel weights
  std::map<std::string, int> act_bits;  // activation bits per node (default 8)
  uint32_t seed = 1;
};

std::pair<int64_t, int64_t> act_bounds(const QFormat& f, Activation a) {
  int64_t lo = f.qmin(), hi = f.qmax();
  if (a != Activation::kNone) lo = std::max(lo, f.zero_point[0]);
  if (a == Activation::kRelu6) hi = std::min(hi, f.quantize(6.0));
  return {lo, hi};
}

double apply(Activation a, double x) {
  if (a == Activation::kRelu) return std::max(x, 0.0);
  if (a == Activation::kRelu6) return std::clamp(x, 0.0, 6.0);
  return x;
}

class Reference {
 public:
  // With a recipe, run() calibrates: it draws float weights, picks every format from the values
  // it sees (min/max) and writes the integer model into `m` as it goes.
  Reference(IntModel& m, const Recipe* recipe)
      : m_(m), recipe_(recipe), plan_(qat::make_quant_plan(m.graph)) {
    if (recipe_) rng_.seed(recipe_->seed);
  }

  Values run(const Values& x, int64_t batch, Ties* ties) {
    const Graph& g = m_.graph;
    n_ = batch;
    ties_ = ties;
    v_.assign(g.size(), {});
    if (recipe_) m_.nodes.assign(g.size(), IntNode{});
    for (size_t i = 0; i < g.size(); ++i) {
      const Node& n = g.at(i);
      IntNode& q = m_.nodes[i];
      if (recipe_) q.name = n.name;
      output_ = i + 1 == g.size();
      switch (n.op) {
        case OpType::kInput:
          v_[i] = finish(i, x, Activation::kNone);
          break;
        case OpType::kConv:
        case OpType::kLinear: {
          Values y = conv(i);  // sets q.activation when calibrating
          v_[i] = finish(i, std::move(y), q.activation);
          break;
        }
        case OpType::kAdd: {
          const Values& a = in(i, 0);
          const Values& b = in(i, 1);
          Values y(a.size());
          for (size_t k = 0; k < y.size(); ++k) y[k] = a[k] + b[k];
          if (recipe_) q.activation = plan_[i].fused;
          v_[i] = finish(i, y, q.activation);
          break;
        }
        case OpType::kRelu:
        case OpType::kRelu6:
          v_[i] = plan_[i].fused_away
                      ? in(i)
                      : finish(i, in(i),
                               n.op == OpType::kRelu ? Activation::kRelu : Activation::kRelu6);
          break;
        case OpType::kMaxPool:
          v_[i] = finish(i, pool(i), Activation::kNone);
          break;
        case OpType::kGlobalMaxPool:
          v_[i] = finish(i, global_pool(i), Activation::kNone);
          break;
        case OpType::kAvgPool:
        case OpType::kGlobalAvgPool: {
          // Means in code units of the (shared) format, exact like the integer kernel's
          // rounded mean, so that ties are seen as ties.
          const QFormat& f = format_of(in_index(i));
          Values codes = in(i);
          for (double& v : codes) v = double(f.quantize(v) - f.zero_point[0]);
          std::swap(v_[in_index(i)], codes);
          Values y = n.op == OpType::kAvgPool ? pool(i) : global_pool(i);
          std::swap(v_[in_index(i)], codes);
          v_[i] = finish(i, std::move(y), Activation::kNone, true);
          break;
        }
        case OpType::kFlatten:
          v_[i] = finish(i, in(i), Activation::kNone);
          break;
        case OpType::kBatchNorm:
          ADD_FAILURE() << "batchnorm in an integer model";
          break;
      }
      if (on_output && !plan_[i].fused_away) on_output(i, v_[i], tie_);
    }
    return v_.back();
  }

  // Called after every node that produces its own tensor: may compare it with another
  // evaluation and replace it (teacher forcing, so each step is checked from the same inputs).
  // `tie` marks the elements whose rounding was an exact or near tie.
  std::function<void(size_t, Values&, const std::vector<char>&)> on_output;

  const QFormat& format_of(size_t i) const {
    const IntNode& q = m_.nodes[i];
    return q.has_output_format ? q.output : format_of(m_.graph.index_of(m_.graph.at(i).inputs[0]));
  }

 private:
  const Values& in(size_t i, size_t k = 0) const {
    return v_[m_.graph.index_of(m_.graph.at(i).inputs.at(k))];
  }
  size_t in_index(size_t i) const { return m_.graph.index_of(m_.graph.at(i).inputs[0]); }

  QFormat choose_format(const Values& y, int bits) const {
    double lo = 0, hi = 0;
    for (double v : y) lo = std::min(lo, v), hi = std::max(hi, v);
    if (recipe_->scheme == Scheme::kPow2)
      return QFormat::pow2(bits, {qat::pow2_frac_bits(std::max(-lo, hi), bits)});
    const qat::AffineParams p = qat::affine_params(lo, hi, bits, false, true);
    return QFormat::affine(bits, true, {p.scale}, {p.zero_point});
  }

  // Applies the activation, then rounds half up into the node's format (chosen here when
  // calibrating: own quantizer for input/conv/linear/add, the input's format otherwise).
  Values finish(size_t i, Values y, Activation act, bool in_codes = false) {
    const Node& n = m_.graph.at(i);
    IntNode& q = m_.nodes[i];
    for (double& v : y) v = apply(act, v);
    if (recipe_) {
      q.has_output_format = true;
      if (plan_[i].quantizes_output) {
        const auto it = recipe_->act_bits.find(n.name);
        q.output = choose_format(y, it == recipe_->act_bits.end() ? 8 : it->second);
      } else {
        q.output = format_of(in_index(i));
      }
      std::tie(q.act_min, q.act_max) = act_bounds(q.output, act);
      if (n.op == OpType::kAdd)
        q.add = qat::make_add_rescale(format_of(in_index(i)),
                                      format_of(m_.graph.index_of(n.inputs[1])), q.output);
      if (n.has_weights())
        q.requant =
            qat::make_requant(format_of(in_index(i)), q.weight_format, q.output, q.acc_bound);
    }
    const QFormat& f = q.output;
    tie_.assign(y.size(), 0);
    for (size_t e = 0; e < y.size(); ++e) {
      double& v = y[e];
      // t: the value in code units (relative to the zero point), where ties are at .5.
      const double t = in_codes                    ? v
                       : f.scheme == Scheme::kPow2 ? std::ldexp(v, f.frac_bits[0])
                                                   : v / f.scale[0];
      const double frac = t - std::floor(t);
      const int64_t code = static_cast<int64_t>(std::floor(t)) + f.zero_point[0];
      if (ties_ && code >= f.qmin() && code + 1 <= f.qmax()) {
        ++ties_->steps;
        if (frac == 0.5) {
          ++ties_->exact;
          if (output_) ++ties_->output_exact;
        } else if (std::fabs(frac - 0.5) < 1e-4) {
          ++ties_->near;
        }
      }
      tie_[e] = std::fabs(frac - 0.5) < 1e-4;
      const int64_t q = std::clamp(qat::round_half_up(t) + f.zero_point[0], f.qmin(), f.qmax());
      v = f.dequantize(q);
    }
    return y;
  }

  // Draws float weights and bias for conv/linear node i and quantizes them (calibration only).
  void make_weights(size_t i, int64_t cin_g, int64_t fan_in) {
    const Node& n = m_.graph.at(i);
    IntNode& q = m_.nodes[i];
    const QFormat& fin = format_of(in_index(i));
    const int64_t out = n.out_channels;
    q.weight_shape = {out, cin_g};
    for (int64_t k : n.kernel) q.weight_shape.push_back(k);  // conv: [O, I/g, k...]
    const int64_t per_out = fan_in;
    std::uniform_real_distribution<double> wd(-1.5 / std::sqrt(double(fan_in)),
                                              1.5 / std::sqrt(double(fan_in)));
    std::vector<double> w(out * per_out);
    for (double& v : w) v = wd(rng_);
    const bool per_channel = recipe_->per_channel.count(n.name) != 0;
    std::vector<double> maxabs(per_channel ? out : 1, 0.0);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < per_out; ++k) {
        double& m = maxabs[per_channel ? o : 0];
        m = std::max(m, std::fabs(w[o * per_out + k]));
      }
    if (recipe_->scheme == Scheme::kPow2) {
      std::vector<int> nb;
      for (double m : maxabs) nb.push_back(qat::pow2_frac_bits(m, 8));
      q.weight_format = QFormat::pow2(8, nb, per_channel);
    } else {
      std::vector<double> s;
      for (double m : maxabs) s.push_back(qat::affine_params(-m, m, 8, true, true).scale);
      q.weight_format = QFormat::affine(8, true, s, std::vector<int64_t>(s.size(), 0), per_channel);
    }
    q.weights.resize(w.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < per_out; ++k)
        q.weights[o * per_out + k] =
            static_cast<int32_t>(q.weight_format.quantize(w[o * per_out + k], o));
    if (n.bias) {
      std::uniform_real_distribution<double> bd(-0.3, 0.3);
      for (int64_t o = 0; o < out; ++o)
        q.bias.push_back(
            qat::round_half_up(bd(rng_) / (fin.scale[0] * q.weight_format.scale_at(o))));
    }
    // Accumulator bound and requantization, as lowering would store them.
    const int64_t x_max = std::max(std::llabs(fin.qmin() - fin.zero_point[0]),
                                   std::llabs(fin.qmax() - fin.zero_point[0]));
    for (int64_t o = 0; o < out; ++o) {
      int64_t s = q.bias.empty() ? 0 : std::llabs(q.bias[o]);
      for (int64_t k = 0; k < per_out; ++k) s += std::llabs(q.weights[o * per_out + k]) * x_max;
      q.acc_bound = std::max(q.acc_bound, s);
    }
    q.activation = plan_[i].fused;
  }

  // Conv (1D/2D, groups, zero padding) and linear (a 1x1 conv on [K, 1, 1]) in real numbers.
  Values conv(size_t i) {
    const Node& n = m_.graph.at(i);
    const Dims di = dims_of(m_.graph.shape_of(n.inputs[0]));
    const Dims d = dims_of(m_.graph.shape_at(i));
    const Window k = n.op == OpType::kLinear ? Window{} : window_of(n);
    const int64_t groups = n.op == OpType::kLinear ? 1 : n.groups;
    const int64_t cin_g = di.c / groups, cout_g = d.c / groups;
    if (recipe_) make_weights(i, cin_g, cin_g * k.kh * k.kw);
    IntNode& q = m_.nodes[i];
    if (recipe_ && !plan_[i].quantizes_output) ADD_FAILURE();
    const QFormat& fin = format_of(in_index(i));
    const QFormat& fw = q.weight_format;
    const int64_t per_out = cin_g * k.kh * k.kw;
    std::vector<double> w(q.weights.size());
    for (int64_t o = 0; o < d.c; ++o)
      for (int64_t j = 0; j < per_out; ++j)
        w[o * per_out + j] = fw.dequantize(q.weights[o * per_out + j], o);
    const Values& x = in(i);
    Values y(n_ * d.size());
    for (int64_t b = 0; b < n_; ++b)
      for (int64_t o = 0; o < d.c; ++o) {
        const int64_t g = o / cout_g;
        const double bias =
            q.bias.empty() ? 0.0 : double(q.bias[o]) * fin.scale[0] * fw.scale_at(o);
        for (int64_t oy = 0; oy < d.h; ++oy)
          for (int64_t ox = 0; ox < d.w; ++ox) {
            double acc = bias;
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t ky = 0; ky < k.kh; ++ky)
                for (int64_t kx = 0; kx < k.kw; ++kx) {
                  const int64_t iy = oy * k.sh - k.ph + ky, ix = ox * k.sw - k.pw + kx;
                  if (iy < 0 || iy >= di.h || ix < 0 || ix >= di.w) continue;
                  acc += x[((b * di.c + g * cin_g + ci) * di.h + iy) * di.w + ix] *
                         w[((o * cin_g + ci) * k.kh + ky) * k.kw + kx];
                }
            y[((b * d.c + o) * d.h + oy) * d.w + ox] = acc;
          }
      }
    return y;
  }

  Values pool(size_t i) {
    const Node& n = m_.graph.at(i);
    const Dims di = dims_of(m_.graph.shape_of(n.inputs[0]));
    const Dims d = dims_of(m_.graph.shape_at(i));
    const Window k = window_of(n);
    const Values& x = in(i);
    Values y(n_ * d.size());
    for (int64_t b = 0; b < n_; ++b)
      for (int64_t c = 0; c < d.c; ++c)
        for (int64_t oy = 0; oy < d.h; ++oy)
          for (int64_t ox = 0; ox < d.w; ++ox) {
            double mx = -1e300, sum = 0;
            for (int64_t ky = 0; ky < k.kh; ++ky)
              for (int64_t kx = 0; kx < k.kw; ++kx) {
                const int64_t iy = oy * k.sh - k.ph + ky, ix = ox * k.sw - k.pw + kx;
                if (iy < 0 || iy >= di.h || ix < 0 || ix >= di.w) continue;  // padding: skipped
                const double v = x[((b * di.c + c) * di.h + iy) * di.w + ix];
                mx = std::max(mx, v);
                sum += v;
              }
            y[((b * d.c + c) * d.h + oy) * d.w + ox] =
                n.op == OpType::kMaxPool ? mx : sum / double(k.kh * k.kw);
          }
    return y;
  }

  Values global_pool(size_t i) {
    const Node& n = m_.graph.at(i);
    const Dims di = dims_of(m_.graph.shape_of(n.inputs[0]));
    const Values& x = in(i);
    const int64_t hw = di.h * di.w;
    Values y(n_ * di.c);
    for (int64_t b = 0; b < n_; ++b)
      for (int64_t c = 0; c < di.c; ++c) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < hw; ++j) {
          const double v = x[(b * di.c + c) * hw + j];
          mx = std::max(mx, v);
          sum += v;
        }
        y[b * di.c + c] = n.op == OpType::kGlobalMaxPool ? mx : sum / double(hw);
      }
    return y;
  }

  IntModel& m_;
  const Recipe* recipe_;
  std::vector<qat::NodePlan> plan_;
  std::mt19937 rng_;
  int64_t n_ = 0;
  Ties* ties_ = nullptr;
  bool output_ = false;
  std::vector<char> tie_;
  std::vector<Values> v_;
};

Values random_input(const Graph& g, int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Values x(batch * dims_of(g.input_node().shape).size());
  for (double& v : x) v = nd(rng);
  return x;
}

// Builds the integer model of graph `g` by calibrating on random data.
IntModel build(Graph g, const Recipe& r, const std::string& name) {
  IntModel m;
  m.graph = std::move(g);
  const int64_t channels = m.graph.input_node().shape[0];
  m.input_mean.assign(channels, 0.5);
  m.input_std.assign(channels, 0.25);
  m.head = qat::ModelHead::classification();
  m.metric = "acc";
  m.source = "runs/test/" + name + ".int.json";
  Reference ref(m, &r);
  ref.run(random_input(m.graph, 32, r.seed + 100), 32, nullptr);
  return m;
}

// 1D: conv + fused relu, maxpool, standalone relu, residual add + fused relu, global max pool,
// linear. Affine, per-tensor weights.
IntModel net_1d() {
  Graph g;
  g.input("x", {3, 32});
  g.conv("c1", "x", 8, {5}, {1}, {2});
  g.relu("r1", "c1");
  g.maxpool("p1", "r1", {2}, {2});
  g.relu("r2", "p1");
  g.conv("c2", "r2", 8, {3}, {1}, {1});
  g.relu("r3", "c2");
  g.conv("c3", "r3", 8, {3}, {1}, {1});
  g.add_node("a1", "c3", "r2");
  g.relu("r4", "a1");
  g.global_maxpool("gp", "r4");
  g.linear("fc", "gp", 5);
  Recipe r;
  r.seed = 11;
  return build(std::move(g), r, "net1d");
}

// 2D: conv + relu6, depthwise conv + relu6, pointwise conv without bias, avgpool, standalone
// relu6, flatten, linear. Affine with per-channel weights.
IntModel net_2d() {
  Graph g;
  g.input("img", {3, 12, 12});
  g.conv("c1", "img", 8, {3, 3}, {1, 1}, {1, 1});
  g.relu6("r1", "c1");
  g.conv("dw", "r1", 8, {3, 3}, {2, 2}, {1, 1}, 8);
  g.relu6("r2", "dw");
  g.conv("pw", "r2", 12, {1, 1}, {1, 1}, {0, 0}, 1, false);
  g.avgpool("ap", "pw", {2, 2}, {2, 2});
  g.relu6("r3", "ap");
  g.flatten("fl", "r3");
  g.linear("fc", "fl", 4);
  Recipe r;
  r.seed = 22;
  r.per_channel = {"c1", "dw", "pw", "fc"};
  return build(std::move(g), r, "net2d");
}

// Power of two: conv + relu with 6-bit output (range clip), padded maxpool, residual add + relu,
// global average pool, linear; per-channel pow2 weights on c2.
IntModel net_pow2() {
  Graph g;
  g.input("in", {2, 8, 8});
  g.conv("c1", "in", 6, {3, 3}, {1, 1}, {1, 1});
  g.relu("r1", "c1");
  g.maxpool("mp", "r1", {3, 3}, {2, 2}, {1, 1});
  g.conv("c2", "mp", 6, {3, 3}, {1, 1}, {1, 1});
  g.add_node("a", "c2", "mp");
  g.relu("r2", "a");
  g.global_avgpool("gap", "r2");
  g.linear("fc", "gap", 3);
  Recipe r;
  r.scheme = Scheme::kPow2;
  r.seed = 33;
  r.per_channel = {"c2"};
  r.act_bits = {{"c1", 6}};
  return build(std::move(g), r, "netpow2");
}

// ---------------------------------------------------------------------------------------------
// Inspection helpers.

std::map<std::string, int> op_counts(const onnx::ModelProto& p) {
  std::map<std::string, int> c;
  for (const auto& n : p.graph().node()) ++c[n.op_type()];
  return c;
}

const onnx::NodeProto* find_node(const onnx::ModelProto& p, const std::string& name) {
  for (const auto& n : p.graph().node())
    if (n.name() == name) return &n;
  return nullptr;
}

const onnx::TensorProto* find_init(const onnx::ModelProto& p, const std::string& name) {
  for (const auto& t : p.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

// The value of a float32 scalar initializer (NaN when there is none).
float scalar(const onnx::ModelProto& p, const std::string& name) {
  const onnx::TensorProto* t = find_init(p, name);
  float v = std::nanf("");
  if (t && t->data_type() == onnx::TensorProto::FLOAT && t->raw_data().size() == 4)
    std::memcpy(&v, t->raw_data().data(), 4);
  return v;
}

std::vector<int64_t> dims(const onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::string metadata(const onnx::ModelProto& p, const std::string& key) {
  for (const auto& e : p.metadata_props())
    if (e.key() == key) return e.value();
  return "<missing>";
}

// Every node's inputs are produced before it (the graph is in topological order, as ONNX wants).
void expect_topological(const onnx::ModelProto& p) {
  std::set<std::string> known{"input"};
  for (const auto& t : p.graph().initializer()) known.insert(t.name());
  for (const auto& n : p.graph().node()) {
    for (const auto& in : n.input()) EXPECT_TRUE(known.count(in)) << n.name() << " reads " << in;
    for (const auto& out : n.output()) EXPECT_TRUE(known.insert(out).second) << out << " twice";
  }
}

std::filesystem::path temp_dir() {
  const auto d =
      std::filesystem::temp_directory_path() / ("qat_test_onnx_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// ---------------------------------------------------------------------------------------------

TEST(OnnxWriter, Net1dStructure) {
  const IntModel m = net_1d();
  const onnx::ModelProto p = qat::exporter::to_onnx(m);
  EXPECT_NO_THROW(onnx::checker::check_model(p));
  EXPECT_EQ(p.ir_version(), 7);
  ASSERT_EQ(p.opset_import_size(), 1);
  EXPECT_EQ(p.opset_import(0).version(), 13);
  EXPECT_EQ(p.producer_name(), "qat");
  EXPECT_EQ(p.graph().name(), "net1d");
  expect_topological(p);

  // Q/DQ on x, c1, p1, r2, c2, c3, a1, gp, fc; DQ also on 4 weights and 4 biases. r1, r3, r4
  // are fused into c1, c2, a1 and emit nothing.
  const std::map<std::string, int> expected{
      {"QuantizeLinear", 9}, {"DequantizeLinear", 17}, {"Conv", 3},
      {"Relu", 4},           {"MaxPool", 1},           {"Add", 1},
      {"GlobalMaxPool", 1},  {"Flatten", 1},           {"Gemm", 1}};
  EXPECT_EQ(op_counts(p), expected);

  const onnx::TensorProto* w = find_init(p, "c1_w_q");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(dims(*w), (std::vector<int64_t>{8, 3, 5}));
  const onnx::TensorProto* b = find_init(p, "c1_b_q");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->data_type(), onnx::TensorProto::INT32);
  EXPECT_EQ(dims(*b), (std::vector<int64_t>{8}));
  EXPECT_EQ(find_init(p, "c1_b_zero_point")->data_type(), onnx::TensorProto::INT32);
  // Per-tensor weights: scalar scale and zero point, no axis.
  EXPECT_TRUE(dims(*find_init(p, "c1_w_scale")).empty());
  EXPECT_EQ(find_init(p, "c1_w_scale")->data_type(), onnx::TensorProto::FLOAT);
  ASSERT_TRUE(find_node(p, "c1_w_dq"));
  EXPECT_EQ(attr(*find_node(p, "c1_w_dq"), "axis"), nullptr);
  // ... but the bias scale s_in * s_w is per channel (axis 0) and exact in float32.
  const onnx::NodeProto* bdq = find_node(p, "c1_b_dq");
  ASSERT_TRUE(bdq && attr(*bdq, "axis"));
  EXPECT_EQ(attr(*bdq, "axis")->i(), 0);
  // Activations: int8 zero point scalar, float scale scalar.
  EXPECT_EQ(find_init(p, "c1_out_zero_point")->data_type(), onnx::TensorProto::INT8);
  EXPECT_TRUE(dims(*find_init(p, "c1_out_scale")).empty());

  const onnx::NodeProto* c1 = find_node(p, "c1");
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->op_type(), "Conv");
  EXPECT_EQ(c1->input_size(), 3);
  EXPECT_EQ(c1->input(0), "x_out_dq");
  EXPECT_EQ(c1->input(1), "c1_w_dq");
  EXPECT_EQ(c1->input(2), "c1_b_dq");
  EXPECT_EQ(attr(*c1, "kernel_shape")->ints_size(), 1);
  EXPECT_EQ(attr(*c1, "pads")->ints_size(), 2);
  EXPECT_EQ(attr(*c1, "pads")->ints(0), 2);
  // The relu happens before the output quantizer.
  EXPECT_EQ(find_node(p, "c1_relu")->input(0), "c1_conv");
  EXPECT_EQ(find_node(p, "c1_out_q")->input(0), "c1_relu");
  // r2 is standalone (its producer is a maxpool), so it has its own Relu and Q/DQ.
  EXPECT_EQ(find_node(p, "c2")->input(0), "r2_out_dq");
  // c3 reads r3 = c2's output (r3 fused away), the add reads c3 and r2.
  EXPECT_EQ(find_node(p, "c3")->input(0), "c2_out_dq");
  EXPECT_EQ(find_node(p, "a1")->input(0), "c3_out_dq");
  EXPECT_EQ(find_node(p, "a1")->input(1), "r2_out_dq");
  EXPECT_EQ(find_node(p, "gp_flatten")->input(0), "gp_pool");
  const onnx::NodeProto* gemm = find_node(p, "fc");
  ASSERT_TRUE(gemm);
  EXPECT_EQ(gemm->op_type(), "Gemm");
  EXPECT_EQ(attr(*gemm, "transB")->i(), 1);
  EXPECT_EQ(gemm->input(0), "gp_out_dq");

  // Graph input / output.
  ASSERT_EQ(p.graph().input_size(), 1);
  const auto& in = p.graph().input(0);
  EXPECT_EQ(in.name(), "input");
  const auto& ishape = in.type().tensor_type().shape();
  ASSERT_EQ(ishape.dim_size(), 3);
  EXPECT_EQ(ishape.dim(0).dim_param(), "N");
  EXPECT_EQ(ishape.dim(1).dim_value(), 3);
  EXPECT_EQ(ishape.dim(2).dim_value(), 32);
  ASSERT_EQ(p.graph().output_size(), 1);
  const auto& out = p.graph().output(0);
  EXPECT_EQ(out.name(), "output");
  ASSERT_EQ(out.type().tensor_type().shape().dim_size(), 2);
  EXPECT_EQ(out.type().tensor_type().shape().dim(1).dim_value(), 5);
  EXPECT_EQ(find_node(p, "fc_out_dq")->output(0), "output");
}

TEST(OnnxWriter, Net2dPerChannelAndRelu6) {
  const IntModel m = net_2d();
  const onnx::ModelProto p = qat::exporter::to_onnx(m);
  EXPECT_NO_THROW(onnx::checker::check_model(p));
  expect_topological(p);
  // Q/DQ on img, c1, dw, pw, ap, r3, fl, fc; DQ on 4 weights and 3 biases (pw has none). The
  // only Add is the average pool's tie offset: affine convs get none (see tie_offset()).
  const std::map<std::string, int> expected{
      {"QuantizeLinear", 8}, {"DequantizeLinear", 15}, {"Conv", 3}, {"Clip", 3},
      {"AveragePool", 1},    {"Flatten", 1},           {"Gemm", 1}, {"Add", 1}};
  EXPECT_EQ(op_counts(p), expected);

  for (const std::string& layer :
       {std::string("c1"), std::string("dw"), std::string("pw"), std::string("fc")}) {
    SCOPED_TRACE(layer);
    const onnx::NodeProto* dq = find_node(p, layer + "_w_dq");
    ASSERT_TRUE(dq);
    ASSERT_TRUE(attr(*dq, "axis"));
    EXPECT_EQ(attr(*dq, "axis")->i(), 0);
    const int64_t out = m.graph.node(layer).out_channels;
    EXPECT_EQ(dims(*find_init(p, layer + "_w_scale")), (std::vector<int64_t>{out}));
    EXPECT_EQ(dims(*find_init(p, layer + "_w_zero_point")), (std::vector<int64_t>{out}));
    EXPECT_EQ(find_init(p, layer + "_w_zero_point")->data_type(), onnx::TensorProto::INT8);
  }
  EXPECT_EQ(dims(*find_init(p, "dw_w_q")), (std::vector<int64_t>{8, 1, 3, 3}));
  EXPECT_EQ(attr(*find_node(p, "dw"), "group")->i(), 8);
  EXPECT_EQ(attr(*find_node(p, "dw"), "strides")->ints(1), 2);
  EXPECT_EQ(attr(*find_node(p, "dw"), "pads")->ints_size(), 4);
  EXPECT_EQ(find_node(p, "pw")->input_size(), 2);  // no bias
  EXPECT_EQ(find_init(p, "pw_b_q"), nullptr);

  // Fused relu6: Clip(min 0, max 6) between Conv and QuantizeLinear; standalone r3 too.
  const onnx::NodeProto* clip = find_node(p, "c1_relu6");
  ASSERT_TRUE(clip);
  EXPECT_EQ(clip->op_type(), "Clip");
  ASSERT_EQ(clip->input_size(), 3);
  EXPECT_EQ(clip->input(0), "c1_conv");
  EXPECT_EQ(find_node(p, "c1_out_q")->input(0), "c1_relu6");
  EXPECT_EQ(find_node(p, "r3_relu6")->input(0), "ap_out_dq");
  // The average pool rounds into its format: Q/DQ right after it, behind the tie offset, a
  // quarter of the distance 1 / (2 * 4) codes between a 2x2 mean and a half it does not hit.
  EXPECT_EQ(find_node(p, "ap_out_tie")->input(0), "ap_pool");
  EXPECT_EQ(find_node(p, "ap_out_q")->input(0), "ap_out_tie");
  EXPECT_EQ(find_node(p, "ap_out_q")->input(1), "ap_out_scale");
  EXPECT_EQ(scalar(p, "ap_out_tie_offset"), static_cast<float>(m.node("ap").output.scale[0] / 16));
  EXPECT_EQ(find_init(p, "c1_out_tie_offset"), nullptr);
  EXPECT_EQ(attr(*find_node(p, "ap"), "pads"), nullptr);
  EXPECT_EQ(find_node(p, "fc")->input(0), "fl_out_dq");
}

TEST(OnnxWriter, Pow2NetAndNarrowActivations) {
  const IntModel m = net_pow2();
  const onnx::ModelProto p = qat::exporter::to_onnx(m);
  EXPECT_NO_THROW(onnx::checker::check_model(p));
  expect_topological(p);
  // The 6-bit c1 output (and the maxpool, which keeps its format) get a range Clip before the
  // QuantizeLinear, which itself only saturates to int8. Every requantization here is exact, so
  // c1, c2, a, gap and fc have a tie offset (an Add) before it, besides the residual Add.
  const std::map<std::string, int> expected{{"QuantizeLinear", 7},
                                            {"DequantizeLinear", 13},
                                            {"Conv", 2},
                                            {"Relu", 2},
                                            {"Clip", 2},
                                            {"MaxPool", 1},
                                            {"Add", 6},
                                            {"GlobalAveragePool", 1},
                                            {"Flatten", 1},
                                            {"Gemm", 1}};
  EXPECT_EQ(op_counts(p), expected);
  EXPECT_EQ(find_node(p, "c1_out_tie")->input(0), "c1_relu");
  EXPECT_EQ(find_node(p, "c1_out_range")->input(0), "c1_out_tie");
  EXPECT_EQ(find_node(p, "c1_out_q")->input(0), "c1_out_range");
  EXPECT_EQ(find_node(p, "mp_out_q")->input(0), "mp_out_range");
  const QFormat& f = m.node("c1").output;
  ASSERT_EQ(f.bits, 6);
  const onnx::TensorProto* hi = find_init(p, "c1_out_range_max");
  ASSERT_TRUE(hi && hi->raw_data().size() == 4);
  float hi_value = 0;
  std::memcpy(&hi_value, hi->raw_data().data(), 4);
  EXPECT_EQ(hi_value, static_cast<float>(31 * f.scale[0]));
  // Scales are exact powers of two; c2 weights per channel with axis 0.
  EXPECT_EQ(attr(*find_node(p, "c2_w_dq"), "axis")->i(), 0);
  EXPECT_EQ(attr(*find_node(p, "c1_w_dq"), "axis"), nullptr);
  EXPECT_EQ(find_node(p, "gap_out_tie")->input(0), "gap_flat");
  EXPECT_EQ(find_node(p, "gap_out_q")->input(0), "gap_out_tie");
  EXPECT_EQ(find_init(p, "mp_out_tie_offset"), nullptr);  // a max pool never rounds

  // The offsets: a quarter of the finest step the exact result can take (accumulator unit, the
  // finer add input, a mean's 1 / (2 count) codes), capped at a quarter of the output code.
  const auto input_scale = [&](const std::string& layer) {
    const Graph& g = m.graph;
    std::string src = g.node(layer).inputs[0];
    while (!m.node(src).has_output_format) src = g.node(src).inputs[0];
    return m.node(src).output.scale[0];
  };
  for (const std::string layer : {"c1", "c2", "fc"}) {
    SCOPED_TRACE(layer);
    const QFormat& w = m.node(layer).weight_format;
    const double s_w = *std::min_element(w.scale.begin(), w.scale.end());
    EXPECT_EQ(
        scalar(p, layer + "_out_tie_offset"),
        static_cast<float>(std::min(input_scale(layer) * s_w, m.node(layer).output.scale[0]) / 4));
  }
  const Node& add = m.graph.node("a");
  std::vector<double> add_scales{m.node("a").output.scale[0]};
  for (const std::string& in : add.inputs) {
    std::string src = in;
    while (!m.node(src).has_output_format) src = m.graph.node(src).inputs[0];
    add_scales.push_back(m.node(src).output.scale[0]);
  }
  EXPECT_EQ(scalar(p, "a_out_tie_offset"),
            static_cast<float>(*std::min_element(add_scales.begin(), add_scales.end()) / 4));
  const std::vector<int64_t>& gap_in =
      m.graph.shape_at(m.graph.index_of(m.graph.node("gap").inputs[0]));
  const double gap_count = static_cast<double>(
      std::accumulate(gap_in.begin() + 1, gap_in.end(), int64_t{1}, std::multiplies<int64_t>()));
  EXPECT_EQ(scalar(p, "gap_out_tie_offset"),
            static_cast<float>(std::min(input_scale("gap"), m.node("gap").output.scale[0]) /
                               (4 * gap_count)));
}

TEST(OnnxWriter, RefusesInt16) {
  const std::string msg =
      "ONNX opset 13 QDQ has no int16; export int16 models as C or integer checkpoint";
  IntModel m = net_1d();
  m.activation_type = qat::exporter::DType::kInt16;
  try {
    qat::exporter::to_onnx(m);
    FAIL() << "int16 activations exported";
  } catch (const qat::ExportError& e) {
    EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
  }
  m.activation_type = qat::exporter::DType::kInt8;
  m.weight_type = qat::exporter::DType::kInt16;
  EXPECT_THROW(qat::exporter::to_onnx(m), qat::ExportError);
  // A 12-bit format inside a model that claims int8 is refused as well, naming the layer.
  m.weight_type = qat::exporter::DType::kInt8;
  m.nodes[m.graph.index_of("c2")].output = QFormat::pow2(12, {8});
  try {
    qat::exporter::to_onnx(m);
    FAIL() << "12-bit activation exported";
  } catch (const qat::ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("'c2'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
  }
}

TEST(OnnxWriter, RejectsInconsistentModels) {
  {
    IntModel m = net_1d();
    m.nodes[m.graph.index_of("c2")].weights.pop_back();
    EXPECT_THROW(qat::exporter::to_onnx(m), qat::ExportError);
  }
  {
    IntModel m = net_1d();  // relu r3 is fused into c2 by the plan, but c2 says none
    m.nodes[m.graph.index_of("c2")].activation = Activation::kNone;
    EXPECT_THROW(qat::exporter::to_onnx(m), qat::ExportError);
  }
  {
    IntModel m = net_2d();
    m.nodes[m.graph.index_of("c1")].weight_format.scale.pop_back();  // 7 scales for 8 channels
    EXPECT_THROW(qat::exporter::to_onnx(m), qat::ExportError);
  }
  {
    IntModel m = net_1d();
    m.nodes[m.graph.index_of("c1")].bias[0] = int64_t{1} << 33;
    EXPECT_THROW(qat::exporter::to_onnx(m), qat::ExportError);
  }
}

TEST(OnnxWriter, MetadataAndDocString) {
  const IntModel m = net_2d();
  const onnx::ModelProto p = qat::exporter::to_onnx(m);
  EXPECT_EQ(nlohmann::json::parse(metadata(p, "input_mean")).get<std::vector<double>>(),
            m.input_mean);
  EXPECT_EQ(nlohmann::json::parse(metadata(p, "input_std")).get<std::vector<double>>(),
            m.input_std);
  EXPECT_EQ(nlohmann::json::parse(metadata(p, "head")), nlohmann::json(m.head));
  EXPECT_EQ(metadata(p, "metric"), "acc");
  EXPECT_NE(p.doc_string().find("NORMALISED"), std::string::npos);
  EXPECT_NE(p.doc_string().find("half to even"), std::string::npos);
  EXPECT_NE(p.graph().input(0).doc_string().find("normalised"), std::string::npos);
}

TEST(OnnxWriter, WritesAtomicallyAndFromAReloadedCheckpoint) {
  const auto dir = temp_dir();
  const IntModel m = net_pow2();
  const std::string path = (dir / "model.onnx").string();
  qat::exporter::write_onnx(m, path);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  onnx::ModelProto back;
  {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(back.ParseFromIstream(&in));
  }
  EXPECT_EQ(back.SerializeAsString(), qat::exporter::to_onnx(m).SerializeAsString());
  // The integer checkpoint round trip (JSON) exports the identical model.
  const IntModel reloaded = IntModel::from_json(m.to_json());
  EXPECT_EQ(qat::exporter::to_onnx(reloaded).SerializeAsString(), back.SerializeAsString());
  // A write that cannot happen is an ExportError and leaves nothing behind.
  const std::string bad = (dir / "missing_dir" / "model.onnx").string();
  EXPECT_THROW(qat::exporter::write_onnx(m, bad), qat::ExportError);
  EXPECT_FALSE(std::filesystem::exists(bad));
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Cross-check with an independent evaluator (python onnx + torch), see tests/onnx_eval.py.

void write_floats(const std::string& path, const Values& v) {
  std::vector<float> f(v.begin(), v.end());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size() * 4));
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> f(in ? static_cast<size_t>(in.tellg()) / 4 : 0);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(f.data()), static_cast<std::streamsize>(f.size() * 4));
  return f;
}

struct Agreement {
  int64_t max_lsb = 0, differing = 0, off_tie = 0;  // off_tie: differences not at a tie
  void add(const Agreement& o) {
    max_lsb = std::max(max_lsb, o.max_lsb);
    differing += o.differing;
    off_tie += o.off_tie;
  }
};

// Codes of two evaluations of one tensor in format f (both are on its grid).
Agreement compare(const std::vector<float>& onnx_out, const Values& ref, const QFormat& f,
                  const std::vector<char>* tie = nullptr) {
  Agreement a;
  EXPECT_EQ(onnx_out.size(), ref.size());
  for (size_t k = 0; k < std::min(onnx_out.size(), ref.size()); ++k) {
    const int64_t qa = qat::round_half_up(double(onnx_out[k]) / f.scale[0]);
    const int64_t qb = qat::round_half_up(ref[k] / f.scale[0]);
    const int64_t d = std::llabs(qa - qb);
    a.max_lsb = std::max(a.max_lsb, d);
    if (d) ++a.differing;
    if (d && tie && !(*tie)[k]) ++a.off_tie;
  }
  return a;
}

std::ostream& operator<<(std::ostream& o, const Agreement& a) {
  return o << "max " << a.max_lsb << " LSB, " << a.differing << " differ";
}

TEST(OnnxWriter, AgreesWithPythonEvaluation) {
  const auto dir = temp_dir();
  struct Case {
    std::string name;
    IntModel model;
    Values input;
  };
  std::vector<Case> cases;
  cases.push_back({"net1d", net_1d(), {}});
  cases.push_back({"net2d", net_2d(), {}});
  cases.push_back({"netpow2", net_pow2(), {}});
  // Integer checkpoints of a 1D ResNet as `qat export` writes them (the fuzz test's seeds).
  for (const std::string format : {"pow2", "affine", "w4"})
    cases.push_back({"resnet4_" + format,
                     IntModel::load(std::string(QAT_SOURCE_DIR) +
                                    "/tests/data/checkpoints/resnet4_" + format + ".qint.json"),
                     {}});
  constexpr int64_t kBatch = 64;
  std::string args;
  for (size_t c = 0; c < cases.size(); ++c) {
    Case& k = cases[c];
    k.input = random_input(k.model.graph, kBatch, 1000 + static_cast<uint32_t>(c));
    const std::string base = (dir / k.name).string();
    qat::exporter::write_onnx(k.model, base + ".onnx");
    write_floats(base + ".in", k.input);
    args += " " + base + ".onnx " + base + ".in " + base + ".out";
  }
  const std::string log = (dir / "python.log").string();
  const std::string cmd = std::string("OMP_NUM_THREADS=1 /usr/bin/python3 ") + QAT_SOURCE_DIR +
                          "/tests/onnx_eval.py" + args + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream lf(log);
  const std::string log_text((std::istreambuf_iterator<char>(lf)),
                             std::istreambuf_iterator<char>());
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) == 77 || WEXITSTATUS(rc) == 127) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "/usr/bin/python3 with onnx, torch and numpy is not available: " << log_text;
  }
  ASSERT_EQ(WEXITSTATUS(rc), 0) << log_text;

  for (Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string out = (dir / k.name).string() + ".out";
    const QFormat& fo = k.model.output_format();
    // The tensor ONNX calls "output": the last node's, or its producer's when it is a fused relu.
    const auto plan = qat::make_quant_plan(k.model.graph);
    size_t final_node = k.model.graph.size() - 1;
    while (plan[final_node].fused_away)
      final_node = k.model.graph.index_of(k.model.graph.at(final_node).inputs[0]);

    for (const std::string suffix : {"", ".half_up"}) {
      const bool spec = suffix.empty();
      // 1. Step by step: each node from the ONNX values of its inputs (teacher forcing). Every
      //    quantization step may differ by at most 1 LSB, and only where the reference rounds
      //    an exact or near tie.
      Agreement steps;
      std::string where;  // "node:count" of the steps that differ
      Ties ties;
      IntModel copy = k.model;
      Reference forced(copy, nullptr);
      forced.on_output = [&](size_t i, Values& v, const std::vector<char>& tie) {
        const std::string& name = k.model.graph.at(i).name;
        const std::string file =
            i == final_node ? out + suffix : out + suffix + "." + name + "_out_dq";
        const std::vector<float> theirs = read_floats(file);
        ASSERT_EQ(theirs.size(), v.size()) << file;
        const Agreement a = compare(theirs, v, forced.format_of(i), &tie);
        EXPECT_LE(a.max_lsb, 1) << name;
        EXPECT_EQ(a.off_tie, 0) << name << ": differences where the reference has no tie";
        steps.add(a);
        if (a.differing) where += " " + name + ":" + std::to_string(a.differing);
        v.assign(theirs.begin(), theirs.end());
      };
      forced.run(k.input, kBatch, &ties);

      // 2. End to end: the reference on its own against the ONNX output. A pow2 net (dyadic,
      //    exact in float32, every requantization exact) must agree bit for bit with either
      //    rounding: the tie offsets make round half to even round ties up. Affine nets are
      //    reported: their convs, linears and adds are exact reals here, Q31 multipliers in the
      //    engine, and a difference inside the network can grow through later layers.
      IntModel copy2 = k.model;
      const Values ref = Reference(copy2, nullptr).run(k.input, kBatch, nullptr);
      const Agreement e2e = compare(read_floats(out + suffix), ref, fo);
      if (fo.scheme == Scheme::kPow2) {
        EXPECT_EQ(e2e.max_lsb, 0);
      }
      // 3. The same against the toolkit's integer engine (the qk kernels the MCU runs).
      const qat::exporter::Program prog = qat::exporter::build_program(k.model);
      const std::vector<float> in_f(k.input.begin(), k.input.end());
      const std::vector<double> engine =
          qat::exporter::run_batch(k.model, prog, in_f.data(), kBatch, 1);
      const Agreement vs_engine = compare(read_floats(out + suffix), engine, fo);
      if (fo.scheme == Scheme::kPow2) {
        EXPECT_EQ(vs_engine.max_lsb, 0);
      }
      const Agreement ref_engine = compare(std::vector<float>(ref.begin(), ref.end()), engine, fo);
      std::cout << "[ onnx     ] " << k.name << (spec ? " half-even:" : " half-up:  ") << " steps "
                << steps << (where.empty() ? "" : " [" + where.substr(1) + "]") << " ("
                << ties.exact << " exact / " << ties.near << " near ties in " << ties.steps
                << " roundings, " << ties.output_exact << " exact at the output); end to end "
                << e2e << " of " << ref.size() << "; vs integer engine " << vs_engine
                << " (reference vs engine " << ref_engine << ")\n";
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
