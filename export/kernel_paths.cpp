#include "export/kernel_paths.h"

namespace qat::exporter {

KernelPaths kernel_paths(const Program& p) {
  KernelPaths k;
  int64_t linear_macs = 0;
  // The fully connected calls' epilogue kinds apart: they may move to the portable kernel.
  std::set<int> linear_epilogues;
  const auto epilogue = [](const Call& c, int32_t channels, int32_t out_zp, int32_t act_min,
                           int32_t act_max) {
    const qk_requant rq = c.requant();
    return qk_s8_epilogue_kind(&rq, channels, out_zp, act_min, act_max);
  };
  const auto visit = [&](const Call& c) {
    const std::string n = c.kernel->name;
    k.entries.insert(n);
    if (n == "qk_conv_s16")
      k.conv_s16_reference |=
          qk_conv_s16_dsp_path(&std::get<qk_conv_params>(c.params)) == QK_PATH_REFERENCE;
    if (n == "qk_linear_s16")
      k.linear_s16_reference |=
          qk_linear_s16_dsp_path(&std::get<qk_linear_params>(c.params)) == QK_PATH_REFERENCE;
    if (n == "qk_add_s8" || n == "qk_add_s16") {
      const qk_add_params& ap = std::get<qk_add_params>(c.params);
      const int path = n == "qk_add_s8" ? qk_add_s8_path(&ap) : qk_add_s16_path(&ap);
      k.add_saturating |= path == QK_ADD_PATH_SATURATING;
      k.add_int64 |= path == QK_ADD_PATH_INT64;
    }
    if (n == "qk_conv_s8" || n == "qk_conv_s8_w4" || n == "qk_conv_s8_w2") {
      const qk_conv_params& cp = std::get<qk_conv_params>(c.params);
      const int path = qk_conv_s8_dsp_path(&cp);
      if (path != QK_PATH_REFERENCE)
        k.epilogues.insert(epilogue(c, cp.out_c, cp.out_zp, cp.act_min, cp.act_max));
      k.conv_dw |= path == QK_PATH_DSP_DEPTHWISE;
      k.conv_dw3 |= path == QK_PATH_DSP_DEPTHWISE3;
      k.conv_general |= path == QK_PATH_DSP_GENERAL;
      k.conv_reference |= path == QK_PATH_REFERENCE;
    } else if (n == "qk_linear_s8" || n == "qk_linear_s8_w4" || n == "qk_linear_s8_w2") {
      const qk_linear_params& lp = std::get<qk_linear_params>(c.params);
      const int path = qk_linear_s8_dsp_path(&lp);
      if (path != QK_PATH_REFERENCE)
        linear_epilogues.insert(epilogue(c, lp.out_features, lp.out_zp, lp.act_min, lp.act_max));
      k.linear_dsp |= path == QK_PATH_DSP_LINEAR;
      k.linear_reference |= path == QK_PATH_REFERENCE;
      linear_macs += c.macs;
    }
  };
  for (const Call& c : p.calls) {
    if (c.kind() == CallKind::kFused) {
      k.entries.insert(c.kernel->name);
      for (const Call& l : c.fused->layers) visit(l);
    } else {
      visit(c);
    }
  }
  // Fully connected layers below 1% of the model's MACs (a classifier head) run the portable
  // kernel: the DSP one is about 1 KB of unrolled code for a few hundred instructions saved.
  if (k.linear_dsp && linear_macs * 100 < p.macs()) {
    k.linear_dsp = false;
    k.linear_reference = true;
  }
  if (k.linear_dsp) k.epilogues.insert(linear_epilogues.begin(), linear_epilogues.end());
  return k;
}

}  // namespace qat::exporter
