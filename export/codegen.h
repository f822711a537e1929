// C generator: writes a self-contained export directory for a Program:
//   <name>.h / <name>.c   integer model: constant weights (flash), one static arena placed by
//                         the planner, <name>_run() as a straight sequence of qk kernel calls
//   <name>_io.c           optional float helpers (normalise + quantize inputs, dequantize outputs)
//   <name>_vectors.h/.c   test vectors: input codes and the host engine's expected output codes
//   example_main.c        runs the vectors and checks them bit for bit (exit code 0 on match)
//   kernels/              the qk kernel library sources (shipped with every export)
//   Makefile, CMakeLists.txt, README.md
// The integer files are C99, -Wall -Wextra -Werror clean, without malloc or floating point.
#pragma once

#include <string>
#include <vector>

#include "export/int_model.h"
#include "export/program.h"

namespace qat::exporter {

struct TestVector {
  std::vector<float> raw;       // raw (unnormalised) input, channels-last, may be empty
  std::vector<int32_t> input;   // quantized input codes, channels-last
  std::vector<int32_t> output;  // expected output codes from the host engine
};

struct CodegenOptions {
  std::string name = "model";  // C identifier prefix and file stem
};

// Throws ExportError when `name` cannot be an export's C prefix: not an identifier, a C keyword,
// a standard header's name (name.h would shadow it), or in the qk kernel library's namespace.
void check_export_name(const std::string& name);

// Writes the export; returns the list of files written (relative to out_dir).
std::vector<std::string> write_c_export(const IntModel& m, const Program& p,
                                        const std::vector<TestVector>& vectors,
                                        const std::string& out_dir, const CodegenOptions& opts);

}  // namespace qat::exporter
