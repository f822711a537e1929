#include <gtest/gtest.h>

#include "qat/config_reader.h"
#include "qat/errors.h"
#include "qat/graph.h"
#include "qat/quant_config.h"

namespace qat {
namespace {

QuantConfig parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  LoadedConfig c = load_config_string(yaml, "test.yaml", overrides);
  ConfigNode root(c.root, "", c.source);
  QuantConfig q = parse_quant_config(root.child("quant"));
  root.finish();
  return q;
}

// Runs `yaml` through the parser and returns the error message (fails if none).
std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse(yaml, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return "";
}

TEST(QuantConfig, DefaultsPerScheme) {
  const QuantConfig p = parse("quant:\n  scheme: pow2\n  bits: 8\n");
  EXPECT_EQ(p.weights.scheme, Scheme::kPow2);
  EXPECT_EQ(p.weights.granularity, Granularity::kPerTensor);
  EXPECT_EQ(p.bias.bits, 32);
  const QuantConfig a = parse("quant:\n  scheme: affine\n");
  EXPECT_EQ(a.weights.granularity, Granularity::kPerChannel);
  EXPECT_TRUE(a.weights.symmetric);
  EXPECT_FALSE(a.activations.symmetric);
  const QuantConfig q79 = parse("quant: {scheme: pow2, bits: 16, frac_bits: 9}\n");
  EXPECT_EQ(*q79.weights.frac_bits, 9);
  EXPECT_EQ(*q79.activations.frac_bits, 9);
  EXPECT_EQ(q79.activations.bits, 16);
}

TEST(QuantConfig, OverridesPerNode) {
  const QuantConfig q = parse(
      "quant:\n"
      "  bits: 8\n"
      "  overrides:\n"
      "    conv1: {weights: {bits: 16}}\n"
      "    block2_*: {activations: {bits: 4, observer: ema}}\n");
  EXPECT_EQ(q.weights_for("conv1").bits, 16);
  EXPECT_EQ(q.weights_for("conv2").bits, 8);
  EXPECT_EQ(q.activations_for("block2_conv1").bits, 4);
  EXPECT_EQ(q.activations_for("block2_conv1").observer, ObserverKind::kEma);
  Graph g;
  g.input("input", {3, 8});
  g.conv("conv1", "input", 4, {3}, {}, {});
  EXPECT_THROW(q.check_against(g), ConfigError);  // block2_* matches nothing
  try {
    q.check_against(g);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("test.yaml:5:5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nodes: input, conv1"), std::string::npos) << e.what();
  }
}

TEST(ConfigErrors, UnknownKeyNamesKeyLineAndAllowed) {
  const std::string e = error_of("quant:\n  bits: 8\n  shceme: pow2\n");
  EXPECT_NE(e.find("test.yaml:3:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'shceme' in 'quant'"), std::string::npos) << e;
  EXPECT_NE(
      e.find("allowed: activations, bias, bits, enabled, frac_bits, overrides, scheme, weights"),
      std::string::npos)
      << e;
}

TEST(ConfigErrors, UnknownTopLevelKey) {
  const std::string e = error_of("quant: {}\ntrian: {}\n");
  EXPECT_NE(e.find("test.yaml:2:1: unknown key 'trian' in 'config'"), std::string::npos) << e;
}

TEST(ConfigErrors, WrongType) {
  const std::string e = error_of("quant:\n  bits: eight\n");
  EXPECT_NE(e.find("test.yaml:2:3: quant.bits: expected an integer, got 'eight'"),
            std::string::npos)
      << e;
  const std::string m = error_of("quant:\n  weights: 8\n");
  EXPECT_NE(m.find("quant.weights: expected a mapping"), std::string::npos) << m;
}

TEST(ConfigErrors, OutOfRange) {
  const std::string e = error_of("quant:\n  weights:\n    bits: 17\n");
  EXPECT_NE(e.find("test.yaml:3:5: quant.weights.bits: 17 is out of range; allowed: 2..16"),
            std::string::npos)
      << e;
  const std::string m = error_of("quant:\n  activations: {observer: ema, ema_momentum: 0}\n");
  EXPECT_NE(m.find("quant.activations.ema_momentum: 0 is out of range; allowed: (0, 1]"),
            std::string::npos)
      << m;
}

TEST(ConfigErrors, BadEnumListsAllowedValues) {
  const std::string e = error_of("quant:\n  scheme: pow3\n");
  EXPECT_NE(e.find("quant.scheme: 'pow3' is not allowed; allowed: pow2, affine"), std::string::npos)
      << e;
  const std::string o = error_of("quant:\n  activations:\n    observer: max\n");
  EXPECT_NE(o.find("allowed: minmax, running_minmax, ema, mse, percentile"), std::string::npos)
      << o;
}

TEST(ConfigErrors, InconsistentOptions) {
  EXPECT_NE(error_of("quant:\n  weights: {learn_scale: true}\n").find("needs scheme: affine"),
            std::string::npos);
  EXPECT_NE(error_of("quant:\n  activations: {granularity: channel}\n").find("per tensor"),
            std::string::npos);
  EXPECT_NE(error_of("quant:\n  scheme: affine\n  frac_bits: 3\n").find("needs scheme: pow2"),
            std::string::npos);
}

TEST(ConfigErrors, CommandLineOverridesAreNamed) {
  const QuantConfig q = parse("quant:\n  bits: 8\n", {"quant.bits=4"});
  EXPECT_EQ(q.weights.bits, 4);
  const std::string e = error_of("quant:\n  bits: 8\n", {"quant.bits=99"});
  EXPECT_NE(e.find("--set quant.bits: quant.bits: 99 is out of range"), std::string::npos) << e;
  const std::string s = error_of("quant: {}\n", {"quant.bitz=4"});
  EXPECT_NE(s.find("--set quant.bitz: unknown key 'bitz'"), std::string::npos) << s;
  EXPECT_THROW(parse("quant: {}\n", {"novalue"}), ConfigError);
}

TEST(ConfigErrors, SyntaxErrorNamesLine) {
  try {
    load_config_string("quant:\n  bits: [8\n", "bad.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("YAML syntax error"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_config_file("/nonexistent/x.yaml"), ConfigError);
}

}  // namespace
}  // namespace qat

namespace qat {
namespace {

TEST(ConfigFile, DuplicateKeysAreErrorsWithBothLines) {
  EXPECT_EQ(error_of("quant: {bits: 8}\nname: a\nquant: {bits: 4}\n"),
            "test.yaml:3:1: duplicate key 'quant' in the top level (first at line 1); each key "
            "may appear once");
  EXPECT_EQ(error_of("quant:\n  bits: 8\n  scheme: pow2\n  bits: 4\n"),
            "test.yaml:4:3: duplicate key 'bits' in 'quant' (first at line 2); each key may appear "
            "once");
  EXPECT_NE(error_of("quant:\n  overrides:\n    conv1: {weights: {bits: 4, bits: 2}}\n")
                .find("duplicate key 'bits' in 'quant.overrides.conv1.weights'"),
            std::string::npos);
}

TEST(ConfigFile, TopLevelMustBeAMappingWithItsLine) {
  EXPECT_EQ(error_of("\n- a\n- b\n"),
            "test.yaml:2:1: the top level of a config must be a mapping of keys (name, dataset, "
            "model, ...), got a list");
}

// A key that only --set created is blamed on that --set, not on the file.
TEST(ConfigFile, ErrorsInsideASetValueNameTheSet) {
  Graph g;
  g.input("input", {3, 8});
  g.conv("conv1", "input", 4, {3}, {1}, {1});
  const QuantConfig q = parse("quant: {bits: 8}\n", {"quant.overrides.nonode.weights.bits=4"});
  try {
    q.check_against(g);
    FAIL() << "an override of no node was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--set quant.overrides.nonode.weights.bits: ", 0), 0u)
        << e.what();
  }
  EXPECT_EQ(error_of("quant: {bits: 8}\n", {"quant.overrides.conv1.weights.bits=1"})
                .rfind("--set quant.overrides.conv1.weights.bits: ", 0),
            0u);
}

}  // namespace
}  // namespace qat
