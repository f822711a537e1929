#include "export/int_model.h"

#include <fstream>

#include "qat/atomic_file.h"
#include "qat/errors.h"

namespace qat::exporter {
namespace {

Activation activation_from(const std::string& s) {
  if (s == "relu") return Activation::kRelu;
  if (s == "relu6") return Activation::kRelu6;
  return Activation::kNone;
}

nlohmann::json requant_json(const Requant& r) {
  if (r.scheme == Scheme::kPow2) return {{"scheme", "pow2"}, {"shift", r.shift}};
  std::vector<int64_t> mult;
  std::vector<int> shift;
  for (const auto& m : r.multiplier) {
    mult.push_back(m.multiplier);
    shift.push_back(m.shift);
  }
  return {{"scheme", "affine"}, {"multiplier", mult}, {"shift", shift}};
}

Requant requant_from(const nlohmann::json& j) {
  Requant r;
  if (j.at("scheme") == "pow2") {
    r.scheme = Scheme::kPow2;
    r.shift = j.at("shift").get<std::vector<int>>();
    return r;
  }
  r.scheme = Scheme::kAffine;
  const auto mult = j.at("multiplier").get<std::vector<int64_t>>();
  const auto shift = j.at("shift").get<std::vector<int>>();
  for (size_t i = 0; i < mult.size(); ++i) r.multiplier.push_back({mult[i], shift.at(i)});
  return r;
}

std::string where(const IntNode& n) {
  return "layer '" + n.name + "'";
}

}  // namespace

const char* dtype_name(DType t) {
  return t == DType::kInt8 ? "int8" : "int16";
}
int dtype_bytes(DType t) {
  return t == DType::kInt8 ? 1 : 2;
}

int64_t IntModel::weight_count() const {
  int64_t n = 0;
  for (const auto& node : nodes) n += static_cast<int64_t>(node.weights.size() + node.bias.size());
  return n;
}

nlohmann::json IntModel::to_json() const {
  nlohmann::json nodes_j = nlohmann::json::array();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const IntNode& n = nodes[i];
    const Node& g = graph.at(i);
    nlohmann::json j{{"name", n.name}};
    if (n.has_output_format) j["output"] = n.output.to_json();
    if (g.has_weights()) {
      j["activation"] = activation_name(n.activation);
      j["weight_format"] = n.weight_format.to_json();
      j["weight_shape"] = n.weight_shape;
      j["weights"] = n.weights;
      j["bias"] = n.bias;
      j["requant"] = requant_json(n.requant);
      j["acc_bound"] = n.acc_bound;
    }
    if (g.op == OpType::kAdd) {
      j["activation"] = activation_name(n.activation);
      j["add"] = {{"ma", n.add.ma}, {"mb", n.add.mb}, {"shift", n.add.shift}};
    }
    j["act_min"] = n.act_min;
    j["act_max"] = n.act_max;
    nodes_j.push_back(std::move(j));
  }
  return {{"format", "qat-int-model"},
          {"version", 1},
          {"source", source},
          {"graph", graph.to_json()},
          {"activation_type", dtype_name(activation_type)},
          {"weight_type", dtype_name(weight_type)},
          {"input", {{"mean", input_mean}, {"std", input_std}}},
          {"head", head},
          {"metric", metric},
          {"nodes", nodes_j}};
}

IntModel IntModel::from_json(const nlohmann::json& j) {
  if (j.value("format", "") != "qat-int-model")
    throw ExportError("not an integer checkpoint (missing \"format\": \"qat-int-model\")");
  if (j.value("version", 0) != 1)
    throw ExportError("integer checkpoint version " + std::to_string(j.value("version", 0)) +
                      " is not supported (expected 1)");
  IntModel m;
  m.graph = Graph::from_json(j.at("graph"));
  m.activation_type = j.at("activation_type") == "int8" ? DType::kInt8 : DType::kInt16;
  m.weight_type = j.at("weight_type") == "int8" ? DType::kInt8 : DType::kInt16;
  m.input_mean = j.at("input").at("mean").get<std::vector<double>>();
  m.input_std = j.at("input").at("std").get<std::vector<double>>();
  m.head = j.at("head").get<ModelHead>();
  m.metric = j.value("metric", "");
  m.source = j.value("source", "");
  const auto& nodes_j = j.at("nodes");
  if (nodes_j.size() != m.graph.size())
    throw ExportError("integer checkpoint: " + std::to_string(nodes_j.size()) +
                      " nodes for a graph of " + std::to_string(m.graph.size()));
  for (const auto& nj : nodes_j) {
    IntNode n;
    n.name = nj.at("name").get<std::string>();
    if (nj.contains("output")) {
      n.has_output_format = true;
      n.output = QFormat::from_json(nj["output"]);
    }
    if (nj.contains("weights")) {
      n.activation = activation_from(nj.at("activation").get<std::string>());
      n.weight_format = QFormat::from_json(nj.at("weight_format"));
      n.weight_shape = nj.at("weight_shape").get<std::vector<int64_t>>();
      n.weights = nj.at("weights").get<std::vector<int32_t>>();
      n.bias = nj.at("bias").get<std::vector<int64_t>>();
      n.requant = requant_from(nj.at("requant"));
      n.acc_bound = nj.at("acc_bound").get<int64_t>();
    }
    if (nj.contains("add")) {
      n.activation = activation_from(nj.at("activation").get<std::string>());
      n.add.ma = nj["add"].at("ma").get<int64_t>();
      n.add.mb = nj["add"].at("mb").get<int64_t>();
      n.add.shift = nj["add"].at("shift").get<int>();
    }
    n.act_min = nj.at("act_min").get<int64_t>();
    n.act_max = nj.at("act_max").get<int64_t>();
    m.nodes.push_back(std::move(n));
  }
  check_representable(m);
  return m;
}

void IntModel::save(const std::string& path) const {
  write_file_atomic(path, to_json().dump() + "\n");
}

IntModel IntModel::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ExportError(path + ": cannot open integer checkpoint");
  try {
    IntModel m = from_json(nlohmann::json::parse(in));
    m.source = path;
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw ExportError(path + ": malformed integer checkpoint: " + e.what());
  } catch (const Error& e) {
    throw ExportError(path + ": " + e.what());
  }
}

void check_representable(const IntModel& m) {
  const int act_bits = m.activation_type == DType::kInt8 ? 8 : 16;
  const int w_bits = m.weight_type == DType::kInt8 ? 8 : 16;
  if (m.activation_type == DType::kInt8 && m.weight_type == DType::kInt16)
    throw ExportError(
        "16-bit weights with 8-bit activations are not supported by the kernels; "
        "use 16-bit activations or at most 8-bit weights");
  constexpr int64_t kInt32Max = (int64_t{1} << 31) - 1;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const IntNode& n = m.nodes[i];
    const Node& g = m.graph.at(i);
    if (n.has_output_format) {
      if (!n.output.is_signed || n.output.bits > act_bits)
        throw ExportError(where(n) + ": output format " + n.output.str() + " does not fit " +
                          dtype_name(m.activation_type) + " activations (signed formats only)");
      if (n.output.per_channel)
        throw ExportError(where(n) + ": per-channel activations are not supported");
    }
    if (g.has_weights()) {
      if (n.weight_format.bits > w_bits || !n.weight_format.is_signed)
        throw ExportError(where(n) + ": weights " + n.weight_format.str() + " do not fit " +
                          dtype_name(m.weight_type));
      // int8 activations accumulate in int32: the worst case over all inputs must fit.
      if (m.activation_type == DType::kInt8 && n.acc_bound > kInt32Max)
        throw ExportError(where(n) + ": worst-case accumulator " + std::to_string(n.acc_bound) +
                          " exceeds the int32 accumulator of 8-bit kernels (2^31 - 1); use 16-bit "
                          "activations, smaller weights or fewer inputs per output");
      if (n.acc_bound >= (int64_t{1} << 47))
        throw ExportError(where(n) + ": worst-case accumulator " + std::to_string(n.acc_bound) +
                          " exceeds 2^47");
      for (int64_t b : n.bias)
        if (b > kInt32Max || b < -kInt32Max - 1)
          throw ExportError(
              where(n) + ": bias " + std::to_string(b) +
              " does not fit int32 in the accumulator scale; reduce the bias bit width or range");
      if (n.requant.scheme == Scheme::kPow2) {
        for (int s : n.requant.shift)
          if (s < -31 || s > 62)
            throw ExportError(where(n) + ": requantization shift " + std::to_string(s) +
                              " out of [-31, 62]");
      } else {
        for (const auto& fm : n.requant.multiplier) {
          if (fm.multiplier <= 0 || fm.multiplier > kInt32Max || fm.shift < 1 || fm.shift > 62)
            throw ExportError(where(n) + ": requantization multiplier " +
                              std::to_string(fm.multiplier) + " >> " + std::to_string(fm.shift) +
                              " not representable");
          // acc * multiplier must stay inside int64.
          if (static_cast<double>(n.acc_bound) * static_cast<double>(fm.multiplier) >= 0x1p62)
            throw ExportError(where(n) + ": accumulator bound times multiplier overflows 64 bits");
        }
      }
    }
    if (g.op == OpType::kAdd) {
      if (n.add.ma > kInt32Max || n.add.mb > kInt32Max || n.add.ma < 0 || n.add.mb < 0 ||
          n.add.shift < 0 || n.add.shift > 62)
        throw ExportError(where(n) + ": add rescaling not representable in 32-bit multipliers");
    }
  }
}

}  // namespace qat::exporter
