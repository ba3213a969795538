// Every op of the op table as a function on Values (RavOp's names too), and the operators.
// Each records one op on the graph of its first Value input and checks it at once; see
// shared/ops for the semantics (NumPy's). The sources here take no Value: they record on the
// current graph of the thread (see Graph); graph.zeros(...) and the like record on `graph`.
#pragma once

#include <initializer_list>
#include <optional>
#include <vector>

#include "corvid/graph.hpp"

namespace corvid {

// The "axis" param of reductions: all axes (default), one axis, or several.
class Axes {
 public:
  Axes() = default;
  Axes(int axis) : axes_(std::vector<int64_t>{axis}), single_(true) {}
  Axes(std::initializer_list<int64_t> axes) : axes_(std::vector<int64_t>(axes)) {}
  Axes(std::vector<int64_t> axes) : axes_(std::move(axes)) {}
  // Adds "axis" to params unless this means all axes.
  void write(Params& params) const;

 private:
  std::optional<std::vector<int64_t>> axes_;
  bool single_ = false;
};

// ---- sources (on the current graph; Graph has the same as members) ----
Value zeros(const Shape& shape, DType dtype = DType::f32);
Value ones(const Shape& shape, DType dtype = DType::f32);
Value random_uniform(const Shape& shape, double low = 0, double high = 1, int64_t seed = 0, DType dtype = DType::f32);
Value random_normal(const Shape& shape, double mean = 0, double stddev = 1, int64_t seed = 0, DType dtype = DType::f32);
Value lin(double scalar);  // RavOp's name for a scalar tensor
// A 0-d tensor for a number next to `like`, on like's graph: like's dtype when the number fits
// it (2.0 next to float32 is float32, 2 next to int32 int32, 2.5 next to int32 float32).
Value scalar_like(const Value& like, double x);

// ---- unary ----
Value neg(const Value& a);
Value pos(const Value& a);
Value abs(const Value& a);
Value sign(const Value& a);
Value exp(const Value& a);
Value log(const Value& a);
Value natlog(const Value& a);
Value sqrt(const Value& a);
Value square_root(const Value& a);
Value cbrt(const Value& a);
Value cube_root(const Value& a);
Value square(const Value& a);
Value cube(const Value& a);
Value reciprocal(const Value& a);
Value sin(const Value& a);
Value cos(const Value& a);
Value tanh(const Value& a);
Value sigmoid(const Value& a);
Value relu(const Value& a);
Value logical_not(const Value& a);

// ---- binary, with NumPy broadcasting; a double operand becomes a 0-d tensor of the other
// operand's dtype when it fits (2 with int32 stays int32, 2.5 with int32 is float32) ----
#define CORVID_BINARY(name)                 \
  Value name(const Value& a, const Value& b); \
  Value name(const Value& a, double b);       \
  Value name(double a, const Value& b);
CORVID_BINARY(add)
CORVID_BINARY(sub)
CORVID_BINARY(mul)
CORVID_BINARY(multiply)
CORVID_BINARY(div)
CORVID_BINARY(pow)
CORVID_BINARY(maximum)
CORVID_BINARY(minimum)
CORVID_BINARY(greater)
CORVID_BINARY(greater_equal)
CORVID_BINARY(less)
CORVID_BINARY(less_equal)
CORVID_BINARY(equal)
CORVID_BINARY(not_equal)
CORVID_BINARY(logical_and)
CORVID_BINARY(logical_or)
CORVID_BINARY(logical_xor)
#undef CORVID_BINARY

Value operator+(const Value& a, const Value& b);
Value operator+(const Value& a, double b);
Value operator+(double a, const Value& b);
Value operator-(const Value& a, const Value& b);
Value operator-(const Value& a, double b);
Value operator-(double a, const Value& b);
Value operator*(const Value& a, const Value& b);
Value operator*(const Value& a, double b);
Value operator*(double a, const Value& b);
Value operator/(const Value& a, const Value& b);
Value operator/(const Value& a, double b);
Value operator/(double a, const Value& b);
Value operator<(const Value& a, const Value& b);
Value operator<(const Value& a, double b);
Value operator<(double a, const Value& b);
Value operator<=(const Value& a, const Value& b);
Value operator<=(const Value& a, double b);
Value operator<=(double a, const Value& b);
Value operator>(const Value& a, const Value& b);
Value operator>(const Value& a, double b);
Value operator>(double a, const Value& b);
Value operator>=(const Value& a, const Value& b);
Value operator>=(const Value& a, double b);
Value operator>=(double a, const Value& b);
Value operator-(const Value& a);
Value operator+(const Value& a);
Value operator!(const Value& a);
Value operator&&(const Value& a, const Value& b);
Value operator||(const Value& a, const Value& b);

// ---- where, clip ----
Value where(const Value& cond, const Value& x, const Value& y);
Value clip(const Value& a, double min, double max);

// ---- reductions (axis: all by default; keepdims false) ----
Value sum(const Value& a, Axes axis = {}, bool keepdims = false);
Value mean(const Value& a, Axes axis = {}, bool keepdims = false);
Value prod(const Value& a, Axes axis = {}, bool keepdims = false);
Value min(const Value& a, Axes axis = {}, bool keepdims = false);
Value max(const Value& a, Axes axis = {}, bool keepdims = false);
Value argmax(const Value& a, Axes axis = {}, bool keepdims = false);
Value argmin(const Value& a, Axes axis = {}, bool keepdims = false);
Value var(const Value& a, Axes axis = {}, bool keepdims = false);
Value variance(const Value& a, Axes axis = {}, bool keepdims = false);
Value std(const Value& a, Axes axis = {}, bool keepdims = false);
Value median(const Value& a, Axes axis = {}, bool keepdims = false);
Value percentile(const Value& a, double q, Axes axis = {}, bool keepdims = false);
Value mode(const Value& a, Axes axis = {}, bool keepdims = false);
Value average(const Value& a, Axes axis = {}, bool keepdims = false);
Value average(const Value& a, const Value& weights, Axes axis = {}, bool keepdims = false);

// ---- linear algebra ----
Value matmul(const Value& a, const Value& b);
Value dot(const Value& a, const Value& b);
Value transpose(const Value& a);  // axes reversed
Value transpose(const Value& a, const std::vector<int64_t>& axes);
Value inv(const Value& a);

// ---- movement ----
Value reshape(const Value& a, const Shape& shape);  // one -1 allowed
Value flatten(const Value& a);
Value ravel(const Value& a);
Value expand_dims(const Value& a, Axes axis);
Value squeeze(const Value& a, Axes axis = {});  // default: every size-1 axis
Value concat(const std::vector<Value>& values, int64_t axis = 0);
Value stack(const std::vector<Value>& values, int64_t axis = 0);
// Part `index` of `sections` equal parts along `axis`.
Value split(const Value& a, int64_t sections, int64_t index, int64_t axis = 0);
// size -1 runs to the end of the axis.
Value slice(const Value& a, const std::vector<int64_t>& begin, const std::vector<int64_t>& size);
Value gather(const Value& a, const Value& indices, int64_t axis = 0);
// gather's adjoint: zeros with `size` along `axis`, updates (of gather's output shape) added at the indices.
Value scatter_add(const Value& indices, const Value& updates, int64_t size, int64_t axis = 0);
Value reverse(const Value& a, Axes axis = {});
Value tile(const Value& a, const std::vector<int64_t>& reps);
Value sort(const Value& a, int64_t axis = -1);
// int32 positions that sort each line along `axis`, stable (ties keep their order), NaN last.
Value argsort(const Value& a, int64_t axis = -1);
Value unique(const Value& a);
Value one_hot(const Value& a, int64_t depth);
Value one_hot_encoding(const Value& a, int64_t depth);
Value find_indices(const Value& a, const std::vector<double>& values);
Value bincount(const Value& a, int64_t minlength = 0);
Value bincount(const Value& a, const Value& weights, int64_t minlength = 0);
Value shape(const Value& a);
Value set_value(const Value& a, const std::vector<int64_t>& index, double value);

// ---- activations ----
Value softmax(const Value& a, int64_t axis = -1);
Value log_softmax(const Value& a, int64_t axis = -1);

// ---- neural networks (NCHW images, OIHW weights; README, "Ops") ----
// (height, width) of a window param, or one value for both.
struct Hw {
  Hw(int64_t both) : h(both), w(both) {}  // NOLINT: Hw{1} and 1 read the same
  Hw(int64_t h, int64_t w) : h(h), w(w) {}
  int64_t h, w;
};
// x (N, C, H, W) convolved with w (O, C, kh, kw): (N, O, Ho, Wo), as torch.nn.functional.conv2d.
Value conv2d(const Value& x, const Value& w, Hw stride = 1, Hw padding = 0, Hw dilation = 1);
Value conv2d(const Value& x, const Value& w, const Value& bias, Hw stride = 1, Hw padding = 0, Hw dilation = 1);
// The max (or the mean, padding counted) of each kernel window; stride defaults to the kernel.
Value max_pool2d(const Value& x, Hw kernel, std::optional<Hw> stride = std::nullopt, Hw padding = 0);
Value avg_pool2d(const Value& x, Hw kernel, std::optional<Hw> stride = std::nullopt, Hw padding = 0);
// The mean over the batch of -log softmax(logits)[label]: logits (N, C) float, labels (N) int32.
Value cross_entropy(const Value& logits, const Value& labels);

// What the gradients of conv2d and the pools expand to (README, "Ops"); rarely called directly.
Value conv2d_backward_input(const Value& g, const Value& w, Hw input_size, Hw stride = 1, Hw padding = 0,
                            Hw dilation = 1);
Value conv2d_backward_weight(const Value& x, const Value& g, Hw kernel_size, Hw stride = 1, Hw padding = 0,
                             Hw dilation = 1);
Value max_pool2d_backward(const Value& x, const Value& g, Hw kernel, std::optional<Hw> stride = std::nullopt,
                          Hw padding = 0);
Value avg_pool2d_backward(const Value& g, Hw input_size, Hw kernel, std::optional<Hw> stride = std::nullopt,
                          Hw padding = 0);

// ---- optimizers' update rules (README, "Optimizers"); corvid::SGD and corvid::Adam call them ----
// momentum buf + g, and w - lr d (torch.optim.SGD's buffer and step).
Value sgd_momentum(const Value& buf, const Value& g, double momentum);
Value sgd_update(const Value& w, const Value& d, double lr);
// Adam's moments beta1 m + (1 - beta1) g and beta2 v + (1 - beta2) g², and its bias-corrected step
// number `step` (from 1), with AdamW's decoupled weight_decay.
Value adam_m(const Value& m, const Value& g, double beta1 = 0.9);
Value adam_v(const Value& v, const Value& g, double beta2 = 0.999);
Value adam_update(const Value& w, const Value& m, const Value& v, double lr, int64_t step, double beta1 = 0.9,
                  double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0);

// ---- gradients ----
// The gradient of `loss` (a float scalar, one element) with respect to `w` (a float tensor):
// the shape and dtype of w. The server expands it into ordinary ops of a backward pass (README,
// "Gradients"), computed by workers like any other op. The loss must be sent in the same batch
// as its gradients: ask for no value between building the loss and its grads. Throws GraphError
// at once for a loss that is not a float scalar; a path through an op without a gradient
// (argmax, comparisons, ...) is refused when the batch is sent, naming the op.
Value grad(const Value& loss, const Value& w);
// The gradients of `loss` with respect to each of `ws`, from one backward pass.
std::vector<Value> grad(const Value& loss, const std::vector<Value>& ws);

// ---- conversion ----
// NumPy's astype: float to int32 truncates (NaN, infinities and out-of-range values give INT32_MIN).
Value cast(const Value& a, DType dtype);

}  // namespace corvid
