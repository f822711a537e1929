#include "datasets/text_file.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "qat/errors.h"

namespace qat::data::detail {
namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DatasetError(what + ": missing file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw DatasetError(what + ": cannot read '" + path + "'");
  return std::move(ss).str();
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  return lines;
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_ws(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_ws(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> split_char(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    const size_t end = line.find(sep, pos);
    if (end == std::string_view::npos) {
      out.push_back(line.substr(pos));
      return out;
    }
    out.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

bool parse_float(std::string_view token, float& out) {
  // from_chars does not take a leading '+', but "+1.5e-003" is a valid number in text exports.
  if (token.size() > 1 && token[0] == '+' && token[1] != '-') token.remove_prefix(1);
  const char* end = token.data() + token.size();
  const auto r = std::from_chars(token.data(), end, out);
  return r.ec == std::errc() && r.ptr == end && !token.empty() && std::isfinite(out);
}

bool parse_int(std::string_view token, int64_t& out) {
  if (token.size() > 1 && token[0] == '+' && token[1] != '-') token.remove_prefix(1);
  const char* end = token.data() + token.size();
  const auto r = std::from_chars(token.data(), end, out);
  return r.ec == std::errc() && r.ptr == end && !token.empty();
}

std::string at(const std::string& path, size_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

}  // namespace qat::data::detail
