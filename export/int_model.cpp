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
  const std::string scheme = j.at("scheme").get<std::string>();
  if (scheme == "pow2") {
    r.scheme = Scheme::kPow2;
    r.shift = j.at("shift").get<std::vector<int>>();
    return r;
  }
  if (scheme != "affine") throw Error("requant scheme '" + scheme + "' is not one of pow2, affine");
  r.scheme = Scheme::kAffine;
  const auto mult = j.at("multiplier").get<std::vector<int64_t>>();
  const auto shift = j.at("shift").get<std::vector<int>>();
  if (mult.size() != shift.size())
    throw Error("requant has " + std::to_string(mult.size()) + " multipliers and " +
                std::to_string(shift.size()) + " shifts");
  for (size_t i = 0; i < mult.size(); ++i) r.multiplier.push_back({mult[i], shift[i]});
  return r;
}

std::string where(const IntNode& n) {
  return "layer '" + n.name + "'";
}

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kInt8:
      return "int8";
    case DType::kInt16:
      return "int16";
    case DType::kInt4:
      return "int4";
    case DType::kInt2:
      return "int2";
  }
  return "?";
}

int dtype_bits(DType t) {
  switch (t) {
    case DType::kInt16:
      return 16;
    case DType::kInt4:
      return 4;
    case DType::kInt2:
      return 2;
    default:
      return 8;
  }
}

int dtype_bytes(DType t) {
  return t == DType::kInt16 ? 2 : 1;
}

int64_t storage_bytes(DType t, int64_t count) {
  return (count * dtype_bits(t) + 7) / 8;
}

DType activation_storage(const QFormat& f) {
  return f.bits <= 8 ? DType::kInt8 : DType::kInt16;
}

DType weight_storage(int weight_bits, DType compute) {
  if (weight_bits > 8) return DType::kInt16;
  if (compute == DType::kInt16) return DType::kInt8;
  if (weight_bits <= 2) return DType::kInt2;
  if (weight_bits <= 4) return DType::kInt4;
  return DType::kInt8;
}

namespace {

DType dtype_from(const std::string& s, const char* what) {
  for (DType t : {DType::kInt8, DType::kInt16, DType::kInt4, DType::kInt2})
    if (s == dtype_name(t)) return t;
  throw ExportError(std::string(what) + " '" + s + "' is not one of int8, int16, int4, int2");
}

DType wider(DType a, DType b) {
  return a == DType::kInt16 || b == DType::kInt16 ? DType::kInt16 : DType::kInt8;
}

}  // namespace

void set_widest_types(IntModel& m) {
  m.activation_type = DType::kInt8;
  bool any = false;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const IntNode& n = m.nodes[i];
    if (n.has_output_format)
      m.activation_type = wider(m.activation_type, activation_storage(n.output));
    if (!m.graph.at(i).has_weights()) continue;
    if (!any || dtype_bits(n.weight_type) > dtype_bits(m.weight_type))
      m.weight_type = n.weight_type;
    any = true;
  }
  if (!any) m.weight_type = DType::kInt8;
}

DType compute_type(const IntModel& m, size_t i) {
  const Graph& g = m.graph;
  const Node& n = g.at(i);
  const auto plan = make_quant_plan(g);
  const auto stored = [&](const std::string& name) {
    return activation_storage(m.nodes[g.index_of(plan[g.index_of(name)].format_from)].output);
  };
  DType t = stored(n.name);
  for (const auto& in : n.inputs) t = wider(t, stored(in));
  if (n.has_weights() && m.nodes[i].weight_type == DType::kInt16) t = DType::kInt16;
  return t;
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
      j["weight_type"] = dtype_name(n.weight_type);
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
          {"version", 2},
          {"source", source},
          {"graph", graph.to_json()},
          {"activation_type", dtype_name(activation_type)},
          {"weight_type", dtype_name(weight_type)},
          {"input", {{"mean", input_mean}, {"std", input_std}}},
          {"head", head},
          {"metric", metric},
          {"budget",
           {{"flash", budget_flash ? nlohmann::json(*budget_flash) : nlohmann::json()},
            {"ram", budget_ram ? nlohmann::json(*budget_ram) : nlohmann::json()}}},
          {"nodes", nodes_j}};
}

IntModel IntModel::from_json(const nlohmann::json& j) {
  try {
    return parse_int_model(j);
  } catch (const nlohmann::json::exception& e) {
    throw ExportError(std::string("malformed integer checkpoint: ") + e.what());
  } catch (const ExportError&) {
    throw;
  } catch (const Error& e) {
    throw ExportError(e.what());
  }
}

IntModel IntModel::parse_int_model(const nlohmann::json& j) {
  if (j.value("format", "") != "qat-int-model")
    throw ExportError("not an integer checkpoint (missing \"format\": \"qat-int-model\")");
  const int version = j.value("version", 0);
  if (version != 1 && version != 2)
    throw ExportError("integer checkpoint version " + std::to_string(version) +
                      " is not supported (expected 1 or 2)");
  IntModel m;
  try {
    m.graph = Graph::from_json(j.at("graph"));
  } catch (const GraphError& e) {
    throw ExportError(std::string("graph: ") + e.what());
  }
  m.activation_type = dtype_from(j.at("activation_type").get<std::string>(), "activation_type");
  m.weight_type = dtype_from(j.at("weight_type").get<std::string>(), "weight_type");
  m.input_mean = j.at("input").at("mean").get<std::vector<double>>();
  m.input_std = j.at("input").at("std").get<std::vector<double>>();
  m.head = j.at("head").get<ModelHead>();
  m.metric = j.value("metric", "");
  m.source = j.value("source", "");
  if (j.contains("budget")) {
    const auto& b = j.at("budget");
    if (b.contains("flash") && !b["flash"].is_null()) m.budget_flash = b["flash"].get<int64_t>();
    if (b.contains("ram") && !b["ram"].is_null()) m.budget_ram = b["ram"].get<int64_t>();
  }
  const auto& nodes_j = j.at("nodes");
  if (!nodes_j.is_array() || nodes_j.size() != m.graph.size())
    throw ExportError("integer checkpoint: " + std::to_string(nodes_j.size()) +
                      " nodes for a graph of " + std::to_string(m.graph.size()));
  for (size_t i = 0; i < nodes_j.size(); ++i) {
    const auto& nj = nodes_j[i];
    IntNode n;
    n.name = m.graph.at(i).name;
    try {
      n.name = nj.at("name").get<std::string>();
      if (nj.contains("output")) {
        n.has_output_format = true;
        n.output = QFormat::from_json(nj["output"]);
      }
      if (m.graph.at(i).has_weights()) {
        n.activation = activation_from(nj.at("activation").get<std::string>());
        n.weight_format = QFormat::from_json(nj.at("weight_format"));
        // Version 1 stored one weight type for the whole model.
        n.weight_type = version == 1
                            ? m.weight_type
                            : dtype_from(nj.at("weight_type").get<std::string>(), "weight_type");
        n.weight_shape = nj.at("weight_shape").get<std::vector<int64_t>>();
        n.weights = nj.at("weights").get<std::vector<int32_t>>();
        n.bias = nj.at("bias").get<std::vector<int64_t>>();
        n.requant = requant_from(nj.at("requant"));
        n.acc_bound = nj.at("acc_bound").get<int64_t>();
      }
      if (m.graph.at(i).op == OpType::kAdd) {
        n.activation = activation_from(nj.at("activation").get<std::string>());
        n.add.ma = nj.at("add").at("ma").get<int64_t>();
        n.add.mb = nj.at("add").at("mb").get<int64_t>();
        n.add.shift = nj.at("add").at("shift").get<int>();
      }
      n.act_min = nj.at("act_min").get<int64_t>();
      n.act_max = nj.at("act_max").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw ExportError("node '" + n.name + "' (" + std::to_string(i) + "): " + e.what());
    } catch (const Error& e) {
      throw ExportError("node '" + n.name + "' (" + std::to_string(i) + "): " + e.what());
    }
    m.nodes.push_back(std::move(n));
  }
  check_structure(m);
  // The top-level types summarise the nodes; a file where they disagree was edited by hand.
  const DType act = m.activation_type, w = m.weight_type;
  set_widest_types(m);
  if (act != m.activation_type || w != m.weight_type)
    throw ExportError(std::string("integer checkpoint: activation_type ") + dtype_name(act) +
                      " / weight_type " + dtype_name(w) + " disagree with its layers (" +
                      dtype_name(m.activation_type) + " / " + dtype_name(m.weight_type) + ")");
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
  if (m.activation_type != DType::kInt8 && m.activation_type != DType::kInt16)
    throw ExportError(std::string("activations are int8 or int16, not ") +
                      dtype_name(m.activation_type));
  constexpr int64_t kInt32Max = (int64_t{1} << 31) - 1;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const IntNode& n = m.nodes[i];
    const Node& g = m.graph.at(i);
    if (n.has_output_format) {
      if (!n.output.is_signed || n.output.bits > 16)
        throw ExportError(where(n) + ": output format " + n.output.str() +
                          " does not fit int8 / int16 activations (signed formats only)");
      if (n.output.per_channel)
        throw ExportError(where(n) + ": per-channel activations are not supported");
    }
    if (g.has_weights()) {
      const DType compute = compute_type(m, i);
      if (n.weight_format.bits > dtype_bits(n.weight_type) || !n.weight_format.is_signed)
        throw ExportError(where(n) + ": weights " + n.weight_format.str() + " do not fit " +
                          dtype_name(n.weight_type));
      if (compute == DType::kInt16 &&
          (n.weight_type == DType::kInt4 || n.weight_type == DType::kInt2))
        throw ExportError(where(n) + ": packed " + dtype_name(n.weight_type) +
                          " weights need int8 activations (this layer computes in int16; its "
                          "weights are stored as int8 instead)");
      // int8 activations accumulate in int32: the worst case over all inputs must fit.
      if (compute == DType::kInt8 && n.acc_bound > kInt32Max)
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
