#include "npy.hpp"

namespace corvid {

std::string encode_npy(const Tensor& t) {
  const char* descr = t.dtype() == DType::f32   ? "<f4"
                      : t.dtype() == DType::f64 ? "<f8"
                      : t.dtype() == DType::i32 ? "<i4"
                                                : "|b1";
  const Shape& dims = t.shape();
  std::string shape = "(";  // Python's tuple: (), (3,), (2, 3)
  for (std::size_t i = 0; i < dims.size(); ++i)
    shape += std::to_string(dims[i]) + (dims.size() == 1 ? "," : i + 1 < dims.size() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

}  // namespace corvid
