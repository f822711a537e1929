#include "qat/version.h"

#ifndef QAT_VERSION
#define QAT_VERSION "unknown"
#endif

namespace qat {

std::string qat_version() {
  return QAT_VERSION;
}

}  // namespace qat
