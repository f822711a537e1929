#include "export/codegen.h"

#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "export/fusion.h"
#include "export/kernel_paths.h"
#include "export/kernel_sources.h"
#include "qat/atomic_file.h"
#include "qat/errors.h"

namespace qat::exporter {
namespace fs = std::filesystem;
namespace {

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string c_ident(const std::string& s) {
  std::string out;
  for (char ch : s) out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "n_" + out;
  return out;
}

// "{1, -2, 3, ...}" wrapped at 20 values per line.
template <typename T>
std::string c_array(const std::vector<T>& v) {
  std::ostringstream o;
  o << "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 20 == 0) o << "\n  ";
    o << static_cast<long long>(v[i]) << (i + 1 < v.size() ? ", " : "");
  }
  o << "\n}";
  return o.str();
}

// The export writes <name>.h, <name>.c, <name>_io.c, <name>_vectors.h/.c next to kernels/ and is
// compiled with -I.: a name that is a C keyword, a standard header (stdio.h would shadow
// <stdio.h>) or in the kernel library's namespace (qk.h would shadow kernels/qk.h) gives C that
// does not compile, or worse, compiles against the wrong file.
}  // namespace

void check_export_name(const std::string& name) {
  if (c_ident(name) != name)
    throw ExportError("export name '" + name + "' is not a C identifier (try '" + c_ident(name) +
                      "')");
  static const std::set<std::string> keywords = {
      "auto",     "break",  "case",   "char",     "const",      "continue", "default",  "do",
      "double",   "else",   "enum",   "extern",   "float",      "for",      "goto",     "if",
      "inline",   "int",    "long",   "register", "restrict",   "return",   "short",    "signed",
      "sizeof",   "static", "struct", "switch",   "typedef",    "union",    "unsigned", "void",
      "volatile", "while",  "_Bool",  "_Complex", "_Imaginary", "main"};
  static const std::set<std::string> headers = {
      "assert",  "complex", "ctype",  "errno",  "fenv",   "float",        "inttypes", "iso646",
      "limits",  "locale",  "math",   "setjmp", "signal", "stdalign",     "stdarg",   "stdatomic",
      "stdbool", "stddef",  "stdint", "stdio",  "stdlib", "stdnoreturn",  "string",   "tgmath",
      "threads", "time",    "uchar",  "wchar",  "wctype", "example_main", "kernels"};
  if (keywords.count(name))
    throw ExportError("export name '" + name + "' is a C keyword; choose another --name");
  if (headers.count(name))
    throw ExportError("export name '" + name + "' would write " + name +
                      ".h, which shadows the C standard header or a file of the export; choose "
                      "another --name");
  if (name == "qk" || name.rfind("qk_", 0) == 0 || name.rfind("qk__", 0) == 0)
    throw ExportError("export name '" + name +
                      "' clashes with the qk kernel library (its files and symbols start with "
                      "qk); choose another --name");
  if (name.rfind("__", 0) == 0 ||
      (name.size() > 1 && name[0] == '_' && std::isupper(static_cast<unsigned char>(name[1]))))
    throw ExportError("export name '" + name +
                      "' is reserved in C (leading __ or _ and a capital)");
}

namespace {

std::string c_double_array(const std::vector<double>& v) {
  std::ostringstream o;
  o.precision(17);
  o << "{";
  for (size_t i = 0; i < v.size(); ++i) o << v[i] << (i + 1 < v.size() ? ", " : "");
  o << "}";
  return o.str();
}

// "{.in_h = 32, .in_w = 32, ...}": designated initializers, so a struct reads by its field names
// and a reordered field cannot silently shift the values.
std::string c_initializer(const KernelParams& params) {
  std::ostringstream o;
  o << "{";
  const auto fields = param_fields(params);
  for (size_t i = 0; i < fields.size(); ++i)
    o << (i ? ", " : "") << "." << fields[i].first << " = " << fields[i].second;
  o << "}";
  return o.str();
}

const char* act_c_type(DType t) {
  return t == DType::kInt16 ? "int16_t" : "int8_t";
}

// C type of a kernel's weight array: packed weights are bytes.
const char* weight_c_type(DType t) {
  return t == DType::kInt16 ? "int16_t" : t == DType::kInt8 ? "int8_t" : "uint8_t";
}

// The arena member and element offset a buffer of type t at byte `offset` is addressed through.
std::string arena_ref(const std::string& name, DType t, int64_t offset) {
  return t == DType::kInt16 ? name + "_arena.s16 + " + std::to_string(offset / 2)
                            : name + "_arena.s8 + " + std::to_string(offset);
}

std::string header(const IntModel& m, const Program& p, const std::string& name) {
  const std::string N = upper(name);
  const Buffer& in = p.buffers[static_cast<size_t>(p.input)];
  std::ostringstream o;
  o << "/* " << name << ".h - generated by `qat export`. Integer model: " << p.type_summary()
    << ".\n"
    << " * Input: channels-last [" << in.h << "][" << in.w << "][" << in.c << "] "
    << m.input_format().str() << "; output: " << p.output_elements() << " values "
    << m.output_format().str() << ".\n"
    << " * The integer model uses no floating point and no malloc; " << name
    << "_io.c holds optional float helpers. */\n"
    << "#ifndef " << N << "_H\n#define " << N << "_H\n\n#include <stdint.h>\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "#define " << N << "_INPUT_H " << in.h << "\n"
    << "#define " << N << "_INPUT_W " << in.w << "\n"
    << "#define " << N << "_INPUT_C " << in.c << "\n"
    << "#define " << N << "_INPUT_ELEMENTS " << p.input_elements() << "\n"
    << "#define " << N << "_OUTPUT_ELEMENTS " << p.output_elements() << "\n"
    << "/* Static RAM of the model: activations and kernel scratch (the input is the caller's). "
       "*/\n"
    << "#define " << N << "_ARENA_BYTES " << p.plan.arena_bytes << "\n"
    << "#define " << N << "_ARENA_LOWER_BOUND_BYTES " << p.plan.lower_bound << "\n"
    << "#define " << N << "_WEIGHT_BYTES " << p.weight_bytes() << "\n"
    << "#define " << N << "_MACS " << p.macs() << "\n"
    << (m.budget_flash
            ? "#define " + N + "_BUDGET_FLASH_BYTES " + std::to_string(*m.budget_flash) + "\n"
            : std::string())
    << (m.budget_ram ? "#define " + N + "_BUDGET_RAM_BYTES " + std::to_string(*m.budget_ram) + "\n"
                     : std::string())
    << "\n"
    << "typedef " << act_c_type(p.input_type()) << " " << name << "_input_t;\n"
    << "typedef " << act_c_type(p.output_type()) << " " << name << "_output_t;\n"
    << (p.input_type() == p.output_type()
            ? "typedef " + std::string(act_c_type(p.input_type())) + " " + name +
                  "_act_t; /* input and output codes share one type */\n"
            : std::string())
    << "\n"
    << "/* One inference: quantized channels-last input -> quantized output. Returns 0 (-1 if a\n"
    << " * fused block's description were inconsistent, which an export never is). The\n"
    << " * input is read in place (it is not part of the arena; it may be in flash) and is not\n"
    << " * modified; the output must not overlap it. */\n"
    << "int " << name << "_run(const " << name << "_input_t *input, " << name
    << "_output_t *output);\n\n"
    << "/* Index of the largest output code (classification). */\n"
    << "int " << name << "_argmax(const " << name << "_output_t *output);\n\n"
    << "/* Float helpers (" << name << "_io.c): normalise a raw channels-last input with the\n"
    << " * training statistics and quantize it (round half up, saturating); dequantize outputs. "
       "*/\n"
    << "void " << name << "_quantize_input(const float *raw, " << name << "_input_t *input);\n"
    << "void " << name << "_dequantize_output(const " << name
    << "_output_t *output, float *values);\n\n"
    << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << N << "_H */\n";
  return o.str();
}

std::string source(const IntModel& m, const Program& p, const std::string& name) {
  std::ostringstream o;
  o << "/* " << name << ".c - generated by `qat export` from " << m.source << ".\n"
    << " * Layers:\n";
  std::istringstream summary(p.summary());
  for (std::string line; std::getline(summary, line);) o << " *   " << line << "\n";
  o << " */\n#include \"" << name << ".h\"\n\n#include \"kernels/qk.h\"\n\n";
  // The constants of one call: weights, bias, requantization, parameter struct.
  const auto constants = [&](const Call& c) {
    const std::string id = c_ident(c.node);
    if (c.weighted()) {
      if (c.packed.empty())
        o << "static const " << weight_c_type(c.kernel->weight) << " " << id << "_w["
          << c.weights.size() << "] = " << c_array(c.weights) << ";\n";
      else
        o << "/* " << c.weights.size() << " " << dtype_name(c.kernel->weight)
          << " weights, packed (kernels/qk.h, \"Packed weights\") */\n"
          << "static const uint8_t " << id << "_w[" << c.packed.size()
          << "] = " << c_array(c.packed) << ";\n";
      o << "static const int32_t " << id << "_b[" << c.bias.size() << "] = " << c_array(c.bias)
        << ";\n";
      o << "static const int8_t " << id << "_shift[" << c.shift.size() << "] = " << c_array(c.shift)
        << ";\n";
      if (!c.mult.empty())
        o << "static const int32_t " << id << "_mult[" << c.mult.size() << "] = " << c_array(c.mult)
          << ";\n";
      o << "static const qk_requant " << id << "_rq = {" << (c.mult.empty() ? "0" : id + "_mult")
        << ", " << id << "_shift, " << c.requant().per_channel << "};\n";
    }
    if (c.kernel->params_type)
      o << "static const " << c.kernel->params_type << " " << id
        << "_p = " << c_initializer(c.params) << ";\n\n";
    if (c.kind() == CallKind::kClamp) {
      const auto& cp = std::get<ClampParams>(c.params);
      o << "static const qk_fused_clamp_params " << id << "_cp = {.lo = " << cp.lo
        << ", .hi = " << cp.hi << "};\n\n";
    }
  };
  const auto fused_block = [&](const Call& fc) {
    const FusedBlock& b = *fc.fused;
    o << "/* " << b.name << ": " << b.layers.size() << " layers run tile by tile ("
      << (b.retain ? "line buffers" : "patches") << ", tile " << b.tile_h << "x" << b.tile_w
      << ") by qk_fused_run. */\n";
    for (const Call& l : b.layers) constants(l);
    o << "static const qk_fused_tensor " << b.name << "_t[" << b.tensors.size() << "] = {\n";
    for (const FusedBlock::Tensor& t : b.tensors) {
      const Buffer& bf = p.buffers[static_cast<size_t>(t.buffer)];
      o << "    {.h = " << bf.h << ", .w = " << bf.w << ", .c = " << bf.c
        << ", .elem_bytes = " << dtype_bytes(bf.type)
        << ", .storage = " << (t.window ? "QK_FUSED_WINDOW" : "QK_FUSED_WHOLE")
        << ", .capacity = " << (t.window ? bf.window_bytes : 0) << "}, /* " << bf.name << " */\n";
    }
    o << "};\n";
    o << "static const qk_fused_layer " << b.name << "_l[" << b.layers.size() << "] = {\n";
    static const char* const kinds[] = {
        "QK_FUSED_CONV_S8",     "QK_FUSED_CONV_S8_PACKED", "QK_FUSED_CONV_S16",
        "QK_FUSED_CONV_S16_W8", "QK_FUSED_POOL_S8",        "QK_FUSED_POOL_S16",
        "QK_FUSED_ADD_S8",      "QK_FUSED_ADD_S16",        "QK_FUSED_CLAMP_S8",
        "QK_FUSED_CLAMP_S16",   "QK_FUSED_CAST_S8_S16",    "QK_FUSED_CAST_S16_S8",
        "QK_FUSED_GAVGPOOL_S8", "QK_FUSED_GAVGPOOL_S16",   "QK_FUSED_GMAXPOOL_S8",
        "QK_FUSED_GMAXPOOL_S16"};
    for (size_t k = 0; k < b.layers.size(); ++k) {
      const Call& l = b.layers[k];
      const std::string id = c_ident(l.node);
      o << "    {.kind = " << kinds[fused_kind(*l.kernel)] << ", .fn = {."
        << fused_member(*l.kernel) << " = " << l.kernel->name << "}, .params = ";
      if (l.kind() == CallKind::kClamp)
        o << "&" << id << "_cp";
      else if (l.kernel->params_type)
        o << "&" << id << "_p";
      else
        o << "0";
      if (l.weighted())
        o << ", .weights = " << id << "_w, .bias = " << id << "_b, .rq = &" << id << "_rq";
      o << ", .in0 = " << b.io[k].in0 << ", .in1 = " << b.io[k].in1 << ", .out = " << b.io[k].out
        << "},\n";
    }
    o << "};\n";
    o << "static const qk_fused_block " << b.name << "_blk = {.tensors = " << b.name
      << "_t, .n_tensors = " << b.tensors.size() << ", .layers = " << b.name
      << "_l, .n_layers = " << b.layers.size() << ", .output = " << b.output
      << ", .tile_h = " << b.tile_h << ", .tile_w = " << b.tile_w
      << ", .retain = " << (b.retain ? 1 : 0) << ", .work_bytes = " << b.work_bytes << "};\n\n";
  };
  for (const auto& c : p.calls) {
    if (c.kind() == CallKind::kFused)
      fused_block(c);
    else
      constants(c);
  }
  bool any8 = false, any16 = false;
  for (const auto& b : p.buffers)
    if (!b.external) (b.type == DType::kInt16 ? any16 : any8) = true;
  any8 = any8 || p.scratch_bytes > 0 || !any16;
  const int64_t arena_bytes = std::max<int64_t>(8, p.plan.arena_bytes);
  o << "/* Activation arena (" << p.plan.arena_bytes << " bytes; lower bound " << p.plan.lower_bound
    << "): the tensors and the kernels' scratch, placed by lifetime. The input is read in place\n"
    << " * from the caller's buffer. The union aligns the arena to 8 bytes";
  if (any8 && any16) o << "; int8 and int16 tensors are addressed through their own member";
  o << ". */\n"
    << "static union {\n  int64_t align;\n";
  if (any8) o << "  int8_t s8[" << arena_bytes << "];\n";
  if (any16) o << "  int16_t s16[" << arena_bytes / 2 << "];\n";
  o << "} " << name << "_arena;\n\n";
  const std::string out_t = act_c_type(p.output_type());
  const auto buf = [&](int b) {
    const Buffer& bf = p.buffers[static_cast<size_t>(b)];
    if (bf.external) return std::string("input");
    return arena_ref(name, bf.type, p.plan.offsets[static_cast<size_t>(b)]);
  };
  const auto scratch = [&](const Call& c) {
    return c.scratch_offset >= 0
               ? "(void *)(" + name + "_arena.s8 + " + std::to_string(c.scratch_offset) + ")"
               : std::string("0");
  };
  o << "int " << name << "_run(const " << name << "_input_t *input, " << name
    << "_output_t *output) {\n"
    << "  int32_t i;\n"
    << "  const " << out_t << " *out;\n";
  for (const auto& c : p.calls) {
    const std::string id = c_ident(c.node);
    if (c.kind() == CallKind::kFused) {
      const FusedBlock& b = *c.fused;
      o << "  {\n    void *const d[" << b.tensors.size() << "] = {";
      for (size_t t = 0; t < b.tensors.size(); ++t)
        o << (t ? ", " : "") << "(void *)(" << buf(b.tensors[t].buffer) << ")";
      o << "};\n    if (qk_fused_run(&" << b.name << "_blk, d, (void *)(" << buf(b.work_buffer)
        << "), " << scratch(c) << ") != QK_FUSED_OK) return -1;\n  }\n";
      continue;
    }
    const std::string act = act_c_type(c.kernel->act);
    const auto input = [&](size_t k) {
      return "(const " + act + " *)(" + buf(c.inputs.at(k)) + ")";
    };
    const std::string out_p = buf(c.output);
    o << "  " << c.kernel->name << "(";
    switch (c.kernel->signature) {
      case Signature::kWeighted:
        o << "&" << id << "_p, " << input(0) << ", " << id << "_w, " << id << "_b, &" << id
          << "_rq, " << out_p << ", " << scratch(c);
        break;
      case Signature::kBinary:
        o << "&" << id << "_p, " << input(0) << ", " << input(1) << ", " << out_p;
        break;
      case Signature::kUnary:
        o << "&" << id << "_p, " << input(0) << ", " << out_p;
        break;
      case Signature::kGlobalPool:
      case Signature::kClamp:
      case Signature::kCast:
        for (const auto& [field, value] : param_fields(c.params)) o << value << ", ";
        o << input(0) << ", " << out_p;
        break;
      case Signature::kFused:
        break;  // above
    }
    o << ");\n";
  }
  o << "  out = " << buf(p.output) << ";\n"
    << "  for (i = 0; i < " << p.output_elements() << "; ++i) output[i] = out[i];\n"
    << "  return 0;\n}\n\n"
    << "int " << name << "_argmax(const " << name << "_output_t *output) {\n"
    << "  int i, best = 0;\n"
    << "  for (i = 1; i < " << p.output_elements() << "; ++i)\n"
    << "    if (output[i] > output[best]) best = i;\n"
    << "  return best;\n}\n";
  return o.str();
}

std::string io_source(const IntModel& m, const Program& p, const std::string& name) {
  const QFormat& in = m.input_format();
  const QFormat& out = m.output_format();
  const Buffer& ib = p.buffers[static_cast<size_t>(p.input)];
  std::ostringstream o;
  o.precision(17);
  o << "/* " << name << "_io.c - float helpers for " << name << ".h (generated by `qat export`).\n"
    << " * Normalisation: x = (raw - mean[c]) / std[c] in float, as in training; quantization in\n"
    << " * double: q = floor(x / scale + 0.5) + zero_point, saturated. */\n"
    << "#include <math.h>\n\n#include \"" << name << ".h\"\n\n"
    << "static const float " << name << "_mean[" << m.input_mean.size()
    << "] = " << c_double_array(m.input_mean) << ";\n"
    << "static const float " << name << "_std[" << m.input_std.size()
    << "] = " << c_double_array(m.input_std) << ";\n\n"
    << "void " << name << "_quantize_input(const float *raw, " << name << "_input_t *input) {\n"
    << "  int i;\n"
    << "  for (i = 0; i < " << p.input_elements() << "; ++i) {\n"
    << "    const int c = i % " << ib.c << ";\n"
    << "    const float x = (raw[i] - " << name << "_mean[c]) / " << name << "_std[c];\n"
    << "    double q = floor((double)x / " << in.scale[0] << " + 0.5) + " << in.zero_point[0]
    << ";\n"
    << "    /* Saturate before converting (a float -> int conversion out of range is undefined\n"
    << "     * behaviour); a NaN reading becomes the zero point, i.e. the value 0. */\n"
    << "    if (q != q) q = " << in.zero_point[0] << ";\n"
    << "    if (q < " << in.qmin() << ") q = " << in.qmin() << ";\n"
    << "    if (q > " << in.qmax() << ") q = " << in.qmax() << ";\n"
    << "    input[i] = (" << name << "_input_t)q;\n  }\n}\n\n"
    << "void " << name << "_dequantize_output(const " << name
    << "_output_t *output, float *values) {\n"
    << "  int i;\n"
    << "  for (i = 0; i < " << p.output_elements() << "; ++i)\n"
    << "    values[i] = (float)((double)(output[i] - (" << out.zero_point[0] << ")) * "
    << out.scale[0] << ");\n"
    << "}\n";
  return o.str();
}

std::string vectors_header(const std::string& name, size_t count) {
  const std::string N = upper(name);
  std::ostringstream o;
  o << "/* Test vectors of " << name << " (generated by `qat export`): quantized inputs and the\n"
    << " * outputs the host integer engine computed for them. */\n"
    << "#ifndef " << N << "_VECTORS_H\n#define " << N << "_VECTORS_H\n\n#include \"" << name
    << ".h\"\n\n"
    << "#define " << N << "_VECTORS " << count << "\n"
    << "extern const " << name << "_input_t " << name << "_vector_inputs[" << N << "_VECTORS][" << N
    << "_INPUT_ELEMENTS];\n"
    << "extern const " << name << "_output_t " << name << "_vector_outputs[" << N << "_VECTORS]["
    << N << "_OUTPUT_ELEMENTS];\n\n#endif\n";
  return o.str();
}

std::string vectors_source(const std::string& name, const std::vector<TestVector>& vectors) {
  const std::string N = upper(name);
  std::ostringstream o;
  o << "#include \"" << name << "_vectors.h\"\n\n";
  o << "const " << name << "_input_t " << name << "_vector_inputs[" << N << "_VECTORS][" << N
    << "_INPUT_ELEMENTS] = {\n";
  for (const auto& v : vectors) o << c_array(v.input) << ",\n";
  o << "};\n\nconst " << name << "_output_t " << name << "_vector_outputs[" << N << "_VECTORS]["
    << N << "_OUTPUT_ELEMENTS] = {\n";
  for (const auto& v : vectors) o << c_array(v.output) << ",\n";
  o << "};\n";
  return o.str();
}

std::string example_main(const std::string& name) {
  const std::string N = upper(name);
  std::ostringstream o;
  o << "/* Example: runs the exported test vectors and checks the outputs bit for bit. */\n"
    << "#include <stdio.h>\n\n#include \"" << name << ".h\"\n#include \"" << name
    << "_vectors.h\"\n\n"
    << "int main(void) {\n"
    << "  " << name << "_output_t out[" << N << "_OUTPUT_ELEMENTS];\n"
    << "  int v, i, mismatches = 0;\n"
    << "  for (v = 0; v < " << N << "_VECTORS; ++v) {\n"
    << "    " << name << "_run(" << name << "_vector_inputs[v], out);\n"
    << "    for (i = 0; i < " << N << "_OUTPUT_ELEMENTS; ++i)\n"
    << "      if (out[i] != " << name << "_vector_outputs[v][i]) ++mismatches;\n"
    << "    if (v == 0) printf(\"vector 0: argmax %d\\n\", " << name << "_argmax(out));\n"
    << "  }\n"
    << "  printf(\"" << name << ": %d vectors, %d mismatching outputs\\n\", " << N
    << "_VECTORS, mismatches);\n"
    << "  return mismatches != 0;\n}\n";
  return o.str();
}

std::string makefile(const std::string& name) {
  std::ostringstream o;
  o << "# Builds the exported model.\n"
    << "#   make            host example (runs the test vectors: make run)\n"
    << "#   make cortex-m4  lib" << name << ".a for Cortex-M4 (arm-none-eabi-gcc, DSP kernels)\n"
    << "#   make cortex-m7  lib" << name << ".a for Cortex-M7\n"
    << "CC ?= cc\nCFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror\n"
    << "ARM_CC ?= arm-none-eabi-gcc\nARM_AR ?= arm-none-eabi-ar\n"
    << "ARM_FLAGS = -std=c99 -O2 -Wall -Wextra -Werror -mthumb -DQK_USE_DSP\n"
    << "KERNELS = $(wildcard kernels/*.c)\n"
    << "MODEL = " << name << ".c\n\n"
    << "all: example\n\n"
    << "example: example_main.c " << name << "_vectors.c $(MODEL) " << name << "_io.c $(KERNELS)\n"
    << "\t$(CC) $(CFLAGS) -I. -o $@ $^ -lm\n\n"
    << "run: example\n\t./example\n\n"
    << "cortex-m4:\n\t$(MAKE) arm-lib MCU=\"-mcpu=cortex-m4 -mfloat-abi=hard "
       "-mfpu=fpv4-sp-d16\"\n\n"
    << "cortex-m7:\n\t$(MAKE) arm-lib MCU=\"-mcpu=cortex-m7 -mfloat-abi=hard -mfpu=fpv5-d16\"\n\n"
    << "arm-lib:\n\trm -rf build-arm && mkdir -p build-arm\n"
    << "\tfor f in $(MODEL) $(KERNELS); do $(ARM_CC) $(ARM_FLAGS) $(MCU) -I. -c $$f -o "
       "build-arm/$$(basename $$f .c).o || exit 1; done\n"
    << "\t$(ARM_AR) rcs lib" << name << ".a build-arm/*.o\n\n"
    << "clean:\n\trm -rf example build-arm lib" << name
    << ".a\n\n.PHONY: all run cortex-m4 cortex-m7 arm-lib clean\n";
  return o.str();
}

std::string cmake_snippet(const std::string& name) {
  std::ostringstream o;
  o << "# add_subdirectory(<this directory>) then target_link_libraries(app PRIVATE " << name
    << ")\n"
    << "cmake_minimum_required(VERSION 3.13)\n"
    << "file(GLOB " << upper(name) << "_KERNELS ${CMAKE_CURRENT_LIST_DIR}/kernels/*.c)\n"
    << "add_library(" << name << " STATIC ${CMAKE_CURRENT_LIST_DIR}/" << name << ".c ${"
    << upper(name) << "_KERNELS})\n"
    << "target_include_directories(" << name << " PUBLIC ${CMAKE_CURRENT_LIST_DIR})\n"
    << "set_target_properties(" << name << " PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)\n"
    << "if(CMAKE_SYSTEM_PROCESSOR MATCHES \"arm\")\n"
    << "  target_compile_definitions(" << name << " PRIVATE QK_USE_DSP)\n"
    << "endif()\n"
    << "# Optional float helpers: add " << name << "_io.c to your application (needs libm).\n";
  return o.str();
}

std::string readme(const IntModel& m, const Program& p, const std::string& name) {
  std::ostringstream o;
  o << "# " << name << " — exported by `qat export`\n\n"
    << "Source: `" << m.source << "`. " << p.type_summary() << ", " << p.macs()
    << " MACs per inference.\n\n"
    << "```c\n#include \"" << name << ".h\"\n"
    << name << "_input_t in[" << upper(name) << "_INPUT_ELEMENTS];\n"
    << name << "_output_t out[" << upper(name) << "_OUTPUT_ELEMENTS];\n"
    << name << "_quantize_input(raw_channels_last, in);  /* or fill codes directly */\n"
    << name << "_run(in, out);\nint cls = " << name << "_argmax(out);\n```\n\n"
    << "* `make run` builds `example_main.c` for the host and checks the test vectors bit for "
       "bit.\n"
    << "* `make cortex-m4` / `make cortex-m7` build `lib" << name << ".a` with arm-none-eabi-gcc.\n"
    << "* `CMakeLists.txt` is a snippet for `add_subdirectory`.\n"
    << "* `kernels/` is the qk kernel library (see kernels/README.md).\n\n"
    << "## Layers\n\n```\n"
    << p.summary() << "```\n";
  return o.str();
}

// The calls <name>_run makes, in order, for `qat deploy`'s per-layer cycle table: layer (a fused
// block under its block name), the kernel function called, MACs as executed.
std::string layers_json(const Program& p) {
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& c : p.calls)
    calls.push_back({{"layer", c.kind() == CallKind::kFused ? c.fused->name : c.node},
                     {"kernel", c.kernel->name},
                     {"macs", c.macs}});
  return nlohmann::json{{"calls", calls}}.dump(1) + "\n";
}

// kernels/qk_config.h of this export: the code paths its calls take in a QK_USE_DSP build
// (kernel_paths()), so its image links neither a portable fallback nor an optimized kernel it
// never calls.
std::string kernel_config(const Program& p) {
  const KernelPaths k = kernel_paths(p);
  std::ostringstream o;
  o << "/* qk_config.h - generated by `qat export`: the code paths this model's calls take in a\n"
       " * QK_USE_DSP build (the library's default file, which keeps every path, is documented in\n"
       " * the qk sources). Builds without QK_USE_DSP ignore it. */\n"
       "#ifndef QK_CONFIG_H\n#define QK_CONFIG_H\n\n"
    << "#define QK_CONFIG_CONV_S8_DSP_DEPTHWISE3 " << k.conv_dw3 << "\n"
    << "#define QK_CONFIG_CONV_S8_DSP_DEPTHWISE " << k.conv_dw << "\n"
    << "#define QK_CONFIG_CONV_S8_DSP_GENERAL " << k.conv_general << "\n"
    << "#define QK_CONFIG_CONV_S8_REFERENCE " << k.conv_reference << "\n"
    << "#define QK_CONFIG_LINEAR_S8_DSP " << k.linear_dsp << "\n"
    << "#define QK_CONFIG_LINEAR_S8_REFERENCE " << k.linear_reference << "\n"
    << "#define QK_CONFIG_CONV_S16_REFERENCE " << k.conv_s16_reference << "\n"
    << "#define QK_CONFIG_LINEAR_S16_REFERENCE " << k.linear_s16_reference << "\n"
    << "#define QK_CONFIG_ADD_SATURATING " << k.add_saturating << "\n"
    << "#define QK_CONFIG_ADD_INT64 " << k.add_int64 << "\n";
  const std::pair<const char*, int> kinds[] = {
      {"POW2_RANGE", QK_EPI_POW2_RANGE}, {"POW2_S8", QK_EPI_POW2_S8},
      {"POW2_U7", QK_EPI_POW2_U7},       {"AFFINE_RANGE", QK_EPI_AFFINE_RANGE},
      {"AFFINE_S8", QK_EPI_AFFINE_S8},   {"AFFINE_U7", QK_EPI_AFFINE_U7}};
  for (const auto& [kind, value] : kinds)
    o << "#define QK_CONFIG_EPI_" << kind << " " << k.epilogues.count(value) << "\n";
  o << "#define QK_CONFIG_EPI_GENERIC " << k.epilogues.count(QK_EPI_GENERIC) << "\n";
  o << "\n#endif\n";
  return o.str();
}

}  // namespace

std::vector<std::string> write_c_export(const IntModel& m, const Program& p,
                                        const std::vector<TestVector>& vectors,
                                        const std::string& out_dir, const CodegenOptions& opts) {
  check_export_name(opts.name);
  const std::string& name = opts.name;
  if (vectors.empty()) throw ExportError("the C export needs at least one test vector");
  fs::create_directories(fs::path(out_dir) / "kernels");
  std::vector<std::string> files;
  const auto put = [&](const std::string& rel, const std::string& text) {
    write_file_atomic((fs::path(out_dir) / rel).string(), text);
    files.push_back(rel);
  };
  put(name + ".h", header(m, p, name));
  put(name + ".c", source(m, p, name));
  put(name + "_io.c", io_source(m, p, name));
  put(name + "_layers.json", layers_json(p));
  put(name + "_vectors.h", vectors_header(name, vectors.size()));
  put(name + "_vectors.c", vectors_source(name, vectors));
  put("example_main.c", example_main(name));
  put("Makefile", makefile(name));
  put("CMakeLists.txt", cmake_snippet(name));
  put("README.md", readme(m, p, name));
  for (const auto& [file, content] : kernel_sources())
    if (file != "qk_config.h") put("kernels/" + file, content);
  put("kernels/qk_config.h", kernel_config(p));
  return files;
}

}  // namespace qat::exporter
