// Unit tests of the checks every op's params get before its own inference (shared/ops/op_table.cpp
// and common.cpp): unknown names, wrong types, integers out of range, and output sizes set by
// params or by the data, which must be refused before anything is allocated.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "op_test_helpers.hpp"
#include "shared/ops/op.hpp"

using namespace corvid;
using namespace corvid::op_tests;

namespace {

const TensorSpec kMatrix{DType::f32, {2, 3}};

// The message of the OpError that inferring `name` on `inputs` with `params` throws ("" if none).
std::string infer_error(const char* name, const std::vector<TensorSpec>& inputs, const Params& params) {
  try {
    infer(name, inputs, params);
  } catch (const OpError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("op params: an unknown name is refused with the names the op accepts") {
  CHECK(infer_error("sum", {kMatrix}, {{"axsi", 1}}) == "sum: unknown param 'axsi' (accepted: axis, keepdims)");
  CHECK(infer_error("percentile", {kMatrix}, {{"q", 50}, {"keepdim", true}}) ==
        "percentile: unknown param 'keepdim' (accepted: axis, keepdims, q)");
  CHECK(infer_error("exp", {kMatrix}, {{"axis", 0}}) == "exp: unknown param 'axis' (accepted: none)");
  CHECK(infer_error("zeros", {}, {{"shape", {2}}, {"dtyp", "int32"}}) ==
        "zeros: unknown param 'dtyp' (accepted: shape, dtype)");
  // Workers run the same check before the kernel: a typo never gives a different answer.
  const Tensor x = iota_f32({2, 3});
  CHECK_THROWS_WITH_AS(run("sum", {x}, {{"axsi", 1}}), "sum: unknown param 'axsi' (accepted: axis, keepdims)",
                       OpError);
  // Aliases accept their op's names; null stays "absent" for every declared param.
  CHECK(infer("variance", {kMatrix}, {{"ddof", 1}, {"axis", nullptr}}).shape == Shape{});
}

TEST_CASE("op params: a value of the wrong type is refused, naming the param") {
  CHECK(infer_error("sum", {kMatrix}, {{"keepdims", 1}}) == "sum: param 'keepdims' must be true or false, got 1");
  CHECK(infer_error("sum", {kMatrix}, {{"axis", "1"}}) ==
        "sum: param 'axis' must be a list of integers (or one integer), got \"1\"");
  CHECK(infer_error("clip", {kMatrix}, {{"min", {0}}}) == "clip: param 'min' must be a number, got [0]");
  CHECK(infer_error("find_indices", {kMatrix}, {{"values", {{"a", 1}}}}) ==
        "find_indices: param 'values' must be a list of numbers (or one number), got {\"a\":1}");
  CHECK(infer_error("zeros", {}, {{"shape", {2}}, {"dtype", "float16"}}) ==
        "zeros: param 'dtype' must be one of float32, float64, int32, bool, got \"float16\"");
  CHECK(infer_error("set_value", {kMatrix}, {{"index", {0, 0}}, {"value", "one"}}) ==
        "set_value: param 'value' must be a number or a boolean, got \"one\"");
  CHECK(infer_error("argmax", {kMatrix}, {{"axis", {0}}}) ==
        "argmax: param 'axis' must be an integer or null (the flattened index), got [0]");
  // A float is not an integer, even when it has no fraction: NumPy refuses axis=1.0 too.
  CHECK(infer_error("softmax", {kMatrix}, {{"axis", 1.0}}) == "softmax: param 'axis' must be an integer, got 1.0");
  CHECK(infer_error("tile", {kMatrix}, {{"reps", {2, 1.5}}}) ==
        "tile: param 'reps' must be a list of integers (or one integer), got [2,1.5]");
  CHECK(infer_error("sum", {kMatrix}, Params::array({1})) == "sum: params must be a JSON object");
}

TEST_CASE("op params: integers outside the 64-bit signed range are refused, not wrapped") {
  const uint64_t max_u64 = UINT64_MAX;  // a JSON number that used to wrap to -1
  CHECK(infer_error("sum", {kMatrix}, {{"axis", max_u64}}) ==
        "sum: param 'axis' is out of range: 18446744073709551615 does not fit in a signed 64-bit integer");
  CHECK(infer_error("softmax", {kMatrix}, {{"axis", max_u64}}) ==
        "softmax: param 'axis' is out of range: 18446744073709551615 does not fit in a signed 64-bit integer");
  CHECK(infer_error("reshape", {kMatrix}, {{"shape", {max_u64, 6}}}) ==
        "reshape: param 'shape' is out of range: 18446744073709551615 does not fit in a signed 64-bit integer");
  CHECK(infer_error("tile", {kMatrix}, {{"reps", uint64_t{1} << 63}}) ==
        "tile: param 'reps' is out of range: 9223372036854775808 does not fit in a signed 64-bit integer");
  const std::string depth = infer_error("one_hot", {{DType::i32, {3}}}, Params::parse(R"({"depth": 1e30})"));
  CHECK(depth == "one_hot: param 'depth' must be an integer, got 1e+30");
  CHECK(infer_error("random_uniform", {}, {{"shape", {2}}, {"seed", max_u64}}) ==
        "random_uniform: param 'seed' is out of range: 18446744073709551615 does not fit in a signed 64-bit integer");
  // The largest signed values are still integers; the op's own checks judge them.
  CHECK(infer_error("sum", {kMatrix}, {{"axis", INT64_MAX}}) ==
        "sum: axis 9223372036854775807 is out of range for 2-d input");
  CHECK(infer_error("one_hot", {{DType::i32, {3}}}, {{"depth", -1}}) == "one_hot: depth must be >= 0, got -1");
}

TEST_CASE("op params: bincount's minlength is bounded like any output, before allocating") {
  const TensorSpec ints{DType::i32, {4}};
  CHECK(infer_error("bincount", {ints}, {{"minlength", 500000000}}) ==
        "bincount: an int32 output of 500000000 bins (param 'minlength') would take 1.9 GiB; a tensor may take at "
        "most 512 MiB");
  // With weights the bins are summed in float64, so the bound is half as many bins.
  CHECK(infer_error("bincount", {ints, {DType::f32, {4}}}, {{"minlength", 100000000}}) ==
        "bincount: float64 sums of 100000000 bins (param 'minlength') would take 762.9 MiB; a tensor may take at "
        "most 512 MiB");
  CHECK(infer_error("bincount", {ints}, {{"minlength", 1000}}).empty());
  // The kernel refuses the same size when it comes from the data, before allocating it.
  const Tensor x = Tensor::from_vector<int32_t>({2}, {1, 140000000});
  CHECK_THROWS_WITH_AS(run("bincount", {x}),
                       "bincount: an int32 output of 140000001 bins (value 140000000 at index 1) would take 534.1 "
                       "MiB; a tensor may take at most 512 MiB",
                       OpError);
  CHECK(values<int32_t>(run("bincount", {Tensor::from_vector<int32_t>({3}, {0, 2, 2})}, {{"minlength", 4}})) ==
        std::vector<int32_t>{1, 0, 2, 0});
}

namespace {

// Inputs and params for one op that use every param its infer and kernel read.
struct Example {
  std::vector<TensorSpec> inputs;
  Params params;
};

// One example per op that has params or needs particular inputs; other ops take
// min_inputs (2, 3) float32 matrices and no params.
const std::map<std::string, Example>& examples() {
  const TensorSpec m = kMatrix, ints{DType::i32, {5}}, square{DType::f32, {3, 3}};
  const TensorSpec img{DType::f32, {2, 3, 6, 5}}, kern{DType::f32, {4, 3, 3, 3}};
  const Params axis_keepdims{{"axis", {0}}, {"keepdims", true}};
  static const std::map<std::string, Example> table = {
      {"tensor", {{}, {{"value", {1, 2}}, {"dtype", "float32"}}}},
      {"zeros", {{}, {{"shape", {2, 3}}, {"dtype", "int32"}}}},
      {"ones", {{}, {{"shape", {2, 3}}, {"dtype", "int32"}}}},
      {"random_uniform", {{}, {{"shape", {2}}, {"dtype", "float64"}, {"low", -1}, {"high", 1}, {"seed", 3}}}},
      {"random_normal", {{}, {{"shape", {2}}, {"dtype", "float64"}, {"mean", 0}, {"std", 2}, {"seed", 3}}}},
      {"clip", {{m}, {{"min", 0}, {"max", 1}}}},
      {"cast", {{m}, {{"dtype", "float64"}}}},
      {"softmax", {{m}, {{"axis", 0}}}},
      {"log_softmax", {{m}, {{"axis", 0}}}},
      {"sum", {{m}, axis_keepdims}},
      {"mean", {{m}, axis_keepdims}},
      {"prod", {{m}, axis_keepdims}},
      {"min", {{m}, axis_keepdims}},
      {"max", {{m}, axis_keepdims}},
      {"median", {{m}, axis_keepdims}},
      {"mode", {{m}, axis_keepdims}},
      {"average", {{m, m}, axis_keepdims}},
      {"argmax", {{m}, {{"axis", 1}, {"keepdims", false}}}},
      {"argmin", {{m}, {{"axis", 1}, {"keepdims", false}}}},
      {"var", {{m}, {{"axis", 0}, {"keepdims", true}, {"ddof", 1}}}},
      {"std", {{m}, {{"axis", 0}, {"keepdims", true}, {"ddof", 1}}}},
      {"percentile", {{m}, {{"axis", 0}, {"keepdims", true}, {"q", 50}}}},
      {"matmul", {{m, {DType::f32, {3, 4}}}, {}}},
      {"dot", {{m, {DType::f32, {3, 4}}}, {}}},
      {"transpose", {{m}, {{"axes", {1, 0}}}}},
      {"inv", {{square}, {}}},
      {"reshape", {{m}, {{"shape", {3, -1}}}}},
      {"expand_dims", {{m}, {{"axis", 0}}}},
      {"squeeze", {{{DType::f32, {1, 3}}}, {{"axis", 0}}}},
      {"concat", {{m, m}, {{"axis", 0}}}},
      {"stack", {{m, m}, {{"axis", 0}}}},
      {"split", {{m}, {{"axis", 1}, {"sections", 3}, {"index", 0}}}},
      {"slice", {{m}, {{"begin", {0, 1}}, {"size", {2, 2}}}}},
      {"gather", {{m, ints}, {{"axis", 1}}}},
      {"scatter_add", {{ints, {DType::f32, {2, 5}}}, {{"axis", 1}, {"size", 3}}}},
      {"reverse", {{m}, {{"axis", {0, 1}}}}},
      {"tile", {{m}, {{"reps", {2, 1}}}}},
      {"sort", {{m}, {{"axis", 0}}}},
      {"argsort", {{m}, {{"axis", 0}}}},
      {"one_hot", {{ints}, {{"depth", 4}}}},
      {"find_indices", {{m}, {{"values", {1, 2.5}}}}},
      {"bincount", {{ints, {DType::f32, {5}}}, {{"minlength", 3}}}},
      {"set_value", {{m}, {{"index", {1, 2}}, {"value", 7}}}},
      {"conv2d", {{img, kern, {DType::f32, {4}}}, {{"stride", {1, 2}}, {"padding", 1}, {"dilation", {1, 1}}}}},
      {"conv2d_backward_input",
       {{{DType::f32, {2, 4, 6, 3}}, kern}, {{"stride", {1, 2}}, {"padding", 1}, {"dilation", 1}, {"input_size", {6, 5}}}}},
      {"conv2d_backward_weight",
       {{img, {DType::f32, {2, 4, 6, 3}}}, {{"stride", {1, 2}}, {"padding", 1}, {"dilation", 1}, {"kernel_size", {3, 3}}}}},
      {"max_pool2d", {{img}, {{"kernel", 2}, {"stride", {2, 1}}, {"padding", {1, 0}}}}},
      {"max_pool2d_backward", {{img, {DType::f32, {2, 3, 4, 4}}}, {{"kernel", 2}, {"stride", {2, 1}}, {"padding", {1, 0}}}}},
      {"avg_pool2d", {{img}, {{"kernel", 2}, {"stride", {2, 1}}, {"padding", {1, 0}}}}},
      {"avg_pool2d_backward",
       {{{DType::f32, {2, 3, 4, 4}}}, {{"kernel", 2}, {"stride", {2, 1}}, {"padding", {1, 0}}, {"input_size", {6, 5}}}}},
      {"cross_entropy", {{m, {DType::i32, {2}}}, {}}},
      {"sgd_momentum", {{m, m}, {{"momentum", 0.9}}}},
      {"sgd_update", {{m, m}, {{"lr", 0.1}}}},
      {"adam_m", {{m, m}, {{"beta1", 0.9}}}},
      {"adam_v", {{m, m}, {{"beta2", 0.999}}}},
      {"adam_update",
       {{m, m, m}, {{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", 0.0}, {"step", 1}}}},
  };
  return table;
}

Example example_for(const OpDef& op) {
  auto it = examples().find(std::string(op.name));
  if (it != examples().end()) return it->second;
  return {std::vector<TensorSpec>(static_cast<std::size_t>(op.min_inputs), kMatrix), Params::object()};
}

}  // namespace

TEST_CASE("op params: every row declares exactly the params its example uses, and infer accepts them") {
  for (const OpDef& op : op_table()) {
    CAPTURE(op.name);
    const Example ex = example_for(op);
    std::set<std::string> declared, used;
    for (const ParamSpec& spec : op.params) CHECK_MESSAGE(declared.insert(std::string(spec.name)).second, spec.name);
    for (const auto& item : ex.params.items()) used.insert(item.key());
    CHECK(declared == used);
    CHECK_NOTHROW(infer_op(op, ex.inputs, ex.params));
  }
}

TEST_CASE("op params: every op refuses an unknown name and every declared param refuses a wrong type") {
  for (const OpDef& op : op_table()) {
    CAPTURE(op.name);
    const Example ex = example_for(op);
    Params typo = ex.params;
    typo["no_such_param"] = 1;
    const std::string error = infer_error(std::string(op.name).c_str(), ex.inputs, typo);
    CHECK(error.rfind(std::string(op.name) + ": unknown param 'no_such_param' (accepted: ", 0) == 0);
    for (const ParamSpec& spec : op.params) {
      CAPTURE(spec.name);
      Params wrong = ex.params;
      wrong[std::string(spec.name)] = {{"not", "a value"}};
      const std::string message = infer_error(std::string(op.name).c_str(), ex.inputs, wrong);
      CHECK(message.rfind(std::string(op.name) + ": param '" + std::string(spec.name) + "' must be ", 0) == 0);
    }
  }
}

TEST_CASE("op params: README's Params table shows every op's params with their types") {
  const std::filesystem::path readme = CORVID_README;
  std::ifstream in(readme);
  REQUIRE_MESSAGE(in.good(), readme.string());
  // "| sum, mean | axis: int_list, keepdims: bool |" rows of the table under "### Params".
  std::map<std::string, std::string> documented;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("### ", 0) == 0) in_section = line == "### Params";
    if (!in_section || line.rfind("| ", 0) != 0 || line.rfind("| ops |", 0) == 0 || line.rfind("| ---", 0) == 0)
      continue;
    const std::size_t bar = line.find(" | ");
    REQUIRE(bar != std::string::npos);
    const std::string params = line.substr(bar + 3, line.size() - bar - 5);
    std::string ops = line.substr(2, bar - 2);
    for (std::size_t start = 0; start <= ops.size();) {
      std::size_t end = ops.find(", ", start);
      if (end == std::string::npos) end = ops.size();
      CHECK_MESSAGE(documented.emplace(ops.substr(start, end - start), params).second, line);
      start = end + 2;
    }
  }
  for (const OpDef& op : op_table()) {
    CAPTURE(op.name);
    std::string expected;
    for (const ParamSpec& spec : op.params)
      expected += (expected.empty() ? "" : ", ") + std::string(spec.name) + ": " + std::string(param_type_name(spec.type));
    const auto it = documented.find(std::string(op.name));
    if (expected.empty()) {
      CHECK(it == documented.end());
      continue;
    }
    REQUIRE(it != documented.end());
    CHECK(it->second == expected);
    documented.erase(it);
  }
  CHECK(documented.empty());  // no row for an op that is not in the table
}

TEST_CASE("op params: find_indices refuses more matches than an int32 tensor may hold") {
  // A bool input is a quarter of the size of its int32 indices: 2^27 + 1 matches take over 512 MiB.
  const int64_t n = (int64_t{1} << 27) + 1;
  Tensor x(DType::boolean, {n});
  std::fill(x.data<uint8_t>(), x.data<uint8_t>() + n, uint8_t{1});
  CHECK_THROWS_WITH_AS(run("find_indices", {x}, {{"values", {1}}}),
                       "find_indices: more than 134217728 matches: their int32 indices would take more than 512 MiB, "
                       "the most a tensor may take",
                       OpError);
}
