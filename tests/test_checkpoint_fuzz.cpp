// Hostile integer checkpoints: the shipped ones (tests/data/checkpoints: pow2, affine, packed
// 4-bit) mutated thousands of times with a fixed seed (arrays cut short, lengthened or emptied,
// numbers replaced by extremes, types swapped, keys dropped) must either load, build, run on the
// host engine and export as C without a memory error, or be refused with an ExportError. This
// test is built with AddressSanitizer and UndefinedBehaviorSanitizer (tests/CMakeLists.txt), so
// an out-of-bounds read that does not crash still fails it. Plus hand-made cuts that name the
// node and the field.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "export/codegen.h"
#include "export/engine.h"
#include "export/int_model.h"
#include "export/program.h"
#include "qat/errors.h"

namespace qat::exporter {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json seed(const std::string& name) {
  std::ifstream in(fs::path(QAT_SOURCE_DIR) / "tests/data/checkpoints" / name);
  return json::parse(in);
}

std::string refusal(const json& j) {
  try {
    IntModel::from_json(j);
  } catch (const ExportError& e) {
    return e.what();
  }
  return "";
}

// Everything a loaded checkpoint is used for: program, engine runs, the C export.
void exercise(const IntModel& m, const fs::path& dir) {
  const Program p = build_program(m);
  const auto vectors = random_test_vectors(m, p, 2, 7);
  write_c_export(m, p, vectors, dir.string(), CodegenOptions{});
}

// All the places in a JSON tree, by pointer.
void paths(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) paths(*it, at / it.key(), out);
  if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) paths(j[i], at / i, out);
}

json mutate(json j, std::mt19937& rng) {
  std::vector<json::json_pointer> where;
  paths(j, json::json_pointer(), where);
  const auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const int edits = 1 + static_cast<int>(pick(3));
  for (int e = 0; e < edits; ++e) {
    const json::json_pointer at = where[pick(where.size())];
    if (!j.contains(at)) continue;
    json& v = j[at];
    switch (pick(9)) {
      case 0:  // cut an array short / empty it
        if (v.is_array() && !v.empty())
          v.erase(v.begin() + static_cast<long>(pick(v.size())), v.end());
        break;
      case 1:  // lengthen an array
        if (v.is_array() && !v.empty()) v.push_back(v.back());
        break;
      case 2:  // an extreme integer
        v = std::vector<int64_t>{0,     -1,     1,         127,       128,       -129,   300,
                                 32768, -32769, INT32_MAX, INT64_MAX, INT64_MIN, 1 << 20}[pick(13)];
        break;
      case 3:  // a float where an integer was
        v = std::vector<double>{0.5, -1e300, 1e300, 3.25}[pick(4)];
        break;
      case 4:  // another type
        v = pick(2) ? json("x") : json(nullptr);
        break;
      case 5:  // an empty container
        v = pick(2) ? json::array() : json::object();
        break;
      case 6:  // drop a key
        if (!at.empty()) {
          json& parent = j[at.parent_pointer()];
          if (parent.is_object()) parent.erase(at.back());
        }
        break;
      case 7:  // a small off-by-one on a number
        if (v.is_number_integer()) v = v.get<int64_t>() + (pick(2) ? 1 : -1);
        break;
      default:  // a boolean flip
        if (v.is_boolean()) v = !v.get<bool>();
        break;
    }
  }
  return j;
}

TEST(CheckpointFuzz, MutatedCheckpointsLoadOrAreRefusedWithoutMemoryErrors) {
  const fs::path dir = fs::temp_directory_path() / "qat_checkpoint_fuzz";
  std::mt19937 rng(2026);
  int loaded = 0, refused = 0, iterations = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const char* file :
       {"resnet4_pow2.qint.json", "resnet4_affine.qint.json", "resnet4_w4.qint.json"}) {
    const json base = seed(file);
    exercise(IntModel::from_json(base), dir);  // the seed itself is valid
    for (int i = 0; i < 700; ++i, ++iterations) {
      const json j = mutate(base, rng);
      IntModel m;
      try {
        m = IntModel::from_json(j);
      } catch (const ExportError&) {
        ++refused;
        continue;
      }
      try {
        exercise(m, dir);
        ++loaded;
      } catch (const ExportError&) {
        ++refused;  // e.g. a flattened output the exporter refuses; never a crash
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d mutated checkpoints: %d loaded and ran, %d refused (%.1f s)\n", iterations,
              loaded, refused, seconds);
  EXPECT_GT(refused, iterations / 2);
  EXPECT_GT(loaded, 0);
  fs::remove_all(dir);
}

TEST(CheckpointFuzz, RefusalsNameTheNodeAndTheField) {
  const json base = seed("resnet4_pow2.qint.json");
  const auto node_of = [&](const std::string& name) -> size_t {
    for (size_t i = 0; i < base["nodes"].size(); ++i)
      if (base["nodes"][i]["name"] == name) return i;
    throw std::runtime_error(name);
  };
  const size_t c = node_of("s1b1_conv1");
  json j = base;
  j["nodes"][c]["weights"].erase(j["nodes"][c]["weights"].end() - 1);
  EXPECT_NE(refusal(j).find("node 's1b1_conv1' field 'weights': 47 values, the weight shape "
                            "[4, 4, 3] needs 48"),
            std::string::npos)
      << refusal(j);
  j = base;
  j["nodes"][c]["bias"].erase(j["nodes"][c]["bias"].begin());
  EXPECT_NE(refusal(j).find("node 's1b1_conv1' field 'bias': 3 values"), std::string::npos)
      << refusal(j);
  j = base;
  j["nodes"][c]["weights"][5] = 300;
  EXPECT_NE(refusal(j).find("field 'weights': code 300 at index 5 outside the 8-bit range"),
            std::string::npos)
      << refusal(j);
  j = base;
  j["nodes"][c]["requant"]["shift"] = json::array();
  EXPECT_NE(refusal(j).find("field 'requant.shift': 0 values, expected 1"), std::string::npos)
      << refusal(j);
  j = base;
  j["nodes"][c]["weight_format"]["frac_bits"] = json::array();
  EXPECT_NE(refusal(j).find("field 'weight_format'"), std::string::npos) << refusal(j);
  j = base;
  j["nodes"][c]["weight_shape"][2] = 5;
  EXPECT_NE(refusal(j).find("field 'weight_shape': [4, 4, 5] does not match the graph's [4, 4, 3]"),
            std::string::npos)
      << refusal(j);
  // A kernel size changed in the graph (padding too, so the shapes still agree): the weights no
  // longer fit it.
  j = base;
  for (auto& n : j["graph"]["nodes"])
    if (n["name"] == "s1b1_conv1") {
      n["kernel"] = json::array({5});
      n["padding"] = json::array({2});
    }
  EXPECT_NE(refusal(j).find("node 's1b1_conv1' field 'weight_shape'"), std::string::npos)
      << refusal(j);
}

}  // namespace
}  // namespace qat::exporter
