// shared/agreement: which results of one op count as the same value.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "shared/agreement.hpp"

using namespace corvid;

namespace {

Tensor f32(std::vector<float> v) { return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v); }
Tensor i32(std::vector<int32_t> v) { return Tensor::from_vector<int32_t>({static_cast<int64_t>(v.size())}, v); }

Tolerance of(const char* op, DType dtype) { return agreement_tolerance(*find_op(op), dtype); }

}  // namespace

TEST_CASE("agreement: the wrong values a lying worker returns are caught, rounding is not") {
  const Tensor honest = f32({1.5f, -2.25f, 1e6f, 3e-3f});
  const Tolerance t = of("exp", DType::f32);
  CHECK(compare_values(honest, f32({1.5f, -2.25f, 1e6f + 0.0625f, 3e-3f}), t).agree());  // 1 ulp at 1e6
  CHECK(compare_values(honest, f32({1.5000076f, -2.25f, 1e6f, 3e-3f}), t).agree());
  const Disagreement zeros = compare_values(honest, f32({0, 0, 0, 0}), t);
  CHECK(zeros.count == 4);
  CHECK(zeros.index == 2);  // the largest difference
  CHECK(zeros.describe() == "4 values differ; largest difference 1000000 at flat index 2 (1000000 vs 0)");
  CHECK(compare_values(honest, f32({2.5f, -1.25f, 1e6f + 1, 1.003f}), t).count == 3);  // +1: 1e6+1 is within rtol
  CHECK(compare_values(honest, f32({-1.5f, 2.25f, -1e6f, -3e-3f}), t).count == 4);     // sign
}

TEST_CASE("agreement: NaN and infinities must be at the same positions") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const Tolerance t = of("log", DType::f32);
  CHECK(compare_values(f32({nan, inf, -inf}), f32({nan, inf, -inf}), t).agree());
  CHECK(compare_values(f32({nan, 1}), f32({1, 1}), t).count == 1);
  CHECK(compare_values(f32({inf, 1}), f32({-inf, 1}), t).count == 1);
  CHECK(std::isinf(compare_values(f32({inf}), f32({1e30f}), t).difference));
}

TEST_CASE("agreement: int32, bool, sources and movement ops must be exact") {
  CHECK(compare_values(i32({1, 2}), i32({1, 3}), of("add", DType::i32)).count == 1);
  const Tolerance copy = of("reshape", DType::f32);
  CHECK(copy.rtol == 0);
  CHECK(copy.atol == 0);
  CHECK(compare_values(f32({1}), f32({std::nextafter(1.0f, 2.0f)}), copy).count == 1);
  CHECK(of("transpose", DType::f32).rtol == 0);
  CHECK(of("random_uniform", DType::f32).rtol == 0);
}

TEST_CASE("agreement: sums whose terms cancel get slack from the size of the result's largest value") {
  // A reduction to [1e4, 0.5]: the 0.5 may carry the rounding of terms of size 1e4.
  const Tolerance sum = of("sum", DType::f32);
  CHECK(compare_values(f32({1e4f, 0.5f}), f32({1e4f, 0.5004f}), sum).agree());
  CHECK(!compare_values(f32({1e4f, 0.5f}), f32({1e4f, 2.5f}), sum).agree());
  // The same difference for an elementwise op is a disagreement.
  CHECK(!compare_values(f32({1e4f, 0.5f}), f32({1e4f, 0.5004f}), of("add", DType::f32)).agree());
}

TEST_CASE("agreement: different dtypes or shapes never agree") {
  const Disagreement d = compare_values(f32({1, 2}), i32({1, 2}), Tolerance{1, 1, 1});
  CHECK(!d.agree());
  CHECK(d.describe() == "float32(2,) vs int32(2,)");
  CHECK(!compare_values(f32({1, 2}), f32({1, 2, 3}), Tolerance{}).agree());
}
