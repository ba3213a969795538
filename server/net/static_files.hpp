// Maps request targets to the files the server may serve: the pages in web/ and the two built
// kernel files (corvid_kernel.js/.wasm) from the wasm build directory. Knows nothing about
// sockets, so the path rules can be read (and tested) on their own.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace corvid::server {

// The answer to "which file is this target?": a path to serve, or the HTTP status and a
// message for the requester.
struct StaticLookup {
  int status = 200;             // 200, 400 (malformed path) or 404 (no such file, or outside)
  std::filesystem::path file;   // set when status == 200, with symlinks resolved
  std::string error;            // set otherwise, e.g. "no such file: /x.js"; never a disk path
};

// The files under web_dir, plus corvid_kernel.* from wasm_dir. Immutable, so safe to share.
class StaticFiles {
 public:
  StaticFiles(std::filesystem::path web_dir, std::filesystem::path wasm_dir);

  // Resolves a request target ("/", "/status", "/app.js?v=2"): "/" is index.html, "/status" is
  // status.html, the query string is ignored and %XX escapes are decoded. Refused with 400 before
  // the disk is looked at: a bad escape, an escaped '/', '\' or NUL, bytes that are not
  // shortest-form UTF-8 (overlong "%c0%ae"), an empty, "." or ".." segment, a backslash or a
  // control byte. Otherwise the file is found with every symlink resolved, and served only if it
  // is a regular file inside the canonical web or wasm directory: anything else is 404, the same
  // answer as a missing file.
  StaticLookup lookup(std::string_view target) const;

  const std::filesystem::path& web_dir() const { return web_dir_; }
  const std::filesystem::path& wasm_dir() const { return wasm_dir_; }

 private:
  std::filesystem::path web_dir_;
  std::filesystem::path wasm_dir_;
  std::filesystem::path canonical_web_dir_;   // symlinks resolved, what served files must be inside
  std::filesystem::path canonical_wasm_dir_;
};

// The Content-Type for a file name, from its extension (application/wasm for .wasm,
// text/javascript for .js and .mjs, ...); application/octet-stream when unknown.
std::string_view mime_type(std::string_view file_name);

}  // namespace corvid::server
