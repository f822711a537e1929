// Flash of the qk kernel code an export links, from the paths its calls take (kernel_paths(): the
// same decision as its kernels/qk_config.h) and the per-part sizes bench/kernel_code_size.py
// measured on a Cortex-M4 (export/kernel_code_sizes.inc). The memory budget's estimate; `qat
// deploy` measures the real image.
#pragma once

#include <cstdint>

#include "export/kernel_paths.h"

namespace qat::exporter {

// Bytes of .text + .rodata of the qk objects in an image with these paths (-O2, QK_USE_DSP).
// Throws ExportError for an entry the size table does not know (the table needs regenerating).
int64_t kernel_code_bytes(const KernelPaths& paths);

}  // namespace qat::exporter
