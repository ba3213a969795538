// Helpers the family files share: promotion, broadcasting, axes, params, generic costs.
#include <algorithm>
#include <limits>
#include <optional>

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

namespace {

std::invalid_argument must_be(std::string_view name, std::string_view what, const Params& value) {
  return std::invalid_argument("param '" + std::string(name) + "' must be " + std::string(what) + ", got " + value.dump());
}

// The strict reading of one integer: a JSON integer (never a float, even 1.0) within int64, or
// nullopt for any other value; an unsigned JSON number above 2^63 - 1 throws "out of range"
// rather than wrapping to a negative.
std::optional<int64_t> json_int64(std::string_view name, const Params& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw std::invalid_argument("param '" + std::string(name) + "' is out of range: " + std::to_string(u) +
                                  " does not fit in a signed 64-bit integer");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

constexpr std::string_view kIntegerText = "an integer";
constexpr std::string_view kIntListText = "a list of integers (or one integer)";
constexpr std::string_view kNumberListText = "a list of numbers (or one number)";

int64_t int_value(std::string_view name, const Params& v, std::string_view what) {
  const std::optional<int64_t> i = json_int64(name, v);
  if (!i) throw must_be(name, what, v);
  return *i;
}

std::vector<int64_t> int_list_value(std::string_view name, const Params& v, std::string_view what) {
  if (!v.is_array()) return {int_value(name, v, what)};
  std::vector<int64_t> out;
  for (const auto& e : v) {
    const std::optional<int64_t> i = json_int64(name, e);
    if (!i) throw must_be(name, what, v);
    out.push_back(*i);
  }
  return out;
}

std::vector<double> number_list_value(std::string_view name, const Params& v, std::string_view what) {
  if (v.is_number()) return {v.get<double>()};
  if (!v.is_array()) throw must_be(name, what, v);
  std::vector<double> out;
  for (const auto& e : v) {
    if (!e.is_number()) throw must_be(name, what, v);
    out.push_back(e.get<double>());
  }
  return out;
}

constexpr std::string_view kDtypeText = "one of float32, float64, int32, bool";

DType dtype_value(std::string_view name, const Params& v, std::string_view what) {
  std::optional<DType> d = v.is_string() ? parse_dtype(v.get<std::string>()) : std::nullopt;
  if (!d) throw must_be(name, what, v);
  return *d;
}

}  // namespace

int64_t int_param(const Params& params, const char* name, int64_t fallback) {
  return has_param(params, name) ? int_value(name, params.at(name), kIntegerText) : fallback;
}

int64_t required_int_param(const Params& params, const char* name) {
  if (!has_param(params, name)) throw std::invalid_argument(std::string("param '") + name + "' is required");
  return int_param(params, name, 0);
}

double number_param(const Params& params, const char* name, double fallback) {
  if (!has_param(params, name)) return fallback;
  const auto& v = params.at(name);
  if (!v.is_number()) throw must_be(name, "a number", v);
  return v.get<double>();
}

bool bool_param(const Params& params, const char* name, bool fallback) {
  if (!has_param(params, name)) return fallback;
  const auto& v = params.at(name);
  if (!v.is_boolean()) throw must_be(name, "true or false", v);
  return v.get<bool>();
}

std::vector<int64_t> int_list_param(const Params& params, const char* name) {
  if (!has_param(params, name)) throw std::invalid_argument(std::string("param '") + name + "' is required");
  return int_list_value(name, params.at(name), kIntListText);
}

std::vector<double> number_list_param(const Params& params, const char* name) {
  if (!has_param(params, name)) throw std::invalid_argument(std::string("param '") + name + "' is required");
  return number_list_value(name, params.at(name), kNumberListText);
}

std::optional<DType> dtype_param(const Params& params) {
  if (!has_param(params, "dtype")) return std::nullopt;
  return dtype_value("dtype", params.at("dtype"), kDtypeText);
}

void check_param_value(const ParamSpec& spec, const Params& value) {
  auto what = [&](std::string_view own) { return spec.meaning.empty() ? own : spec.meaning; };
  switch (spec.type) {
    case ParamType::integer: int_value(spec.name, value, what(kIntegerText)); return;
    case ParamType::int_list: int_list_value(spec.name, value, what(kIntListText)); return;
    case ParamType::boolean:
      if (!value.is_boolean()) throw must_be(spec.name, what("true or false"), value);
      return;
    case ParamType::number:
      if (!value.is_number()) throw must_be(spec.name, what("a number"), value);
      return;
    case ParamType::number_list: number_list_value(spec.name, value, what(kNumberListText)); return;
    case ParamType::number_or_bool:
      if (!value.is_number() && !value.is_boolean()) throw must_be(spec.name, what("a number or a boolean"), value);
      return;
    case ParamType::dtype: dtype_value(spec.name, value, what(kDtypeText)); return;
    case ParamType::tensor_value:
      if (!value.is_number() && !value.is_boolean() && !value.is_array())
        throw must_be(spec.name, what("a number, a boolean or a nested list of them"), value);
      return;
  }
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

Cost elementwise_cost(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params&) {
  Cost c;
  c.flops = static_cast<double>(spec_elements(output));
  c.bytes = spec_bytes(output);
  for (const auto& in : inputs) c.bytes += spec_bytes(in);
  return c;
}

}  // namespace corvid::ops
