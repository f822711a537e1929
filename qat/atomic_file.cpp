#include "qat/atomic_file.h"

#include <filesystem>
#include <fstream>

#include "qat/errors.h"

namespace qat {

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) throw Error("write failed: " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace qat
