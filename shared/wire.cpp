#include "wire.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace corvid {

const Tensor* Frame::find(const std::string& name) const {
  for (const auto& nt : tensors)
    if (nt.name == name) return &nt.tensor;
  return nullptr;
}

namespace {
std::size_t pad8(std::size_t n) { return (n + 7) & ~std::size_t(7); }
}  // namespace

std::vector<uint8_t> encode_frame(const Frame& frame) {
  if (!frame.header.is_object()) throw std::invalid_argument("encode_frame: header must be a JSON object");
  // The header is dumped as it is and the tensor list appended to the text: copying the header
  // to add the list was a copy of every header the server sends (a header that already has a
  // "tensors" field, which the codec owns, is the rare case that is copied to drop it).
  std::string text;
  if (frame.header.contains("tensors")) {
    nlohmann::json header = frame.header;
    header.erase("tensors");
    text = header.dump();
  } else {
    text = frame.header.dump();
  }
  std::size_t offset = 0;
  if (!frame.tensors.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& nt : frame.tensors) {
      list.push_back({{"name", nt.name},
                      {"dtype", dtype_name(nt.tensor.dtype())},
                      {"shape", nt.tensor.shape()},
                      {"offset", offset},
                      {"length", nt.tensor.nbytes()}});
      offset += pad8(nt.tensor.nbytes());
    }
    text.pop_back();  // the object's closing brace
    text += text.size() > 1 ? ",\"tensors\":" : "\"tensors\":";
    text += list.dump();
    text += '}';
  }
  const std::size_t body = pad8(4 + text.size());
  std::vector<uint8_t> out(body + offset, 0);
  const uint32_t len = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(len >> (8 * i));
  std::memcpy(out.data() + 4, text.data(), text.size());
  std::size_t pos = body;
  for (const auto& nt : frame.tensors) {
    if (nt.tensor.nbytes()) std::memcpy(out.data() + pos, nt.tensor.raw(), nt.tensor.nbytes());
    pos += pad8(nt.tensor.nbytes());
  }
  return out;
}

Frame decode_frame(const uint8_t* data, std::size_t size, std::size_t max_header_bytes) {
  if (size < 4) throw WireError("frame too short: " + std::to_string(size) + " bytes, need at least 4");
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len |= static_cast<uint32_t>(data[i]) << (8 * i);
  if (len == 0 || len > size - 4)
    throw WireError("header length " + std::to_string(len) + " does not fit a frame of " + std::to_string(size) + " bytes");
  if (len > max_header_bytes)
    throw WireError("header of " + std::to_string(len) + " bytes is longer than the limit of " +
                    std::to_string(max_header_bytes) + " bytes (big data travels as tensors)");
  Frame frame;
  try {
    frame.header = parse_json_limited(std::string_view(reinterpret_cast<const char*>(data + 4), len));
  } catch (const JsonError& e) {
    throw WireError(e.kind() == JsonError::Kind::syntax ? "header is not valid JSON: " + std::string(e.what())
                                                        : "header: " + std::string(e.what()));
  }
  if (!frame.header.is_object()) throw WireError("header must be a JSON object");
  if (!frame.header.contains("type") || !frame.header["type"].is_string())
    throw WireError("header has no string field 'type'");
  const std::size_t body = std::min(pad8(4 + std::size_t(len)), size);
  const std::size_t avail = size - body;
  if (!frame.header.contains("tensors")) return frame;
  const auto& list = frame.header["tensors"];
  if (!list.is_array()) throw WireError("'tensors' must be a list");
  std::size_t end_of_last = 0;
  for (const auto& e : list) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      throw WireError("tensor entry without a string 'name'");
    const std::string name = e["name"].get<std::string>();
    auto bad = [&](const std::string& why) { return WireError("tensor '" + name + "': " + why); };
    if (!e.contains("dtype") || !e["dtype"].is_string()) throw bad("missing dtype");
    auto dtype = parse_dtype(e["dtype"].get<std::string>());
    if (!dtype) throw bad("unknown dtype '" + e["dtype"].get<std::string>() + "'");
    if (!e.contains("shape") || !e["shape"].is_array()) throw bad("missing shape");
    Shape shape;
    double elements = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) throw bad("shape must be a list of non-negative integers");
      shape.push_back(d.get<int64_t>());
      elements *= static_cast<double>(shape.back());
    }
    if (shape.size() > kMaxTensorDims) throw bad("more than " + std::to_string(kMaxTensorDims) + " dimensions");
    if (!e.contains("offset") || !e["offset"].is_number_unsigned() || !e.contains("length") ||
        !e["length"].is_number_unsigned())
      throw bad("offset and length must be non-negative integers");
    const uint64_t offset = e["offset"].get<uint64_t>(), length = e["length"].get<uint64_t>();
    if (elements * static_cast<double>(dtype_size(*dtype)) != static_cast<double>(length))
      throw bad("length " + std::to_string(length) + " does not match " + std::string(dtype_name(*dtype)) +
                shape_string(shape));
    if (offset % 8 != 0) throw bad("offset is not a multiple of 8");
    if (offset < end_of_last) throw bad("overlaps the previous tensor");
    if (offset > avail || length > avail - offset) throw bad("extends past the end of the frame");
    end_of_last = offset + length;
    Tensor t(*dtype, std::move(shape));
    if (length) std::memcpy(t.raw(), data + body + offset, length);
    if (*dtype == DType::boolean) {
      uint8_t* b = t.raw();
      for (std::size_t i = 0; i < length; ++i)
        if (b[i] > 1) throw bad("bool values must be 0 or 1");
    }
    frame.tensors.push_back({name, std::move(t)});
  }
  frame.header.erase("tensors");
  return frame;
}

nlohmann::json tensor_to_json(const Tensor& t) {
  nlohmann::json data = nlohmann::json::array();
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.size(); ++i) {
      if constexpr (std::is_same_v<T, uint8_t>) data.push_back(p[i] != 0);
      else if constexpr (std::is_floating_point_v<T>) {
        if (std::isfinite(p[i])) data.push_back(p[i]);
        else data.push_back(std::isnan(p[i]) ? "nan" : (p[i] > 0 ? "inf" : "-inf"));
      } else data.push_back(p[i]);
    }
  });
  return {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data", std::move(data)}};
}

namespace {
// The numbers and booleans of a nested list in row-major order, and its shape; iterative (an
// explicit stack of list positions), so nesting costs heap, not stack.
void flatten_json(const nlohmann::json& value, Shape& shape, std::vector<const nlohmann::json*>& out) {
  struct Level {
    const nlohmann::json* list;
    std::size_t next;  // index of the next element to visit
  };
  std::vector<Level> stack;
  // Visits one value at depth stack.size(): a list opens a level, anything else is a leaf.
  auto visit = [&](const nlohmann::json& v) {
    const std::size_t depth = stack.size();
    if (v.is_array()) {
      if (depth == shape.size()) {
        if (!out.empty()) throw std::invalid_argument("ragged nested list: mixes numbers and lists at depth " + std::to_string(depth));
        if (depth == kMaxTensorDims) throw std::invalid_argument("nested list of more than " + std::to_string(kMaxTensorDims) + " dimensions");
        shape.push_back(static_cast<int64_t>(v.size()));
      } else if (shape[depth] != static_cast<int64_t>(v.size())) {
        throw std::invalid_argument("ragged nested list: lengths " + std::to_string(shape[depth]) + " and " +
                                    std::to_string(v.size()) + " at depth " + std::to_string(depth));
      }
      stack.push_back({&v, 0});
      return;
    }
    if (depth != shape.size()) throw std::invalid_argument("ragged nested list at depth " + std::to_string(depth));
    if (!v.is_number() && !v.is_boolean())
      throw std::invalid_argument("tensor values must be numbers or booleans, got " + v.dump().substr(0, 120));
    out.push_back(&v);
  };
  visit(value);
  while (!stack.empty()) {
    Level& top = stack.back();
    if (top.next == top.list->size()) {
      stack.pop_back();
      continue;
    }
    visit((*top.list)[top.next++]);
  }
}
}  // namespace

Tensor tensor_from_json_value(const nlohmann::json& value, std::optional<DType> dtype) {
  Shape shape;
  std::vector<const nlohmann::json*> flat;
  flatten_json(value, shape, flat);
  // An empty list's trailing dimensions are unknown; flatten_json recorded the ones it saw.
  if (!dtype) {
    bool all_bool = !flat.empty(), all_int = true;
    for (auto* v : flat) {
      all_bool = all_bool && v->is_boolean();
      all_int = all_int && (v->is_number_integer() || v->is_boolean());
    }
    dtype = all_bool ? DType::boolean : (all_int && !flat.empty()) ? DType::i32 : DType::f32;
  }
  Tensor t(*dtype, shape);
  visit_dtype(*dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (std::size_t i = 0; i < flat.size(); ++i) {
      double x = flat[i]->is_boolean() ? (flat[i]->get<bool>() ? 1.0 : 0.0) : flat[i]->get<double>();
      if constexpr (std::is_same_v<T, int32_t>) {
        if (!flat[i]->is_boolean() && !flat[i]->is_number_integer())
          throw std::invalid_argument("int32 tensor given non-integer value " + flat[i]->dump());
        if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max())
          throw std::invalid_argument("value " + flat[i]->dump() + " is out of int32 range");
      }
      if constexpr (std::is_same_v<T, uint8_t>) p[i] = x != 0;
      else p[i] = static_cast<T>(x);
    }
  });
  return t;
}

}  // namespace corvid
