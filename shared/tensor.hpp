// Tensor: the value type shared by the kernel, the wire codec, the server and the clients.
// Built natively and with Emscripten: no Boost, no Emscripten headers here.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace corvid {

// Element types. The numeric values are part of the wire format's vocabulary only by name.
enum class DType : uint8_t { f32 = 0, f64 = 1, i32 = 2, boolean = 3 };
inline constexpr int kDTypeCount = 4;

using Shape = std::vector<int64_t>;

// "float32", "float64", "int32", "bool".
std::string_view dtype_name(DType dtype);
// Accepts the names above (and "float", "double", "int" as conveniences); nullopt otherwise.
std::optional<DType> parse_dtype(std::string_view name);
std::size_t dtype_size(DType dtype);
bool is_float(DType dtype);

// Product of the dimensions (1 for a 0-d shape). Requires every dimension >= 0.
int64_t num_elements(const Shape& shape);
// "(2, 3)" in NumPy's style; "()" for a 0-d shape.
std::string shape_string(const Shape& shape);

// C++ element type for each dtype (bool is stored as one byte, 0 or 1).
template <DType D> struct dtype_traits;
template <> struct dtype_traits<DType::f32> { using type = float; };
template <> struct dtype_traits<DType::f64> { using type = double; };
template <> struct dtype_traits<DType::i32> { using type = int32_t; };
template <> struct dtype_traits<DType::boolean> { using type = uint8_t; };

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::boolean; };

// Calls fn(T{}) with T the C++ element type of dtype: visit_dtype(t.dtype, [&](auto zero) {...}).
template <class Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    case DType::i32: return fn(int32_t{});
    case DType::boolean: return fn(uint8_t{});
  }
  throw std::logic_error("visit_dtype: invalid dtype");
}

// A dense, contiguous, row-major tensor that owns its buffer. Not thread-safe for writes.
class Tensor {
 public:
  Tensor() : Tensor(DType::f32, Shape{}) {}
  // Zero-filled tensor of the given dtype and shape. Requires every dimension >= 0.
  Tensor(DType dtype, Shape shape);

  // Tensor holding `values` with the given shape; requires values.size() == num_elements(shape).
  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(dtype_of<T>::value, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.size())
      throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                  " values for shape " + shape_string(t.shape()));
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
    return t;
  }
  template <class T>
  static Tensor scalar(T value) { return from_vector<T>({}, {value}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size() const { return size_; }
  std::size_t nbytes() const { return bytes_.size(); }

  uint8_t* raw() { return bytes_.data(); }
  const uint8_t* raw() const { return bytes_.data(); }

  // Typed view of the buffer; throws if T does not match the dtype.
  template <class T> T* data() { check<T>(); return reinterpret_cast<T*>(bytes_.data()); }
  template <class T> const T* data() const { check<T>(); return reinterpret_cast<const T*>(bytes_.data()); }

  // Element i (flat, row-major) converted to double, whatever the dtype.
  double at_as_double(int64_t i) const;
  // Copy converted to another dtype: float -> int32 truncates toward zero (NaN, infinities and
  // values outside int32 give INT32_MIN, as NumPy on x86), nonzero -> true.
  Tensor astype(DType dtype) const;
  // Same buffer, new shape with the same element count.
  Tensor reshaped(Shape shape) const;

 private:
  template <class T> void check() const {
    if (dtype_of<T>::value != dtype_)
      throw std::logic_error(std::string("Tensor::data: dtype is ") + std::string(dtype_name(dtype_)));
  }
  DType dtype_;
  Shape shape_;
  int64_t size_ = 1;
  std::vector<uint8_t> bytes_;
};

// Row-major strides in elements for a shape.
std::vector<int64_t> strides_of(const Shape& shape);

}  // namespace corvid
