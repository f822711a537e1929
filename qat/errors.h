// Error types. Every user-facing failure is one of these with a message that says what was wrong,
// where (file, line, node) and what would be accepted.
#pragma once

#include <stdexcept>
#include <string>

namespace qat {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConfigError : Error {
  using Error::Error;
};
struct GraphError : Error {
  using Error::Error;
};
struct DatasetError : Error {
  using Error::Error;
};
struct ExportError : Error {
  using Error::Error;
};
struct TrainingError : Error {
  using Error::Error;
};

}  // namespace qat
