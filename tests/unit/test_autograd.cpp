// The grad op (shared/autograd.hpp): every op with a gradient checked against central finite
// differences in float64 as torch.autograd.gradcheck does, on the native kernel; random DAGs with
// fan-out; refusals naming the op; several grads of one loss sharing one backward pass.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "shared/autograd.hpp"
#include "shared/graph_spec.hpp"
#include "shared/ops/families.hpp"

namespace corvid {
namespace {

using json = nlohmann::json;

// An input of a checked graph: random values in [lo, hi), or `fixed` values when given.
struct Input {
  std::string id;
  Shape shape;
  double lo = -2, hi = 2;
  bool differentiate = true;
  DType dtype = DType::f64;
  std::vector<double> fixed = {};
};

Tensor make_tensor(DType dtype, const Shape& shape, const std::vector<double>& v) {
  Tensor t(dtype, shape);
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    for (std::size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = static_cast<T>(v[i]);
  });
  return t;
}

OpSpec tensor_op(const std::string& id, Tensor value) {
  OpSpec op;
  op.id = id;
  op.def = find_op("tensor");
  op.value = std::move(value);
  return op;
}

// Validates (and so expands) the graph, then computes every op with the native kernel.
std::map<std::string, Tensor> run_graph(GraphSpec spec) {
  validate_graph(spec);
  std::map<std::string, Tensor> values;
  for (const auto& op : spec.ops) {
    if (op.value) {
      values[op.id] = *op.value;
      continue;
    }
    std::vector<const Tensor*> in;
    for (const auto& id : op.inputs) in.push_back(&values.at(id));
    values[op.id] = run_op(*op.def, in, op.params);
  }
  return values;
}

double scalar_of(const Tensor& t) { return t.astype(DType::f64).data<double>()[0]; }

// loss = sum(out * r) over the graph of `ops` (its last op is the output), with a fixed random r.
struct Checked {
  std::vector<Input> inputs;
  std::vector<json> ops;
  std::map<std::string, Tensor> values;  // of the inputs
  Tensor r;

  GraphSpec graph(const std::map<std::string, Tensor>& vals, bool with_grads) const {
    GraphSpec spec;
    for (const auto& in : inputs) spec.ops.push_back(tensor_op(in.id, vals.at(in.id)));
    for (const auto& o : ops) spec.ops.push_back(parse_op_spec(o));
    spec.ops.push_back(tensor_op("r", r));
    const std::string out = ops.back()["id"].get<std::string>();
    spec.ops.push_back(parse_op_spec({{"id", "weighted"}, {"op", "mul"}, {"inputs", {out, "r"}}}));
    spec.ops.push_back(parse_op_spec({{"id", "loss"}, {"op", "sum"}, {"inputs", {"weighted"}}}));
    if (with_grads)
      for (const auto& in : inputs)
        if (in.differentiate)
          spec.ops.push_back(parse_op_spec({{"id", "d_" + in.id}, {"op", "grad"}, {"inputs", {"loss", in.id}}}));
    return spec;
  }
};

// Checks every gradient of the graph against central differences (eps 1e-6, atol 1e-5, rtol 1e-3).
void check_gradients(std::vector<Input> inputs, std::vector<json> ops, uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  Checked c{std::move(inputs), std::move(ops), {}, {}};
  for (const auto& in : c.inputs) {
    std::vector<double> v = in.fixed;
    if (v.empty()) {
      std::uniform_real_distribution<double> u(in.lo, in.hi);
      for (int64_t i = 0; i < num_elements(in.shape); ++i) v.push_back(u(rng));
    }
    c.values[in.id] = make_tensor(in.dtype, in.shape, v);
  }
  {  // the output's shape, for r
    GraphSpec forward;
    for (const auto& in : c.inputs) forward.ops.push_back(tensor_op(in.id, c.values.at(in.id)));
    for (const auto& o : c.ops) forward.ops.push_back(parse_op_spec(o));
    const auto specs = validate_graph(forward);
    const TensorSpec& out = specs.at(c.ops.back()["id"].get<std::string>());
    std::vector<double> r;
    std::uniform_real_distribution<double> u(-1, 1);
    for (int64_t i = 0; i < num_elements(out.shape); ++i) r.push_back(u(rng));
    c.r = make_tensor(out.dtype, out.shape, r);
  }
  const auto analytic = run_graph(c.graph(c.values, true));
  constexpr double eps = 1e-6, atol = 1e-5, rtol = 1e-3;
  for (const auto& in : c.inputs) {
    if (!in.differentiate) continue;
    CAPTURE(in.id);
    const Tensor& g = analytic.at("d_" + in.id);
    REQUIRE(g.dtype() == in.dtype);
    REQUIRE(g.shape() == in.shape);
    for (int64_t i = 0; i < num_elements(in.shape); ++i) {
      CAPTURE(i);
      auto loss_at = [&](double delta) {
        auto vals = c.values;
        Tensor t = vals.at(in.id).astype(DType::f64);
        t.data<double>()[i] += delta;
        vals[in.id] = t.astype(in.dtype);
        return scalar_of(run_graph(c.graph(vals, false)).at("loss"));
      };
      const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
      const double got = g.astype(DType::f64).data<double>()[i];
      CHECK_MESSAGE(std::fabs(got - numeric) <= atol + rtol * std::fabs(numeric),
                    "analytic " << got << " numeric " << numeric);
    }
  }
}

json op(const std::string& name, std::vector<std::string> inputs, json params = json::object(),
        const std::string& id = "out") {
  return {{"id", id}, {"op", name}, {"inputs", inputs}, {"params", params}};
}

Input x23(const std::string& id = "x", double lo = -2, double hi = 2) { return {id, {2, 3}, lo, hi}; }

}  // namespace

TEST_CASE("grad: unary ops match central differences") {
  for (const char* name : {"neg", "pos", "abs", "exp", "square", "cube", "sin", "cos", "tanh", "sigmoid", "relu",
                           "sign"}) {
    CAPTURE(name);
    check_gradients({x23()}, {op(name, {"x"})});
  }
  for (const char* name : {"log", "sqrt", "cbrt", "reciprocal"}) {
    CAPTURE(name);
    check_gradients({x23("x", 0.5, 2)}, {op(name, {"x"})});
  }
  SUBCASE("clip, both bounds and one") {
    check_gradients({{"x", {3, 4}}}, {op("clip", {"x"}, {{"min", -0.5}, {"max", 0.7}})});
    check_gradients({{"x", {3, 4}}}, {op("clip", {"x"}, {{"min", 0.1}})});
  }
  SUBCASE("softmax and log_softmax on every axis, negative ones too") {
    for (int axis : {-1, 0, 1, -2}) {
      CAPTURE(axis);
      check_gradients({{"x", {3, 4}}}, {op("softmax", {"x"}, {{"axis", axis}})});
      check_gradients({{"x", {3, 4}}}, {op("log_softmax", {"x"}, {{"axis", axis}})});
    }
    check_gradients({{"x", {2, 3, 2}}}, {op("softmax", {"x"}, {{"axis", 1}})});
  }
  SUBCASE("0-d and empty inputs") {
    check_gradients({{"x", {}}}, {op("tanh", {"x"})});
    check_gradients({{"x", {0, 3}}}, {op("exp", {"x"})});
  }
}

TEST_CASE("grad: binary ops with broadcasting match central differences") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1, 3}, {4, 1}}, {{2, 3}, {}}, {{1}, {2, 2}}};
  for (const auto& [sa, sb] : shapes) {
    CAPTURE(shape_string(sa));
    CAPTURE(shape_string(sb));
    for (const char* name : {"add", "sub", "mul", "maximum", "minimum"})
      check_gradients({{"a", sa}, {"b", sb}}, {op(name, {"a", "b"})});
    check_gradients({{"a", sa}, {"b", sb, 0.5, 2}}, {op("div", {"a", "b"})});
    check_gradients({{"a", sa, 0.5, 2}, {"b", sb}}, {op("pow", {"a", "b"})});
  }
  SUBCASE("ties of maximum and minimum share the gradient, as in PyTorch") {
    // maximum(x, x) = x: half of the gradient through each operand.
    check_gradients({{"x", {2, 2}}}, {op("maximum", {"x", "x"})});
    check_gradients({{"x", {2, 2}}}, {op("minimum", {"x", "x"})});
  }
  SUBCASE("pow with an int32 exponent and a zero base") {
    check_gradients({{"a", {2, 2}, 0.5, 2}, {"e", {2}, 0, 0, false, DType::i32, {2, 3}}}, {op("pow", {"a", "e"})});
    check_gradients({{"a", {2}, 0, 0, true, DType::f64, {0.0, 1.0}}, {"e", {}, 0, 0, false, DType::f64, {2.0}}},
                    {op("pow", {"a", "e"})});
    check_gradients({{"a", {3}, 0, 0, false, DType::f64, {0.0, 1.5, 2.0}}, {"e", {3}, 1.5, 3}}, {op("pow", {"a", "e"})});
  }
  SUBCASE("where, with a broadcast condition") {
    check_gradients({{"c", {2, 1}, 0, 0, false, DType::boolean, {1, 0}}, {"x", {2, 3}}, {"y", {3}}},
                    {op("where", {"c", "x", "y"})});
    check_gradients({{"c", {2, 3}, 0, 0, false, DType::boolean, {1, 0, 1, 1, 0, 0}}, {"x", {}}, {"y", {2, 3}}},
                    {op("where", {"c", "x", "y"})});
  }
}

TEST_CASE("grad: reductions match central differences over axes, keepdims and negative axes") {
  const std::vector<json> params = {json::object(),
                                    {{"axis", 1}},
                                    {{"axis", -1}, {"keepdims", true}},
                                    {{"axis", {0, -1}}},
                                    {{"axis", {0, 2}}, {"keepdims", true}},
                                    {{"axis", 0}}};
  for (const auto& p : params) {
    CAPTURE(p.dump());
    for (const char* name : {"sum", "mean", "prod", "max", "min", "var", "std", "average"})
      check_gradients({{"x", {2, 3, 4}}}, {op(name, {"x"}, p)});
  }
  SUBCASE("var and std with ddof") {
    check_gradients({{"x", {3, 4}}}, {op("var", {"x"}, {{"axis", 0}, {"ddof", 1}})});
    check_gradients({{"x", {3, 4}}}, {op("std", {"x"}, {{"axis", -1}, {"ddof", 1}})});
  }
  SUBCASE("prod with zeros in a line") {
    check_gradients({{"x", {3, 3}, 0, 0, true, DType::f64, {0, 2, 3, 0, 0, 1.5, 1, -2, 0.5}}},
                    {op("prod", {"x"}, {{"axis", 1}})});
  }
  SUBCASE("max and min share the gradient among ties, as torch.amax") {
    check_gradients({{"x", {2, 3}, 0, 0, true, DType::f64, {1, 3, 3, -1, -1, 0}}}, {op("max", {"x"}, {{"axis", 1}})});
    check_gradients({{"x", {2, 3}, 0, 0, true, DType::f64, {1, 3, 3, -1, -1, 0}}}, {op("min", {"x"}, {{"axis", 1}})});
  }
  SUBCASE("average with weights of the input's shape and 1-d along one axis") {
    check_gradients({{"a", {2, 3}}, {"w", {2, 3}, 0.5, 2}}, {op("average", {"a", "w"}, {{"axis", 1}})});
    check_gradients({{"a", {2, 3}}, {"w", {2, 3}, 0.5, 2}}, {op("average", {"a", "w"})});
    check_gradients({{"a", {2, 3}}, {"w", {2}, 0.5, 2}}, {op("average", {"a", "w"}, {{"axis", 0}})});
    check_gradients({{"a", {2, 3, 2}}, {"w", {3}, 0.5, 2}}, {op("average", {"a", "w"}, {{"axis", -2}, {"keepdims", true}})});
  }
}

TEST_CASE("grad: matmul, dot, transpose and inv match central differences") {
  const std::vector<std::pair<Shape, Shape>> matmuls = {
      {{2, 3}, {3, 4}}, {{2, 2, 3}, {3, 4}}, {{2, 1, 2, 3}, {3, 3, 2}}, {{3}, {3, 2}}, {{2, 3}, {3}}, {{3}, {3}},
      {{2, 3}, {2, 3, 2}}};
  for (const auto& [sa, sb] : matmuls) {
    CAPTURE(shape_string(sa));
    CAPTURE(shape_string(sb));
    check_gradients({{"a", sa}, {"b", sb}}, {op("matmul", {"a", "b"})});
  }
  const std::vector<std::pair<Shape, Shape>> dots = {
      {{2, 3}, {3}}, {{3}, {3}}, {{2, 3}, {4, 3, 2}}, {{3}, {3, 2}}, {{}, {2, 3}}, {{2, 2}, {}}, {{2, 2, 3}, {3, 2}}};
  for (const auto& [sa, sb] : dots) {
    CAPTURE(shape_string(sa));
    CAPTURE(shape_string(sb));
    check_gradients({{"a", sa}, {"b", sb}}, {op("dot", {"a", "b"})});
  }
  check_gradients({{"x", {2, 3, 4}}}, {op("transpose", {"x"})});
  check_gradients({{"x", {2, 3, 4}}}, {op("transpose", {"x"}, {{"axes", {1, -1, 0}}})});
  // A well-conditioned matrix: x + 3 I.
  check_gradients({{"x", {2, 3, 3}, -1, 1}, {"i", {3, 3}, 0, 0, false, DType::f64, {3, 0, 0, 0, 3, 0, 0, 0, 3}}},
                  {op("add", {"x", "i"}, json::object(), "m"), op("inv", {"m"})});
}

TEST_CASE("grad: movement ops match central differences") {
  check_gradients({x23()}, {op("reshape", {"x"}, {{"shape", {3, -1}}})});
  check_gradients({x23()}, {op("flatten", {"x"})});
  check_gradients({x23()}, {op("expand_dims", {"x"}, {{"axis", {-1, 0}}})});
  check_gradients({{"x", {2, 1, 3, 1}}}, {op("squeeze", {"x"})});
  check_gradients({{"a", {2, 1}}, {"b", {2, 3}}}, {op("concat", {"a", "b"}, {{"axis", -1}})});
  check_gradients({{"a", {1, 3}}, {"b", {2, 3}}, {"c", {2, 3}}}, {op("concat", {"a", "b", "c"})});
  check_gradients({{"a", {2, 3}}, {"b", {2, 3}}}, {op("stack", {"a", "b"}, {{"axis", 1}})});
  check_gradients({{"a", {2}}, {"b", {2}}}, {op("stack", {"a", "b"}, {{"axis", -1}})});
  for (int index : {0, 1, 2})
    check_gradients({{"x", {2, 6}}}, {op("split", {"x"}, {{"axis", -1}, {"sections", 3}, {"index", index}})});
  check_gradients({{"x", {3, 4}}}, {op("slice", {"x"}, {{"begin", {0, 1}}, {"size", {-1, 2}}})});
  check_gradients({{"x", {3, 4}}}, {op("slice", {"x"}, {{"begin", {-2, 0}}, {"size", {1, 4}}})});
  // Repeated and negative indices: their contributions add up.
  const Input idx{"i", {2, 2}, 0, 0, false, DType::i32, {0, -1, 2, 0}};
  check_gradients({{"x", {2, 3}}, idx}, {op("gather", {"x", "i"}, {{"axis", 1}})});
  check_gradients({{"x", {3, 2, 2}}, idx}, {op("gather", {"x", "i"})});
  check_gradients({idx, {"u", {3, 2, 2}}}, {op("scatter_add", {"i", "u"}, {{"axis", -1}, {"size", 4}})});
  check_gradients({{"x", {3, 4}}}, {op("reverse", {"x"}, {{"axis", {0, -1}}})});
  check_gradients({x23()}, {op("tile", {"x"}, {{"reps", {2, 1, 3}}})});
  check_gradients({x23()}, {op("tile", {"x"}, {{"reps", {2}}})});
  check_gradients({x23()}, {op("set_value", {"x"}, {{"index", {1, -1}}, {"value", 5}})});
  for (int axis : {-1, 0})
    check_gradients({{"x", {3, 4}}}, {op("sort", {"x"}, {{"axis", axis}})});
  check_gradients({{"x", {2, 3, 2}}}, {op("sort", {"x"}, {{"axis", 1}})});
  check_gradients({{"x", {3, 2, 2}}}, {op("sort", {"x"}, {{"axis", 0}})});
  check_gradients({{"x", {3, 1}}}, {op("sort", {"x"})});
  check_gradients({{"x", {0, 3}}}, {op("sort", {"x"})});
}

TEST_CASE("grad: conv2d, pooling and cross_entropy match central differences") {
  SUBCASE("conv2d: stride, padding, dilation, bias, batch") {
    const std::vector<json> params = {
        json::object(),
        {{"stride", {2, 2}}, {"padding", {1, 1}}},
        {{"stride", {1, 2}}, {"padding", {2, 0}}, {"dilation", {2, 1}}},
        {{"stride", 2}, {"padding", 1}},
    };
    for (const auto& p : params) {
      CAPTURE(p.dump());
      check_gradients({{"x", {2, 3, 5, 6}}, {"w", {4, 3, 3, 2}}}, {op("conv2d", {"x", "w"}, p)});
      check_gradients({{"x", {1, 2, 5, 5}}, {"w", {3, 2, 2, 3}}, {"b", {3}}}, {op("conv2d", {"x", "w", "b"}, p)});
    }
    check_gradients({{"x", {2, 1, 3, 3}}, {"w", {2, 1, 3, 3}}}, {op("conv2d", {"x", "w"})});  // 1x1 output
  }
  SUBCASE("max_pool2d routes to the max, avg_pool2d spreads evenly") {
    const std::vector<json> params = {
        {{"kernel", {2, 2}}},
        {{"kernel", {3, 3}}, {"stride", {1, 1}}},  // overlapping windows
        {{"kernel", {3, 2}}, {"stride", {2, 1}}, {"padding", {1, 1}}},
    };
    for (const auto& p : params) {
      CAPTURE(p.dump());
      check_gradients({{"x", {2, 2, 5, 6}}}, {op("max_pool2d", {"x"}, p)});
      check_gradients({{"x", {2, 2, 5, 6}}}, {op("avg_pool2d", {"x"}, p)});
    }
  }
  SUBCASE("cross_entropy: softmax minus one_hot over the batch") {
    const Input labels{"y", {4}, 0, 0, false, DType::i32, {2, 0, 2, 1}};
    check_gradients({{"logits", {4, 3}}, labels}, {op("cross_entropy", {"logits", "y"})});
    check_gradients({{"logits", {1, 1}}, {"y", {1}, 0, 0, false, DType::i32, {0}}},
                    {op("cross_entropy", {"logits", "y"})});
  }
  SUBCASE("a small CNN end to end: conv2d, relu, max_pool2d, matmul, cross_entropy") {
    check_gradients({{"x", {3, 1, 6, 6}, -1, 1},
                     {"w1", {2, 1, 3, 3}, -1, 1},
                     {"b1", {2}, -0.5, 0.5},
                     {"w2", {8, 4}, -1, 1},
                     {"y", {3}, 0, 0, false, DType::i32, {1, 3, 0}}},
                    {op("conv2d", {"x", "w1", "b1"}, {{"padding", {1, 1}}}, "c"), op("relu", {"c"}, {}, "a"),
                     op("max_pool2d", {"a"}, {{"kernel", 3}}, "p"), op("reshape", {"p"}, {{"shape", {3, 8}}}, "f"),
                     op("matmul", {"f", "w2"}, {}, "logits"), op("cross_entropy", {"logits", "y"})});
  }
  SUBCASE("float32 inputs get float32 gradients") {
    const Tensor x = make_tensor(DType::f32, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor w = make_tensor(DType::f64, {1, 1, 2, 2}, {1, 0, 0, -1});
    GraphSpec spec;
    spec.ops.push_back(tensor_op("x", x));
    spec.ops.push_back(tensor_op("w", w));
    spec.ops.push_back(parse_op_spec(op("conv2d", {"x", "w"}, json::object(), "c")));
    spec.ops.push_back(parse_op_spec(op("sum", {"c"}, json::object(), "loss")));
    spec.ops.push_back(parse_op_spec({{"id", "dx"}, {"op", "grad"}, {"inputs", {"loss", "x"}}}));
    const auto values = run_graph(spec);
    const Tensor& dx = values.at("dx");
    REQUIRE(dx.dtype() == DType::f32);
    const std::vector<float> want = {1, 1, 0, 1, 0, -1, 0, -1, -1};
    for (int i = 0; i < 9; ++i) CHECK(dx.data<float>()[i] == want[i]);
  }
}

TEST_CASE("grad: random DAGs with fan-out match central differences") {
  std::mt19937_64 rng(7);
  const std::vector<const char*> unary = {"tanh", "sigmoid", "sin", "square", "neg"};
  const std::vector<const char*> binary = {"add", "sub", "mul", "maximum"};
  for (int round = 0; round < 12; ++round) {
    CAPTURE(round);
    std::vector<Input> inputs = {{"x0", {3, 3}, -1, 1}, {"x1", {3}, -1, 1}, {"x2", {3, 3}, -1, 1}};
    std::vector<std::pair<std::string, Shape>> values = {{"x0", {3, 3}}, {"x1", {3}}, {"x2", {3, 3}}};
    std::vector<json> ops;
    auto pick = [&](bool square) {
      for (;;) {
        const auto& v = values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
        if (!square || v.second == Shape{3, 3}) return v;
      }
    };
    for (int k = 0; k < 10; ++k) {
      const std::string id = "v" + std::to_string(k);
      const int kind = std::uniform_int_distribution<int>(0, 3)(rng);
      if (kind == 0) {
        const auto a = pick(false);
        ops.push_back(op(unary[rng() % unary.size()], {a.first}, json::object(), id));
        values.emplace_back(id, a.second);
      } else if (kind == 1) {
        const auto a = pick(false), c = pick(false);
        ops.push_back(op(binary[rng() % binary.size()], {a.first, c.first}, json::object(), id));
        values.emplace_back(id, ops::broadcast_shapes(a.second, c.second));
      } else if (kind == 2) {
        ops.push_back(op("matmul", {pick(true).first, pick(true).first}, json::object(), id));
        values.emplace_back(id, Shape{3, 3});
      } else {
        const auto a = pick(false);
        ops.push_back(op("mean", {a.first}, {{"axis", -1}, {"keepdims", true}}, id));
        Shape s = a.second;
        s.back() = 1;
        values.emplace_back(id, s);
      }
    }
    // The output sums the last few values, so that several paths reach the loss.
    const auto n = values.size();
    ops.push_back(op("add", {values[n - 1].first, values[n - 2].first}, json::object(), "s1"));
    ops.push_back(op("add", {"s1", values[n - 4].first}, json::object(), "out"));
    check_gradients(inputs, ops, static_cast<uint64_t>(round));
  }
}

namespace {

GraphSpec parse(const std::string& text) { return parse_graph_file(text); }

std::string refusal(GraphSpec spec, std::string* op_id = nullptr) {
  try {
    validate_graph(spec);
  } catch (const GraphError& e) {
    if (op_id) *op_id = e.op_id();
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("grad: an op without a gradient on the path is refused with its id") {
  std::string id;
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0]},
      {"id": "am", "op": "argmax", "inputs": ["x"]},
      {"id": "y", "op": "add", "inputs": ["am", "x"]},
      {"id": "loss", "op": "sum", "inputs": ["y"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})"),
                &id) == "op 'am': argmax has no gradient (needed for grad 'dx')");
  CHECK(id == "am");
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0]},
      {"id": "z", "op": "tensor", "value": 0.0},
      {"id": "gt", "op": "greater", "inputs": ["x", "z"]},
      {"id": "y", "op": "mul", "inputs": ["gt", "x"]},
      {"id": "loss", "op": "sum", "inputs": ["y"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})")) ==
        "op 'gt': greater has no gradient (needed for grad 'dx')");
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0, 2.0]},
      {"id": "u", "op": "unique", "inputs": ["x"]},
      {"id": "loss", "op": "sum", "inputs": ["u"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})")) ==
        "op 'u': unique has no gradient (needed for grad 'dx')");
  SUBCASE("the message names the grad whose w the op depends on") {
    CHECK(refusal(parse(R"({"ops": [
        {"id": "a", "op": "tensor", "value": [1.0, 2.0]},
        {"id": "b", "op": "tensor", "value": [1.0, 2.0]},
        {"id": "s", "op": "median", "inputs": ["b"]},
        {"id": "y", "op": "mul", "inputs": ["a", "s"]},
        {"id": "loss", "op": "sum", "inputs": ["y"]},
        {"id": "da", "op": "grad", "inputs": ["loss", "a"]},
        {"id": "db", "op": "grad", "inputs": ["loss", "b"]}]})")) ==
          "op 's': median has no gradient (needed for grad 'db')");
  }
}

TEST_CASE("grad: paths that carry no gradient are fine") {
  // where's condition and gather's indices may come from the differentiated value.
  check_gradients({{"x", {2, 3}}, {"z", {}, 0, 0, false, DType::f64, {0.0}}},
                  {op("greater", {"x", "z"}, json::object(), "gt"), op("where", {"gt", "x", "z"})});
  check_gradients({{"x", {4}}, {"z", {}, 0, 0, false, DType::f64, {0.0}}},
                  {op("argmax", {"x"}, json::object(), "am"), op("gather", {"x", "am"})});
  // x only reaches the loss through sign (zero gradient) and shape: the gradient is zeros.
  check_gradients({{"x", {2, 2}}}, {op("sign", {"x"}, json::object(), "s"), op("shape", {"x"}, json::object(), "sh"),
                            op("mul", {"s", "sh"})});
}

TEST_CASE("grad: what a grad op refuses") {
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0]},
      {"id": "dx", "op": "grad", "inputs": ["x", "x"]}]})")) ==
        "op 'dx': grad: the loss must have one element (a scalar), got shape (2,)");
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1, 2]},
      {"id": "loss", "op": "sum", "inputs": ["x"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})")) ==
        "op 'dx': grad: the loss must be float32 or float64, got int32");
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0]},
      {"id": "c", "op": "cast", "inputs": ["x"], "params": {"dtype": "int32"}},
      {"id": "p", "op": "mul", "inputs": ["c", "x"]},
      {"id": "loss", "op": "sum", "inputs": ["p"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})")) ==
        "op 'c': gradient of cast: a cast from float32 to int32 has no gradient (needed for grad 'dx')");
  CHECK(refusal(parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [1.0, 2.0]},
      {"id": "loss", "op": "sum", "inputs": ["x"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]},
      {"id": "l2", "op": "sum", "inputs": ["dx"]},
      {"id": "ddx", "op": "grad", "inputs": ["l2", "x"]}]})")) ==
        "op 'ddx': grad: gradients of gradients are not supported (loss 'l2' depends on grad 'dx')");
  SUBCASE("a loss submitted earlier") {
    GraphSpec spec = parse(R"({"ops": [{"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})");
    const std::unordered_map<std::string, TensorSpec> known = {{"loss", {DType::f32, {}}}, {"x", {DType::f32, {2}}}};
    CHECK_THROWS_WITH_AS(validate_graph(spec, known),
                         "op 'dx': grad: the loss 'loss' was submitted earlier; submit a grad with its loss", GraphError);
  }
}

TEST_CASE("grad: the expansion leaves no grad op, keeps ids and dtypes, and names generated ops <grad>#<n>") {
  GraphSpec spec = parse(R"({"ops": [
      {"id": "w", "op": "tensor", "value": [[1.0, 2.0], [3.0, 4.0]], "dtype": "float32"},
      {"id": "x", "op": "tensor", "value": [1.0, -1.0], "dtype": "float32"},
      {"id": "dw#1", "op": "neg", "inputs": ["x"]},
      {"id": "y", "op": "matmul", "inputs": ["w", "x"]},
      {"id": "loss", "op": "sum", "inputs": ["y"]},
      {"id": "dw", "op": "grad", "inputs": ["loss", "w"]},
      {"id": "step", "op": "sub", "inputs": ["w", "dw"]}], "outputs": ["step", "dw", "dw#1"]})");
  const auto specs = validate_graph(spec);
  std::set<std::string> ids;
  for (const auto& o : spec.ops) {
    CHECK_FALSE(is_grad_op(o));
    CHECK(ids.insert(o.id).second);
  }
  CHECK(specs.at("dw") == TensorSpec{DType::f32, {2, 2}});
  CHECK(ids.count("dw#1"));  // the developer's op, kept
  for (const auto& o : spec.ops)
    if (o.id.rfind("dw#", 0) == 0 && o.id != "dw#1") CHECK(std::stoi(o.id.substr(3)) > 1);
  const auto values = run_graph(spec);
  const Tensor& dw = values.at("dw");
  CHECK(std::vector<float>(dw.data<float>(), dw.data<float>() + 4) == std::vector<float>{1, -1, 1, -1});
}

TEST_CASE("grad: several grads of one loss share one backward pass") {
  const std::string forward = R"(
      {"id": "x", "op": "tensor", "value": [[1.0, 2.0], [3.0, 4.0]]},
      {"id": "w1", "op": "tensor", "value": [[0.5, -1.0], [1.5, 2.0]]},
      {"id": "w2", "op": "tensor", "value": [[1.0, 0.0], [-1.0, 1.0]]},
      {"id": "h", "op": "tanh", "inputs": ["x@w1"]},
      {"id": "x@w1", "op": "matmul", "inputs": ["x", "w1"]},
      {"id": "o", "op": "matmul", "inputs": ["h", "w2"]},
      {"id": "loss", "op": "mean", "inputs": ["o"]})";
  auto count = [&](const std::string& grads) {
    GraphSpec spec = parse("{\"ops\": [" + forward + grads + "]}");
    validate_graph(spec);
    return static_cast<int>(spec.ops.size()) - 7;
  };
  const int one = count(R"(, {"id": "d1", "op": "grad", "inputs": ["loss", "w1"]})");
  const int other = count(R"(, {"id": "d2", "op": "grad", "inputs": ["loss", "w2"]})");
  const int both = count(R"(, {"id": "d1", "op": "grad", "inputs": ["loss", "w1"]},
                              {"id": "d2", "op": "grad", "inputs": ["loss", "w2"]})");
  CHECK(both < one + other);
  CHECK(both <= one + 2);  // w2's gradient adds one matmul and a transpose to w1's pass
  SUBCASE("a grad with respect to an intermediate value and to the loss itself") {
    check_gradients({{"x", {2, 2}}, {"w", {2, 2}}}, {op("matmul", {"x", "w"}, json::object(), "xw"), op("tanh", {"xw"})});
    GraphSpec spec = parse("{\"ops\": [" + forward + R"(, {"id": "dh", "op": "grad", "inputs": ["loss", "h"]},
        {"id": "dl", "op": "grad", "inputs": ["loss", "loss"]}, {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})");
    const auto values = run_graph(spec);
    CHECK(scalar_of(values.at("dl")) == 1.0);
    CHECK(values.at("dh").shape() == Shape{2, 2});
    CHECK(values.at("dx").shape() == Shape{2, 2});
  }
  SUBCASE("two losses have a pass each, named after their first grad") {
    GraphSpec spec = parse(R"({"ops": [
        {"id": "x", "op": "tensor", "value": [1.0, -2.0], "dtype": "float64"},
        {"id": "sq", "op": "square", "inputs": ["x"]},
        {"id": "l1", "op": "sum", "inputs": ["sq"]},
        {"id": "l2", "op": "mean", "inputs": ["x"]},
        {"id": "a", "op": "grad", "inputs": ["l1", "x"]},
        {"id": "b", "op": "grad", "inputs": ["l2", "x"]}]})");
    const auto values = run_graph(spec);
    CHECK(std::vector<double>(values.at("a").data<double>(), values.at("a").data<double>() + 2) ==
          std::vector<double>{2.0, -4.0});
    CHECK(std::vector<double>(values.at("b").data<double>(), values.at("b").data<double>() + 2) ==
          std::vector<double>{0.5, 0.5});
    validate_graph(spec);
    int from_a = 0, from_b = 0;
    for (const auto& o : spec.ops) {
      from_a += o.id.rfind("a#", 0) == 0;
      from_b += o.id.rfind("b#", 0) == 0;
    }
    CHECK(from_a > 0);
    CHECK(from_b > 0);
  }
  SUBCASE("w submitted earlier: the gradient flows through this batch's ops") {
    GraphSpec spec = parse(R"({"ops": [
        {"id": "y", "op": "mul", "inputs": ["w", "w"]},
        {"id": "loss", "op": "sum", "inputs": ["y"]},
        {"id": "dw", "op": "grad", "inputs": ["loss", "w"]}]})");
    const std::unordered_map<std::string, TensorSpec> known = {{"w", {DType::f64, {3}}}};
    const auto specs = validate_graph(spec, known);
    CHECK(specs.at("dw") == TensorSpec{DType::f64, {3}});
  }
  SUBCASE("a w the loss does not depend on has a zero gradient") {
    GraphSpec spec = parse(R"({"ops": [
        {"id": "a", "op": "tensor", "value": [1.0, 2.0]},
        {"id": "b", "op": "tensor", "value": [[3.0, 4.0]]},
        {"id": "loss", "op": "sum", "inputs": ["a"]},
        {"id": "db", "op": "grad", "inputs": ["loss", "b"]}]})");
    const auto values = run_graph(spec);
    CHECK(values.at("db").shape() == Shape{1, 2});
    CHECK(scalar_of(values.at("db")) == 0.0);
  }
}

TEST_CASE("grad: a gradient has its value's dtype where float32 and float64 meet") {
  GraphSpec spec = parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [0.5, -1.5], "dtype": "float32"},
      {"id": "y", "op": "tensor", "value": [3.0, 0.25], "dtype": "float64"},
      {"id": "p", "op": "mul", "inputs": ["x", "y"]},
      {"id": "c", "op": "cast", "inputs": ["x"], "params": {"dtype": "float64"}},
      {"id": "q", "op": "add", "inputs": ["p", "c"]},
      {"id": "loss", "op": "sum", "inputs": ["q"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]},
      {"id": "dy", "op": "grad", "inputs": ["loss", "y"]}]})");
  const auto values = run_graph(spec);
  REQUIRE(values.at("dx").dtype() == DType::f32);
  REQUIRE(values.at("dy").dtype() == DType::f64);
  CHECK(std::vector<float>(values.at("dx").data<float>(), values.at("dx").data<float>() + 2) ==
        std::vector<float>{4.0f, 1.25f});
  CHECK(std::vector<double>(values.at("dy").data<double>(), values.at("dy").data<double>() + 2) ==
        std::vector<double>{0.5, -1.5});
  check_gradients({x23()}, {op("cast", {"x"}, {{"dtype", "float64"}})});
}

TEST_CASE("grad: float32 gradients keep float32") {
  GraphSpec spec = parse(R"({"ops": [
      {"id": "x", "op": "tensor", "value": [0.5, -1.5, 2.0], "dtype": "float32"},
      {"id": "y", "op": "tanh", "inputs": ["x"]},
      {"id": "loss", "op": "sum", "inputs": ["y"]},
      {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]})");
  const auto values = run_graph(spec);
  const Tensor& dx = values.at("dx");
  REQUIRE(dx.dtype() == DType::f32);
  for (int i = 0; i < 3; ++i) {
    const double x = std::vector<double>{0.5, -1.5, 2.0}[i];
    CHECK(dx.data<float>()[i] == doctest::Approx(1 - std::tanh(x) * std::tanh(x)).epsilon(1e-6));
  }
}

}  // namespace corvid

namespace corvid {

TEST_CASE("grad: README's op table names exactly the ops with a gradient rule") {
  const std::filesystem::path readme = CORVID_README;
  std::ifstream in(readme);
  REQUIRE_MESSAGE(in.good(), readme.string());
  // The last column of "| family | ops ([RavOp alias]) | with a gradient (`grad`) |" under "## Ops".
  std::set<std::string> documented;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) in_section = line == "## Ops";  // up to its first subsection
    if (!in_section || line.rfind("| ", 0) != 0 || line.rfind("| family", 0) == 0 || line.rfind("| ---", 0) == 0)
      continue;
    const std::size_t bar = line.rfind(" | ");
    REQUIRE(bar != std::string::npos);
    const std::string ops = line.substr(bar + 3, line.size() - bar - 5);
    if (ops.rfind("none (", 0) == 0) continue;  // "none (leaves)", "none (updates)"
    for (std::size_t start = 0; start <= ops.size();) {
      std::size_t end = ops.find(", ", start);
      if (end == std::string::npos) end = ops.size();
      documented.insert(ops.substr(start, end - start));
      start = end + 2;
    }
  }
  std::set<std::string> with_rule;
  for (const OpDef& op : op_table())
    if (has_gradient(op.name)) with_rule.insert(std::string(op.name));
  for (const auto& name : documented) CHECK_MESSAGE(with_rule.count(name), name << " has no gradient rule");
  for (const auto& name : with_rule) CHECK_MESSAGE(documented.count(name), name << " is not marked in README");
}

}  // namespace corvid
