// Elementwise ops: unary functions, binary ops with NumPy broadcasting, where, clip, cast, and the
// softmax activations. As in ggml, each family has one kernel template and each op is a small
// functor; a functor's `kind` fixes its dtypes (see the kinds below and README "Dtype promotion").
// Inner loops are plain loops over contiguous rows (or a broadcast scalar) so that compilers
// vectorise them natively and with wasm simd128.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "elementwise_kernels.hpp"
#include "families.hpp"

namespace corvid::ops {

namespace {

// ---------------------------------------------------------------------------------------------
// Kinds: how an op's compute type follows from its (promoted) input type, and what it returns.
// Element types are the C++ types of the dtypes: float, double, int32_t, uint8_t (bool).

template <class T>
constexpr bool is_bool_v = std::is_same_v<T, uint8_t>;

// Arithmetic (add, neg, square, ...): bool computes as int32, others keep their type.
struct ArithKind {
  template <class T> using compute_t = std::conditional_t<is_bool_v<T>, int32_t, T>;
  template <class C> using out_t = C;
};
// Float-valued functions (exp, div, ...): floats keep their type, int32 and bool compute as float32.
struct FloatKind {
  template <class T> using compute_t = std::conditional_t<std::is_floating_point_v<T>, T, float>;
  template <class C> using out_t = C;
};
// Selections (maximum, minimum, relu): the value is one of the operands, so every dtype keeps.
struct SelectKind {
  template <class T> using compute_t = T;
  template <class C> using out_t = C;
};
// Comparisons and logical ops: compare in the promoted type, return bool.
struct PredicateKind {
  template <class T> using compute_t = T;
  template <class C> using out_t = uint8_t;
};

// The output dtype of functor F for operands promoted to `promoted`.
template <class F>
DType result_dtype(DType promoted) {
  return visit_dtype(promoted, [](auto zero) {
    using C = typename F::kind::template compute_t<decltype(zero)>;
    return dtype_of<typename F::kind::template out_t<C>>::value;
  });
}

// `t` itself if it already has dtype `d`, else a converted copy stored in `holder`.
const Tensor& with_dtype(const Tensor& t, DType d, Tensor& holder) {
  if (t.dtype() == d) return t;
  holder = t.astype(d);
  return holder;
}

// int32 arithmetic wraps around like NumPy's (computed in uint32 to avoid signed overflow).
inline int32_t wrap(uint32_t v) { return static_cast<int32_t>(v); }
inline uint32_t bits(int32_t v) { return static_cast<uint32_t>(v); }

// Clang (the wasm build) vectorises a loop one vector per iteration by default; for exp's long
// dependency chain, four independent vectors per iteration let V8's code overlap them (about 25%
// faster under Node). GCC decides this itself.
#if defined(__clang__)
#define CORVID_INTERLEAVE_4 _Pragma("clang loop interleave_count(4)")
#else
#define CORVID_INTERLEAVE_4
#endif

// Flops charged per output element, for the cost model: transcendental functions cost more.
constexpr int kCheap = 1;
constexpr int kTranscendental = 10;

template <int FlopsPerElement>
Cost per_element_cost(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params& params) {
  Cost c = elementwise_cost(inputs, output, params);
  c.flops *= FlopsPerElement;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Unary ops.

struct Neg {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(0u - bits(x));
    else return -x;
  }
};
struct Pos {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const { return x; }
};
struct Abs {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, int32_t>) return x < 0 ? wrap(0u - bits(x)) : x;
    else return std::fabs(x);
  }
};
struct Sign {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  // NumPy: -1, 0 or 1, with +0 for -0; NaN stays NaN.
  template <class T> T operator()(T x) const { return x > T(0) ? T(1) : x < T(0) ? T(-1) : x == T(0) ? T(0) : x; }
};
struct Square {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(bits(x) * bits(x));
    else return x * x;
  }
};
struct Cube {
  using kind = ArithKind;
  static constexpr int flops = 2;
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(bits(x) * bits(x) * bits(x));
    else return x * x * x;
  }
};
struct Exp {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  float operator()(float x) const { return exp_f32(x); }
  double operator()(double x) const { return std::exp(x); }
};
struct Log {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  float operator()(float x) const { return log_f32(x); }
  double operator()(double x) const { return std::log(x); }
};
struct Sqrt {
  using kind = FloatKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const { return std::sqrt(x); }
};
struct Cbrt {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  template <class T> T operator()(T x) const { return std::cbrt(x); }
};
struct Reciprocal {
  using kind = FloatKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T x) const { return T(1) / x; }
};
struct Sin {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  template <class T> T operator()(T x) const { return std::sin(x); }
};
struct Cos {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  template <class T> T operator()(T x) const { return std::cos(x); }
};
struct Tanh {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  float operator()(float x) const { return tanh_f32(x); }
  double operator()(double x) const { return std::tanh(x); }
};
struct Sigmoid {
  using kind = FloatKind;
  static constexpr int flops = kTranscendental;
  float operator()(float x) const { return 1.0f / (1.0f + exp_f32(-x)); }
  double operator()(double x) const { return 1.0 / (1.0 + std::exp(-x)); }
};
struct Relu {
  using kind = SelectKind;
  static constexpr int flops = kCheap;
  // maximum(x, 0) as NumPy gives it: NaN propagates, -0 gives +0, bool is already >= 0.
  template <class T> T operator()(T x) const {
    if constexpr (is_bool_v<T>) return x;
    else return x <= T(0) ? T(0) : x;
  }
};
struct LogicalNot {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T x) const { return x == T(0); }
};

template <class F>
TensorSpec unary_infer(const std::vector<TensorSpec>& inputs, const Params&) {
  return {result_dtype<F>(inputs[0].dtype), inputs[0].shape};
}

template <class F, class In, class C, class R>
void unary_loop(const In* __restrict x, R* __restrict out, int64_t n) {
  const F f;
  CORVID_INTERLEAVE_4
  for (int64_t i = 0; i < n; ++i) out[i] = f(static_cast<C>(x[i]));
}

template <class F>
Tensor unary_kernel(const std::vector<const Tensor*>& inputs, const Params&) {
  const Tensor& x = *inputs[0];
  return visit_dtype(x.dtype(), [&](auto zero) {
    using In = decltype(zero);
    using C = typename F::kind::template compute_t<In>;
    using R = typename F::kind::template out_t<C>;
    Tensor out(dtype_of<R>::value, x.shape());
    unary_loop<F, In, C, R>(x.data<In>(), out.data<R>(), x.size());
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Binary ops. Operands are first converted to the compute type (only when their dtypes differ).

// Functors may reject operand values before the loop runs (pow's negative integer exponents).
struct NoOperandCheck {
  template <class C> static void check_operands(const Tensor&, const Tensor&) {}
};

struct Add : NoOperandCheck {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(bits(a) + bits(b));
    else return a + b;
  }
};
struct Sub : NoOperandCheck {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(bits(a) - bits(b));
    else return a - b;
  }
};
struct Mul : NoOperandCheck {
  using kind = ArithKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, int32_t>) return wrap(bits(a) * bits(b));
    else return a * b;
  }
};
struct Div : NoOperandCheck {
  using kind = FloatKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T a, T b) const { return a / b; }
};
struct Pow {
  using kind = ArithKind;
  static constexpr int flops = kTranscendental;
  // NumPy raises for integers to negative integer powers; so do we, before computing.
  template <class C> static void check_operands(const Tensor&, const Tensor& exponent) {
    if constexpr (std::is_same_v<C, int32_t>) {
      const int32_t* e = exponent.data<int32_t>();
      for (int64_t i = 0; i < exponent.size(); ++i)
        if (e[i] < 0) throw std::invalid_argument("integers to negative integer powers are not allowed");
    }
  }
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, int32_t>) {
      uint32_t result = 1, base = bits(a);
      for (uint32_t e = bits(b); e != 0; e >>= 1) {
        if (e & 1u) result *= base;
        base *= base;
      }
      return wrap(result);
    } else {
      return std::pow(a, b);
    }
  }
};
struct Maximum : NoOperandCheck {
  using kind = SelectKind;
  static constexpr int flops = kCheap;
  // NumPy: a NaN in either operand gives NaN.
  template <class T> T operator()(T a, T b) const { return (a >= b || a != a) ? a : b; }
};
struct Minimum : NoOperandCheck {
  using kind = SelectKind;
  static constexpr int flops = kCheap;
  template <class T> T operator()(T a, T b) const { return (a <= b || a != a) ? a : b; }
};
struct Greater : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a > b; }
};
struct GreaterEqual : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a >= b; }
};
struct Less : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a < b; }
};
struct LessEqual : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a <= b; }
};
struct Equal : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a == b; }
};
struct NotEqual : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return a != b; }
};
// Logical ops: any nonzero value (NaN included) is true.
struct LogicalAnd : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return (a != T(0)) & (b != T(0)); }
};
struct LogicalOr : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return (a != T(0)) | (b != T(0)); }
};
struct LogicalXor : NoOperandCheck {
  using kind = PredicateKind;
  static constexpr int flops = kCheap;
  template <class T> uint8_t operator()(T a, T b) const { return (a != T(0)) ^ (b != T(0)); }
};

template <class F>
TensorSpec binary_infer(const std::vector<TensorSpec>& inputs, const Params&) {
  return {result_dtype<F>(promote(inputs[0].dtype, inputs[1].dtype)),
          broadcast_shapes(inputs[0].shape, inputs[1].shape)};
}

// out[i] = f(a[i * sa], b[i * sb]) for strides 0 or 1, with a separate loop per stride pair so
// that each one vectorises.
template <class F, class C, class R>
void binary_span(const C* __restrict a, int64_t sa, const C* __restrict b, int64_t sb, R* __restrict out, int64_t n) {
  const F f;
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const C bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const C av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}

template <class F, class C, class R>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.size();
  if (n == 0) return;
  const C* pa = a.data<C>();
  const C* pb = b.data<C>();
  R* po = out.data<R>();
  // Equal element counts of broadcast-compatible shapes mean identical layouts.
  if (a.size() == n && b.size() == n) return binary_span<F, C, R>(pa, 1, pb, 1, po, n);
  if (a.size() == n && b.size() == 1) return binary_span<F, C, R>(pa, 1, pb, 0, po, n);
  if (a.size() == 1 && b.size() == n) return binary_span<F, C, R>(pa, 0, pb, 1, po, n);
  const auto plan = plan_broadcast<2>(out.shape(), {&a.shape(), &b.shape()});
  for_each_row(plan, [&](int64_t o, const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& s, int64_t len) {
    binary_span<F, C, R>(pa + off[0], s[0], pb + off[1], s[1], po + o, len);
  });
}

template <class F>
Tensor binary_kernel(const std::vector<const Tensor*>& inputs, const Params&) {
  const Tensor& a0 = *inputs[0];
  const Tensor& b0 = *inputs[1];
  const Shape shape = broadcast_shapes(a0.shape(), b0.shape());
  return visit_dtype(promote(a0.dtype(), b0.dtype()), [&](auto zero) {
    using C = typename F::kind::template compute_t<decltype(zero)>;
    using R = typename F::kind::template out_t<C>;
    Tensor ha, hb;
    const Tensor& a = with_dtype(a0, dtype_of<C>::value, ha);
    const Tensor& b = with_dtype(b0, dtype_of<C>::value, hb);
    Tensor out(dtype_of<R>::value, shape);
    if (out.size() > 0) F::template check_operands<C>(a, b);
    broadcast_binary<F, C, R>(a, b, out);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// where(cond, x, y): x where cond is nonzero, else y; all three broadcast; dtype promote(x, y).

TensorSpec where_infer(const std::vector<TensorSpec>& inputs, const Params&) {
  return {promote(inputs[1].dtype, inputs[2].dtype),
          broadcast_shapes(broadcast_shapes(inputs[0].shape, inputs[1].shape), inputs[2].shape)};
}

Tensor where_kernel(const std::vector<const Tensor*>& inputs, const Params&) {
  const Tensor& cond0 = *inputs[0];
  Tensor hc;
  const Tensor& cond = with_dtype(cond0, DType::boolean, hc);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), inputs[1]->shape()), inputs[2]->shape());
  return visit_dtype(promote(inputs[1]->dtype(), inputs[2]->dtype()), [&](auto zero) {
    using T = decltype(zero);
    Tensor hx, hy;
    const Tensor& x = with_dtype(*inputs[1], dtype_of<T>::value, hx);
    const Tensor& y = with_dtype(*inputs[2], dtype_of<T>::value, hy);
    Tensor out(dtype_of<T>::value, shape);
    const int64_t n = out.size();
    const uint8_t* pc = cond.data<uint8_t>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    if (n == 0) return out;
    if (cond.size() == n && x.size() == n && y.size() == n) {
      for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
      return out;
    }
    const auto plan = plan_broadcast<3>(shape, {&cond.shape(), &x.shape(), &y.shape()});
    for_each_row(plan, [&](int64_t o, const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& s, int64_t len) {
      const uint8_t* c = pc + off[0];
      const T* xs = px + off[1];
      const T* ys = py + off[2];
      T* dst = po + o;
      for (int64_t i = 0; i < len; ++i) dst[i] = c[i * s[0]] ? xs[i * s[1]] : ys[i * s[2]];
    });
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// clip(x, min, max) = minimum(maximum(x, min), max) like NumPy; either bound may be absent.
// The dtype is kept: an int32 input needs integer bounds, a bool input is refused.

// The bound `name` in the input's element type T (int32 bounds saturate), or `fallback` when absent.
template <class T>
T clip_bound(const Params& params, const char* name, T fallback) {
  if (!has_param(params, name)) return fallback;
  const double v = number_param(params, name, 0);
  if constexpr (std::is_same_v<T, int32_t>) {
    constexpr double lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
    return static_cast<int32_t>(std::min(std::max(v, lo), hi));
  } else {
    return static_cast<T>(v);
  }
}

TensorSpec clip_infer(const std::vector<TensorSpec>& inputs, const Params& params) {
  const DType d = inputs[0].dtype;
  if (d == DType::boolean) throw std::invalid_argument("input must be numeric, got bool");
  for (const char* name : {"min", "max"}) {
    const double v = number_param(params, name, 0);
    if (d == DType::i32 && has_param(params, name) && v != std::floor(v))
      throw std::invalid_argument(std::string("param '") + name + "' must be an integer for an int32 input, got " +
                                  params.at(name).dump());
  }
  return {d, inputs[0].shape};
}

Tensor clip_kernel(const std::vector<const Tensor*>& inputs, const Params& params) {
  const Tensor& x = *inputs[0];
  Tensor out(x.dtype(), x.shape());
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!is_bool_v<T>) {
      constexpr bool kFloat = std::is_floating_point_v<T>;
      constexpr T kLowest = kFloat ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
      constexpr T kHighest = kFloat ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
      const T lo = clip_bound<T>(params, "min", kLowest);
      const T hi = clip_bound<T>(params, "max", kHighest);
      const T* px = x.data<T>();
      T* po = out.data<T>();
      for (int64_t i = 0; i < x.size(); ++i) {
        const T v = px[i] < lo ? lo : px[i];
        po[i] = v > hi ? hi : v;
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// cast(x, dtype): NumPy's astype, through Tensor::astype (float to int32 truncates; NaN,
// infinities and values outside int32 give INT32_MIN on every build, README "Ops").

TensorSpec cast_infer(const std::vector<TensorSpec>& inputs, const Params& params) {
  const std::optional<DType> dtype = dtype_param(params);
  if (!dtype) throw std::invalid_argument("param 'dtype' is required (float32, float64, int32 or bool)");
  return {*dtype, inputs[0].shape};
}

Tensor cast_kernel(const std::vector<const Tensor*>& inputs, const Params& params) {
  return inputs[0]->astype(*dtype_param(params));
}

// ---------------------------------------------------------------------------------------------
// softmax and log_softmax along one axis, computed as exp(x - max) / sum(exp(x - max)) and
// (x - max) - log(sum(exp(x - max))) so that large inputs do not overflow. Any dtype; int32 and
// bool compute in float32.

TensorSpec softmax_infer(const std::vector<TensorSpec>& inputs, const Params& params) {
  normalize_axis(int_param(params, "axis", -1), static_cast<int64_t>(inputs[0].shape.size()));
  return {float_result(inputs[0].dtype), inputs[0].shape};
}

inline float exp_of(float x) { return exp_f32(x); }
inline double exp_of(double x) { return std::exp(x); }

// Lane count of the partial maxima and sums below: independent accumulators let the compiler
// vectorise reductions without reassociating floating-point adds itself.
constexpr int64_t kLanes = 8;

template <class T>
T row_max(const T* x, int64_t n) {
  T acc[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) acc[j] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (; i < n; ++i) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  T m = acc[0];
  for (int64_t j = 1; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

// y[i] = exp(x[i] - m); returns the sum of the y[i].
template <class T>
T exp_shifted_sum(const T* __restrict x, T m, T* __restrict y, int64_t n) {
  CORVID_INTERLEAVE_4
  for (int64_t i = 0; i < n; ++i) y[i] = exp_of(x[i] - m);
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += y[i + j];
  for (; i < n; ++i) acc[0] += y[i];
  T s = 0;
  for (int64_t j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// Rows along the last axis: each row is contiguous.
template <class T>
void softmax_last_axis(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const T m = row_max(xr, n);
    const T s = exp_shifted_sum(xr, m, yr, n);
    if (log) {
      // (x - m) is exact for x near m; adding log(s) to m first would round it away.
      const T log_s = std::log(s);
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) - log_s;
    } else {
      const T inv = T(1) / s;
      for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
    }
  }
}

// Another axis: a block (len, inner) per outer index, computed across the inner elements.
template <class T>
void softmax_inner_axis(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool log) {
  std::vector<T> m(static_cast<std::size_t>(inner)), s(static_cast<std::size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * len * inner;
    T* yo = y + o * len * inner;
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    std::fill(s.begin(), s.end(), T(0));
    for (int64_t k = 0; k < len; ++k)
      for (int64_t j = 0; j < inner; ++j) m[j] = xo[k * inner + j] > m[j] ? xo[k * inner + j] : m[j];
    for (int64_t k = 0; k < len; ++k)
      for (int64_t j = 0; j < inner; ++j) {
        const T e = exp_of(xo[k * inner + j] - m[j]);
        yo[k * inner + j] = e;
        s[j] += e;
      }
    if (log) {
      for (int64_t j = 0; j < inner; ++j) s[j] = std::log(s[j]);
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < inner; ++j) yo[k * inner + j] = (xo[k * inner + j] - m[j]) - s[j];
    } else {
      for (int64_t j = 0; j < inner; ++j) s[j] = T(1) / s[j];
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < inner; ++j) yo[k * inner + j] *= s[j];
    }
  }
}

template <bool Log>
Tensor softmax_kernel(const std::vector<const Tensor*>& inputs, const Params& params) {
  Tensor hx;
  const Tensor& x = with_dtype(*inputs[0], float_result(inputs[0]->dtype()), hx);
  const int64_t axis = normalize_axis(int_param(params, "axis", -1), x.ndim());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.ndim(); ++d) inner *= x.shape()[d];
  const int64_t len = x.shape()[axis];
  Tensor out(x.dtype(), x.shape());
  if (out.size() == 0) return out;
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_floating_point_v<T>) {
      if (inner == 1) softmax_last_axis(x.data<T>(), out.data<T>(), outer, len, Log);
      else softmax_inner_axis(x.data<T>(), out.data<T>(), outer, len, inner, Log);
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows.

template <class F>
OpDef unary_op_row(std::string_view name, std::vector<std::string_view> aliases = {}) {
  return {name, std::move(aliases), 1, 1, OpFamily::unary, unary_infer<F>, per_element_cost<F::flops>, unary_kernel<F>,
          {}};
}

template <class F>
OpDef binary_op_row(std::string_view name, std::vector<std::string_view> aliases = {}) {
  return {name, std::move(aliases), 2, 2, OpFamily::binary, binary_infer<F>, per_element_cost<F::flops>,
          binary_kernel<F>, {}};
}

}  // namespace

std::vector<OpDef> elementwise_rows() {
  return {
      unary_op_row<Neg>("neg"),
      unary_op_row<Pos>("pos"),
      unary_op_row<Abs>("abs"),
      unary_op_row<Sign>("sign"),
      unary_op_row<Exp>("exp"),
      unary_op_row<Log>("log", {"natlog"}),
      unary_op_row<Sqrt>("sqrt", {"square_root"}),
      unary_op_row<Cbrt>("cbrt", {"cube_root"}),
      unary_op_row<Square>("square"),
      unary_op_row<Cube>("cube"),
      unary_op_row<Reciprocal>("reciprocal"),
      unary_op_row<Sin>("sin"),
      unary_op_row<Cos>("cos"),
      unary_op_row<Tanh>("tanh"),
      unary_op_row<Sigmoid>("sigmoid"),
      unary_op_row<Relu>("relu"),
      unary_op_row<LogicalNot>("logical_not"),
      binary_op_row<Add>("add"),
      binary_op_row<Sub>("sub"),
      binary_op_row<Mul>("mul", {"multiply"}),
      binary_op_row<Div>("div"),
      binary_op_row<Pow>("pow"),
      binary_op_row<Maximum>("maximum"),
      binary_op_row<Minimum>("minimum"),
      binary_op_row<Greater>("greater"),
      binary_op_row<GreaterEqual>("greater_equal"),
      binary_op_row<Less>("less"),
      binary_op_row<LessEqual>("less_equal"),
      binary_op_row<Equal>("equal"),
      binary_op_row<NotEqual>("not_equal"),
      binary_op_row<LogicalAnd>("logical_and"),
      binary_op_row<LogicalOr>("logical_or"),
      binary_op_row<LogicalXor>("logical_xor"),
      {"where", {}, 3, 3, OpFamily::ternary, where_infer, elementwise_cost, where_kernel, {}},
      {"clip", {}, 1, 1, OpFamily::unary, clip_infer, per_element_cost<2>, clip_kernel,
       {{"min", ParamType::number}, {"max", ParamType::number}}},
      {"cast", {}, 1, 1, OpFamily::unary, cast_infer, elementwise_cost, cast_kernel, {{"dtype", ParamType::dtype}}},
      {"softmax", {}, 1, 1, OpFamily::activation, softmax_infer, per_element_cost<kTranscendental + 4>,
       softmax_kernel<false>, {{"axis", ParamType::integer}}},
      {"log_softmax", {}, 1, 1, OpFamily::activation, softmax_infer, per_element_cost<kTranscendental + 4>,
       softmax_kernel<true>, {{"axis", ParamType::integer}}},
  };
}

}  // namespace corvid::ops
