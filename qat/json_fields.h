// Strict reading and writing of the JSON records that cross boundaries (checkpoint metadata, run
// summaries, evaluation reports). Each record is a typed struct with to_json / from_json found
// by nlohmann's ADL; from_json reads every field through json_field(), so a missing or mistyped
// field is an error naming its dotted path ("field 'float.metric' is missing"), and
// read_json_file() names the file as well. Nothing is silently defaulted.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "qat/errors.h"

namespace qat {

// A field of a JSON record that is missing or has the wrong type or value. `path` is the dotted
// path below the record being read (empty while the error travels up from a value's own
// from_json, which does not know its key).
class JsonFieldError : public Error {
 public:
  JsonFieldError(std::string path, std::string problem);
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_, problem_;
};

namespace json_detail {
[[noreturn]] void rethrow_in_field(const std::string& key);
}

// j[key] as T; throws JsonFieldError when j is not an object, the key is missing or its value
// does not convert (nested errors get "key." prefixed to their path).
template <class T>
T json_field(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object())
    throw JsonFieldError("", std::string("is a ") + j.type_name() + ", not an object");
  const auto it = j.find(key);
  if (it == j.end()) throw JsonFieldError(key, "is missing");
  try {
    return it->get<T>();
  } catch (...) {
    json_detail::rethrow_in_field(key);
  }
}

// An optional field: absent or null -> nullopt; otherwise as json_field.
template <class T>
std::optional<T> json_optional(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object())
    throw JsonFieldError("", std::string("is a ") + j.type_name() + ", not an object");
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return json_field<T>(j, key);
}

// A nullable field: present, null -> nullopt; otherwise as json_field.
template <class T>
std::optional<T> json_nullable(const nlohmann::json& j, const std::string& key) {
  (void)json_field<nlohmann::json>(j, key);  // present
  return json_optional<T>(j, key);
}

// Writes value (nullopt as null) under key.
template <class T>
void json_put(nlohmann::json& j, const std::string& key, const std::optional<T>& value) {
  j[key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Parses the file; a syntax error or a record error is an Error naming the file.
nlohmann::json read_json(const std::string& path);

template <class T>
T read_json_file(const std::string& path) {
  const nlohmann::json j = read_json(path);
  try {
    return j.get<T>();
  } catch (const JsonFieldError& e) {
    throw Error(path + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

// Pretty-printed, atomically (temp file + rename).
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace qat
