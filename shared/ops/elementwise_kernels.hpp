// Building blocks of the elementwise kernels (elementwise.cpp): a float exp that compilers
// vectorise (native AVX, wasm simd128), and a broadcasting plan that turns N operands of a
// NumPy-broadcast op into rows with unit or zero inner strides, so that the inner loops are
// plain contiguous loops. Header-only so that the kernels inline everything.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../tensor.hpp"

namespace corvid::ops {

// exp(x) in float32 without a libm call, so that a loop over it vectorises. Range reduction
// x = n ln2 + r with |r| <= ln2/2, a degree-7 Taylor polynomial for exp(r) (truncation error
// below 1e-8 relative), and 2^n built from exponent bits in two halves so that results down to
// the smallest subnormal are reached. Error is within a few float32 ulp of the exact value.
// exp(NaN) = NaN, exp(+inf) = +inf, exp(-inf) = 0, overflow gives +inf like std::exp.
inline float exp_f32(float x) {
  constexpr float kHi = 88.72283935546875f;   // just below ln(FLT_MAX): above it the result is +inf
  constexpr float kLo = -103.972076416015625f;  // ln(2^-150): below it the result rounds to 0
  float xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  xc = xc == xc ? xc : 0.0f;  // keep NaN out of the float->int conversion
  // n = round(x / ln2) by the 1.5 * 2^23 trick (exact for |n| < 2^22).
  constexpr float kRound = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + kRound) - kRound;
  // ln2 split in a high part with few mantissa bits (n * hi is exact) and a low correction.
  float r = xc - n * 0.693145751953125f;
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n = 2^n1 * 2^n2 with both halves normal floats for n in [-150, 128].
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni / 2;
  const int32_t n2 = ni - n1;
  const int32_t b1 = (n1 + 127) << 23;
  const int32_t b2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  float result = p * s1 * s2;
  result = x > kHi ? std::numeric_limits<float>::infinity() : result;
  result = x < kLo ? 0.0f : result;
  return x == x ? result : x;
}

// How N operands map onto a broadcast output: the output's dimensions with size-1 dimensions
// dropped and adjacent dimensions merged wherever every operand allows it, and each operand's
// stride in elements per kept dimension (0 where it is broadcast). Always at least one dimension.
template <std::size_t N>
struct BroadcastPlan {
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, N> strides;
};

// Plans operands of contiguous row-major `shapes` that broadcast to `out` (already checked).
template <std::size_t N>
BroadcastPlan<N> plan_broadcast(const Shape& out, const std::array<const Shape*, N>& shapes) {
  const std::size_t nd = out.size();
  std::array<std::vector<int64_t>, N> full;
  for (std::size_t k = 0; k < N; ++k) {
    const Shape& s = *shapes[k];
    const std::vector<int64_t> st = strides_of(s);
    full[k].assign(nd, 0);
    const std::size_t lead = nd - s.size();
    for (std::size_t d = 0; d < s.size(); ++d) full[k][lead + d] = s[d] == 1 ? 0 : st[d];
  }
  BroadcastPlan<N> plan;
  for (std::size_t d = 0; d < nd; ++d) {
    if (out[d] == 1) continue;
    bool mergeable = !plan.dims.empty();
    for (std::size_t k = 0; k < N && mergeable; ++k)
      mergeable = plan.strides[k].back() == full[k][d] * out[d];
    if (mergeable) {
      plan.dims.back() *= out[d];
      for (std::size_t k = 0; k < N; ++k) plan.strides[k].back() = full[k][d];
    } else {
      plan.dims.push_back(out[d]);
      for (std::size_t k = 0; k < N; ++k) plan.strides[k].push_back(full[k][d]);
    }
  }
  if (plan.dims.empty()) {
    plan.dims.push_back(1);
    for (std::size_t k = 0; k < N; ++k) plan.strides[k].push_back(0);
  }
  return plan;
}

// Calls row(out_offset, offsets, inner_strides, n) for each run of the plan's innermost
// dimension: output elements [out_offset, out_offset + n) take operand k's elements
// offsets[k] + i * inner_strides[k].
template <std::size_t N, class Row>
void for_each_row(const BroadcastPlan<N>& plan, Row&& row) {
  const std::size_t nd = plan.dims.size();
  const int64_t n = plan.dims.back();
  int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < nd; ++d) rows *= plan.dims[d];
  std::array<int64_t, N> inner{}, offsets{};
  for (std::size_t k = 0; k < N; ++k) inner[k] = plan.strides[k].back();
  std::vector<int64_t> index(nd, 0);
  for (int64_t r = 0; r < rows; ++r) {
    row(r * n, offsets, inner, n);
    for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
      if (++index[d] < plan.dims[d]) {
        for (std::size_t k = 0; k < N; ++k) offsets[k] += plan.strides[k][d];
        break;
      }
      index[d] = 0;
      for (std::size_t k = 0; k < N; ++k) offsets[k] -= plan.strides[k][d] * (plan.dims[d] - 1);
    }
  }
}

}  // namespace corvid::ops
