// Small text helpers shared by the loaders: whole-file reads, line splitting that accepts LF and
// CRLF, and locale-independent number parsing (std::from_chars) that reports bad tokens instead
// of silently stopping like iostreams do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qat::data::detail {

// The whole file; throws DatasetError "<what>: missing file '<path>'" when it cannot be opened.
std::string read_text_file(const std::string& path, const std::string& what);

// Lines without their '\n' / "\r\n". Blank lines at the very end are dropped (editors add them);
// blank lines in the middle are kept so that line numbers stay right and callers can reject them.
std::vector<std::string_view> split_lines(std::string_view text);

// Whitespace (space, tab) separated tokens.
std::vector<std::string_view> split_ws(std::string_view line);
std::vector<std::string_view> split_char(std::string_view line, char sep);
std::string_view trim(std::string_view s);

// Plain decimal or e-notation ("1.0128010e+000"); a leading '+' is accepted. Non-finite values
// and trailing garbage are rejected.
bool parse_float(std::string_view token, float& out);
bool parse_int(std::string_view token, int64_t& out);

// "<path>:<line>: "
std::string at(const std::string& path, size_t line);

}  // namespace qat::data::detail
