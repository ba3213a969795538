// Building blocks of the elementwise kernels (elementwise.cpp): float exp, tanh and log that compilers
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
// x = n ln2 + r with |r| <= ln2/2, a degree-5 polynomial for exp(r) (within about 3 ulp),
// and 2^n built from exponent bits. Results below about 2e-38 (x < -86.99) are flushed to 0
// instead of going subnormal; exp(NaN) = NaN, exp(+inf) = +inf, exp(-inf) = 0, overflow gives +inf.
// Written for wasm simd128 as much as for x86: the input is clamped with integer min on its bits
// (float min/max constants compile to NaN-aware f32x4.min, which V8 expands to many instructions),
// and n's integer value is read from the bits of the rounding sum rather than by a conversion.
inline float exp_f32(float x) {
  // Clamp to [-87.5, 89]: as unsigned, negative floats grow with their magnitude; as signed,
  // positive floats do. exp(-87.5) flushes to 0 and exp(89) overflows to +inf below.
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  constexpr uint32_t kNegLimit = 0xC2AF0000u;  // bits of -87.5f
  constexpr int32_t kPosLimit = 0x42B20000;    // bits of 89.0f
  u = u < kNegLimit ? u : kNegLimit;
  int32_t clamped = static_cast<int32_t>(u);
  clamped = clamped < kPosLimit ? clamped : kPosLimit;
  float xc;
  std::memcpy(&xc, &clamped, sizeof xc);
  // n = round(x / ln2) by adding 1.5 * 2^23, which leaves n in the low mantissa bits.
  constexpr float kRound = 12582912.0f;
  const float shifted = xc * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  // ln2 split in a high part with few mantissa bits (n * hi is exact) and a low correction.
  float r = xc - n * 0.693145751953125f;
  r = r - n * 1.42860682030941723212e-6f;
  // 2 exp(r) = 2 + 2r + r^2 * 2P(r), P a cubic fitted for the least maximal relative error on
  // [-ln2/2, ln2/2] (2e-7 with float rounding), doubled so that the scale below is 2^(n-1), a
  // normal float (or 0 for n = -126, or +inf for n = 129) for every clamped x.
  float p = 2 * 0.00831251f;
  p = p * r + 2 * 0.04189009f;
  p = p * r + 2 * 0.16667115f;
  p = p * r + 2 * 0.49999232f;
  p = p * (r * r) + (2.0f * r + 2.0f);
  uint32_t shifted_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  const uint32_t scale_bits = (shifted_bits - 0x4B400000u + 126u) << 23;  // exponent field n - 1 + 127
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  const float result = p * scale;
  return x == x ? result : x;
}

// tanh(x) in float32 without a libm call, so that a loop over it vectorises (both branches are
// computed and one selected). |x| < 0.4: the Taylor series to x^11 (next term below 1e-7
// relative); otherwise 1 - 2 / (exp(2|x|) + 1) with exp_f32, which saturates to 1. Odd: the sign
// is x's (tanh(-0) = -0); tanh(NaN) = NaN.
inline float tanh_f32(float x) {
  const float a = std::fabs(x);
  const float z = a * a;
  float p = -1382.0f / 155925.0f;
  p = p * z + 62.0f / 2835.0f;
  p = p * z - 17.0f / 315.0f;
  p = p * z + 2.0f / 15.0f;
  p = p * z - 1.0f / 3.0f;
  const float small = a + a * z * p;
  const float large = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
  return std::copysign(a < 0.4f ? small : large, x);
}

// ln(x) in float32 without a libm call, so that a loop over it vectorises. x = m 2^e with m in
// [sqrt(1/2), sqrt(2)), ln(1 + f) for f = m - 1 by Cephes' degree-9 polynomial (about 1 ulp), e ln2
// added in two parts. Subnormal x is scaled by 2^23 first. ln(0) = -inf, ln(+inf) = +inf, ln of a
// negative number or NaN = NaN.
inline float log_f32(float x) {
  const bool subnormal = x < 1.17549435e-38f;
  const float xs = subnormal ? x * 8388608.0f : x;
  uint32_t bits;
  std::memcpy(&bits, &xs, sizeof bits);
  float e = static_cast<float>(static_cast<int32_t>((bits >> 23) & 0xffu) - 126) - (subnormal ? 23.0f : 0.0f);
  const uint32_t mantissa_bits = (bits & 0x007fffffu) | 0x3f000000u;  // m in [0.5, 1)
  float m;
  std::memcpy(&m, &mantissa_bits, sizeof m);
  const bool below = m < 0.707106781186547524f;
  e = below ? e - 1.0f : e;
  const float f = below ? m + m - 1.0f : m - 1.0f;
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  float r = f + y;
  r += 0.693359375f * e;
  r = x == std::numeric_limits<float>::infinity() ? x : r;
  r = x == 0.0f ? -std::numeric_limits<float>::infinity() : r;
  return x > 0.0f || x == 0.0f ? r : std::numeric_limits<float>::quiet_NaN();
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
