#include "qat/config_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <sstream>

#include "qat/errors.h"

namespace qat {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string describe(const YAML::Node& v) {
  if (v.IsScalar()) return "'" + v.Scalar() + "'";
  if (v.IsSequence()) return "a list";
  if (v.IsMap()) return "a mapping";
  return "nothing";
}

std::string mark_str(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void apply_override(YAML::Node& root, const std::string& spec, ConfigSource& source) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + spec + "': expected key=value, e.g. train.epochs=5");
  const std::string key = spec.substr(0, eq);
  const std::string text = spec.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw ConfigError("--set '" + spec + "': empty component in key '" + key + "'");
    parts.push_back(p);
  }
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set '" + spec + "': value is not valid YAML: " + e.msg);
  }
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (cur[parts[i]] && !cur[parts[i]].IsMap())
      throw ConfigError("--set '" + spec + "': '" + parts[i] + "' is not a mapping");
    if (!cur[parts[i]]) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  cur[parts.back()] = value;
  source.overridden.insert(key);
}

// yaml-cpp keeps every pair of a mapping but answers lookups with the first: a key written
// twice would silently lose its second value (and the saved config would keep both).
void check_duplicate_keys(const YAML::Node& n, const std::string& file, const std::string& path) {
  if (n.IsMap()) {
    std::map<std::string, YAML::Mark> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      const std::string sub = path.empty() ? key : path + "." + key;
      const auto [first, fresh] = seen.emplace(key, it->first.Mark());
      if (!fresh)
        throw ConfigError(mark_str(file, it->first.Mark()) + ": duplicate key '" + key + "' in " +
                          (path.empty() ? std::string("the top level") : "'" + path + "'") +
                          " (first at line " + std::to_string(first->second.line + 1) +
                          "); each key may appear once");
      check_duplicate_keys(it->second, file, sub);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i)
      check_duplicate_keys(n[i], file, path + "[" + std::to_string(i) + "]");
  }
}

LoadedConfig finish_load(YAML::Node root, const std::string& name,
                         const std::vector<std::string>& overrides) {
  auto source = std::make_shared<ConfigSource>();
  source->file = name;
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap())
    throw ConfigError(mark_str(name, root.Mark()) +
                      ": the top level of a config must be a mapping "
                      "of keys (name, dataset, model, ...), got " +
                      describe(root));
  check_duplicate_keys(root, name, "");
  for (const auto& o : overrides) apply_override(root, o, *source);
  return {root, source};
}

}  // namespace

LoadedConfig load_config_file(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ": cannot open config file");
  } catch (const YAML::Exception& e) {
    throw ConfigError(mark_str(path, e.mark) + ": YAML syntax error: " + e.msg);
  }
  return finish_load(root, path, overrides);
}

LoadedConfig load_config_string(const std::string& text, const std::string& name,
                                const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(mark_str(name, e.mark) + ": YAML syntax error: " + e.msg);
  }
  return finish_load(root, name, overrides);
}

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::shared_ptr<ConfigSource> source)
    : node_(std::move(node)), path_(std::move(path)), source_(std::move(source)) {
  if (node_ && !node_.IsNull() && !node_.IsMap())
    throw ConfigError(where() + ": '" + (path_.empty() ? "config" : path_) +
                      "' must be a mapping, got " + describe(node_));
}

std::string ConfigNode::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string ConfigNode::where() const {
  for (const auto& o : source_->overridden)
    if (!path_.empty() && (o == path_ || o.rfind(path_ + ".", 0) == 0)) return "--set " + o;
  return mark_str(source_->file, node_ ? node_.Mark() : YAML::Mark::null_mark());
}

std::string ConfigNode::where(const std::string& key) const {
  const std::string full = key_path(key);
  for (const auto& o : source_->overridden)
    if (o == full || full.rfind(o + ".", 0) == 0) return "--set " + o;
  if (node_ && node_.IsMap())
    for (auto it = node_.begin(); it != node_.end(); ++it)
      if (it->first.Scalar() == key) {
        // A key that --set created (e.g. --set quant.overrides.x.weights.bits=4 makes 'x') has
        // no place in the file: blame the --set below it.
        if (it->first.Mark().is_null())
          for (const auto& o : source_->overridden)
            if (o.rfind(full + ".", 0) == 0) return "--set " + o;
        return mark_str(source_->file, it->first.Mark());
      }
  return where();
}

void ConfigNode::fail(const std::string& key, const std::string& message) const {
  throw ConfigError(where(key) + ": " + key_path(key) + ": " + message);
}

bool ConfigNode::has(const std::string& key) {
  if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) allowed_.push_back(key);
  if (!node_ || !node_.IsMap()) return false;
  const YAML::Node v = lookup(key);
  return v && !v.IsNull();
}

// Const lookup: operator[] on a non-const yaml-cpp node would insert the key.
YAML::Node ConfigNode::lookup(const std::string& key) const {
  const YAML::Node& n = node_;
  return n[key];
}

std::optional<YAML::Node> ConfigNode::value(const std::string& key) {
  if (!has(key)) return std::nullopt;
  return lookup(key);
}

template <class T>
T ConfigNode::scalar(const std::string& key, const YAML::Node& v, const char* type_name) {
  if (!v.IsScalar()) fail(key, std::string("expected ") + type_name + ", got " + describe(v));
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    fail(key, std::string("expected ") + type_name + ", got " + describe(v));
  }
}

bool ConfigNode::get_bool(const std::string& key, bool def) {
  const auto v = value(key);
  return v ? scalar<bool>(key, *v, "true or false") : def;
}

int64_t ConfigNode::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  const auto v = value(key);
  if (!v) return def;
  const int64_t x = scalar<int64_t>(key, *v, "an integer");
  if (x < min || x > max) {
    std::string range = "allowed: ";
    if (min != std::numeric_limits<int64_t>::min() && max != std::numeric_limits<int64_t>::max())
      range += std::to_string(min) + ".." + std::to_string(max);
    else if (min != std::numeric_limits<int64_t>::min())
      range += ">= " + std::to_string(min);
    else
      range += "<= " + std::to_string(max);
    fail(key, std::to_string(x) + " is out of range; " + range);
  }
  return x;
}

std::optional<int64_t> parse_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return std::nullopt;
  double number = 0;
  try {
    size_t used = 0;
    number = std::stod(text.substr(0, i), &used);
    if (used != i) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(i);
  unit.erase(0, unit.find_first_not_of(' '));
  static const std::vector<std::pair<std::string, double>> units = {
      {"", 1}, {"B", 1}, {"KB", 1e3}, {"KiB", 1024}, {"MB", 1e6}, {"MiB", 1048576}};
  for (const auto& [name, factor] : units) {
    if (unit != name) continue;
    const double bytes = number * factor;
    if (!(bytes >= 1) || bytes > 1e15 || bytes != std::floor(bytes)) return std::nullopt;
    return static_cast<int64_t>(bytes);
  }
  return std::nullopt;
}

std::optional<int64_t> ConfigNode::get_size(const std::string& key) {
  const auto v = value(key);
  if (!v) return std::nullopt;
  if (!v->IsScalar()) fail(key, "expected a size such as 64KiB, got " + describe(*v));
  const std::string text = v->Scalar();
  const std::optional<int64_t> bytes = parse_size(text);
  if (!bytes)
    fail(key, "'" + text +
                  "' is not a memory size; write a whole number of bytes > 0 with an optional "
                  "unit: B, KB (1000), KiB (1024), MB, MiB, e.g. 64KiB or 1.5MiB");
  return bytes;
}

double ConfigNode::get_double(const std::string& key, double def, double min, double max,
                              bool min_exclusive) {
  const auto v = value(key);
  if (!v) return def;
  const double x = scalar<double>(key, *v, "a number");
  const bool low = min_exclusive ? !(x > min) : !(x >= min);
  if (!std::isfinite(x) || low || x > max) {
    std::ostringstream r;
    r << x << " is out of range; allowed: ";
    if (std::isfinite(min) && std::isfinite(max))
      r << (min_exclusive ? "(" : "[") << min << ", " << max << "]";
    else if (std::isfinite(min))
      r << (min_exclusive ? "> " : ">= ") << min;
    else if (std::isfinite(max))
      r << "<= " << max;
    else
      r << "a finite number";
    fail(key, r.str());
  }
  return x;
}

std::string ConfigNode::get_string(const std::string& key, const std::string& def) {
  const auto v = value(key);
  return v ? scalar<std::string>(key, *v, "a string") : def;
}

std::string ConfigNode::get_enum(const std::string& key, const std::string& def,
                                 const std::vector<std::string>& allowed) {
  const std::string s = get_string(key, def);
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    fail(key, "'" + s + "' is not allowed; allowed: " + join(allowed));
  return s;
}

std::vector<int64_t> ConfigNode::get_int_list(const std::string& key,
                                              const std::vector<int64_t>& def, int64_t min,
                                              int64_t max) {
  const auto opt = value(key);
  if (!opt) return def;
  const YAML::Node& v = *opt;
  if (!v.IsSequence()) fail(key, "expected a list of integers, got " + describe(v));
  std::vector<int64_t> out;
  for (const auto& e : v) {
    int64_t x = 0;
    try {
      x = e.as<int64_t>();
    } catch (const YAML::Exception&) {
      fail(key, "expected a list of integers, found " + describe(e));
    }
    if (x < min || x > max)
      fail(key, "element " + std::to_string(x) + " is out of range; allowed: " +
                    std::to_string(min) + ".." + std::to_string(max));
    out.push_back(x);
  }
  return out;
}

std::vector<std::string> ConfigNode::get_string_list(const std::string& key,
                                                     const std::vector<std::string>& def) {
  const auto opt = value(key);
  if (!opt) return def;
  const YAML::Node& v = *opt;
  if (v.IsScalar()) return {v.Scalar()};
  if (!v.IsSequence()) fail(key, "expected a list of strings, got " + describe(v));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.IsScalar()) fail(key, "expected a list of strings, found " + describe(e));
    out.push_back(e.Scalar());
  }
  return out;
}

std::vector<int64_t> ConfigNode::get_int_or_list(const std::string& key,
                                                 const std::vector<int64_t>& def, int64_t min) {
  const auto v = value(key);
  if (!v) return def;
  if (v->IsScalar()) return {get_int(key, 0, min)};
  return get_int_list(key, def, min);
}

ConfigNode ConfigNode::child(const std::string& key) {
  const auto v = value(key);
  if (v && !v->IsMap()) fail(key, "expected a mapping, got " + describe(*v));
  return ConfigNode(v ? *v : YAML::Node(YAML::NodeType::Map), key_path(key), source_);
}

std::vector<std::string> ConfigNode::map_keys() {
  std::vector<std::string> keys;
  if (!node_ || !node_.IsMap()) return keys;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    keys.push_back(it->first.Scalar());
    has(keys.back());
  }
  return keys;
}

void ConfigNode::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) {
      std::vector<std::string> sorted = allowed_;
      std::sort(sorted.begin(), sorted.end());
      throw ConfigError(where(key) + ": unknown key '" + key + "' in '" +
                        (path_.empty() ? "config" : path_) + "'; allowed: " + join(sorted));
    }
  }
}

}  // namespace qat
