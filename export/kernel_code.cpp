#include "export/kernel_code.h"

#include <map>
#include <string>

#include "qat/errors.h"

namespace qat::exporter {
namespace {

const std::map<std::string, int64_t>& part_sizes() {
  static const std::map<std::string, int64_t> sizes = {
#include "export/kernel_code_sizes.inc"
  };
  return sizes;
}

int64_t part(const std::string& name) {
  const auto& sizes = part_sizes();
  const auto it = sizes.find(name);
  if (it == sizes.end())
    throw ExportError("kernel code size of '" + name +
                      "' unknown: regenerate export/kernel_code_sizes.inc with "
                      "bench/kernel_code_size.py --cpp");
  return it->second;
}

const char* epilogue_part(int kind) {
  switch (kind) {
    case QK_EPI_POW2_RANGE:
      return "epi_pow2_range";
    case QK_EPI_POW2_S8:
      return "epi_pow2_s8";
    case QK_EPI_POW2_U7:
      return "epi_pow2_u7";
    case QK_EPI_AFFINE_RANGE:
      return "epi_affine_range";
    case QK_EPI_AFFINE_S8:
      return "epi_affine_s8";
    case QK_EPI_AFFINE_U7:
      return "epi_affine_u7";
    default:
      return "epi_generic";
  }
}

}  // namespace

int64_t kernel_code_bytes(const KernelPaths& k) {
  const auto has = [&](const std::string& e) { return k.entries.count(e) > 0; };
  int64_t bytes = 0;
  bool generic_function = false;
  // An optimized int8 family is compiled into every entry that dispatches to it (the switch is
  // global), so its code depends on which of the int8 and packed entries the image has.
  const auto family = [&](const std::string& name, bool on, const std::string& entry) {
    const bool s8 = has(entry), w4 = has(entry + "_w4"), w2 = has(entry + "_w2");
    if (!on || !(s8 || w4 || w2)) return;
    const std::string w = s8 && (w4 || w2) ? "both" : s8 ? "s8" : "packed";
    bytes += part(name + "/" + w + "/base");
    for (const int kind : k.epilogues) bytes += part(name + "/" + w + "/" + epilogue_part(kind));
    generic_function |= k.epilogues.count(QK_EPI_GENERIC) > 0;
    if (w4 && w2) bytes += part(name + "/w2");
  };
  family("conv_general", k.conv_general, "qk_conv_s8");
  family("conv_dw", k.conv_dw, "qk_conv_s8");
  family("conv_dw3", k.conv_dw3, "qk_conv_s8");
  family("linear_dsp", k.linear_dsp, "qk_linear_s8");
  if (generic_function) bytes += part("epi_generic_fn");
  // The portable kernel of an int8 entry: its weights ("s8", "w4", "w2") name the part.
  const auto weights_of = [](const std::string& e, const std::string& entry) {
    return e == entry ? std::string("s8") : e.substr(entry.size() + 1);
  };
  for (const std::string& e : k.entries) {
    if (e.rfind("qk_conv_s8", 0) == 0) {
      if (k.conv_reference) bytes += part("ref_conv/" + weights_of(e, "qk_conv_s8"));
    } else if (e.rfind("qk_linear_s8", 0) == 0) {
      if (k.linear_reference) bytes += part("ref_linear/" + weights_of(e, "qk_linear_s8"));
    } else if (e == "qk_add_s8" || e == "qk_add_s16") {
      bytes += part(e + "/base") + (k.add_int64 ? part(e + "/int64") : 0) +
               (k.add_saturating ? part(e + "/saturating") : 0);
    } else if (e == "qk_conv_s16") {
      bytes += part(e + "/base") + (k.conv_s16_reference ? part(e + "/reference") : 0);
    } else if (e == "qk_linear_s16") {
      bytes += part(e + "/base") + (k.linear_s16_reference ? part(e + "/reference") : 0);
    } else {
      bytes += part(e);
    }
  }
  return bytes;
}

}  // namespace qat::exporter
