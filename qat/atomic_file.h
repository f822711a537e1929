// Atomic file writes: the text goes to "<path>.tmp", which is then renamed over `path`, so a
// crash never leaves a half-written file where a good one was.
#pragma once

#include <string>

namespace qat {

void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace qat
