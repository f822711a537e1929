// The qk kernel library sources embedded at build time (export/embed_kernels.cmake).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace qat::exporter {

// (file name, content) of every file in export/kernels.
const std::vector<std::pair<std::string, std::string>>& kernel_sources();

}  // namespace qat::exporter
