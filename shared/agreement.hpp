// When two values of the same op agree: the rule by which results of one op computed by
// different kernels (native, WebAssembly, later builds with FMA) are compared. int32 and bool
// must be equal; floats must be within a tolerance that depends on how much rounding the op's
// family does; NaN must meet NaN and an infinity the same infinity, position by position.
// The consistency suite checks with it that the native and wasm kernels never disagree over every
// case of every op family; result verification (issue 10) compares replicas with it.
#pragma once

#include <cstdint>
#include <string>

#include "ops/op.hpp"
#include "tensor.hpp"

namespace corvid {

// |a_i - b_i| <= atol + rtol * max(|a_i|, |b_i|) + scale_rtol * (largest |value| of either tensor).
// scale_rtol covers sums whose terms cancel: their rounding error follows the size of the terms,
// which the largest value of the result stands for, not the size of the (small) sum.
struct Tolerance {
  double rtol = 0;
  double atol = 0;
  double scale_rtol = 0;
};

// The tolerance for two values of `op` with result dtype `dtype` (docs/design.md, "When results
// agree"): exact for int32, bool, sources and movement ops (which copy values); for float32
// elementwise ops rtol 1e-5, atol 1e-6; for reductions and linear algebra also scale_rtol 1e-4
// (rounding grows with the number of terms summed, in any order). float64 is 1e-12 / 1e-10.
Tolerance agreement_tolerance(const OpDef& op, DType dtype);

// Where two tensors differ beyond a tolerance.
struct Disagreement {
  int64_t count = 0;       // values that differ (0: they agree)
  int64_t index = -1;      // flat index of the largest difference
  double difference = 0;   // |a - b| there (infinite for NaN against a number, or different infinities)
  double a = 0, b = 0;     // the two values there
  std::string shape_problem;  // set instead when dtypes or shapes differ: "float32(2,) vs int32(2,)"

  bool agree() const { return count == 0 && shape_problem.empty(); }
  // "3 of 100 values differ; largest difference 0.5 at flat index 7 (1.5 vs 1)", or the shape problem.
  std::string describe() const;
};

// Compares a and b under `tolerance`.
Disagreement compare_values(const Tensor& a, const Tensor& b, const Tolerance& tolerance);

}  // namespace corvid
