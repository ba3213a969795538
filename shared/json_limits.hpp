// The one parser for JSON that comes from outside (frame headers from the network, graph and map
// files): nlohmann's parser builds the tree only while the text stays within a nesting depth and
// a memory budget proportional to the text read so far, so hostile JSON can neither overflow the
// stack of the recursive code that later copies, dumps or destroys the tree, nor make the tree
// cost much more memory than the text did.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corvid {

// What parse_json_limited accepts (docs/protocol.md, "Limits").
struct JsonLimits {
  // Arrays and objects inside one another. A tensor value of 32 dimensions inside a frame header
  // ({"ops": [{"value": ...}]}) needs 35.
  std::size_t max_depth = 64;
  // The parsed tree may take (by an estimate of nlohmann's allocations) at most this many bytes
  // per byte of text read so far, plus memory_allowance. Ordinary headers take 8 to 16; only
  // text made of tiny containers such as [{},{},...] goes past 24.
  std::size_t max_memory_per_byte = 24;
  std::size_t memory_allowance = std::size_t{1} << 20;
};

// JSON that is not valid or is over a limit; what() names the problem, e.g. "JSON nested deeper
// than 64 levels" or "parse error at line 1, column 3: syntax error ...".
class JsonError : public std::runtime_error {
 public:
  enum class Kind { syntax, too_deep, too_dense };
  JsonError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Parses `text` as one JSON value within `limits`. Throws JsonError (and nothing else but
// std::bad_alloc); the work and memory spent before it throws are bounded by the limits.
// Thread-safe (no shared state).
nlohmann::json parse_json_limited(std::string_view text, const JsonLimits& limits = {});

}  // namespace corvid
