// Quantization configuration: defaults for weights, activations and bias, plus per-node
// overrides. Torch-free; read from the `quant:` section of a YAML config.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "qat/number_format.h"

namespace qat {

class ConfigNode;
class Graph;

enum class ObserverKind { kMinMax, kRunningMinMax, kEma, kMse, kPercentile };
const char* observer_name(ObserverKind k);

// How one tensor (a layer's weights, an activation, a bias) is quantized.
struct QuantSpec {
  bool enabled = true;
  Scheme scheme = Scheme::kPow2;
  int bits = 8;
  Granularity granularity = Granularity::kPerTensor;
  bool symmetric = true;
  bool is_signed = true;
  ObserverKind observer = ObserverKind::kMinMax;
  double ema_momentum = 0.01;    // weight of the newest batch in the EMA observer
  double percentile = 99.99;     // percentile observer: clip range at this |x| percentile
  int mse_candidates = 64;       // MSE observer: candidate clipping ranges searched
  std::optional<int> frac_bits;  // pow2: fixed Qm.n format instead of an observed one
  bool learn_scale = false;      // affine: LSQ learned scale

  nlohmann::json to_json() const;
  static QuantSpec from_json(const nlohmann::json& j);
};

// Defaults of a scheme for one role (pow2: symmetric per tensor everywhere; affine: weights
// symmetric per channel, activations asymmetric per tensor, bias int32 in accumulator scale).
enum class TensorRole { kWeights, kActivations, kBias };
QuantSpec default_spec(Scheme scheme, TensorRole role);

struct NodeOverride {
  std::string pattern;  // node name or glob pattern ("block2_*")
  std::optional<QuantSpec> weights, activations, bias;
  std::string where;  // config location for error messages
};

struct QuantConfig {
  bool enabled = true;
  QuantSpec weights = default_spec(Scheme::kPow2, TensorRole::kWeights);
  QuantSpec activations = default_spec(Scheme::kPow2, TensorRole::kActivations);
  QuantSpec bias = default_spec(Scheme::kPow2, TensorRole::kBias);
  // In file order; when several match a node, the last one wins.
  std::vector<NodeOverride> overrides;

  QuantSpec weights_for(const std::string& node) const;
  QuantSpec activations_for(const std::string& node) const;
  QuantSpec bias_for(const std::string& node) const;

  // Throws ConfigError when an override names no node of the graph.
  void check_against(const Graph& graph) const;

  nlohmann::json to_json() const;
  static QuantConfig from_json(const nlohmann::json& j);
};

// The format `spec` gives to an observed range; one entry per channel when per_channel.
QFormat format_for_range(const QuantSpec& spec, const std::vector<double>& min,
                         const std::vector<double>& max, bool per_channel);

// Parses `quant:`. Shorthands `scheme:`, `bits:` and `frac_bits:` set weights and activations
// at once; `weights:`, `activations:`, `bias:` refine them; `overrides:` maps node names.
QuantConfig parse_quant_config(ConfigNode node);

}  // namespace qat
