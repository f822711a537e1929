// Validated reading of YAML configs. Each section is read through a ConfigNode: every getter
// declares a key as allowed (with its type, default and range), and finish() rejects any other
// key. Errors name the file, line, the dotted key and what would be accepted, e.g.
//   configs/har.yaml:14:5: unknown key 'epoch' in 'train'; allowed: batch_size, epochs, lr
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace qat {

// Where a config came from: the file and the keys overridden on the command line.
struct ConfigSource {
  std::string file;
  std::set<std::string> overridden;  // dotted keys set with --set
};

// Loads a YAML file and applies "a.b.c=value" overrides (value parsed as YAML). Throws
// ConfigError naming the file and line on a syntax error.
struct LoadedConfig {
  YAML::Node root;
  std::shared_ptr<ConfigSource> source;
};
LoadedConfig load_config_file(const std::string& path,
                              const std::vector<std::string>& overrides = {});
LoadedConfig load_config_string(const std::string& text, const std::string& name,
                                const std::vector<std::string>& overrides = {});

// A memory size: a whole number of bytes with an optional unit, "64KiB", "1.5 MiB", "32KB"
// (B, KB = 1000, KiB = 1024, MB = 10^6, MiB = 2^20); nullopt when it is not one or not > 0.
std::optional<int64_t> parse_size(const std::string& text);

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::string path, std::shared_ptr<ConfigSource> source);

  bool has(const std::string& key);  // also declares the key as allowed
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const;
  std::string where(const std::string& key) const;  // "file:line:col" of the key, or "--set a.b"
  std::string where() const;                        // of this node

  bool get_bool(const std::string& key, bool def);
  int64_t get_int(const std::string& key, int64_t def,
                  int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max());
  double get_double(const std::string& key, double def,
                    double min = -std::numeric_limits<double>::infinity(),
                    double max = std::numeric_limits<double>::infinity(),
                    bool min_exclusive = false);
  std::string get_string(const std::string& key, const std::string& def);
  std::string get_enum(const std::string& key, const std::string& def,
                       const std::vector<std::string>& allowed);
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& def,
                                    int64_t min = std::numeric_limits<int64_t>::min(),
                                    int64_t max = std::numeric_limits<int64_t>::max());
  std::vector<std::string> get_string_list(const std::string& key,
                                           const std::vector<std::string>& def);
  // An int or a list of ints ("kernel: 3" or "kernel: [3, 3]").
  std::vector<int64_t> get_int_or_list(const std::string& key, const std::vector<int64_t>& def,
                                       int64_t min = std::numeric_limits<int64_t>::min());

  // A memory size in bytes: an integer (bytes) or a number with a unit, "64KiB", "1.5 MiB",
  // "32KB" (B, KB = 1000, KiB = 1024, MB = 10^6, MiB = 2^20); > 0. nullopt when absent.
  std::optional<int64_t> get_size(const std::string& key);

  // A nested mapping (an empty one when the key is absent).
  ConfigNode child(const std::string& key);
  // Keys of a mapping whose keys are user-defined names (e.g. per-node overrides): every key is
  // allowed; returns them in file order.
  std::vector<std::string> map_keys();

  // Throws ConfigError for the first key that no getter asked for.
  void finish() const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  const YAML::Node& yaml() const { return node_; }
  const std::shared_ptr<ConfigSource>& source() const { return source_; }

 private:
  std::optional<YAML::Node> value(const std::string& key);
  YAML::Node lookup(const std::string& key) const;
  template <class T>
  T scalar(const std::string& key, const YAML::Node& v, const char* type_name);

  YAML::Node node_;
  std::string path_;
  std::shared_ptr<ConfigSource> source_;
  std::vector<std::string> allowed_;
};

}  // namespace qat
