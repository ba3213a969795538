// The binary frame every Corvid WebSocket message travels in:
//   u32 little-endian header length | JSON header | zero padding to 8 bytes | tensor buffers
// The header is a JSON object with a "type" and, when tensors follow, a "tensors" list of
// {"name", "dtype", "shape", "offset", "length"} where offset is relative to the first buffer
// byte and each buffer starts at a multiple of 8. Tensors never travel as JSON numbers.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_limits.hpp"
#include "tensor.hpp"

namespace corvid {

inline constexpr int kProtocolVersion = 1;
// The longest JSON header decode_frame accepts unless told otherwise (big data rides as binary
// tensors; a developer's submit of many ops is the largest header). docs/protocol.md, "Limits".
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{64} << 20;
// The most dimensions a tensor may have on the wire or as a JSON value.
inline constexpr std::size_t kMaxTensorDims = 32;

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// One message: a JSON header and the tensors that ride with it.
struct Frame {
  nlohmann::json header = nlohmann::json::object();
  std::vector<NamedTensor> tensors;

  // The tensor with this name, or nullptr.
  const Tensor* find(const std::string& name) const;
};

// A frame that could not be decoded; what() names the problem (for the error reply).
class WireError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes a frame; the header's "tensors" field is written by the codec (any existing one is
// replaced). Requires header to be a JSON object.
std::vector<uint8_t> encode_frame(const Frame& frame);

// Decodes and validates a frame of `size` bytes: header length in range and at most
// max_header_bytes (checked before parsing), JSON within the default JsonLimits (depth, memory)
// that is an object with a string "type", every tensor entry well-formed (known dtype,
// non-negative shape, length equal to elements × dtype size, inside the buffer, 8-aligned, not
// overlapping). Throws WireError naming the problem or the limit.
Frame decode_frame(const uint8_t* data, std::size_t size, std::size_t max_header_bytes = kMaxHeaderBytes);

// A tensor as JSON (dtype, shape, flat row-major data) for people and the CLI's --json.
nlohmann::json tensor_to_json(const Tensor& t);
// Builds a tensor from a nested JSON list (or a scalar), without recursion. dtype: as given, else
// bool for booleans, int32 when every number is an integer, float32 otherwise. Throws
// std::invalid_argument for ragged lists, more than 32 dimensions, non-numbers or values out of
// the dtype's range.
Tensor tensor_from_json_value(const nlohmann::json& value, std::optional<DType> dtype);

}  // namespace corvid
