#include "qat/log.h"

#include <cstdlib>

namespace qat {

void init_logging(const std::string& level) {
  const char* env = std::getenv("QAT_LOG_LEVEL");
  spdlog::set_level(spdlog::level::from_str(env ? env : level));
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
}

}  // namespace qat
