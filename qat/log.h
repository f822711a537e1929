// Logging goes through spdlog everywhere. init_logging() sets the pattern and level once.
#pragma once

#include <spdlog/spdlog.h>

namespace qat {

// level: "trace", "debug", "info", "warn", "error"; QAT_LOG_LEVEL overrides.
void init_logging(const std::string& level = "info");

}  // namespace qat
