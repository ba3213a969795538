// Helpers the family files share: promotion, broadcasting, axes, params, generic costs.
#include <algorithm>

#include "families.hpp"

namespace corvid::ops {

namespace {
int kind(DType d) { return d == DType::boolean ? 0 : d == DType::i32 ? 1 : 2; }
}  // namespace

DType promote(DType a, DType b) {
  if (kind(a) != kind(b)) return kind(a) > kind(b) ? a : b;
  if (kind(a) == 2) return (a == DType::f64 || b == DType::f64) ? DType::f64 : DType::f32;
  return a;
}

DType float_result(DType a) { return is_float(a) ? a : DType::f32; }

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else if (da == -1 || db == -1) out[i] = -1;
    else
      throw std::invalid_argument("shapes " + shape_string(a) + " and " + shape_string(b) + " cannot be broadcast together");
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t ndim) {
  if (axis < -ndim || axis >= ndim || ndim == 0)
    throw std::invalid_argument("axis " + std::to_string(axis) + " is out of range for " + std::to_string(ndim) +
                                "-d input");
  return axis < 0 ? axis + ndim : axis;
}

bool has_param(const Params& params, const char* name) {
  return params.is_object() && params.contains(name) && !params.at(name).is_null();
}

int64_t int_param(const Params& params, const char* name, int64_t fallback) {
  if (!has_param(params, name)) return fallback;
  const auto& v = params.at(name);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
    return static_cast<int64_t>(v.get<double>());
  throw std::invalid_argument(std::string("param '") + name + "' must be an integer, got " + v.dump());
}

int64_t required_int_param(const Params& params, const char* name) {
  if (!has_param(params, name)) throw std::invalid_argument(std::string("param '") + name + "' is required");
  return int_param(params, name, 0);
}

double number_param(const Params& params, const char* name, double fallback) {
  if (!has_param(params, name)) return fallback;
  const auto& v = params.at(name);
  if (!v.is_number()) throw std::invalid_argument(std::string("param '") + name + "' must be a number, got " + v.dump());
  return v.get<double>();
}

bool bool_param(const Params& params, const char* name, bool fallback) {
  if (!has_param(params, name)) return fallback;
  const auto& v = params.at(name);
  if (!v.is_boolean()) throw std::invalid_argument(std::string("param '") + name + "' must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::vector<int64_t> int_list_param(const Params& params, const char* name) {
  if (!has_param(params, name)) throw std::invalid_argument(std::string("param '") + name + "' is required");
  const auto& v = params.at(name);
  if (v.is_number()) return {int_param(params, name, 0)};
  if (!v.is_array()) throw std::invalid_argument(std::string("param '") + name + "' must be a list of integers, got " + v.dump());
  std::vector<int64_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer())
      throw std::invalid_argument(std::string("param '") + name + "' must be a list of integers, got " + v.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> reduction_axes(const Params& params, int64_t ndim) {
  std::vector<int64_t> axes;
  if (!has_param(params, "axis")) {
    for (int64_t i = 0; i < ndim; ++i) axes.push_back(i);
    return axes;
  }
  for (int64_t a : int_list_param(params, "axis")) {
    if (a < -ndim || a >= ndim)
      throw std::invalid_argument("axis " + std::to_string(a) + " is out of range for " + std::to_string(ndim) + "-d input");
    axes.push_back(a < 0 ? a + ndim : a);
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    throw std::invalid_argument("repeated axis in " + params.at("axis").dump());
  return axes;
}

int64_t spec_elements(const TensorSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d < 0 ? 1 : d;
  return n;
}

double spec_bytes(const TensorSpec& spec) {
  return static_cast<double>(spec_elements(spec)) * static_cast<double>(dtype_size(spec.dtype));
}

Cost elementwise_cost(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params&) {
  Cost c;
  c.flops = static_cast<double>(spec_elements(output));
  c.bytes = spec_bytes(output);
  for (const auto& in : inputs) c.bytes += spec_bytes(in);
  return c;
}

}  // namespace corvid::ops
