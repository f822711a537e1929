#include "qat/json_fields.h"

#include <fstream>

#include "qat/atomic_file.h"

namespace qat {
namespace {

std::string message(const std::string& path, const std::string& problem) {
  return path.empty() ? "the record " + problem : "field '" + path + "' " + problem;
}

// nlohmann's messages start with "[json.exception.type_error.302] ": the id says nothing to a user.
std::string without_id(const std::string& what) {
  const auto end = what.find("] ");
  return what.rfind("[json.exception.", 0) == 0 && end != std::string::npos ? what.substr(end + 2)
                                                                            : what;
}

}  // namespace

JsonFieldError::JsonFieldError(std::string path, std::string problem)
    : Error(message(path, problem)), path_(std::move(path)), problem_(std::move(problem)) {}

namespace json_detail {

void rethrow_in_field(const std::string& key) {
  try {
    throw;
  } catch (const JsonFieldError& e) {
    throw JsonFieldError(e.path().empty() ? key : key + "." + e.path(), e.problem());
  } catch (const nlohmann::json::exception& e) {
    throw JsonFieldError(key, "is invalid: " + without_id(e.what()));
  }
}

}  // namespace json_detail

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON (" + without_id(e.what()) + ")");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace qat
