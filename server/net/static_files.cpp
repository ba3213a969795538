#include "server/net/static_files.hpp"

#include "server/net/common.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <system_error>
#include <utility>

namespace corvid::server {
namespace {

// True for well-formed UTF-8 in its shortest form: no overlong encodings (such as C0 AE for
// '.'), no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char lead = byte(i);
    std::size_t length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                         : lead >= 0xF0 && lead <= 0xF4                 ? 4 : 0;
    if (length == 0 || i + length > s.size()) return false;
    for (std::size_t k = 1; k < length; ++k)
      if ((byte(i + k) & 0xC0) != 0x80) return false;
    if (length == 3 && ((lead == 0xE0 && byte(i + 1) < 0xA0) || (lead == 0xED && byte(i + 1) >= 0xA0))) return false;
    if (length == 4 && ((lead == 0xF0 && byte(i + 1) < 0x90) || (lead == 0xF4 && byte(i + 1) >= 0x90))) return false;
    i += length;
  }
  return true;
}

// Why a decoded path ("/a/b.js") may not name a file, or "" when it may: each segment between
// slashes must be non-empty (no "//"), not "." or "..", and free of backslashes and control
// bytes. Only the last segment may be empty ("/", "/dir/"), and it is then a directory.
std::string bad_segment(std::string_view path) {
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = std::min(path.find('/', start), path.size());
    std::string_view segment = path.substr(start, end - start);
    if (segment.empty() && end < path.size()) return "an empty segment ('//')";
    if (segment == "." || segment == "..") return "a '" + std::string(segment) + "' segment";
    for (char c : segment)
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return "a backslash or a control byte";
    start = end + 1;
  }
  return {};
}

// The canonical form of `dir`, or `dir` made absolute if it cannot be resolved yet.
std::filesystem::path canonical_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path resolved = std::filesystem::weakly_canonical(dir, ec);
  if (ec) resolved = std::filesystem::absolute(dir).lexically_normal();
  return resolved.has_filename() ? resolved : resolved.parent_path();  // no trailing '/'
}

// `base / relative` with every symlink resolved, if that is a regular file inside `base` (which
// is canonical); nullopt for a missing file, a directory, or one that resolves outside.
std::optional<std::filesystem::path> file_inside(const std::filesystem::path& base, const std::string& relative) {
  std::error_code ec;
  std::filesystem::path resolved = std::filesystem::canonical(base / relative, ec);
  if (ec || !std::filesystem::is_regular_file(resolved, ec) || ec) return std::nullopt;
  auto [base_end, resolved_at] = std::mismatch(base.begin(), base.end(), resolved.begin(), resolved.end());
  if (base_end != base.end() || resolved_at == resolved.end()) return std::nullopt;
  return resolved;
}

}  // namespace

StaticFiles::StaticFiles(std::filesystem::path web_dir, std::filesystem::path wasm_dir)
    : web_dir_(std::move(web_dir)),
      wasm_dir_(std::move(wasm_dir)),
      canonical_web_dir_(canonical_dir(web_dir_)),
      canonical_wasm_dir_(canonical_dir(wasm_dir_)) {}

StaticLookup StaticFiles::lookup(std::string_view target) const {
  std::string_view raw = target.substr(0, target.find('?'));
  if (raw.empty() || raw.front() != '/') return {400, {}, "request target must start with '/'"};
  std::string error;
  // A separator or a terminator may only appear as itself, so that what the path rules below
  // see is what the file system will see.
  auto decoded = percent_decode(raw, std::string_view("/\\\0", 3), "an escaped '/', '\\' or NUL (%2F, %5C, %00)", error);
  if (decoded && !is_valid_utf8(*decoded)) error = "bytes that are not UTF-8 in its shortest form";
  else if (decoded) error = bad_segment(*decoded);
  if (!error.empty()) return {400, {}, "path " + std::string(raw) + " has " + error};
  const std::string& path = *decoded;

  std::string relative = path.substr(1);
  if (relative.empty()) relative = "index.html";
  else if (relative == "status") relative = "status.html";
  if (relative.back() == '/') return {404, {}, "no such file: " + path + " (directories are not listed)"};

  // The kernel (corvid_kernel.* and the relaxed-SIMD build corvid_kernel_relaxed.*) comes from
  // the wasm build; a copy in web/ is used when there is no build.
  std::optional<std::filesystem::path> file;
  if (relative.rfind("corvid_kernel", 0) == 0 && relative.find('/') == std::string::npos)
    file = file_inside(canonical_wasm_dir_, relative);
  if (!file) file = file_inside(canonical_web_dir_, relative);
  if (file) return {200, *file, {}};
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
