#include "server/net/static_files.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <system_error>
#include <utility>

namespace corvid::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; nullopt for a truncated or non-hex escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool has_dot_dot_segment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

bool is_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

}  // namespace

StaticFiles::StaticFiles(std::filesystem::path web_dir, std::filesystem::path wasm_dir)
    : web_dir_(std::move(web_dir)), wasm_dir_(std::move(wasm_dir)) {}

StaticLookup StaticFiles::lookup(std::string_view target) const {
  std::string_view raw = target.substr(0, target.find('?'));
  if (raw.empty() || raw.front() != '/') return {400, {}, "request target must start with '/'"};
  auto decoded = percent_decode(raw);
  if (!decoded) return {400, {}, "bad %-escape in path " + std::string(raw)};
  const std::string& path = *decoded;
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos)
    return {400, {}, "path " + std::string(raw) + " contains a NUL byte or a backslash"};
  if (has_dot_dot_segment(path)) return {400, {}, "path " + std::string(raw) + " may not contain '..'"};

  std::string relative = path.substr(1);
  if (relative.empty()) relative = "index.html";
  else if (relative == "status") relative = "status.html";
  if (relative.back() == '/') return {404, {}, "no such file: " + path + " (directories are not listed)"};

  // The kernel comes from the wasm build; a copy in web/ is used when there is no build.
  if (relative.rfind("corvid_kernel.", 0) == 0 && relative.find('/') == std::string::npos &&
      is_file(wasm_dir_ / relative))
    return {200, wasm_dir_ / relative, {}};
  if (is_file(web_dir_ / relative)) return {200, web_dir_ / relative, {}};
  return {404, {}, "no such file: " + path};
}

std::string_view mime_type(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".map", "application/json"},
      {".woff2", "font/woff2"},
  }};
  std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(file_name.substr(dot));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [suffix, type] : kTypes)
    if (ext == suffix) return type;
  return "application/octet-stream";
}

}  // namespace corvid::server
