// Helpers the Cortex-M benchmarks share: comma lists, thousands separators, and test vectors
// from random normal inputs (fixed seed) with the host engine's outputs.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "export/codegen.h"
#include "export/engine.h"
#include "export/int_model.h"
#include "export/program.h"

namespace qat::bench {

inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

inline std::string thousands(double v) {
  std::string s = std::to_string(static_cast<long long>(v + 0.5));
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// n random normal inputs (seed 42) quantized with the model's input format; the expected
// outputs come from the host integer engine running `p`.
inline std::vector<exporter::TestVector> random_normal_vectors(const exporter::IntModel& im,
                                                               const exporter::Program& p, int n) {
  exporter::Engine engine(p);
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Shape& shape = im.graph.input_node().shape;
  int64_t elems = 1;
  for (int64_t d : shape) elems *= d;
  std::vector<exporter::TestVector> tv(static_cast<size_t>(n));
  for (auto& v : tv) {
    std::vector<float> chw(static_cast<size_t>(elems));
    for (auto& x : chw) x = normal(rng);
    v.input = exporter::quantize_input(chw.data(), shape, im.input_format());
    engine.run(v.input, v.output);
  }
  return tv;
}

}  // namespace qat::bench
