// Source ops: tensor (a literal value), zeros, ones, random_uniform and random_normal.
//
// The random ops must give the same values on every build (native x86, wasm) for a given seed,
// so they use no library generator and no libm function:
//   * bits: element i of a tensor with seed s takes the 64-bit word
//       mix(mix(s) + (i + 1) * 0x9E3779B97F4A7C15)
//     where mix is SplitMix64's finaliser. This is SplitMix64 keyed by a mixed seed, used as a
//     counter-based generator: word i depends only on (s, i), so any element can be computed alone.
//   * uniform: the top 24 (float32) or 53 (float64) bits give u in [0, 1); the value is
//     low + (high - low) * u computed in double, then rounded to the dtype.
//   * normal: Box-Muller on the pair of words (2k, 2k + 1): with u1 in (0, 1] and u2 in [0, 1),
//     r = sqrt(-2 ln u1), element 2k = mean + std * r cos(2 pi u2), element 2k + 1 the same
//     with sin. ln, cos and sin are series evaluated here with + - * / only, and sqrt is
//     correctly rounded by IEEE 754, so every build computes the same doubles.
// For the last point the code below also forbids fused multiply-adds (contraction), which a
// native build with -march=native would otherwise be free to use.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "../wire.hpp"
#include "families.hpp"

namespace corvid::ops {

namespace {

// ---- params shared by the source ops ----

// Largest tensor a source op may create: 2^31 elements, so that an absurd shape is refused when
// the graph is submitted, with its reason (Tensor itself refuses what a build cannot hold).
constexpr int64_t kMaxElements = int64_t{1} << 31;

// The required "shape" param: a list of non-negative integers ([] for a 0-d tensor).
Shape shape_param(const Params& params) {
  Shape shape = int_list_param(params, "shape");
  double elements = 1;  // a double cannot overflow here
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("param 'shape' must not have negative dimensions, got " + params.at("shape").dump());
    elements *= static_cast<double>(d);
  }
  if (elements > static_cast<double>(kMaxElements))
    throw std::invalid_argument("param 'shape' " + shape_string(shape) + " has more than 2^31 elements");
  return shape;
}

// The dtype of a random op: float32 unless the "dtype" param says float64.
DType random_dtype(const Params& params) {
  const DType d = dtype_param(params).value_or(DType::f32);
  if (!is_float(d)) throw std::invalid_argument("param 'dtype' must be float32 or float64, got " + params.at("dtype").dump());
  return d;
}

uint64_t seed_param(const Params& params) { return static_cast<uint64_t>(int_param(params, "seed", 0)); }

// ---- tensor ----

// The value comes either from the "value" param (a number or nested list) or, when the server
// sent it as a binary tensor, from the single input; "dtype" converts it.
TensorSpec tensor_infer(const std::vector<TensorSpec>& inputs, const Params& params) {
  const std::optional<DType> dtype = dtype_param(params);
  if (!inputs.empty()) {
    if (has_param(params, "value"))
      throw std::invalid_argument("value given both as param 'value' and as an input tensor");
    return {dtype.value_or(inputs[0].dtype), inputs[0].shape};
  }
  if (!has_param(params, "value")) throw std::invalid_argument("param 'value' is required (a number or a nested list)");
  const Tensor t = tensor_from_json_value(params.at("value"), dtype);
  return spec_of(t);
}

Tensor tensor_kernel(const std::vector<const Tensor*>& inputs, const Params& params) {
  const std::optional<DType> dtype = dtype_param(params);
  if (!inputs.empty()) {
    const DType to = dtype.value_or(inputs[0]->dtype());
    return inputs[0]->astype(to);
  }
  return tensor_from_json_value(params.at("value"), dtype);
}

Cost tensor_cost(const std::vector<TensorSpec>&, const TensorSpec& output, const Params&) {
  return {0, spec_bytes(output)};
}

// ---- zeros, ones ----

TensorSpec filled_infer(const std::vector<TensorSpec>&, const Params& params) {
  return {dtype_param(params).value_or(DType::f32), shape_param(params)};
}

template <int Value>
Tensor filled_kernel(const std::vector<const Tensor*>&, const Params& params) {
  Tensor out(dtype_param(params).value_or(DType::f32), shape_param(params));
  if (Value != 0) {
    visit_dtype(out.dtype(), [&](auto zero) {
      using T = decltype(zero);
      std::fill(out.data<T>(), out.data<T>() + out.size(), static_cast<T>(Value));
    });
  }
  return out;
}

// ---- random_uniform, random_normal ----

// Forbid contracting a * b + c into a fused multiply-add in the generator (see the top comment).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// SplitMix64's output function (Steele, Lea, Flood 2014).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t random_word(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * 0x9E3779B97F4A7C15ull); }

// Reciprocals used by the series below, computed at compile time (correctly rounded by every
// compiler) so that the series need no division: kInverse[k] = 1 / k, kTaylorStep[k] = 1 / (k (k-1)).
constexpr std::array<double, 24> kInverse = [] {
  std::array<double, 24> t{};
  for (int k = 1; k < 24; ++k) t[k] = 1.0 / k;
  return t;
}();
constexpr std::array<double, 20> kTaylorStep = [] {
  std::array<double, 20> t{};
  for (int k = 2; k < 20; ++k) t[k] = 1.0 / (k * (k - 1));
  return t;
}();

// ln(u) for u in (0, 1], from u = m * 2^e with m in [sqrt(1/2), sqrt(2)) and
// ln(m) = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172, summed to t^23 (error < 1e-17).
double portable_log(double u) {
  uint64_t b;
  std::memcpy(&b, &u, sizeof b);
  int64_t e = static_cast<int64_t>((b >> 52) & 0x7ff) - 1023;
  b = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m;
  std::memcpy(&m, &b, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  double series = kInverse[23];
  for (int k = 21; k >= 1; k -= 2) series = series * t2 + kInverse[k];
  const double ln_m = 2.0 * t * series;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // high bits: e * kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double de = static_cast<double>(e);
  return de * kLn2Hi + (de * kLn2Lo + ln_m);
}

// cos and sin of 2 pi u for u in [0, 1): the quadrant comes from 4u exactly, and the angle
// within it is folded to at most pi/4 (f -> 1 - f is exact) before the Taylor series, summed to
// the 18th and 19th powers (error < 1e-20).
void portable_cos_sin_2pi(double u, double& c, double& s) {
  const double q4 = u * 4.0;  // exact
  const int quadrant = static_cast<int>(q4);
  const double f = q4 - quadrant;  // exact, in [0, 1)
  const bool folded = f > 0.5;
  const double a = (folded ? 1.0 - f : f) * 1.5707963267948966;
  const double a2 = a * a;
  double cs = 1.0, sn = 1.0;
  for (int k = 18; k >= 2; k -= 2) cs = 1.0 - a2 * kTaylorStep[k] * cs;
  for (int k = 19; k >= 3; k -= 2) sn = 1.0 - a2 * kTaylorStep[k] * sn;
  sn *= a;
  if (folded) std::swap(cs, sn);  // cos(pi/2 - a) = sin(a)
  switch (quadrant) {
    case 0: c = cs; s = sn; break;
    case 1: c = -sn; s = cs; break;
    case 2: c = -cs; s = -sn; break;
    default: c = sn; s = -cs; break;
  }
}

template <class T>
void fill_uniform(T* out, int64_t n, uint64_t seed, double low, double high) {
  const uint64_t key = mix64(seed);
  const double span = high - low;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t w = random_word(key, static_cast<uint64_t>(i));
    const double u = std::is_same_v<T, float> ? static_cast<double>(w >> 40) * 0x1p-24
                                                : static_cast<double>(w >> 11) * 0x1p-53;
    out[i] = static_cast<T>(low + span * u);
  }
}

template <class T>
void fill_normal(T* out, int64_t n, uint64_t seed, double mean, double std) {
  const uint64_t key = mix64(seed);
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t w1 = random_word(key, static_cast<uint64_t>(i));
    const uint64_t w2 = random_word(key, static_cast<uint64_t>(i) + 1);
    const double u1 = static_cast<double>((w1 >> 11) + 1) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(w2 >> 11) * 0x1p-53;        // [0, 1)
    const double r = std::sqrt(-2.0 * portable_log(u1));
    double c, s;
    portable_cos_sin_2pi(u2, c, s);
    out[i] = static_cast<T>(mean + std * (r * c));
    if (i + 1 < n) out[i + 1] = static_cast<T>(mean + std * (r * s));
  }
}

#if defined(__clang__)
#pragma clang fp contract(on)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

TensorSpec uniform_infer(const std::vector<TensorSpec>&, const Params& params) {
  number_param(params, "low", 0);
  number_param(params, "high", 1);
  seed_param(params);
  return {random_dtype(params), shape_param(params)};
}

Tensor uniform_kernel(const std::vector<const Tensor*>&, const Params& params) {
  Tensor out(random_dtype(params), shape_param(params));
  const double low = number_param(params, "low", 0), high = number_param(params, "high", 1);
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_floating_point_v<T>) fill_uniform(out.data<T>(), out.size(), seed_param(params), low, high);
  });
  return out;
}

TensorSpec normal_infer(const std::vector<TensorSpec>&, const Params& params) {
  number_param(params, "mean", 0);
  if (number_param(params, "std", 1) < 0)
    throw std::invalid_argument("param 'std' must be >= 0, got " + params.at("std").dump());
  seed_param(params);
  return {random_dtype(params), shape_param(params)};
}

Tensor normal_kernel(const std::vector<const Tensor*>&, const Params& params) {
  Tensor out(random_dtype(params), shape_param(params));
  const double mean = number_param(params, "mean", 0), std = number_param(params, "std", 1);
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_floating_point_v<T>) fill_normal(out.data<T>(), out.size(), seed_param(params), mean, std);
  });
  return out;
}

// Random values cost a hash per element (and a log, a sqrt and two series per normal pair).
template <int FlopsPerElement>
Cost generated_cost(const std::vector<TensorSpec>&, const TensorSpec& output, const Params&) {
  return {static_cast<double>(FlopsPerElement) * static_cast<double>(spec_elements(output)), spec_bytes(output)};
}

}  // namespace

std::vector<OpDef> source_rows() {
  using T = ParamType;
  const ParamSpec shape{"shape", T::int_list}, dtype{"dtype", T::dtype}, seed{"seed", T::integer};
  return {
      {"tensor", {"lin"}, 0, 1, OpFamily::source, tensor_infer, tensor_cost, tensor_kernel,
       {{"value", T::tensor_value}, dtype}},
      {"zeros", {}, 0, 0, OpFamily::source, filled_infer, generated_cost<0>, filled_kernel<0>, {shape, dtype}},
      {"ones", {}, 0, 0, OpFamily::source, filled_infer, generated_cost<0>, filled_kernel<1>, {shape, dtype}},
      {"random_uniform", {}, 0, 0, OpFamily::source, uniform_infer, generated_cost<8>, uniform_kernel,
       {shape, dtype, {"low", T::number}, {"high", T::number}, seed}},
      {"random_normal", {}, 0, 0, OpFamily::source, normal_infer, generated_cost<60>, normal_kernel,
       {shape, dtype, {"mean", T::number}, {"std", T::number}, seed}},
  };
}

}  // namespace corvid::ops
