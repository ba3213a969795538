#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "shared/device_benchmark.hpp"
#include "shared/ops/linalg_kernels.hpp"
#include "shared/ops/op.hpp"

using namespace corvid;

namespace {

Tensor run(const char* op, const std::vector<const Tensor*>& inputs, const Params& params = Params::object()) {
  const OpDef* def = find_op(op);
  REQUIRE(def != nullptr);
  return run_op(*def, inputs, params);
}

std::vector<float> floats(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.size()}; }

// Deterministic values in [-1, 1).
Tensor ramp(Shape shape, uint32_t seed, DType dtype = DType::f32) {
  Tensor t(DType::f64, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<double>()[i] = static_cast<double>(((static_cast<uint32_t>(i) + seed) * 2654435761u) >> 8) / (1 << 23) - 1;
  return t.astype(dtype);
}

}  // namespace

TEST_CASE("reduce: every op and alias is in the table with the reduce family") {
  for (const char* name : {"sum", "mean", "prod", "min", "max", "argmax", "argmin", "var", "variance", "std", "median",
                           "percentile", "mode", "average"}) {
    const OpDef* op = find_op(name);
    REQUIRE_MESSAGE(op != nullptr, name);
    CHECK(op->family == OpFamily::reduce);
  }
}

TEST_CASE("reduce: axis and keepdims follow NumPy") {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(floats(run("sum", {&x})) == std::vector<float>{21});
  CHECK(run("sum", {&x}).shape() == Shape{});
  CHECK(floats(run("sum", {&x}, {{"axis", 0}})) == std::vector<float>{5, 7, 9});
  CHECK(floats(run("sum", {&x}, {{"axis", -1}})) == std::vector<float>{6, 15});
  CHECK(run("sum", {&x}, {{"axis", 1}, {"keepdims", true}}).shape() == Shape{2, 1});
  CHECK(run("mean", {&x}, {{"axis", nullptr}, {"keepdims", true}}).shape() == Shape{1, 1});
  CHECK(floats(run("max", {&x}, {{"axis", {0, 1}}})) == std::vector<float>{6});
  CHECK(floats(run("prod", {&x}, {{"axis", 0}})) == std::vector<float>{4, 10, 18});
  CHECK(floats(run("var", {&x}, {{"axis", 1}})) == std::vector<float>{2.0f / 3, 2.0f / 3});
  CHECK(floats(run("var", {&x}, {{"axis", 1}, {"ddof", 1}})) == std::vector<float>{1, 1});
  CHECK(floats(run("median", {&x}, {{"axis", 0}})) == std::vector<float>{2.5, 3.5, 4.5});
  CHECK(floats(run("percentile", {&x}, {{"q", 25}})) == std::vector<float>{2.25});
}

TEST_CASE("reduce: non-adjacent axes and wide inner dimensions match a direct loop") {
  const Tensor x = ramp({3, 4, 300}, 7, DType::f64);
  const Tensor s = run("sum", {&x}, {{"axis", {0, 2}}});
  REQUIRE(s.shape() == Shape{4});
  for (int64_t j = 0; j < 4; ++j) {
    double want = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 300; ++k) want += x.data<double>()[(i * 4 + j) * 300 + k];
    CHECK(s.data<double>()[j] == doctest::Approx(want).epsilon(1e-12));
  }
  const Tensor m = run("argmin", {&x}, {{"axis", 1}});
  REQUIRE(m.shape() == Shape{3, 300});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 300; k += 37) {
      int32_t best = 0;
      for (int32_t j = 1; j < 4; ++j)
        if (x.data<double>()[(i * 4 + j) * 300 + k] < x.data<double>()[(i * 4 + best) * 300 + k]) best = j;
      CHECK(m.data<int32_t>()[i * 300 + k] == best);
    }
}

TEST_CASE("reduce: result dtypes") {
  const Tensor b = Tensor::from_vector<uint8_t>({4}, {1, 0, 1, 1});
  const Tensor i = Tensor::from_vector<int32_t>({3}, {1, 2, 2});
  CHECK(run("sum", {&b}).dtype() == DType::i32);
  CHECK(run("sum", {&b}).data<int32_t>()[0] == 3);
  CHECK(run("prod", {&i}).dtype() == DType::i32);
  CHECK(run("mean", {&i}).dtype() == DType::f32);
  CHECK(run("max", {&b}).dtype() == DType::boolean);
  CHECK(run("mode", {&i}).data<int32_t>()[0] == 2);
  CHECK(run("argmax", {&i}).dtype() == DType::i32);
  CHECK(run("argmax", {&i}).data<int32_t>()[0] == 1);  // first occurrence
  const Tensor big = Tensor::from_vector<int32_t>({2}, {2147483647, 1});
  CHECK(run("sum", {&big}).data<int32_t>()[0] == -2147483647 - 1);  // wraps like int32
}

TEST_CASE("reduce: average with weights") {
  const Tensor x = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  const Tensor w = Tensor::from_vector<float>({2}, {1, 3});
  CHECK(floats(run("average", {&x, &w}, {{"axis", 1}})) == std::vector<float>{1.75f, 3.75f});
  const Tensor zero = Tensor::from_vector<float>({2}, {1, -1});
  CHECK_THROWS_WITH_AS(run("average", {&x, &zero}, {{"axis", 0}}),
                       "average: weights sum to zero, can't be normalized", OpError);
  CHECK_THROWS_WITH_AS(run("average", {&x, &w}), doctest::Contains("need a single integer axis"), OpError);
}

TEST_CASE("reduce: bad input names the op and the reason") {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor empty(DType::f32, {0, 3});
  CHECK_THROWS_WITH_AS(run("sum", {&x}, {{"axis", 2}}), "sum: axis 2 is out of range for 2-d input", OpError);
  CHECK_THROWS_WITH_AS(run("max", {&empty}, {{"axis", 0}}), doctest::Contains("max: zero-size array has no maximum"),
                       OpError);
  CHECK(run("max", {&empty}, {{"axis", 1}}).shape() == Shape{0});  // no output needs a value
  CHECK_THROWS_WITH_AS(run("argmax", {&x}, {{"axis", {0}}}), doctest::Contains("argmax: param 'axis' must be an integer or null"),
                       OpError);
  CHECK_THROWS_WITH_AS(run("percentile", {&x}, {{"q", 101}}), doctest::Contains("percentile: param 'q' must be between 0 and 100"),
                       OpError);
  CHECK_THROWS_WITH_AS(run("std", {&x}, {{"keepdims", "yes"}}), doctest::Contains("std: param 'keepdims'"), OpError);
  // Inference refuses the same inputs before any kernel runs.
  const OpDef* max = find_op("max");
  CHECK_THROWS_WITH_AS(infer_op(*max, {{DType::f32, {0, 3}}}, {{"axis", 0}}),
                       doctest::Contains("zero-size array has no maximum"), OpError);
  CHECK(std::isnan(run("mean", {&empty}, {{"axis", 0}}).data<float>()[0]));
}

TEST_CASE("reduce: median and mode treat NaN and infinities as NumPy does") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  auto median = [](std::vector<double> v) {
    const Tensor x = Tensor::from_vector<double>({static_cast<int64_t>(v.size())}, v);
    return run("median", {&x}).data<double>()[0];
  };
  // np.median: the middle value, or the mean of the two middle values; NaN only from a NaN in
  // the input or from -inf and inf in the middle.
  CHECK(median({inf, -3, 1, -inf, inf}) == 1);
  CHECK(median({1, inf, inf, inf}) == inf);
  CHECK(median({-inf, -inf, 1, inf}) == -inf);
  CHECK(median({1, 2, inf}) == 2);
  CHECK(std::isnan(median({-inf, inf})));
  CHECK(std::isnan(median({1, 2, nan})));
  const Tensor f = Tensor::from_vector<float>({2, 3}, {1, static_cast<float>(inf), static_cast<float>(inf), -2, 5, 3});
  CHECK(floats(run("median", {&f}, {{"axis", 1}})) == std::vector<float>{static_cast<float>(inf), 3});
  // mode counts all NaNs as one value (np.unique merges them), which sorts after every number.
  auto mode = [](std::vector<double> v) {
    const Tensor x = Tensor::from_vector<double>({static_cast<int64_t>(v.size())}, v);
    return run("mode", {&x}).data<double>()[0];
  };
  CHECK(std::isnan(mode({3, nan, 1, nan, 2})));
  CHECK(mode({nan, 1, nan, 1, 2}) == 1);  // a tie: the smallest, NaN last
  CHECK(mode({inf, -inf, inf, 0}) == inf);
}

TEST_CASE("linalg: matmul matches a direct product across tile edges, for each float type") {
  for (auto [m, k, n] : {std::array<int64_t, 3>{1, 1, 1}, {13, 17, 33}, {67, 131, 45}, {49, 300, 97}}) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const Tensor a = ramp({m, k}, 1, dtype), b = ramp({k, n}, 2, dtype);
      const Tensor c = run("matmul", {&a, &b});
      REQUIRE(c.shape() == Shape{m, n});
      REQUIRE(c.dtype() == dtype);
      for (int64_t i = 0; i < m; i += 5)
        for (int64_t j = 0; j < n; j += 3) {
          double want = 0;
          for (int64_t p = 0; p < k; ++p) want += a.at_as_double(i * k + p) * b.at_as_double(p * n + j);
          CHECK(c.at_as_double(i * n + j) == doctest::Approx(want).epsilon(1e-4).scale(1));
        }
    }
  }
}

TEST_CASE("linalg: matmul shapes follow NumPy (1-d promotion, broadcast batches)") {
  const Tensor v = ramp({4}, 3), m = ramp({4, 5}, 4), batch = ramp({3, 1, 2, 4}, 5), shared = ramp({2, 4, 6}, 6);
  CHECK(run("matmul", {&v, &v}).shape() == Shape{});
  CHECK(run("matmul", {&v, &m}).shape() == Shape{5});
  CHECK(run("matmul", {&batch, &shared}).shape() == Shape{3, 2, 2, 6});
  const Tensor i = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  const Tensor f = Tensor::from_vector<float>({2}, {1, 1});
  const Tensor mixed = run("matmul", {&i, &f});
  CHECK(mixed.dtype() == DType::f32);
  CHECK(floats(mixed) == std::vector<float>{3, 7});
  const Tensor bools = Tensor::from_vector<uint8_t>({2, 2}, {1, 0, 0, 0});
  CHECK(run("matmul", {&bools, &bools}).dtype() == DType::boolean);
  const Tensor bad = ramp({3, 2}, 7);
  CHECK_THROWS_WITH_AS(run("matmul", {&m, &bad}),
                       "matmul: shapes (4, 5) and (3, 2) are not aligned: 5 (last dim of input 0) != 3 "
                       "(second-to-last dim of input 1)",
                       OpError);
  const Tensor s = Tensor::scalar<float>(2);
  CHECK_THROWS_WITH_AS(run("matmul", {&s, &m}), doctest::Contains("matmul: input 0 is 0-d"), OpError);
  const Cost cost = estimate_cost(*find_op("matmul"), {{DType::f32, {8, 3}}, {DType::f32, {3, 5}}},
                                  {DType::f32, {8, 5}}, nullptr);
  CHECK(cost.flops == 2.0 * 8 * 3 * 5);
  CHECK(cost.bytes == 4.0 * (24 + 15 + 40));
}

TEST_CASE("linalg: dot follows np.dot for every rank") {
  const Tensor a = ramp({2, 3, 4}, 1), b = ramp({5, 4, 6}, 2), v = ramp({4}, 3);
  const Tensor c = run("dot", {&a, &b});
  REQUIRE(c.shape() == Shape{2, 3, 5, 6});
  // dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])
  for (int64_t i : {0, 1})
    for (int64_t k : {0, 4})
      for (int64_t mm : {0, 5}) {
        double want = 0;
        for (int64_t p = 0; p < 4; ++p) want += a.at_as_double((i * 3 + 2) * 4 + p) * b.at_as_double((k * 4 + p) * 6 + mm);
        CHECK(c.at_as_double(((i * 3 + 2) * 5 + k) * 6 + mm) == doctest::Approx(want).epsilon(1e-5));
      }
  CHECK(run("dot", {&a, &v}).shape() == Shape{2, 3});
  CHECK(run("dot", {&v, &v}).shape() == Shape{});
  const Tensor two = Tensor::scalar<int32_t>(2);
  const Tensor ints = Tensor::from_vector<int32_t>({3}, {1, -2, 3});
  CHECK(run("dot", {&two, &ints}).data<int32_t>()[2] == 6);
  CHECK_THROWS_WITH_AS(run("dot", {&a, &a}), doctest::Contains("dot: shapes (2, 3, 4) and (2, 3, 4) are not aligned"),
                       OpError);
}

TEST_CASE("linalg: gemm writes only its m x n block of a wider output") {
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};  // 2x2 each
  std::vector<float> c(2 * 5, -1.0f);
  ops::gemm<float>(2, 2, 2, a.data(), 2, b.data(), 2, c.data() + 1, 5);
  CHECK(c == std::vector<float>{-1, 19, 22, -1, -1, -1, 43, 50, -1, -1});
}

TEST_CASE("linalg: transpose permutes axes and rejects bad permutations") {
  const Tensor x = ramp({2, 3, 4}, 9, DType::i32);
  const Tensor t = run("transpose", {&x}, {{"axes", {1, -1, 0}}});
  REQUIRE(t.shape() == Shape{3, 4, 2});
  CHECK(t.data<int32_t>()[(2 * 4 + 1) * 2 + 1] == x.data<int32_t>()[(1 * 3 + 2) * 4 + 1]);
  CHECK(run("transpose", {&x}).shape() == Shape{4, 3, 2});
  CHECK_THROWS_WITH_AS(run("transpose", {&x}, {{"axes", {0, 1}}}), doctest::Contains("transpose: axes [0,1] do not match"),
                       OpError);
  CHECK_THROWS_WITH_AS(run("transpose", {&x}, {{"axes", {0, 0, 1}}}), doctest::Contains("transpose: repeated axis"),
                       OpError);
}

TEST_CASE("linalg: inv inverts batches and refuses singular matrices") {
  const Tensor a = Tensor::from_vector<double>({2, 2, 2}, {4, 7, 2, 6, 0, 1, 1, 0});
  const Tensor inv = run("inv", {&a});
  const std::vector<double> want = {0.6, -0.7, -0.2, 0.4, 0, 1, 1, 0};
  for (int i = 0; i < 8; ++i) CHECK(inv.data<double>()[i] == doctest::Approx(want[i]).epsilon(1e-12));
  const Tensor ints = Tensor::from_vector<int32_t>({2, 2}, {2, 0, 0, 4});
  CHECK(floats(run("inv", {&ints})) == std::vector<float>{0.5f, 0, 0, 0.25f});
  const Tensor singular = Tensor::from_vector<float>({2, 2}, {1, 2, 2, 4});
  CHECK_THROWS_WITH_AS(run("inv", {&singular}), "inv: matrix is singular", OpError);
  // NaN (which compares false with every pivot) is named as such, not called singular.
  const Tensor with_nan = Tensor::from_vector<double>({2, 2}, {1, 0, std::nan(""), 1});
  CHECK_THROWS_WITH_AS(run("inv", {&with_nan}), "inv: matrix has non-finite entries (NaN or infinity)", OpError);
  const Tensor wide = Tensor(DType::f32, {2, 3});
  CHECK_THROWS_WITH_AS(run("inv", {&wide}), doctest::Contains("inv: last two dimensions of (2, 3) are not square"),
                       OpError);
}

TEST_CASE("device benchmark: reports positive figures from the op kernels") {
  const DeviceScore s = run_device_benchmark(60);
  CHECK(s.matmul_gflops > 0);
  CHECK(s.elementwise_gbs > 0);
  CHECK(s.reduce_gbs > 0);
  CHECK(s.duration_ms > 0);
}
