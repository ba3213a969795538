// Unit tests of the movement ops (shared/ops/movement.cpp) through the op table, as the group
// executor runs them: values, inference (including data-dependent -1 dimensions), costs, errors.
#include <doctest/doctest.h>

#include <cmath>

#include "op_test_helpers.hpp"
#include "shared/ops/op.hpp"

using namespace corvid;
using namespace corvid::op_tests;

namespace {

Tensor ints(Shape shape, std::vector<int32_t> v) { return Tensor::from_vector<int32_t>(std::move(shape), v); }

}  // namespace

TEST_CASE("movement: every op is in the table with its family and aliases") {
  for (const char* name : {"reshape", "flatten", "ravel", "expand_dims", "squeeze", "concat", "stack", "split", "slice",
                           "gather", "reverse", "tile", "sort", "unique", "one_hot", "one_hot_encoding",
                           "find_indices", "bincount", "shape", "set_value"}) {
    const OpDef* op = find_op(name);
    REQUIRE_MESSAGE(op != nullptr, name);
    CHECK(op->family == OpFamily::movement);
  }
  CHECK(find_op("ravel") == find_op("flatten"));
  CHECK(find_op("one_hot_encoding") == find_op("one_hot"));
}

TEST_CASE("movement: reshape, flatten, expand_dims, squeeze") {
  const Tensor x = iota_f32({2, 3});
  SUBCASE("reshape with -1") {
    Tensor y = run("reshape", {x}, {{"shape", {3, -1}}});
    CHECK(y.shape() == Shape{3, 2});
    CHECK(values<float>(y) == values<float>(x));
    CHECK(run("reshape", {Tensor::scalar(5.0f)}, {{"shape", Shape{}}}).shape() == Shape{});
    CHECK(run("reshape", {Tensor(DType::f32, {0, 3})}, {{"shape", {3, 0}}}).shape() == Shape{3, 0});
  }
  SUBCASE("reshape errors") {
    CHECK_THROWS_WITH_AS(run("reshape", {x}, {{"shape", {4, 2}}}), "reshape: cannot reshape (2, 3) into (4, 2)", OpError);
    CHECK_THROWS_WITH_AS(run("reshape", {x}, {{"shape", {-1, -1}}}), doctest::Contains("only specify one unknown dimension"), OpError);
    CHECK_THROWS_WITH_AS(run("reshape", {x}, {{"shape", {-2, -3}}}), doctest::Contains("negative dimension -2"), OpError);
    CHECK_THROWS_WITH_AS(run("reshape", {Tensor(DType::f32, {0, 3})}, {{"shape", {-1, 0}}}),
                         doctest::Contains("cannot reshape"), OpError);
    CHECK_THROWS_WITH_AS(run("reshape", {x}), doctest::Contains("'shape' is required"), OpError);
  }
  SUBCASE("reshape of a data-dependent input keeps -1") {
    CHECK(infer("reshape", {{DType::i32, {-1}}}, {{"shape", {-1, 2}}}).shape == Shape{-1, 2});
  }
  SUBCASE("flatten and ravel") {
    CHECK(run("ravel", {x}).shape() == Shape{6});
    CHECK(run("flatten", {Tensor::scalar(1)}).shape() == Shape{1});
    CHECK(infer("flatten", {{DType::f32, {-1, 3}}}).shape == Shape{-1});
  }
  SUBCASE("expand_dims") {
    CHECK(run("expand_dims", {x}, {{"axis", -1}}).shape() == Shape{2, 3, 1});
    CHECK(run("expand_dims", {x}, {{"axis", 0}}).shape() == Shape{1, 2, 3});
    CHECK(run("expand_dims", {x}, {{"axis", {0, 3}}}).shape() == Shape{1, 2, 3, 1});
    CHECK(run("expand_dims", {Tensor::scalar(1.0)}, {{"axis", 0}}).shape() == Shape{1});
    CHECK_THROWS_WITH_AS(run("expand_dims", {x}, {{"axis", 3}}), "expand_dims: axis 3 is out of range for 3-d input",
                         OpError);
  }
  SUBCASE("squeeze") {
    const Tensor y = iota_f32({1, 3, 1});
    CHECK(run("squeeze", {y}).shape() == Shape{3});
    CHECK(run("squeeze", {y}, {{"axis", -1}}).shape() == Shape{1, 3});
    CHECK(run("squeeze", {y}, {{"axis", {0, 2}}}).shape() == Shape{3});
    CHECK_THROWS_WITH_AS(run("squeeze", {y}, {{"axis", 1}}), doctest::Contains("cannot squeeze axis 1 of size 3"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("squeeze", {y}, {{"axis", 3}}), doctest::Contains("axis 3 is out of range"), OpError);
    CHECK_THROWS_WITH_AS(infer("squeeze", {{DType::f32, {-1, 1}}}), doctest::Contains("give 'axis'"), OpError);
    CHECK(infer("squeeze", {{DType::f32, {-1, 1}}}, {{"axis", 1}}).shape == Shape{-1});
  }
}

TEST_CASE("movement: concat and stack") {
  const Tensor a = iota_f32({2, 2});
  const Tensor b = ints({2, 1}, {10, 20});
  SUBCASE("concat promotes and interleaves rows") {
    Tensor y = run("concat", {a, b, a}, {{"axis", -1}});
    CHECK(y.dtype() == DType::f32);
    CHECK(y.shape() == Shape{2, 5});
    CHECK(values<float>(y) == std::vector<float>{0, 1, 10, 0, 1, 2, 3, 20, 2, 3});
    CHECK(values<float>(run("concat", {a, a})) == std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3});
    CHECK(run("concat", {a}).shape() == Shape{2, 2});
    CHECK(run("concat", {Tensor(DType::f64, {0, 2}), a}).dtype() == DType::f64);
  }
  SUBCASE("concat errors") {
    CHECK_THROWS_WITH_AS(run("concat", {a, b}), doctest::Contains("does not match input 0's shape (2, 2) outside axis 0"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("concat", {Tensor::scalar(1.0f)}), doctest::Contains("0-d inputs cannot be concatenated"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("concat", {a, iota_f32({4})}), doctest::Contains("input 1 is 1-d, input 0 is 2-d"), OpError);
    CHECK_THROWS_WITH_AS(run("concat", {}), doctest::Contains("at least 1 input"), OpError);
  }
  SUBCASE("concat with a data-dependent dimension") {
    CHECK(infer("concat", {{DType::f32, {-1, 2}}, {DType::f32, {3, 2}}}).shape == Shape{-1, 2});
    CHECK(infer("concat", {{DType::f32, {-1, 2}}, {DType::f32, {3, 2}}}, {{"axis", 1}}).shape == Shape{3, 4});
  }
  SUBCASE("stack") {
    Tensor y = run("stack", {a, a.astype(DType::i32)}, {{"axis", -1}});
    CHECK(y.shape() == Shape{2, 2, 2});
    CHECK(values<float>(y) == std::vector<float>{0, 0, 1, 1, 2, 2, 3, 3});
    CHECK(run("stack", {Tensor::scalar(1), Tensor::scalar(2)}).shape() == Shape{2});
    CHECK_THROWS_WITH_AS(run("stack", {a, b}), doctest::Contains("same shape"), OpError);
    CHECK_THROWS_WITH_AS(run("stack", {a}, {{"axis", 3}}), doctest::Contains("axis 3 is out of range for 3-d"), OpError);
  }
}

TEST_CASE("movement: split and slice") {
  const Tensor x = iota_f32({2, 6});
  SUBCASE("split") {
    Tensor y = run("split", {x}, {{"axis", 1}, {"sections", 3}, {"index", 2}});
    CHECK(y.shape() == Shape{2, 2});
    CHECK(values<float>(y) == std::vector<float>{4, 5, 10, 11});
    CHECK(values<float>(run("split", {x}, {{"sections", 2}, {"index", 1}})) == std::vector<float>{6, 7, 8, 9, 10, 11});
    CHECK_THROWS_WITH_AS(run("split", {x}, {{"axis", 1}, {"sections", 4}, {"index", 0}}),
                         "split: axis 1 of size 6 cannot be split into 4 equal sections", OpError);
    CHECK_THROWS_WITH_AS(run("split", {x}, {{"sections", 2}, {"index", 2}}), doctest::Contains("index 2 is out of range"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("split", {x}, {{"sections", 0}, {"index", 0}}), doctest::Contains("at least 1"), OpError);
  }
  SUBCASE("slice") {
    Tensor y = run("slice", {x}, {{"begin", {1, 2}}, {"size", {1, -1}}});
    CHECK(y.shape() == Shape{1, 4});
    CHECK(values<float>(y) == std::vector<float>{8, 9, 10, 11});
    CHECK(values<float>(run("slice", {x}, {{"begin", {0, -2}}, {"size", {2, 1}}})) == std::vector<float>{4, 10});
    CHECK(run("slice", {x}, {{"begin", {2, 6}}, {"size", {-1, -1}}}).shape() == Shape{0, 0});
    CHECK(run("slice", {Tensor::scalar(3.0f)}, {{"begin", Shape{}}, {"size", Shape{}}}).shape() == Shape{});
  }
  SUBCASE("slice errors") {
    CHECK_THROWS_WITH_AS(run("slice", {x}, {{"begin", {0, 7}}, {"size", {1, 1}}}),
                         "slice: begin 7 is out of range for axis 1 of size 6", OpError);
    CHECK_THROWS_WITH_AS(run("slice", {x}, {{"begin", {1, 0}}, {"size", {2, 1}}}),
                         doctest::Contains("begin 1 + size 2 exceeds axis 0 of size 2"), OpError);
    CHECK_THROWS_WITH_AS(run("slice", {x}, {{"begin", {0}}, {"size", {1, 1}}}),
                         doctest::Contains("'begin' has 1 entries for a 2-d input"), OpError);
    CHECK_THROWS_WITH_AS(run("slice", {x}, {{"begin", {0, 0}}, {"size", {1, -3}}}), doctest::Contains("size -3"), OpError);
  }
}

TEST_CASE("movement: gather") {
  const Tensor x = iota_f32({3, 4});
  Tensor y = run("gather", {x, ints({2}, {3, -4})}, {{"axis", 1}});
  CHECK(y.shape() == Shape{3, 2});
  CHECK(values<float>(y) == std::vector<float>{3, 0, 7, 4, 11, 8});
  Tensor rows = run("gather", {x, ints({2, 1}, {2, 0})});
  CHECK(rows.shape() == Shape{2, 1, 4});
  CHECK(values<float>(rows) == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3});
  CHECK(run("gather", {x, ints({}, {1})}).shape() == Shape{4});
  CHECK(run("gather", {x, ints({0}, {})}, {{"axis", 1}}).shape() == Shape{3, 0});
  CHECK_THROWS_WITH_AS(run("gather", {x, ints({3}, {0, 3, 1})}), "gather: index 3 is out of range for axis 0 of size 3",
                       OpError);
  CHECK_THROWS_WITH_AS(run("gather", {x, ints({1}, {-5})}, {{"axis", 1}}), doctest::Contains("index -5"), OpError);
  CHECK_THROWS_WITH_AS(run("gather", {x, iota_f32({2})}), "gather: indices must be int32, got float32", OpError);
  CHECK_THROWS_WITH_AS(run("gather", {x, ints({1}, {0})}, {{"axis", 2}}), doctest::Contains("axis 2 is out of range"),
                       OpError);
}

TEST_CASE("movement: reverse matches an index-by-index flip") {
  const Tensor x = iota_f32({3, 4, 5});
  auto flipped = [&](bool f0, bool f1, bool f2) {
    std::vector<float> v;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k) v.push_back(static_cast<float>(((f0 ? 2 - i : i) * 4 + (f1 ? 3 - j : j)) * 5 + (f2 ? 4 - k : k)));
    return v;
  };
  CHECK(values<float>(run("reverse", {x})) == flipped(true, true, true));
  CHECK(values<float>(run("reverse", {x}, {{"axis", 1}})) == flipped(false, true, false));
  CHECK(values<float>(run("reverse", {x}, {{"axis", {-1, 0}}})) == flipped(true, false, true));
  CHECK(values<float>(run("reverse", {x}, {{"axis", Shape{}}})) == flipped(false, false, false));
  CHECK(run("reverse", {Tensor::scalar(2)}).shape() == Shape{});
  CHECK_THROWS_WITH_AS(run("reverse", {x}, {{"axis", {0, 0}}}), doctest::Contains("repeated axis"), OpError);
}

TEST_CASE("movement: tile follows NumPy's padding of reps and shape") {
  const Tensor x = ints({2, 2}, {1, 2, 3, 4});
  Tensor y = run("tile", {x}, {{"reps", {2, 3}}});
  CHECK(y.shape() == Shape{4, 6});
  CHECK(values<int32_t>(y) == std::vector<int32_t>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                                   1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  CHECK(values<int32_t>(run("tile", {x}, {{"reps", 2}})) == std::vector<int32_t>{1, 2, 1, 2, 3, 4, 3, 4});
  CHECK(run("tile", {x}, {{"reps", {2, 1, 1}}}).shape() == Shape{2, 2, 2});
  CHECK(run("tile", {x}, {{"reps", {0, 1}}}).shape() == Shape{0, 2});
  CHECK(values<int32_t>(run("tile", {ints({}, {7})}, {{"reps", 3}})) == std::vector<int32_t>{7, 7, 7});
  CHECK_THROWS_WITH_AS(run("tile", {x}, {{"reps", {-1}}}), doctest::Contains("reps must be non-negative"), OpError);
  CHECK_THROWS_WITH_AS(run("tile", {x}, {{"reps", {int64_t{1} << 40, int64_t{1} << 40}}}),
                       doctest::Contains("output shape is too large"), OpError);
  CHECK(infer("tile", {{DType::f32, {-1, 3}}}, {{"reps", {2, 2}}}).shape == Shape{-1, 6});
  // Outputs beyond kMaxTensorBytes are refused before anything is allocated, also with unknown dims.
  CHECK_THROWS_WITH_AS(infer("tile", {{DType::f32, {2, 2}}}, {{"reps", {30000, 30000}}}),
                       doctest::Contains("its float32 output of shape (60000, 60000) would take 13.4 GiB; a tensor "
                                         "may take at most 512 MiB"),
                       OpError);
  CHECK_THROWS_AS(infer("tile", {{DType::f32, {-1, 2}}}, {{"reps", {1, 1 << 28}}}), OpError);
  CHECK(infer("tile", {{DType::f32, {2, 2}}}, {{"reps", {8192, 4096}}}).shape == Shape{16384, 8192});  // 512 MiB
}

TEST_CASE("movement: sort puts NaN last, along any axis") {
  const float nan = std::nanf("");
  Tensor y = run("sort", {Tensor::from_vector<float>({2, 3}, {3, nan, 1, -1, 5, -2})});
  auto v = values<float>(y);
  CHECK(v[0] == 1);
  CHECK(v[1] == 3);
  CHECK(std::isnan(v[2]));
  CHECK(std::vector<float>(v.begin() + 3, v.end()) == std::vector<float>{-2, -1, 5});
  CHECK(values<int32_t>(run("sort", {ints({3, 2}, {5, 0, 1, 2, 3, -1})}, {{"axis", 0}})) ==
        std::vector<int32_t>{1, -1, 3, 0, 5, 2});
  CHECK_THROWS_WITH_AS(run("sort", {Tensor::scalar(1.0f)}), "sort: axis -1 is out of range for 0-d input", OpError);
}

TEST_CASE("movement: unique, find_indices, bincount have data-dependent lengths") {
  SUBCASE("unique") {
    CHECK(infer("unique", {{DType::f32, {4, 4}}}).shape == Shape{-1});
    Tensor u = run("unique", {ints({2, 3}, {3, 1, 3, 2, 1, 1})});
    CHECK(values<int32_t>(u) == std::vector<int32_t>{1, 2, 3});
    auto f = values<float>(run("unique", {Tensor::from_vector<float>({4}, {std::nanf(""), 2, std::nanf(""), 2})}));
    REQUIRE(f.size() == 2);
    CHECK(f[0] == 2);
    CHECK(std::isnan(f[1]));
    CHECK(run("unique", {Tensor(DType::f64, {0})}).shape() == Shape{0});
  }
  SUBCASE("find_indices") {
    Tensor y = run("find_indices", {Tensor::from_vector<float>({2, 3}, {1, 2.5f, 3, 2.5f, 1, 0})}, {{"values", {2.5, 0}}});
    CHECK(y.dtype() == DType::i32);
    CHECK(values<int32_t>(y) == std::vector<int32_t>{1, 3, 5});
    // A NaN in the input matches no value (np.isin compares with ==).
    const Tensor with_nan = Tensor::from_vector<double>({5}, {0.5, 1.5, 2, std::nan(""), 0.5});
    CHECK(values<int32_t>(run("find_indices", {with_nan}, {{"values", {0.5, 2}}})) == std::vector<int32_t>{0, 2, 4});
    const Tensor with_inf = Tensor::from_vector<float>({4}, {-INFINITY, 0.0f, -0.0f, INFINITY});
    CHECK(values<int32_t>(run("find_indices", {with_inf}, {{"values", {0}}})) == std::vector<int32_t>{1, 2});
    CHECK(run("find_indices", {ints({2}, {1, 2})}, {{"values", 7}}).shape() == Shape{0});
    CHECK_THROWS_WITH_AS(run("find_indices", {ints({2}, {1, 2})}, {{"values", {"a"}}}),
                         doctest::Contains("must be a list of numbers"), OpError);
  }
  SUBCASE("bincount") {
    Tensor c = run("bincount", {ints({5}, {1, 3, 1, 0, 1})});
    CHECK(c.dtype() == DType::i32);
    CHECK(values<int32_t>(c) == std::vector<int32_t>{1, 3, 0, 1});
    CHECK(run("bincount", {ints({2}, {1, 0})}, {{"minlength", 5}}).shape() == Shape{5});
    Tensor w = run("bincount", {ints({3}, {2, 0, 2}), Tensor::from_vector<double>({3}, {0.5, 1, 2})});
    CHECK(w.dtype() == DType::f64);
    CHECK(values<double>(w) == std::vector<double>{1, 0, 2.5});
    CHECK(run("bincount", {ints({1}, {0}), ints({1}, {4})}).dtype() == DType::f32);
    CHECK_THROWS_WITH_AS(run("bincount", {ints({3}, {1, -2, 0})}),
                         "bincount: input contains negative value -2 at index 1", OpError);
    CHECK_THROWS_WITH_AS(run("bincount", {ints({2, 1}, {1, 2})}), doctest::Contains("must be 1-d"), OpError);
    CHECK_THROWS_WITH_AS(run("bincount", {iota_f32({2})}), doctest::Contains("input must be int32, got float32"), OpError);
    CHECK_THROWS_WITH_AS(run("bincount", {ints({2}, {1, 2}), iota_f32({3})}),
                         doctest::Contains("weights shape (3,) does not match input shape (2,)"), OpError);
    CHECK_THROWS_WITH_AS(run("bincount", {ints({1}, {2000000000})}),
                         doctest::Contains("would take 7.5 GiB; a tensor may take at most 512 MiB"), OpError);
  }
}

TEST_CASE("movement: one_hot, shape, set_value") {
  SUBCASE("one_hot") {
    Tensor y = run("one_hot_encoding", {ints({2}, {2, 0})}, {{"depth", 3}});
    CHECK(y.dtype() == DType::f32);
    CHECK(y.shape() == Shape{2, 3});
    CHECK(values<float>(y) == std::vector<float>{0, 0, 1, 1, 0, 0});
    CHECK(run("one_hot", {ints({}, {1})}, {{"depth", 2}}).shape() == Shape{2});
    CHECK_THROWS_WITH_AS(run("one_hot", {ints({2}, {1, 3})}, {{"depth", 3}}),
                         "one_hot: index 3 at position 1 is out of range for depth 3", OpError);
    CHECK_THROWS_WITH_AS(run("one_hot", {ints({1}, {-1})}, {{"depth", 3}}), doctest::Contains("index -1"), OpError);
    CHECK_THROWS_WITH_AS(run("one_hot", {iota_f32({1})}, {{"depth", 3}}), doctest::Contains("indices must be int32"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("one_hot", {ints({1}, {0})}), doctest::Contains("'depth' is required"), OpError);
  }
  SUBCASE("shape") {
    CHECK(values<int32_t>(run("shape", {iota_f32({2, 0, 3})})) == std::vector<int32_t>{2, 0, 3});
    CHECK(run("shape", {Tensor::scalar(1.0)}).shape() == Shape{0});
    CHECK(infer("shape", {{DType::f32, {-1, 4}}}).shape == Shape{2});
  }
  SUBCASE("set_value") {
    const Tensor x = iota_f32({2, 3});
    Tensor y = run("set_value", {x}, {{"index", {-1, 0}}, {"value", 9.5}});
    CHECK(values<float>(y) == std::vector<float>{0, 1, 2, 9.5f, 4, 5});
    CHECK(values<float>(x)[3] == 3);
    CHECK(values<int32_t>(run("set_value", {ints({2}, {1, 2})}, {{"index", {1}}, {"value", -7.9}})) ==
          std::vector<int32_t>{1, -7});
    CHECK(values<uint8_t>(run("set_value", {Tensor(DType::boolean, {2})}, {{"index", {0}}, {"value", true}})) ==
          std::vector<uint8_t>{1, 0});
    CHECK(values<double>(run("set_value", {Tensor::scalar(1.0)}, {{"index", Shape{}}, {"value", 4}})) ==
          std::vector<double>{4});
    CHECK_THROWS_WITH_AS(run("set_value", {x}, {{"index", {2, 0}}, {"value", 1}}),
                         "set_value: index 2 is out of range for axis 0 of size 2", OpError);
    CHECK_THROWS_WITH_AS(run("set_value", {x}, {{"index", {0}}, {"value", 1}}), doctest::Contains("1 entries for a 2-d"),
                         OpError);
    CHECK_THROWS_WITH_AS(run("set_value", {ints({1}, {0})}, {{"index", {0}}, {"value", 1e10}}),
                         doctest::Contains("does not fit in int32"), OpError);
    CHECK_THROWS_WITH_AS(run("set_value", {x}, {{"index", {0, 0}}, {"value", "a"}}), doctest::Contains("must be a number"),
                         OpError);
  }
}

TEST_CASE("movement: costs count bytes moved, and n log n comparisons for sort") {
  const OpDef& concat = *find_op("concat");
  std::vector<TensorSpec> in = {{DType::f32, {10, 4}}, {DType::f32, {10, 4}}};
  const TensorSpec out = infer_op(concat, in, Params::object());
  Cost c = estimate_cost(concat, in, out, Params::object());
  CHECK(c.bytes == doctest::Approx(2 * 160 + 320));
  CHECK(c.flops == 0);
  const OpDef& sort = *find_op("sort");
  Cost s = estimate_cost(sort, {{DType::f32, {4, 1024}}}, {DType::f32, {4, 1024}}, Params::object());
  CHECK(s.flops == doctest::Approx(4 * 1024 * 10));
}
