// Unit tests of the source and elementwise ops (shared/ops/source.cpp, elementwise.cpp) through
// the op table: values, broadcasting, dtype promotion, inference, costs, errors naming the op,
// and the random ops' determinism and distributions. NumPy comparisons over many shapes live in
// the consistency suite (tests/consistency/cases/{source,elementwise}.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "op_test_helpers.hpp"
#include "shared/ops/op.hpp"

using namespace corvid;
using namespace corvid::op_tests;

namespace {

Tensor f32(Shape shape, std::vector<float> v) { return Tensor::from_vector<float>(std::move(shape), v); }
Tensor f64(Shape shape, std::vector<double> v) { return Tensor::from_vector<double>(std::move(shape), v); }
Tensor i32(Shape shape, std::vector<int32_t> v) { return Tensor::from_vector<int32_t>(std::move(shape), v); }
Tensor b8(Shape shape, std::vector<uint8_t> v) { return Tensor::from_vector<uint8_t>(std::move(shape), v); }

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

TEST_CASE("elementwise: every op is in the table with its family and aliases") {
  for (const char* name : {"neg", "pos", "abs", "sign", "exp", "log", "sqrt", "cbrt", "square", "cube", "reciprocal",
                           "sin", "cos", "tanh", "sigmoid", "relu", "logical_not", "clip"}) {
    const OpDef* op = find_op(name);
    REQUIRE_MESSAGE(op != nullptr, name);
    CHECK_MESSAGE(op->family == OpFamily::unary, name);
  }
  for (const char* name : {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "greater", "greater_equal", "less",
                           "less_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_xor"}) {
    const OpDef* op = find_op(name);
    REQUIRE_MESSAGE(op != nullptr, name);
    CHECK_MESSAGE(op->family == OpFamily::binary, name);
    CHECK(op->min_inputs == 2);
    CHECK(op->max_inputs == 2);
  }
  CHECK(find_op("where")->family == OpFamily::ternary);
  CHECK(find_op("softmax")->family == OpFamily::activation);
  CHECK(find_op("log_softmax")->family == OpFamily::activation);
  for (const char* name : {"tensor", "zeros", "ones", "random_uniform", "random_normal"})
    CHECK_MESSAGE(find_op(name)->family == OpFamily::source, name);
  CHECK(find_op("natlog") == find_op("log"));
  CHECK(find_op("square_root") == find_op("sqrt"));
  CHECK(find_op("cube_root") == find_op("cbrt"));
  CHECK(find_op("multiply") == find_op("mul"));
  CHECK(find_op("lin") == find_op("tensor"));
}

TEST_CASE("elementwise: binary ops broadcast like NumPy") {
  const Tensor col = f32({3, 1}, {1, 2, 3});
  const Tensor row = f32({4}, {10, 20, 30, 40});
  SUBCASE("column against row") {
    Tensor y = run("add", {col, row});
    CHECK(y.shape() == Shape{3, 4});
    CHECK(values<float>(y) == std::vector<float>{11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43});
  }
  SUBCASE("scalar on either side") {
    CHECK(values<float>(run("sub", {row, f32({}, {1})})) == std::vector<float>{9, 19, 29, 39});
    CHECK(values<float>(run("sub", {f32({}, {1}), row})) == std::vector<float>{-9, -19, -29, -39});
  }
  SUBCASE("middle dimension broadcast in a 3-d shape") {
    const Tensor a = iota_f32({2, 3, 2});
    const Tensor b = f32({2, 1, 2}, {100, 200, 300, 400});
    Tensor y = run("mul", {a, b});
    CHECK(y.shape() == Shape{2, 3, 2});
    CHECK(values<float>(y) ==
          std::vector<float>{0, 200, 200, 600, 400, 1000, 1800, 2800, 2400, 3600, 3000, 4400});
  }
  SUBCASE("both operands broadcast in different dimensions with a leading 1") {
    const Tensor a = f32({1, 2, 1}, {1, 2});
    const Tensor b = f32({3}, {10, 20, 30});
    Tensor y = run("maximum", {a, b});
    CHECK(y.shape() == Shape{1, 2, 3});
    CHECK(values<float>(y) == std::vector<float>{10, 20, 30, 10, 20, 30});
  }
  SUBCASE("empty dimension") {
    Tensor y = run("add", {f32({0, 3}, {}), f32({3}, {1, 2, 3})});
    CHECK(y.shape() == Shape{0, 3});
  }
  SUBCASE("incompatible shapes name the op and both shapes") {
    CHECK_THROWS_WITH_AS(run("add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), row}),
                         "add: shapes (2, 3) and (4,) cannot be broadcast together", OpError);
    CHECK_THROWS_WITH_AS(infer("where", {{DType::boolean, {2}}, {DType::f32, {3}}, {DType::f32, {}}}),
                         doctest::Contains("where: shapes (2,) and (3,)"), OpError);
  }
}

TEST_CASE("elementwise: dtype promotion") {
  auto dtype = [](const char* op, DType a, DType b) { return infer(op, {{a, {2}}, {b, {2}}}).dtype; };
  CHECK(dtype("add", DType::i32, DType::f32) == DType::f32);
  CHECK(dtype("add", DType::f32, DType::f64) == DType::f64);
  CHECK(dtype("add", DType::boolean, DType::boolean) == DType::i32);
  CHECK(dtype("sub", DType::boolean, DType::i32) == DType::i32);
  CHECK(dtype("div", DType::i32, DType::i32) == DType::f32);
  CHECK(dtype("div", DType::i32, DType::f64) == DType::f64);
  CHECK(dtype("pow", DType::i32, DType::i32) == DType::i32);
  CHECK(dtype("pow", DType::i32, DType::f32) == DType::f32);
  CHECK(dtype("maximum", DType::boolean, DType::boolean) == DType::boolean);
  CHECK(dtype("less", DType::f64, DType::i32) == DType::boolean);
  CHECK(dtype("logical_and", DType::f32, DType::i32) == DType::boolean);
  auto unary = [](const char* op, DType a) { return infer(op, {{a, {2}}}).dtype; };
  CHECK(unary("exp", DType::i32) == DType::f32);
  CHECK(unary("exp", DType::f64) == DType::f64);
  CHECK(unary("neg", DType::boolean) == DType::i32);
  CHECK(unary("sign", DType::i32) == DType::i32);
  CHECK(unary("relu", DType::i32) == DType::i32);
  CHECK(unary("logical_not", DType::f32) == DType::boolean);
  CHECK(unary("softmax", DType::i32) == DType::f32);
  CHECK(infer("where", {{DType::f32, {2}}, {DType::i32, {2}}, {DType::f64, {}}}).dtype == DType::f64);

  SUBCASE("mixed operands are converted before computing") {
    Tensor y = run("add", {i32({3}, {1, 2, 3}), f32({}, {0.5f})});
    CHECK(y.dtype() == DType::f32);
    CHECK(values<float>(y) == std::vector<float>{1.5f, 2.5f, 3.5f});
    Tensor z = run("add", {b8({2}, {1, 1}), b8({2}, {1, 0})});
    CHECK(values<int32_t>(z) == std::vector<int32_t>{2, 1});
  }
}

TEST_CASE("elementwise: unary values follow NumPy") {
  const Tensor x = f32({5}, {-2.0f, -0.5f, 0.0f, 0.5f, 4.0f});
  CHECK(values<float>(run("neg", {x})) == std::vector<float>{2.0f, 0.5f, -0.0f, -0.5f, -4.0f});
  CHECK(values<float>(run("abs", {x})) == std::vector<float>{2.0f, 0.5f, 0.0f, 0.5f, 4.0f});
  CHECK(values<float>(run("sign", {x})) == std::vector<float>{-1, -1, 0, 1, 1});
  CHECK(values<float>(run("square", {x})) == std::vector<float>{4.0f, 0.25f, 0.0f, 0.25f, 16.0f});
  CHECK(values<float>(run("cube", {x})) == std::vector<float>{-8.0f, -0.125f, 0.0f, 0.125f, 64.0f});
  CHECK(values<float>(run("relu", {x})) == std::vector<float>{0, 0, 0, 0.5f, 4.0f});
  CHECK(values<uint8_t>(run("logical_not", {x})) == std::vector<uint8_t>{0, 0, 1, 0, 0});
  CHECK(values<float>(run("reciprocal", {f32({2}, {4, -0.5f})})) == std::vector<float>{0.25f, -2.0f});
  CHECK(values<float>(run("cbrt", {f32({2}, {-27, 8})})) == std::vector<float>{-3, 2});
  const std::vector<float> roots = values<float>(run("sqrt", {f32({3}, {4, 2, -1})}));
  CHECK(roots[0] == 2.0f);
  CHECK(roots[1] == doctest::Approx(std::sqrt(2.0)));
  CHECK(std::isnan(roots[2]));
  const std::vector<float> logs = values<float>(run("log", {f32({3}, {1, 0, -1})}));
  CHECK(logs[0] == 0.0f);
  CHECK(logs[1] == -kInf);
  CHECK(std::isnan(logs[2]));
  CHECK(values<float>(run("sigmoid", {f32({3}, {0, -200, 200})})) == std::vector<float>{0.5f, 0.0f, 1.0f});
  CHECK(values<double>(run("tanh", {f64({2}, {0, 1})}))[1] == doctest::Approx(std::tanh(1.0)).epsilon(1e-15));
  CHECK(values<float>(run("sin", {f32({1}, {1})}))[0] == doctest::Approx(std::sin(1.0)).epsilon(1e-6));
  CHECK(values<float>(run("cos", {f32({1}, {1})}))[0] == doctest::Approx(std::cos(1.0)).epsilon(1e-6));

  SUBCASE("int32 and bool inputs") {
    CHECK(values<int32_t>(run("neg", {b8({2}, {1, 0})})) == std::vector<int32_t>{-1, 0});
    CHECK(values<int32_t>(run("sign", {i32({3}, {-7, 0, 9})})) == std::vector<int32_t>{-1, 0, 1});
    CHECK(values<float>(run("sqrt", {i32({2}, {9, 16})})) == std::vector<float>{3, 4});
    // int32 wraps around like NumPy's instead of overflowing.
    const int32_t lowest = std::numeric_limits<int32_t>::min();
    CHECK(values<int32_t>(run("neg", {i32({1}, {lowest})})) == std::vector<int32_t>{lowest});
    CHECK(values<int32_t>(run("abs", {i32({1}, {lowest})})) == std::vector<int32_t>{lowest});
    CHECK(values<int32_t>(run("square", {i32({1}, {65536})})) == std::vector<int32_t>{0});
  }
  SUBCASE("NaN propagates through sign and relu") {
    CHECK(std::isnan(values<float>(run("sign", {f32({1}, {kNaN})}))[0]));
    CHECK(std::isnan(values<float>(run("relu", {f32({1}, {kNaN})}))[0]));
  }
  SUBCASE("sign and relu of -0 give +0, as NumPy's") {
    CHECK_FALSE(std::signbit(values<float>(run("sign", {f32({1}, {-0.0f})}))[0]));
    CHECK_FALSE(std::signbit(values<double>(run("relu", {f64({1}, {-0.0})}))[0]));
    CHECK_FALSE(std::signbit(values<float>(run("relu", {f32({4099}, std::vector<float>(4099, -0.0f))}))[4098]));
  }
}

TEST_CASE("elementwise: float32 exp is accurate to a few ulp over its whole range") {
  std::vector<float> xs;
  for (float x = -110.0f; x <= 90.0f; x += 0.0137f) xs.push_back(x);
  xs.insert(xs.end(), {0.0f, -0.0f, 88.72f, 88.73f, -87.0f, -103.9f, -104.0f, kInf, -kInf, kNaN, 1e-8f, -1e-8f});
  const Tensor x = f32({static_cast<int64_t>(xs.size())}, xs);
  const std::vector<float> y = values<float>(run("exp", {x}));
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double expected = std::exp(static_cast<double>(xs[i]));
    if (std::isnan(xs[i])) {
      CHECK(std::isnan(y[i]));
    } else if (expected > std::numeric_limits<float>::max()) {
      CHECK_MESSAGE(y[i] == kInf, "exp(", xs[i], ")");
    } else if (expected < 3e-38) {
      // Results near and below the smallest normal float may be flushed to zero.
      CHECK_MESSAGE(y[i] <= 3e-38f, "exp(", xs[i], ") = ", y[i]);
    } else {
      CHECK_MESSAGE(std::fabs(y[i] - expected) <= 4e-7 * expected, "exp(", xs[i], ") = ", y[i]);
    }
  }
}

TEST_CASE("elementwise: binary values follow NumPy") {
  const Tensor a = f32({4}, {1, -2, 3, kNaN});
  const Tensor b = f32({4}, {2, -2, 1, 0});
  CHECK(values<float>(run("div", {f32({3}, {1, -1, 0}), f32({}, {0})}))[0] == kInf);
  CHECK(values<float>(run("div", {i32({2}, {7, -7}), i32({2}, {2, 2})})) == std::vector<float>{3.5f, -3.5f});
  CHECK(values<uint8_t>(run("greater", {a, b})) == std::vector<uint8_t>{0, 0, 1, 0});
  CHECK(values<uint8_t>(run("greater_equal", {a, b})) == std::vector<uint8_t>{0, 1, 1, 0});
  CHECK(values<uint8_t>(run("less", {a, b})) == std::vector<uint8_t>{1, 0, 0, 0});
  CHECK(values<uint8_t>(run("less_equal", {a, b})) == std::vector<uint8_t>{1, 1, 0, 0});
  CHECK(values<uint8_t>(run("equal", {a, b})) == std::vector<uint8_t>{0, 1, 0, 0});
  CHECK(values<uint8_t>(run("not_equal", {a, b})) == std::vector<uint8_t>{1, 0, 1, 1});
  CHECK(values<uint8_t>(run("logical_and", {a, b})) == std::vector<uint8_t>{1, 1, 1, 0});
  CHECK(values<uint8_t>(run("logical_or", {a, b})) == std::vector<uint8_t>{1, 1, 1, 1});
  CHECK(values<uint8_t>(run("logical_xor", {a, b})) == std::vector<uint8_t>{0, 0, 0, 1});
  SUBCASE("maximum and minimum propagate NaN from either side") {
    const Tensor c = f32({3}, {kNaN, 1, 5});
    const Tensor d = f32({3}, {1, kNaN, 2});
    const std::vector<float> mx = values<float>(run("maximum", {c, d}));
    const std::vector<float> mn = values<float>(run("minimum", {c, d}));
    CHECK(std::isnan(mx[0]));
    CHECK(std::isnan(mx[1]));
    CHECK(mx[2] == 5);
    CHECK(std::isnan(mn[0]));
    CHECK(std::isnan(mn[1]));
    CHECK(mn[2] == 2);
  }
  SUBCASE("int32 pow squares by repetition and wraps") {
    CHECK(values<int32_t>(run("pow", {i32({4}, {2, -3, 0, 7}), i32({4}, {10, 3, 0, 1})})) ==
          std::vector<int32_t>{1024, -27, 1, 7});
    CHECK(values<int32_t>(run("pow", {i32({1}, {2}), i32({1}, {32})})) == std::vector<int32_t>{0});
    CHECK(values<float>(run("pow", {i32({1}, {2}), f32({1}, {-1})})) == std::vector<float>{0.5f});
  }
  SUBCASE("int32 to a negative int32 power is refused as in NumPy") {
    CHECK_THROWS_WITH_AS(run("pow", {i32({2}, {2, 3}), i32({2}, {1, -1})}),
                         "pow: integers to negative integer powers are not allowed", OpError);
  }
  SUBCASE("int32 add and mul wrap around") {
    CHECK(values<int32_t>(run("add", {i32({1}, {2147483647}), i32({1}, {1})})) ==
          std::vector<int32_t>{std::numeric_limits<int32_t>::min()});
    CHECK(values<int32_t>(run("mul", {i32({1}, {65536}), i32({1}, {65536})})) == std::vector<int32_t>{0});
  }
}

TEST_CASE("elementwise: where and clip") {
  SUBCASE("where broadcasts condition and both branches") {
    const Tensor cond = b8({2, 1}, {1, 0});
    const Tensor x = f32({3}, {1, 2, 3});
    const Tensor y = i32({}, {-1});
    Tensor z = run("where", {cond, x, y});
    CHECK(z.dtype() == DType::f32);
    CHECK(z.shape() == Shape{2, 3});
    CHECK(values<float>(z) == std::vector<float>{1, 2, 3, -1, -1, -1});
  }
  SUBCASE("where takes any nonzero condition as true") {
    Tensor z = run("where", {f32({3}, {0.5f, 0, kNaN}), i32({3}, {1, 2, 3}), i32({3}, {7, 8, 9})});
    CHECK(values<int32_t>(z) == std::vector<int32_t>{1, 8, 3});
  }
  SUBCASE("clip with both, one or no bound") {
    const Tensor x = f32({5}, {-3, -1, 0, 2, kNaN});
    std::vector<float> both = values<float>(run("clip", {x}, {{"min", -1.5}, {"max", 1}}));
    CHECK(std::vector<float>(both.begin(), both.end() - 1) == std::vector<float>{-1.5f, -1, 0, 1});
    CHECK(std::isnan(both.back()));
    CHECK(values<float>(run("clip", {x}, {{"max", 0}}))[3] == 0);
    CHECK(values<float>(run("clip", {x}, {{"min", 0}}))[0] == 0);
    CHECK(values<float>(run("clip", {f32({1}, {-kInf})}, Params::object()))[0] == -kInf);
    CHECK(values<int32_t>(run("clip", {i32({3}, {-5, 5, 50})}, {{"min", 0}, {"max", 10}})) ==
          std::vector<int32_t>{0, 5, 10});
  }
  SUBCASE("clip with min above max gives max, like NumPy") {
    CHECK(values<float>(run("clip", {f32({2}, {0, 9})}, {{"min", 5}, {"max", 1}})) == std::vector<float>{1, 1});
  }
  SUBCASE("clip refuses bad params and bool input") {
    CHECK_THROWS_WITH_AS(infer("clip", {{DType::f32, {2}}}, {{"max", "high"}}),
                         "clip: param 'max' must be a number, got \"high\"", OpError);
    CHECK_THROWS_WITH_AS(infer("clip", {{DType::i32, {2}}}, {{"min", 0.5}}),
                         "clip: param 'min' must be an integer for an int32 input, got 0.5", OpError);
    CHECK_THROWS_WITH_AS(infer("clip", {{DType::boolean, {2}}}, {{"min", 0}}),
                         "clip: input must be numeric, got bool", OpError);
  }
}

TEST_CASE("elementwise: softmax and log_softmax") {
  SUBCASE("rows sum to one and large values do not overflow") {
    const Tensor x = f32({2, 3}, {1, 2, 3, 1000, 1000, 1000});
    std::vector<float> y = values<float>(run("softmax", {x}));
    const double e1 = std::exp(-2.0), e2 = std::exp(-1.0), s = e1 + e2 + 1;
    CHECK(y[0] == doctest::Approx(e1 / s).epsilon(1e-6));
    CHECK(y[2] == doctest::Approx(1 / s).epsilon(1e-6));
    for (int i = 3; i < 6; ++i) CHECK(y[i] == doctest::Approx(1.0 / 3).epsilon(1e-6));
    std::vector<float> ly = values<float>(run("log_softmax", {x}));
    CHECK(ly[0] == doctest::Approx(-2 - std::log(s)).epsilon(1e-6));
    CHECK(ly[4] == doctest::Approx(-std::log(3.0)).epsilon(1e-6));
  }
  SUBCASE("along a leading axis equals along the last axis of the transpose") {
    const Tensor x = f64({3, 2}, {0.5, -1, 2, 0, 3, 1});
    const Tensor xt = f64({2, 3}, {0.5, 2, 3, -1, 0, 1});
    for (const char* op : {"softmax", "log_softmax"}) {
      std::vector<double> y = values<double>(run(op, {x}, {{"axis", 0}}));
      std::vector<double> yt = values<double>(run(op, {xt}));
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) CHECK(y[i * 2 + j] == doctest::Approx(yt[j * 3 + i]).epsilon(1e-14));
    }
  }
  SUBCASE("int32 input computes in float32") {
    Tensor y = run("softmax", {i32({2}, {0, 0})});
    CHECK(y.dtype() == DType::f32);
    CHECK(values<float>(y) == std::vector<float>{0.5f, 0.5f});
  }
  SUBCASE("axis out of range and 0-d input are refused") {
    CHECK_THROWS_WITH_AS(infer("softmax", {{DType::f32, {2, 3}}}, {{"axis", 2}}),
                         "softmax: axis 2 is out of range for 2-d input", OpError);
    CHECK_THROWS_WITH_AS(infer("log_softmax", {{DType::f32, {}}}), doctest::Contains("log_softmax: axis -1"), OpError);
    CHECK_THROWS_WITH_AS(infer("softmax", {{DType::f32, {2}}}, {{"axis", "x"}}),
                         doctest::Contains("softmax: param 'axis' must be an integer"), OpError);
  }
}

TEST_CASE("elementwise: arity errors and costs") {
  CHECK_THROWS_WITH_AS(infer("add", {{DType::f32, {2}}}), "add: expects 2 input(s), got 1", OpError);
  CHECK_THROWS_WITH_AS(infer("exp", {}), "exp: expects 1 input(s), got 0", OpError);
  const OpDef& add = *find_op("add");
  const std::vector<TensorSpec> in = {{DType::f32, {1000}}, {DType::f32, {}}};
  const Cost c = estimate_cost(add, in, infer_op(add, in, Params::object()), Params::object());
  CHECK(c.flops == 1000);
  CHECK(c.bytes == 4000 + 4 + 4000);
  const OpDef& ex = *find_op("exp");
  const Cost ce = estimate_cost(ex, {in[0]}, in[0], Params::object());
  CHECK(ce.flops > c.flops);
}

TEST_CASE("source: tensor, zeros and ones") {
  SUBCASE("tensor from a nested JSON list, with and without dtype") {
    Tensor t = run("tensor", {}, {{"value", {{1, 2}, {3, 4}}}});
    CHECK(t.dtype() == DType::i32);
    CHECK(t.shape() == Shape{2, 2});
    Tensor u = run("lin", {}, {{"value", {{1, 2}, {3, 4}}}, {"dtype", "float64"}});
    CHECK(u.dtype() == DType::f64);
    CHECK(values<double>(u) == std::vector<double>{1, 2, 3, 4});
    CHECK(infer("tensor", {}, {{"value", 2.5}}) == TensorSpec{DType::f32, {}});
  }
  SUBCASE("tensor from a binary input, converted to dtype") {
    Tensor t = run("tensor", {f32({2}, {1.5f, 0})}, {{"dtype", "int32"}});
    CHECK(values<int32_t>(t) == std::vector<int32_t>{1, 0});
    CHECK(run("tensor", {f32({2}, {1.5f, 0})}).dtype() == DType::f32);
    // NaN, infinities and out-of-range values give INT32_MIN (NumPy on x86), on every build.
    const float inf = std::numeric_limits<float>::infinity();
    Tensor special = run("tensor", {f32({6}, {std::nanf(""), inf, -inf, 3e9f, -2.75f, -2147483648.0f})},
                         {{"dtype", "int32"}});
    CHECK(values<int32_t>(special) == std::vector<int32_t>{INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, -2, INT32_MIN});
  }
  SUBCASE("tensor errors") {
    CHECK_THROWS_WITH_AS(infer("tensor", {}), doctest::Contains("tensor: param 'value' is required"), OpError);
    CHECK_THROWS_WITH_AS(infer("tensor", {{DType::f32, {2}}}, {{"value", 1}}),
                         doctest::Contains("tensor: value given both"), OpError);
    CHECK_THROWS_WITH_AS(infer("tensor", {}, {{"value", 1}, {"dtype", "int64"}}),
                         "tensor: param 'dtype' must be one of float32, float64, int32, bool, got \"int64\"", OpError);
    CHECK_THROWS_AS(infer("tensor", {}, {{"value", {{1, 2}, {3}}}}), OpError);
  }
  SUBCASE("zeros and ones") {
    Tensor z = run("zeros", {}, {{"shape", {2, 3}}});
    CHECK(z.dtype() == DType::f32);
    CHECK(values<float>(z) == std::vector<float>(6, 0.0f));
    Tensor o = run("ones", {}, {{"shape", {3}}, {"dtype", "int32"}});
    CHECK(values<int32_t>(o) == std::vector<int32_t>{1, 1, 1});
    Tensor ob = run("ones", {}, {{"shape", Params::array()}, {"dtype", "bool"}});
    CHECK(ob.shape() == Shape{});
    CHECK(values<uint8_t>(ob) == std::vector<uint8_t>{1});
    CHECK(run("zeros", {}, {{"shape", {0, 4}}}).size() == 0);
  }
  SUBCASE("shape errors") {
    CHECK_THROWS_WITH_AS(infer("zeros", {}), "zeros: param 'shape' is required", OpError);
    CHECK_THROWS_WITH_AS(infer("ones", {}, {{"shape", {2, -1}}}),
                         "ones: param 'shape' must not have negative dimensions, got [2,-1]", OpError);
    CHECK_THROWS_WITH_AS(infer("zeros", {}, {{"shape", {65536, 65536}}}),
                         "zeros: param 'shape' (65536, 65536) has more than 2^31 elements", OpError);
    CHECK_THROWS_WITH_AS(infer("zeros", {{DType::f32, {1}}}, {{"shape", {1}}}), "zeros: expects 0 input(s), got 1",
                         OpError);
  }
}

TEST_CASE("source: random ops are deterministic per seed") {
  const Params p = {{"shape", {1000}}, {"seed", 7}};
  for (const char* op : {"random_uniform", "random_normal"}) {
    CAPTURE(op);
    const std::vector<float> a = values<float>(run(op, {}, p));
    CHECK(values<float>(run(op, {}, p)) == a);
    Params other = p;
    other["seed"] = 8;
    const std::vector<float> b = values<float>(run(op, {}, other));
    int same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    CHECK(same < 5);
    // Element i depends only on the seed and i: a longer tensor starts with the same values.
    const std::vector<float> longer = values<float>(run(op, {}, {{"shape", {2, 1000}}, {"seed", 7}}));
    CHECK(std::vector<float>(longer.begin(), longer.begin() + 1000) == a);
  }
  // The generator is part of the contract (every build, native or wasm, gives these values).
  auto first = [](const char* op, const char* dtype) {
    Tensor t = run(op, {}, {{"shape", {4}}, {"seed", 42}, {"dtype", dtype}});
    return std::vector<double>{t.at_as_double(0), t.at_as_double(1), t.at_as_double(2), t.at_as_double(3)};
  };
  CHECK(first("random_uniform", "float32") == std::vector<double>{0x1.31367ep-1, 0x1.486dap-3, 0x1.54c858p-3, 0x1.896d6p-5});
  CHECK(first("random_uniform", "float64") ==
        std::vector<double>{0x1.31367e26140c7p-1, 0x1.486da5f92b86cp-3, 0x1.54c85f31d00d8p-3, 0x1.896d649de031p-5});
  CHECK(first("random_normal", "float32") == std::vector<double>{0x1.160bp-1, 0x1.b85b62p-1, 0x1.ceecb2p+0, 0x1.202e14p-1});
  CHECK(first("random_normal", "float64") ==
        std::vector<double>{0x1.160aff434622ap-1, 0x1.b85b6205d32p-1, 0x1.ceecb24eab8cp+0, 0x1.202e14c62e831p-1});
}

TEST_CASE("source: random values have the requested distribution") {
  const int64_t count = 200000;
  auto moments = [](const std::vector<float>& v, double& mean, double& var, float& lo, float& hi) {
    mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    var = 0;
    for (float x : v) var += (x - mean) * (x - mean);
    var /= static_cast<double>(v.size());
    lo = *std::min_element(v.begin(), v.end());
    hi = *std::max_element(v.begin(), v.end());
  };
  double mean, var;
  float lo, hi;
  SUBCASE("uniform over [low, high)") {
    moments(values<float>(run("random_uniform", {}, {{"shape", {count}}, {"low", -2}, {"high", 6}, {"seed", 1}})), mean,
            var, lo, hi);
    CHECK(mean == doctest::Approx(2.0).epsilon(0.01));
    CHECK(var == doctest::Approx(64.0 / 12).epsilon(0.02));
    CHECK(lo >= -2.0f);
    CHECK(hi <= 6.0f);
    CHECK(lo < -1.99f);
    CHECK(hi > 5.99f);
  }
  SUBCASE("normal with mean and std") {
    const std::vector<float> v =
        values<float>(run("random_normal", {}, {{"shape", {count}}, {"mean", 3}, {"std", 2}, {"seed", 1}}));
    moments(v, mean, var, lo, hi);
    CHECK(mean == doctest::Approx(3.0).epsilon(0.01));
    CHECK(std::sqrt(var) == doctest::Approx(2.0).epsilon(0.01));
    // About 68.3% within one std, 95.4% within two.
    int64_t one = 0, two = 0;
    for (float x : v) {
      one += std::fabs(x - 3) < 2;
      two += std::fabs(x - 3) < 4;
    }
    CHECK(static_cast<double>(one) / count == doctest::Approx(0.6827).epsilon(0.01));
    CHECK(static_cast<double>(two) / count == doctest::Approx(0.9545).epsilon(0.005));
  }
  SUBCASE("param errors") {
    CHECK_THROWS_WITH_AS(infer("random_normal", {}, {{"shape", {2}}, {"std", -1}}),
                         "random_normal: param 'std' must be >= 0, got -1", OpError);
    CHECK_THROWS_WITH_AS(infer("random_uniform", {}, {{"shape", {2}}, {"dtype", "int32"}}),
                         "random_uniform: param 'dtype' must be float32 or float64, got \"int32\"", OpError);
    CHECK_THROWS_WITH_AS(infer("random_uniform", {}, {{"shape", {2}}, {"seed", 1.5}}),
                         "random_uniform: param 'seed' must be an integer, got 1.5", OpError);
    CHECK_THROWS_WITH_AS(infer("random_uniform", {}, {{"shape", {2}}, {"low", "a"}}),
                         "random_uniform: param 'low' must be a number, got \"a\"", OpError);
  }
}
