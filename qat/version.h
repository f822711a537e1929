// The toolkit's version: the project version and the git commit the build was configured from
// ("0.1.0 (a6f051c)", "-dirty" when the tree had changes). Ranks of a distributed run must
// agree on it; `qat --version` prints it.
#pragma once

#include <string>

namespace qat {

std::string qat_version();

}  // namespace qat
