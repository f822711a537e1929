#include "tools/sweep_spec.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>

#include <yaml-cpp/yaml.h>

#include "qat/config_reader.h"
#include "qat/errors.h"
#include "qat/quant_config.h"

namespace qat::sweep {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kFixedAxes = {"filters", "method", "bits",
                                             "w_bits",  "a_bits", "seed"};

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

bool is_dotted(const std::string& key) {
  return key.find('.') != std::string::npos;
}

// Config keys the sweep itself sets: through a method, an axis shorthand or per run.
std::string owner_of(const std::string& key, bool share_float) {
  static const std::vector<std::string> by_method = {"quant.enabled", "quant.scheme",
                                                     "quant.weights.granularity", "qat.enabled"};
  if (std::find(by_method.begin(), by_method.end(), key) != by_method.end())
    return "it is set by the `method` axis; allowed methods: " + join(method_names());
  if (key == "model.filters") return "use the `filters` axis";
  if (key == "quant.bits") return "use the `bits` axis";
  if (key == "quant.weights.bits") return "use the `w_bits` axis";
  if (key == "quant.activations.bits") return "use the `a_bits` axis";
  if (share_float && key == "train.init_from")
    return "with share_float the sweep starts quantized runs from their float run; set "
           "share_float: false";
  if (key == "output" || key == "name" || key == "threads")
    return "the sweep sets it for every run (threads: from --jobs)";
  return "";
}

// A YAML value as the text `--set key=TEXT` parses back into the same value.
std::string yaml_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

// Keeps run ids usable as directory names: letters, digits and . + - stay, the rest becomes '-'.
std::string sanitize(const std::string& text) {
  std::string s;
  for (const char c : text) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-';
    if (keep)
      s += c;
    else if (!s.empty() && s.back() != '-')
      s += '-';
  }
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s.empty() ? "x" : s;
}

struct Axis {
  std::string key;
  std::vector<std::string> values;
  std::string where;
};

std::vector<std::string> int_values(ConfigNode& g, const std::string& key, int64_t min,
                                    int64_t max) {
  const YAML::Node& node = g.yaml();
  const std::vector<int64_t> ints = node[key].IsSequence()
                                        ? g.get_int_list(key, {}, min, max)
                                        : std::vector<int64_t>{g.get_int(key, 0, min, max)};
  std::vector<std::string> out;
  for (const int64_t i : ints) out.push_back(std::to_string(i));
  return out;
}

std::vector<Axis> parse_grid(ConfigNode g, bool share_float) {
  std::vector<Axis> axes;
  for (const std::string& key : g.map_keys()) {
    Axis a{key, {}, g.where(key)};
    const YAML::Node& node = g.yaml();
    const YAML::Node v = node[key];
    if (v.IsSequence() && v.size() == 0) g.fail(key, "needs at least one value");
    if (key == "method") {
      for (const auto& m : g.get_string_list(key, {})) {
        if (std::find(method_names().begin(), method_names().end(), m) == method_names().end())
          g.fail(key, "'" + m + "' is not a method; allowed: " + join(method_names()));
        a.values.push_back(m);
      }
    } else if (key == "bits" || key == "w_bits" || key == "a_bits") {
      a.values = int_values(g, key, 2, 16);
    } else if (key == "seed") {
      a.values = int_values(g, key, 0, std::numeric_limits<int64_t>::max());
    } else if (key == "filters") {
      a.values = int_values(g, key, 1, 1 << 16);
    } else if (is_dotted(key)) {
      const std::string owner = owner_of(key, share_float);
      if (!owner.empty()) g.fail(key, "cannot be an axis: " + owner);
      if (v.IsSequence()) {
        for (const auto& e : v) a.values.push_back(yaml_text(e));
      } else {
        a.values.push_back(yaml_text(v));
      }
    } else {
      g.fail(key, "unknown axis; allowed: " + join(kFixedAxes) +
                      ", or a dotted config key (e.g. train.epochs, quant.frac_bits)");
    }
    if (a.values.empty()) g.fail(key, "needs at least one value");
    axes.push_back(a);
  }
  if (std::none_of(axes.begin(), axes.end(), [](const Axis& a) { return a.key == "method"; }))
    throw ConfigError(g.where() + ": " + g.path() +
                      ": a grid needs a `method` axis; allowed methods: " + join(method_names()));
  g.finish();
  return axes;
}

// Expands a sweep file into runs (ids, overrides, float sharing).
class Expander {
 public:
  explicit Expander(SweepSpec& s) : s_(s) {}

  void add_grid(std::vector<Axis> axes) {
    std::stable_sort(axes.begin(), axes.end(),
                     [&](const Axis& a, const Axis& b) { return rank(a.key) < rank(b.key); });
    std::vector<size_t> idx(axes.size(), 0);
    while (true) {
      std::vector<AxisValue> point;
      std::map<std::string, std::string> where;
      for (size_t i = 0; i < axes.size(); ++i) {
        point.push_back({axes[i].key, axes[i].values[idx[i]]});
        where[axes[i].key] = axes[i].where;
      }
      add_point(point, where);
      size_t i = axes.size();
      while (i > 0 && ++idx[i - 1] == axes[i - 1].values.size()) idx[--i] = 0;
      if (i == 0) break;
    }
  }

  // Canonical axis order (column and id order): filters, method, bits, dotted keys, seed.
  int rank(const std::string& key) const {
    if (key == "seed") return 100000;
    const auto fixed = std::find(kFixedAxes.begin(), kFixedAxes.end(), key);
    if (fixed != kFixedAxes.end()) return static_cast<int>(fixed - kFixedAxes.begin());
    const auto d = std::find(s_.axis_keys.begin(), s_.axis_keys.end(), key);
    return 100 + static_cast<int>(d - s_.axis_keys.begin());
  }

  // Float runs first so that they start before the runs waiting for them.
  void finish() {
    std::stable_partition(runs_.begin(), runs_.end(),
                          [](const SweepRun& r) { return r.method == Method::kFloat; });
    s_.runs = std::move(runs_);
  }

 private:
  void add_point(const std::vector<AxisValue>& point,
                 const std::map<std::string, std::string>& where) {
    const auto m = std::find_if(point.begin(), point.end(),
                                [](const AxisValue& a) { return a.key == "method"; });
    const Method method = static_cast<Method>(
        std::find(method_names().begin(), method_names().end(), m->value) - method_names().begin());
    SweepRun run = make_run(point, method, where);
    if (is_quantized(method) && s_.share_float) {
      SweepRun f = make_run(point, Method::kFloat, where);
      f.in_grid = false;
      run.float_run = f.id;
      add(std::move(f));
    }
    add(std::move(run));
  }

  SweepRun make_run(const std::vector<AxisValue>& point, Method method,
                    const std::map<std::string, std::string>& where) const {
    SweepRun r;
    r.method = method;
    std::vector<std::string> id;
    for (const AxisValue& a : point) {
      const bool keep =
          a.key == "method" || method != Method::kFloat || affects_float_training(a.key);
      if (!keep) continue;
      const std::string value = a.key == "method" ? method_name(method) : a.value;
      r.axes.push_back({a.key, value});
      id.push_back(id_part(a.key, value));
      std::string config_key;
      if (a.key == "filters")
        config_key = "model.filters";
      else if (a.key == "seed")
        config_key = "seed";
      else if (a.key == "bits")
        config_key = "quant.bits";
      else if (a.key == "w_bits")
        config_key = "quant.weights.bits";
      else if (a.key == "a_bits")
        config_key = "quant.activations.bits";
      else if (a.key != "method")
        config_key = a.key;
      if (!config_key.empty()) {
        r.overrides.push_back(config_key + "=" + value);
        r.origins[config_key] = where.at(a.key);
      }
    }
    for (const auto& o : method_overrides(method)) {
      r.overrides.push_back(o);
      r.origins[o.substr(0, o.find('='))] = where.at("method");
    }
    r.id = join(id, "_");
    return r;
  }

  std::string id_part(const std::string& key, const std::string& value) const {
    if (key == "method") return value;
    if (key == "filters") return "filters" + value;
    if (key == "bits") return "b" + value;
    if (key == "w_bits") return "w" + value;
    if (key == "a_bits") return "a" + value;
    if (key == "seed") return "s" + value;
    // A dotted key is named by its last component unless two axes share it.
    std::string label = key.substr(key.rfind('.') + 1);
    const auto same_label = std::count_if(
        s_.axis_keys.begin(), s_.axis_keys.end(),
        [&](const std::string& k) { return is_dotted(k) && k.substr(k.rfind('.') + 1) == label; });
    if (same_label > 1) {
      label = key;
      std::replace(label.begin(), label.end(), '.', '-');
    }
    const std::string v = sanitize(value);
    const bool glue = std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-' || v[0] == '.';
    return label + (glue ? "" : "-") + v;
  }

  void add(SweepRun r) {
    const auto it = index_.find(r.id);
    if (it == index_.end()) {
      index_[r.id] = runs_.size();
      runs_.push_back(std::move(r));
      return;
    }
    SweepRun& old = runs_[it->second];
    if (old.overrides != r.overrides)
      throw ConfigError(s_.file + ": two different runs get the id '" + r.id + "' (" +
                        join(old.overrides, " ") + " vs " + join(r.overrides, " ") +
                        "); give the values distinct names");
    old.in_grid = old.in_grid || r.in_grid;
  }

  SweepSpec& s_;
  std::vector<SweepRun> runs_;
  std::map<std::string, size_t> index_;
};

// Bit widths and seed of a run as its config resolves them (axes or base config defaults); also
// validates the quant section of every run before anything starts.
void resolve(const SweepSpec& s, SweepRun& r) {
  QuantConfig q;
  try {
    LoadedConfig c = load_config_file(s.base, s.overrides_of(r));
    ConfigNode root(c.root, "", c.source);
    r.seed = root.get_int("seed", 1, 0);
    q = parse_quant_config(root.child("quant"));
  } catch (const ConfigError& e) {
    throw ConfigError(s.explain(r, e.what()));
  }
  if (!is_quantized(r.method)) return;
  r.w_bits = q.weights.bits;
  r.a_bits = q.activations.bits;
}

}  // namespace

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {
      "float",      "ptq-pow2",         "ptq-affine",      "qat-pow2",
      "qat-affine", "ptq-pow2-channel", "qat-pow2-channel"};
  return names;
}

const std::string& method_name(Method m) {
  return method_names().at(static_cast<size_t>(m));
}

bool is_quantized(Method m) {
  return m != Method::kFloat;
}

std::vector<std::string> method_overrides(Method m) {
  switch (m) {
    case Method::kFloat:
      // The float checkpoint also initialises quantized runs (train.init_from copies weights,
      // biases and batchnorm statistics only, so any quantization can follow).
      return {"quant.enabled=false", "qat.enabled=false"};
    case Method::kPtqPow2:
      return {"quant.enabled=true", "quant.scheme=pow2", "quant.weights.granularity=tensor",
              "ptq.enabled=true", "qat.enabled=false"};
    case Method::kPtqAffine:
      return {"quant.enabled=true", "quant.scheme=affine", "quant.weights.granularity=channel",
              "ptq.enabled=true", "qat.enabled=false"};
    case Method::kQatPow2:
      return {"quant.enabled=true", "quant.scheme=pow2", "quant.weights.granularity=tensor",
              "qat.enabled=true"};
    case Method::kQatAffine:
      return {"quant.enabled=true", "quant.scheme=affine", "quant.weights.granularity=channel",
              "qat.enabled=true"};
    case Method::kPtqPow2Channel:
      return {"quant.enabled=true", "quant.scheme=pow2", "quant.weights.granularity=channel",
              "ptq.enabled=true", "qat.enabled=false"};
    case Method::kQatPow2Channel:
      return {"quant.enabled=true", "quant.scheme=pow2", "quant.weights.granularity=channel",
              "qat.enabled=true"};
  }
  return {};
}

bool affects_float_training(const std::string& axis) {
  if (axis == "filters" || axis == "seed") return true;
  if (!is_dotted(axis)) return false;  // method and the bit widths
  for (const char* section : {"quant.", "ptq.", "qat.", "budget."})
    if (axis.rfind(section, 0) == 0) return false;
  return true;
}

std::string SweepSpec::run_dir(const SweepRun& r) const {
  return (fs::path(output) / "runs" / r.id).string();
}

const SweepRun* SweepSpec::find(const std::string& id) const {
  for (const auto& r : runs)
    if (r.id == id) return &r;
  return nullptr;
}

std::vector<std::string> SweepSpec::overrides_of(const SweepRun& r) const {
  std::vector<std::string> all = set;
  all.insert(all.end(), r.overrides.begin(), r.overrides.end());
  return all;
}

std::string SweepSpec::explain(const SweepRun& r, const std::string& message) const {
  const std::string prefix = "--set ";
  const size_t colon = message.find(": ");
  if (message.rfind(prefix, 0) == 0 && colon != std::string::npos) {
    const std::string key = message.substr(prefix.size(), colon - prefix.size());
    const auto own = r.origins.find(key);
    const auto shared = set_origins.find(key);
    const std::string origin =
        own != r.origins.end() ? own->second : (shared != set_origins.end() ? shared->second : "");
    if (!origin.empty()) return origin + ": " + message.substr(colon + 2) + " (run " + r.id + ")";
  }
  return "run " + r.id + ": " + message;
}

SweepSpec load_sweep(const std::string& path) {
  LoadedConfig loaded = load_config_file(path);
  ConfigNode root(loaded.root, "", loaded.source);
  SweepSpec s;
  s.file = path;
  s.name = root.get_string("name", fs::path(path).stem().string());
  if (s.name.empty() || s.name.find('/') != std::string::npos)
    root.fail("name", "'" + s.name + "' cannot name a directory");
  if (!root.has("base"))
    root.fail("base",
              "required: the run config every run starts from (relative to the sweep file)");
  fs::path base = root.get_string("base", "");
  if (base.is_relative()) base = fs::path(path).parent_path() / base;
  if (!fs::is_regular_file(base)) root.fail("base", "no such config file: " + base.string());
  s.base = fs::absolute(base).lexically_normal().string();
  s.output =
      fs::absolute(root.get_string("output", "sweeps/" + s.name)).lexically_normal().string();
  s.share_float = root.get_bool("share_float", true);

  ConfigNode set = root.child("set");
  for (const std::string& key : set.map_keys()) {
    const std::string owner = owner_of(key, s.share_float);
    const bool bits_default = key == "quant.bits" || key == "quant.weights.bits" ||
                              key == "quant.activations.bits" || key == "model.filters";
    if (!owner.empty() && !bits_default)
      set.fail(key, "cannot be set for the whole sweep: " + owner);
    const YAML::Node& node = set.yaml();
    s.set.push_back(key + "=" + yaml_text(node[key]));
    s.set_origins[key] = set.where(key);
  }

  std::vector<std::vector<Axis>> grids;
  const bool has_grid = root.has("grid"), has_grids = root.has("grids");
  if (has_grid && has_grids)
    root.fail("grid", "give either `grid` (one mapping) or `grids` (a list of mappings), not both");
  if (has_grid) {
    grids.push_back(parse_grid(root.child("grid"), s.share_float));
  } else if (has_grids) {
    const YAML::Node& node = root.yaml();
    const YAML::Node list = node["grids"];
    if (!list.IsSequence() || list.size() == 0)
      root.fail(
          "grids",
          "expected a non-empty list of grid mappings, e.g. [{method: [float], seed: [1, 2]}]");
    for (size_t i = 0; i < list.size(); ++i)
      grids.push_back(parse_grid(
          ConfigNode(list[i], "grids[" + std::to_string(i) + "]", loaded.source), s.share_float));
  } else {
    root.fail("grids",
              "required: `grids` (a list of mappings axis -> values) or `grid` (one mapping)");
  }
  root.finish();

  // Every axis key: the fixed ones in canonical order, dotted ones in order of appearance, the
  // seed last (it is what the summary averages over).
  const auto used = [&](const std::string& key) {
    return std::any_of(grids.begin(), grids.end(), [&](const std::vector<Axis>& g) {
      return std::any_of(g.begin(), g.end(), [&](const Axis& a) { return a.key == key; });
    });
  };
  for (const auto& key : kFixedAxes)
    if (key != "seed" && used(key)) s.axis_keys.push_back(key);
  for (const auto& g : grids)
    for (const auto& a : g)
      if (is_dotted(a.key) &&
          std::find(s.axis_keys.begin(), s.axis_keys.end(), a.key) == s.axis_keys.end())
        s.axis_keys.push_back(a.key);
  if (used("seed")) s.axis_keys.push_back("seed");

  Expander ex(s);
  for (auto& g : grids) ex.add_grid(std::move(g));
  ex.finish();
  for (auto& r : s.runs) resolve(s, r);
  return s;
}

}  // namespace qat::sweep
