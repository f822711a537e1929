// The qk code paths a program's calls take in a QK_USE_DSP build on an Armv7E-M core, decided once
// for the two users that must agree: kernels/qk_config.h of the export (codegen.cpp: only these
// paths are linked) and the memory budget's estimate of the kernels' flash (kernel_code.cpp).
#pragma once

#include <set>
#include <string>

#include "export/program.h"

namespace qat::exporter {

struct KernelPaths {
  // int8 convolutions (qk_conv_s8 and the packed qk_conv_s8_w4 / _w2).
  bool conv_dw3 = false, conv_dw = false, conv_general = false, conv_reference = false;
  // int8 fully connected; a classifier head below 1% of the MACs takes the reference.
  bool linear_dsp = false, linear_reference = false;
  // int16 kernels: the portable fallback for calls the SMLALD kernels do not take.
  bool conv_s16_reference = false, linear_s16_reference = false;
  // The optional loops of the element-wise add.
  bool add_saturating = false, add_int64 = false;
  // QK_EPI_* kinds of the calls on an optimized int8 path (QK_EPI_GENERIC: the fallback).
  std::set<int> epilogues;
  // The qk entry points the image calls (kernel table names, fused layers included, and
  // qk_fused_run when a block is fused).
  std::set<std::string> entries;
};

KernelPaths kernel_paths(const Program& p);

}  // namespace qat::exporter
