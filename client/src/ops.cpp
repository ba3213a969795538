// One-line wrappers from C++ calls to ops of the table (the names are the table's).
#include "corvid/ops.hpp"

#include <cmath>

namespace corvid {

namespace {

Value unary(const char* name, const Value& a, Params params = Params::object()) { return op(name, {a}, params); }

Params reduce_params(const Axes& axis, bool keepdims) {
  Params p = Params::object();
  axis.write(p);
  p["keepdims"] = keepdims;
  return p;
}

Value reduce(const char* name, const Value& a, const Axes& axis, bool keepdims) {
  return op(name, {a}, reduce_params(axis, keepdims));
}

}  // namespace

Value scalar_like(const Value& like, double x) {
  const DType d = like.dtype();
  const bool integral = std::floor(x) == x && std::abs(x) < 2147483648.0;
  DType dtype = is_float(d) ? d : (integral ? DType::i32 : DType::f32);
  return like.graph().tensor(Tensor::scalar<double>(x).astype(dtype));
}

void Axes::write(Params& params) const {
  if (!axes_) return;
  if (single_) params["axis"] = axes_->front();
  else params["axis"] = *axes_;
}

// ---- sources: a graph's builders, and the free functions on the current graph ----
Value Graph::zeros(const Shape& shape, DType dtype) { return op("zeros", {}, {{"shape", shape}, {"dtype", dtype_name(dtype)}}); }
Value Graph::ones(const Shape& shape, DType dtype) { return op("ones", {}, {{"shape", shape}, {"dtype", dtype_name(dtype)}}); }
Value Graph::random_uniform(const Shape& shape, double low, double high, int64_t seed, DType dtype) {
  return op("random_uniform", {},
            {{"shape", shape}, {"low", low}, {"high", high}, {"seed", seed}, {"dtype", dtype_name(dtype)}});
}
Value Graph::random_normal(const Shape& shape, double mean, double stddev, int64_t seed, DType dtype) {
  return op("random_normal", {},
            {{"shape", shape}, {"mean", mean}, {"std", stddev}, {"seed", seed}, {"dtype", dtype_name(dtype)}});
}

Value zeros(const Shape& shape, DType dtype) { return Graph::current().zeros(shape, dtype); }
Value ones(const Shape& shape, DType dtype) { return Graph::current().ones(shape, dtype); }
Value random_uniform(const Shape& shape, double low, double high, int64_t seed, DType dtype) {
  return Graph::current().random_uniform(shape, low, high, seed, dtype);
}
Value random_normal(const Shape& shape, double mean, double stddev, int64_t seed, DType dtype) {
  return Graph::current().random_normal(shape, mean, stddev, seed, dtype);
}
Value lin(double scalar) { return Graph::current().lin(scalar); }

// ---- unary ----
#define CORVID_UNARY(fn, name) \
  Value fn(const Value& a) { return unary(name, a); }
CORVID_UNARY(neg, "neg")
CORVID_UNARY(pos, "pos")
CORVID_UNARY(abs, "abs")
CORVID_UNARY(sign, "sign")
CORVID_UNARY(exp, "exp")
CORVID_UNARY(log, "log")
CORVID_UNARY(natlog, "log")
CORVID_UNARY(sqrt, "sqrt")
CORVID_UNARY(square_root, "sqrt")
CORVID_UNARY(cbrt, "cbrt")
CORVID_UNARY(cube_root, "cbrt")
CORVID_UNARY(square, "square")
CORVID_UNARY(cube, "cube")
CORVID_UNARY(reciprocal, "reciprocal")
CORVID_UNARY(sin, "sin")
CORVID_UNARY(cos, "cos")
CORVID_UNARY(tanh, "tanh")
CORVID_UNARY(sigmoid, "sigmoid")
CORVID_UNARY(relu, "relu")
CORVID_UNARY(logical_not, "logical_not")
#undef CORVID_UNARY

// ---- binary ----
#define CORVID_BINARY(fn, name)                                                              \
  Value fn(const Value& a, const Value& b) { return op(name, {a, b}); }                      \
  Value fn(const Value& a, double b) { return op(name, {a, scalar_like(a, b)}); }            \
  Value fn(double a, const Value& b) { return op(name, {scalar_like(b, a), b}); }
CORVID_BINARY(add, "add")
CORVID_BINARY(sub, "sub")
CORVID_BINARY(mul, "mul")
CORVID_BINARY(multiply, "mul")
CORVID_BINARY(div, "div")
CORVID_BINARY(pow, "pow")
CORVID_BINARY(maximum, "maximum")
CORVID_BINARY(minimum, "minimum")
CORVID_BINARY(greater, "greater")
CORVID_BINARY(greater_equal, "greater_equal")
CORVID_BINARY(less, "less")
CORVID_BINARY(less_equal, "less_equal")
CORVID_BINARY(equal, "equal")
CORVID_BINARY(not_equal, "not_equal")
CORVID_BINARY(logical_and, "logical_and")
CORVID_BINARY(logical_or, "logical_or")
CORVID_BINARY(logical_xor, "logical_xor")
#undef CORVID_BINARY

#define CORVID_OPERATOR(sym, fn)                                              \
  Value operator sym(const Value& a, const Value& b) { return fn(a, b); }     \
  Value operator sym(const Value& a, double b) { return fn(a, b); }           \
  Value operator sym(double a, const Value& b) { return fn(a, b); }
CORVID_OPERATOR(+, add)
CORVID_OPERATOR(-, sub)
CORVID_OPERATOR(*, mul)
CORVID_OPERATOR(/, div)
CORVID_OPERATOR(<, less)
CORVID_OPERATOR(<=, less_equal)
CORVID_OPERATOR(>, greater)
CORVID_OPERATOR(>=, greater_equal)
#undef CORVID_OPERATOR
Value operator-(const Value& a) { return neg(a); }
Value operator+(const Value& a) { return pos(a); }
Value operator!(const Value& a) { return logical_not(a); }
Value operator&&(const Value& a, const Value& b) { return logical_and(a, b); }
Value operator||(const Value& a, const Value& b) { return logical_or(a, b); }

Value Value::eq(const Value& other) const { return equal(*this, other); }
Value Value::ne(const Value& other) const { return not_equal(*this, other); }
Value Value::eq(double other) const { return equal(*this, other); }
Value Value::ne(double other) const { return not_equal(*this, other); }

// ---- where, clip ----
Value where(const Value& cond, const Value& x, const Value& y) { return op("where", {cond, x, y}); }
Value clip(const Value& a, double min, double max) { return unary("clip", a, {{"min", min}, {"max", max}}); }

// ---- reductions ----
#define CORVID_REDUCE(fn, name) \
  Value fn(const Value& a, Axes axis, bool keepdims) { return reduce(name, a, axis, keepdims); }
CORVID_REDUCE(sum, "sum")
CORVID_REDUCE(mean, "mean")
CORVID_REDUCE(prod, "prod")
CORVID_REDUCE(min, "min")
CORVID_REDUCE(max, "max")
CORVID_REDUCE(argmax, "argmax")
CORVID_REDUCE(argmin, "argmin")
CORVID_REDUCE(var, "var")
CORVID_REDUCE(variance, "var")
CORVID_REDUCE(std, "std")
CORVID_REDUCE(median, "median")
CORVID_REDUCE(mode, "mode")
CORVID_REDUCE(average, "average")
#undef CORVID_REDUCE
Value percentile(const Value& a, double q, Axes axis, bool keepdims) {
  Params p = reduce_params(axis, keepdims);
  p["q"] = q;
  return op("percentile", {a}, p);
}
Value average(const Value& a, const Value& weights, Axes axis, bool keepdims) {
  return op("average", {a, weights}, reduce_params(axis, keepdims));
}

// ---- linear algebra ----
Value matmul(const Value& a, const Value& b) { return op("matmul", {a, b}); }
Value dot(const Value& a, const Value& b) { return op("dot", {a, b}); }
Value transpose(const Value& a) { return unary("transpose", a); }
Value transpose(const Value& a, const std::vector<int64_t>& axes) { return unary("transpose", a, {{"axes", axes}}); }
Value inv(const Value& a) { return unary("inv", a); }

// ---- movement ----
Value reshape(const Value& a, const Shape& shape) { return unary("reshape", a, {{"shape", shape}}); }
Value flatten(const Value& a) { return unary("flatten", a); }
Value ravel(const Value& a) { return unary("flatten", a); }
Value expand_dims(const Value& a, Axes axis) {
  Params p = Params::object();
  axis.write(p);
  return unary("expand_dims", a, p);
}
Value squeeze(const Value& a, Axes axis) {
  Params p = Params::object();
  axis.write(p);
  return unary("squeeze", a, p);
}
Value concat(const std::vector<Value>& values, int64_t axis) {
  return op("concat", values, {{"axis", axis}});
}
Value stack(const std::vector<Value>& values, int64_t axis) { return op("stack", values, {{"axis", axis}}); }
Value split(const Value& a, int64_t sections, int64_t index, int64_t axis) {
  return unary("split", a, {{"axis", axis}, {"sections", sections}, {"index", index}});
}
Value slice(const Value& a, const std::vector<int64_t>& begin, const std::vector<int64_t>& size) {
  return unary("slice", a, {{"begin", begin}, {"size", size}});
}
Value gather(const Value& a, const Value& indices, int64_t axis) { return op("gather", {a, indices}, {{"axis", axis}}); }
Value scatter_add(const Value& indices, const Value& updates, int64_t size, int64_t axis) {
  return op("scatter_add", {indices, updates}, {{"axis", axis}, {"size", size}});
}
Value reverse(const Value& a, Axes axis) {
  Params p = Params::object();
  axis.write(p);
  return unary("reverse", a, p);
}
Value tile(const Value& a, const std::vector<int64_t>& reps) { return unary("tile", a, {{"reps", reps}}); }
Value sort(const Value& a, int64_t axis) { return unary("sort", a, {{"axis", axis}}); }
Value argsort(const Value& a, int64_t axis) { return unary("argsort", a, {{"axis", axis}}); }
Value unique(const Value& a) { return unary("unique", a); }
Value one_hot(const Value& a, int64_t depth) { return unary("one_hot", a, {{"depth", depth}}); }
Value one_hot_encoding(const Value& a, int64_t depth) { return one_hot(a, depth); }
Value find_indices(const Value& a, const std::vector<double>& values) {
  return unary("find_indices", a, {{"values", values}});
}
Value bincount(const Value& a, int64_t minlength) { return unary("bincount", a, {{"minlength", minlength}}); }
Value bincount(const Value& a, const Value& weights, int64_t minlength) {
  return op("bincount", {a, weights}, {{"minlength", minlength}});
}
Value shape(const Value& a) { return unary("shape", a); }
Value set_value(const Value& a, const std::vector<int64_t>& index, double value) {
  return unary("set_value", a, {{"index", index}, {"value", value}});
}

// ---- activations ----
namespace {
Params hw_params(std::initializer_list<std::pair<const char*, Hw>> pairs) {
  Params p = Params::object();
  for (const auto& [name, v] : pairs) p[name] = {v.h, v.w};
  return p;
}
Params pool_params(Hw kernel, std::optional<Hw> stride, Hw padding) {
  return hw_params({{"kernel", kernel}, {"stride", stride.value_or(kernel)}, {"padding", padding}});
}
}  // namespace

Value conv2d(const Value& x, const Value& w, Hw stride, Hw padding, Hw dilation) {
  return op("conv2d", {x, w}, hw_params({{"stride", stride}, {"padding", padding}, {"dilation", dilation}}));
}
Value conv2d(const Value& x, const Value& w, const Value& bias, Hw stride, Hw padding, Hw dilation) {
  return op("conv2d", {x, w, bias}, hw_params({{"stride", stride}, {"padding", padding}, {"dilation", dilation}}));
}
Value max_pool2d(const Value& x, Hw kernel, std::optional<Hw> stride, Hw padding) {
  return op("max_pool2d", {x}, pool_params(kernel, stride, padding));
}
Value avg_pool2d(const Value& x, Hw kernel, std::optional<Hw> stride, Hw padding) {
  return op("avg_pool2d", {x}, pool_params(kernel, stride, padding));
}
Value conv2d_backward_input(const Value& g, const Value& w, Hw input_size, Hw stride, Hw padding, Hw dilation) {
  return op("conv2d_backward_input", {g, w},
            hw_params({{"input_size", input_size}, {"stride", stride}, {"padding", padding}, {"dilation", dilation}}));
}
Value conv2d_backward_weight(const Value& x, const Value& g, Hw kernel_size, Hw stride, Hw padding, Hw dilation) {
  return op("conv2d_backward_weight", {x, g},
            hw_params({{"kernel_size", kernel_size}, {"stride", stride}, {"padding", padding}, {"dilation", dilation}}));
}
Value max_pool2d_backward(const Value& x, const Value& g, Hw kernel, std::optional<Hw> stride, Hw padding) {
  return op("max_pool2d_backward", {x, g}, pool_params(kernel, stride, padding));
}
Value avg_pool2d_backward(const Value& g, Hw input_size, Hw kernel, std::optional<Hw> stride, Hw padding) {
  Params p = pool_params(kernel, stride, padding);
  p["input_size"] = {input_size.h, input_size.w};
  return op("avg_pool2d_backward", {g}, p);
}
Value cross_entropy(const Value& logits, const Value& labels) { return op("cross_entropy", {logits, labels}); }

Value softmax(const Value& a, int64_t axis) { return unary("softmax", a, {{"axis", axis}}); }
Value log_softmax(const Value& a, int64_t axis) { return unary("log_softmax", a, {{"axis", axis}}); }

// ---- optimizers' update rules ----
Value sgd_momentum(const Value& buf, const Value& g, double momentum) {
  return op("sgd_momentum", {buf, g}, {{"momentum", momentum}});
}
Value sgd_update(const Value& w, const Value& d, double lr) { return op("sgd_update", {w, d}, {{"lr", lr}}); }
Value adam_m(const Value& m, const Value& g, double beta1) { return op("adam_m", {m, g}, {{"beta1", beta1}}); }
Value adam_v(const Value& v, const Value& g, double beta2) { return op("adam_v", {v, g}, {{"beta2", beta2}}); }
Value adam_update(const Value& w, const Value& m, const Value& v, double lr, int64_t step, double beta1, double beta2,
                  double eps, double weight_decay) {
  return op("adam_update", {w, m, v},
            {{"lr", lr}, {"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", weight_decay}, {"step", step}});
}

// ---- gradients ----
Value grad(const Value& loss, const Value& w) { return loss.graph().op("grad", {loss, w}); }

std::vector<Value> grad(const Value& loss, const std::vector<Value>& ws) {
  std::vector<Value> out;
  for (const auto& w : ws) out.push_back(grad(loss, w));
  return out;
}

// ---- conversion ----
Value cast(const Value& a, DType dtype) { return unary("cast", a, {{"dtype", std::string(dtype_name(dtype))}}); }

}  // namespace corvid
