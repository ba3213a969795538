#include "tensor.hpp"

#include <cstdint>
#include <limits>

namespace corvid {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::boolean: return "bool";
  }
  return "invalid";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "float32" || name == "float") return DType::f32;
  if (name == "float64" || name == "double") return DType::f64;
  if (name == "int32" || name == "int") return DType::i32;
  if (name == "bool") return DType::boolean;
  return std::nullopt;
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::boolean: return 1;
  }
  return 0;
}

bool is_float(DType dtype) { return dtype == DType::f32 || dtype == DType::f64; }

int64_t num_elements(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_string(shape));
  for (int64_t d : shape)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (n > std::numeric_limits<int64_t>::max() / d)
      throw std::length_error("shape " + shape_string(shape) + " has more than 2^63 elements");
    n *= d;
  }
  return n;
}

std::string shape_string(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

namespace {
// Bytes for `elements` values of `dtype`; throws std::length_error when this build cannot hold
// them (on wasm32 a size_t is 32 bits: without this check the count would wrap around).
std::size_t buffer_bytes(int64_t elements, DType dtype, const Shape& shape) {
  const uint64_t limit = std::vector<uint8_t>().max_size() / dtype_size(dtype);
  if (static_cast<uint64_t>(elements) > limit)
    throw std::length_error("a " + std::string(dtype_name(dtype)) + " tensor of shape " + shape_string(shape) +
                            " is too large for this build (at most " + std::to_string(limit) + " elements)");
  return static_cast<std::size_t>(elements) * dtype_size(dtype);
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), size_(num_elements(shape_)),
      bytes_(buffer_bytes(size_, dtype_, shape_)) {}

double Tensor::at_as_double(int64_t i) const {
  return visit_dtype(dtype_, [&](auto zero) {
    using T = decltype(zero);
    return static_cast<double>(reinterpret_cast<const T*>(bytes_.data())[i]);
  });
}

Tensor Tensor::astype(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out(dtype, shape_);
  visit_dtype(dtype_, [&](auto from_zero) {
    using From = decltype(from_zero);
    const From* src = reinterpret_cast<const From*>(bytes_.data());
    visit_dtype(dtype, [&](auto to_zero) {
      using To = decltype(to_zero);
      To* dst = reinterpret_cast<To*>(out.raw());
      for (int64_t i = 0; i < size_; ++i) {
        if constexpr (std::is_same_v<To, uint8_t>) {
          dst[i] = src[i] != From(0);
        } else if constexpr (std::is_same_v<To, int32_t> && std::is_floating_point_v<From>) {
          // NaN, infinities and values outside int32 give INT32_MIN, as NumPy on x86. A plain
          // cast is undefined there in C++ and differs between builds (wasm saturates).
          const double v = static_cast<double>(src[i]);
          dst[i] = v > -2147483649.0 && v < 2147483648.0 ? static_cast<int32_t>(v) : INT32_MIN;
        } else {
          dst[i] = static_cast<To>(src[i]);
        }
      }
    });
  });
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (num_elements(shape) != size_)
    throw std::invalid_argument("cannot reshape " + shape_string(shape_) + " to " + shape_string(shape));
  Tensor out = *this;
  out.shape_ = std::move(shape);
  return out;
}

}  // namespace corvid
