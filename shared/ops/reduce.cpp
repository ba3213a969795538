// Reduction rows of the op table: sum, mean, prod, min, max, argmax, argmin, var, std, median,
// percentile, mode, average. NumPy semantics: "axis" absent/null reduces every axis, an integer
// (negative allowed) or a list reduces those; "keepdims" keeps reduced axes as size 1.
//
// Every kernel first views its input as (outer, len, inner): the reduced axes coalesce into len
// when they are adjacent (ignoring size-1 axes); otherwise the input is permuted to
// (kept..., reduced...) so that inner == 1. Running sums of float32 are kept in double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "families.hpp"
#include "linalg_kernels.hpp"

namespace corvid::ops {

namespace {

// ---------------------------------------------------------------- shapes and layout

// The parsed axis/keepdims params of one reduction and the shape they give.
struct ReduceArgs {
  std::vector<int64_t> axes;  // sorted, unique, non-negative
  bool keepdims = false;
  Shape out;
};

Shape reduced_shape(const Shape& in, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced) out.push_back(in[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

ReduceArgs reduce_args(const Shape& in, const Params& params) {
  ReduceArgs r;
  r.axes = reduction_axes(params, static_cast<int64_t>(in.size()));
  r.keepdims = bool_param(params, "keepdims", false);
  r.out = reduced_shape(in, r.axes, r.keepdims);
  return r;
}

// argmax/argmin take one integer axis or null (the flattened index), as NumPy does (their row
// declares the axis an integer).
ReduceArgs arg_reduce_args(const Shape& in, const Params& params) {
  ReduceArgs r;
  if (has_param(params, "axis")) r.axes = {normalize_axis(int_param(params, "axis", 0), static_cast<int64_t>(in.size()))};
  else
    for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d) r.axes.push_back(d);
  r.keepdims = bool_param(params, "keepdims", false);
  r.out = reduced_shape(in, r.axes, r.keepdims);
  return r;
}

// Number of elements folded into each output, or -1 if a reduced dimension is unknown.
int64_t reduced_length(const Shape& in, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int64_t a : axes) {
    if (in[a] < 0) return -1;
    n *= in[a];
  }
  return n;
}

// Ops without an identity (min, max, argmax, mode, ...) cannot reduce zero elements into an output.
void require_nonempty(const Shape& in, const ReduceArgs& r, const char* what) {
  bool output_empty = false;
  for (int64_t d : r.out) output_empty = output_empty || d == 0;
  if (reduced_length(in, r.axes) == 0 && !output_empty)
    throw std::invalid_argument(std::string("zero-size array has no ") + what + " (reducing " + shape_string(in) +
                                " over an empty axis)");
}

// The input seen as (outer, len, inner): element (o, r, j) is at (o * len + r) * inner + j of
// data(), which is the input itself or a permuted copy of it.
struct ReduceView {
  const Tensor* source = nullptr;
  Tensor permuted;
  bool is_permuted = false;
  int64_t outer = 1, len = 1, inner = 1;
  const Tensor& data() const { return is_permuted ? permuted : *source; }
};

// Views `in` (which must outlive the view) for reducing `axes`; with need_contiguous the reduced
// elements of each output are always adjacent (inner == 1), as sort-based reductions need.
ReduceView reduce_view(const Tensor& in, const std::vector<int64_t>& axes, bool need_contiguous) {
  const Shape& s = in.shape();
  const int64_t nd = in.ndim();
  std::vector<bool> reduced(nd, false);
  for (int64_t a : axes) reduced[a] = true;
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < nd; ++d)
    if (reduced[d] && s[d] != 1) {
      if (first < 0) first = d;
      last = d;
    }
  bool adjacent = true;
  for (int64_t d = first + 1; first >= 0 && d < last; ++d) adjacent = adjacent && (reduced[d] || s[d] == 1);
  ReduceView v;
  v.source = &in;
  v.outer = 1;
  for (int64_t d = 0; d < nd; ++d) (reduced[d] ? v.len : v.outer) *= s[d];
  if (first < 0) return v;  // nothing of size > 1 is reduced: every output is one element
  int64_t inner = 1;
  for (int64_t d = last + 1; d < nd; ++d) inner *= s[d];
  if (adjacent && (inner == 1 || !need_contiguous)) {
    v.inner = inner;
    v.outer = 1;
    for (int64_t d = 0; d < first; ++d) v.outer *= s[d];
    return v;
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < nd; ++d)
    if (!reduced[d]) perm.push_back(d);
  for (int64_t d = 0; d < nd; ++d)
    if (reduced[d]) perm.push_back(d);
  v.permuted = permute_axes(in, perm);
  v.is_permuted = true;
  return v;
}

// ---------------------------------------------------------------- streaming folds

// Folds every (outer, :, inner) line of x into one Acc per output and calls emit(index, acc).
// init(first element) starts an accumulator, step(acc, x) adds one element, merge(acc, acc)
// combines partial accumulators; step(init(x0), x0) must equal init(x0) (true for sums from
// zero and for min/max from x0). Contiguous lines use independent lanes so that the compiler
// vectorises the loop without reassociating floating-point sums.
template <class Acc, class T, class Init, class Step, class Merge, class Emit>
void fold(const T* x, const ReduceView& v, Init init, Step step, Merge merge, Emit emit) {
  constexpr int kLanes = 16;
  constexpr int64_t kColumns = 256;
  for (int64_t o = 0; o < v.outer; ++o) {
    const T* base = x + o * v.len * v.inner;
    if (v.inner == 1) {
      Acc lanes[kLanes];
      for (auto& l : lanes) l = init(base);
      int64_t r = 0;
      for (; r + kLanes <= v.len; r += kLanes)
        for (int l = 0; l < kLanes; ++l) step(lanes[l], base[r + l]);
      for (; r < v.len; ++r) step(lanes[0], base[r]);
      for (int l = 1; l < kLanes; ++l) merge(lanes[0], lanes[l]);
      emit(o, lanes[0]);
      continue;
    }
    for (int64_t j0 = 0; j0 < v.inner; j0 += kColumns) {
      const int64_t cols = std::min(kColumns, v.inner - j0);
      Acc acc[kColumns];
      for (int64_t j = 0; j < cols; ++j) acc[j] = init(base + j0 + j);
      for (int64_t r = 0; r < v.len; ++r) {
        const T* row = base + r * v.inner + j0;
        for (int64_t j = 0; j < cols; ++j) step(acc[j], row[j]);
      }
      for (int64_t j = 0; j < cols; ++j) emit(o * v.inner + j0 + j, acc[j]);
    }
  }
}

// Accumulator of sums and products: double for floats, wrapping uint32 for int32 and bool.
template <class T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double, uint32_t>;

DType sum_dtype(DType in) { return is_float(in) ? in : DType::i32; }

template <class O, class Acc>
O to_output(Acc acc) {
  if constexpr (std::is_same_v<Acc, uint32_t>) return static_cast<O>(static_cast<int32_t>(acc));
  else return static_cast<O>(acc);
}

// Sum (or product) of each line into an output of dtype sum_dtype(input).
template <bool kProduct>
Tensor sum_or_prod(const Tensor& in, const ReduceArgs& r) {
  Tensor out(sum_dtype(in.dtype()), r.out);
  const ReduceView v = reduce_view(in, r.axes, false);
  visit_dtype(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using Acc = SumAcc<T>;
    visit_dtype(out.dtype(), [&](auto out_zero) {
      using O = decltype(out_zero);
      O* dst = out.data<O>();
      auto init = [](const T*) { return Acc(kProduct ? 1 : 0); };
      auto step = [](Acc& a, T x) {
        if constexpr (kProduct) a *= static_cast<Acc>(x);
        else a += static_cast<Acc>(x);
      };
      auto merge = [](Acc& a, Acc b) {
        if constexpr (kProduct) a *= b;
        else a += b;
      };
      fold<Acc>(v.data().template data<T>(), v, init, step, merge,
                [&](int64_t i, Acc a) { dst[i] = to_output<O>(a); });
    });
  });
  return out;
}

// Integer of the same width as T, for per-column NaN flags that vectorise alongside T.
template <class T>
using LaneFlag = std::conditional_t<sizeof(T) == 8, int64_t, std::conditional_t<sizeof(T) == 4, int32_t, uint8_t>>;

// 16-byte vectors of T (GCC/clang vector extensions: SSE natively, simd128 in wasm), written
// out because neither compiler vectorises a NaN-aware select reduction on its own.
template <class T>
struct Vec16 {
  typedef T V __attribute__((vector_size(16)));
  static constexpr int width = 16 / static_cast<int>(sizeof(T));
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
};

// The larger (kMax) or smaller of a and c; a when they compare equal or c is NaN.
template <bool kMax, class T>
T pick_extreme(T a, T c) {
  if constexpr (kMax) return c > a ? c : a;
  else return c < a ? c : a;
}

// Max (min) of the n >= 1 contiguous values at x; sets `nan` if one of them is NaN.
template <bool kMax, class T>
T extreme_of_line(const T* x, int64_t n, bool& nan) {
  using S = Vec16<T>;
  using V = typename S::V;
  constexpr int kVectors = 4;  // independent accumulators hide the compare/select latency
  constexpr int64_t kStep = kVectors * S::width;
  T best = x[0];
  bool saw_nan = false;
  int64_t i = 0;
  if (n >= kStep) {
    V m[kVectors];
    decltype(V{} != V{}) bad[kVectors] = {};
    for (auto& v : m) v = S::load(x);
    for (; i + kStep <= n; i += kStep)
      for (int u = 0; u < kVectors; ++u) {
        const V v = S::load(x + i + u * S::width);
        if constexpr (kMax) m[u] = v > m[u] ? v : m[u];
        else m[u] = v < m[u] ? v : m[u];
        bad[u] |= v != v;
      }
    for (int u = 0; u < kVectors; ++u)
      for (int l = 0; l < S::width; ++l) {
        best = pick_extreme<kMax>(best, static_cast<T>(m[u][l]));
        saw_nan = saw_nan || bad[u][l] != 0;
      }
  }
  for (; i < n; ++i) {
    best = pick_extreme<kMax>(best, x[i]);
    saw_nan = saw_nan || x[i] != x[i];
  }
  nan = saw_nan;
  return best;
}

// Min or max keeping the dtype; NaN propagates like NumPy's. The running extreme ignores NaN
// and a separate flag per lane records whether one was seen, so both loops vectorise.
template <bool kMax>
Tensor min_or_max(const Tensor& in, const ReduceArgs& r) {
  Tensor out(in.dtype(), r.out);
  const ReduceView v = reduce_view(in, r.axes, false);
  visit_dtype(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using Flag = LaneFlag<T>;
    constexpr int64_t kColumns = 256;
    const T* x = v.data().template data<T>();
    T* dst = out.data<T>();
    auto pick = [](T a, T c) { return pick_extreme<kMax>(a, c); };
    auto finish = [](T a, bool nan) {
      if constexpr (std::is_floating_point_v<T>) return nan ? std::numeric_limits<T>::quiet_NaN() : a;
      else return a;
    };
    for (int64_t o = 0; o < v.outer; ++o) {
      const T* base = x + o * v.len * v.inner;
      if (v.inner == 1) {
        bool nan = false;
        const T best = extreme_of_line<kMax>(base, v.len, nan);
        dst[o] = finish(best, nan);
        continue;
      }
      for (int64_t j0 = 0; j0 < v.inner; j0 += kColumns) {
        const int64_t cols = std::min(kColumns, v.inner - j0);
        T acc[kColumns];
        Flag nan[kColumns] = {};
        for (int64_t j = 0; j < cols; ++j) acc[j] = base[j0 + j];
        for (int64_t k = 0; k < v.len; ++k) {
          const T* row = base + k * v.inner + j0;
          for (int64_t j = 0; j < cols; ++j) {
            acc[j] = pick(acc[j], row[j]);
            nan[j] |= static_cast<Flag>(row[j] != row[j]);
          }
        }
        for (int64_t j = 0; j < cols; ++j) dst[o * v.inner + j0 + j] = finish(acc[j], nan[j]);
      }
    }
  });
  return out;
}

// Sums of each line as doubles (one per output), for mean and var.
std::vector<double> line_sums(const ReduceView& v) {
  std::vector<double> sums(static_cast<std::size_t>(v.outer * v.inner));
  visit_dtype(v.data().dtype(), [&](auto zero) {
    using T = decltype(zero);
    auto step = [](double& a, T x) { a += static_cast<double>(x); };
    fold<double>(v.data().template data<T>(), v, [](const T*) { return 0.0; }, step,
                 [](double& a, double b) { a += b; }, [&](int64_t i, double a) { sums[i] = a; });
  });
  return sums;
}

// Writes values (one per output, in output order) into a new tensor of dtype `dtype`.
Tensor tensor_of(DType dtype, const Shape& shape, const std::vector<double>& values) {
  Tensor out(dtype, shape);
  visit_dtype(dtype, [&](auto zero) {
    using O = decltype(zero);
    O* dst = out.data<O>();
    for (std::size_t i = 0; i < values.size(); ++i) dst[i] = static_cast<O>(values[i]);
  });
  return out;
}

Tensor mean_of(const Tensor& in, const ReduceArgs& r) {
  const ReduceView v = reduce_view(in, r.axes, false);
  std::vector<double> values = line_sums(v);
  for (double& s : values) s /= static_cast<double>(v.len);  // 0/0 -> NaN for an empty reduction, as NumPy
  return tensor_of(float_result(in.dtype()), r.out, values);
}

// Population variance with divisor len - ddof (two passes: mean, then squared deviations).
std::vector<double> variances(const Tensor& in, const ReduceArgs& r, double ddof) {
  const ReduceView v = reduce_view(in, r.axes, false);
  std::vector<double> means = line_sums(v);
  for (double& s : means) s /= static_cast<double>(v.len);
  std::vector<double> out(means.size(), 0.0);
  visit_dtype(v.data().dtype(), [&](auto zero) {
    using T = decltype(zero);
    constexpr int kLanes = 16;
    const T* x = v.data().template data<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      const T* base = x + o * v.len * v.inner;
      if (v.inner == 1) {  // independent lanes, so that the loop vectorises
        const double mean = means[o];
        double lanes[kLanes] = {};
        int64_t k = 0;
        for (; k + kLanes <= v.len; k += kLanes)
          for (int l = 0; l < kLanes; ++l) {
            const double d = static_cast<double>(base[k + l]) - mean;
            lanes[l] += d * d;
          }
        for (; k < v.len; ++k) {
          const double d = static_cast<double>(base[k]) - mean;
          lanes[0] += d * d;
        }
        for (int l = 0; l < kLanes; ++l) out[o] += lanes[l];
        continue;
      }
      double* acc = out.data() + o * v.inner;
      const double* mean = means.data() + o * v.inner;
      for (int64_t k = 0; k < v.len; ++k) {
        const T* row = base + k * v.inner;
        for (int64_t j = 0; j < v.inner; ++j) {
          const double d = static_cast<double>(row[j]) - mean[j];
          acc[j] += d * d;
        }
      }
    }
  });
  const double divisor = std::max(static_cast<double>(v.len) - ddof, 0.0);
  for (double& s : out) s /= divisor;
  return out;
}

// ---------------------------------------------------------------- argmax / argmin

template <bool kMax>
Tensor arg_extreme(const Tensor& in, const ReduceArgs& r) {
  Tensor out(DType::i32, r.out);
  const ReduceView v = reduce_view(in, r.axes, false);
  int32_t* dst = out.data<int32_t>();
  visit_dtype(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = v.data().template data<T>();
    auto better = [](T best, T c) {  // c wins over best: strictly better, or the first NaN
      if constexpr (kMax) return c > best || (c != c && best == best);
      else return c < best || (c != c && best == best);
    };
    std::vector<T> best(static_cast<std::size_t>(v.inner));
    for (int64_t o = 0; o < v.outer; ++o) {
      const T* base = x + o * v.len * v.inner;
      int32_t* idx = dst + o * v.inner;
      if (v.inner == 1) {  // the vectorised extreme, then its first occurrence (or the first NaN)
        bool nan = false;
        const T target = extreme_of_line<kMax>(base, v.len, nan);
        int64_t k = 0;
        if (nan)
          while (base[k] == base[k]) ++k;
        else
          while (base[k] != target) ++k;
        idx[0] = static_cast<int32_t>(k);
        continue;
      }
      for (int64_t j = 0; j < v.inner; ++j) {
        best[j] = base[j];
        idx[j] = 0;
      }
      for (int64_t k = 1; k < v.len; ++k) {
        const T* row = base + k * v.inner;
        for (int64_t j = 0; j < v.inner; ++j)
          if (better(best[j], row[j])) {
            best[j] = row[j];
            idx[j] = static_cast<int32_t>(k);
          }
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------- sort-based reductions

// NumPy's linear interpolation between sorted neighbours a <= b (method "linear"), except that
// infinities never make NaN through 0 * inf as they do in NumPy (numpy/numpy#12282): exact at
// t == 0 and between equal values, infinite when one neighbour is, NaN only strictly between
// -inf and inf. Finite neighbours give NumPy's value bit for bit.
double lerp(double a, double b, double t) {
  if (t == 0 || a == b) return a;
  if (std::isinf(a) && std::isinf(b)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(a)) return a;
  if (std::isinf(b)) return b;
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

template <class T>
bool has_nan(const T* first, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (first[i] != first[i]) return true;
  return false;
}

// q-th percentile (0..100) of the line [first, first + n); reorders it. NaN if any element is NaN
// or the line is empty.
template <class T>
double percentile_of(T* first, int64_t n, double q) {
  if (n == 0 || has_nan(first, n)) return std::numeric_limits<double>::quiet_NaN();
  const double index = q / 100.0 * static_cast<double>(n - 1);
  const int64_t lo = std::min<int64_t>(static_cast<int64_t>(std::floor(index)), n - 1);
  std::nth_element(first, first + lo, first + n);
  const double a = static_cast<double>(first[lo]);
  if (lo + 1 >= n) return a;
  const double b = static_cast<double>(*std::min_element(first + lo + 1, first + n));
  return lerp(a, b, index - static_cast<double>(lo));
}

// np.median of the line [first, first + n); reorders it: the middle value, or the mean (a + b) / 2
// of the two middle values, computed as NumPy does (so inf and inf give inf, -inf and inf NaN).
// NaN if any element is NaN or the line is empty.
template <class T>
double median_of(T* first, int64_t n) {
  if (n == 0 || has_nan(first, n)) return std::numeric_limits<double>::quiet_NaN();
  const int64_t hi = n / 2;
  std::nth_element(first, first + hi, first + n);
  const double b = static_cast<double>(first[hi]);
  if (n % 2 == 1) return b;
  const double a = static_cast<double>(*std::max_element(first, first + hi));
  return (a + b) / 2;
}

// line_value(first, n) of every line (a contiguous copy it may reorder), one double per output.
template <class LineValue>
std::vector<double> sorted_line_values(const Tensor& in, const ReduceArgs& r, LineValue line_value) {
  ReduceView v = reduce_view(in, r.axes, true);
  std::vector<double> out(static_cast<std::size_t>(v.outer));
  visit_dtype(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = v.data().template data<T>();
    std::vector<T> line(static_cast<std::size_t>(v.len));
    for (int64_t o = 0; o < v.outer; ++o) {
      std::copy(x + o * v.len, x + (o + 1) * v.len, line.begin());
      out[o] = line_value(line.data(), v.len);
    }
  });
  return out;
}

double percentile_q(const Params& params) {
  if (!has_param(params, "q")) throw std::invalid_argument("param 'q' is required (a percentile from 0 to 100)");
  const double q = number_param(params, "q", 0);
  if (!(q >= 0 && q <= 100)) throw std::invalid_argument("param 'q' must be between 0 and 100, got " + params.at("q").dump());
  return q;
}

// Most frequent value of every line; the smallest among equally frequent ones.
Tensor mode_of(const Tensor& in, const ReduceArgs& r) {
  Tensor out(in.dtype(), r.out);
  ReduceView v = reduce_view(in, r.axes, true);
  visit_dtype(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = v.data().template data<T>();
    T* dst = out.data<T>();
    std::vector<T> line(static_cast<std::size_t>(v.len));
    auto less = [](T a, T b) { return a < b || (a == a && b != b); };  // NaN last: a strict weak order
    for (int64_t o = 0; o < v.outer; ++o) {
      std::copy(x + o * v.len, x + (o + 1) * v.len, line.begin());
      std::sort(line.begin(), line.end(), less);
      T best = line[0];
      int64_t best_count = 0;
      for (int64_t i = 0; i < v.len;) {  // runs of equal values; NaNs make one run, as in np.unique
        int64_t j = i + 1;
        while (j < v.len && (line[j] == line[i] || (line[j] != line[j] && line[i] != line[i]))) ++j;
        if (j - i > best_count) {
          best_count = j - i;
          best = line[i];
        }
        i = j;
      }
      dst[o] = best;
    }
  });
  return out;
}

// ---------------------------------------------------------------- average

// np.average's weights: the input's shape, or 1-d along a single integer axis.
void check_weights(const Shape& a, const Shape& w, const Params& params) {
  if (w == a) return;
  if (w.size() != 1)
    throw std::invalid_argument("weights shape " + shape_string(w) + " differs from input shape " + shape_string(a) +
                                "; give weights of the input's shape, or 1-d weights along one integer axis");
  if (!has_param(params, "axis") || params.at("axis").is_array())
    throw std::invalid_argument("1-d weights " + shape_string(w) + " for input " + shape_string(a) +
                                " need a single integer axis");
  const int64_t axis = normalize_axis(int_param(params, "axis", 0), static_cast<int64_t>(a.size()));
  if (w[0] != a[axis] && w[0] >= 0 && a[axis] >= 0)
    throw std::invalid_argument("length of weights " + std::to_string(w[0]) + " does not match axis " +
                                std::to_string(axis) + " of length " + std::to_string(a[axis]));
}

// Weights as float64 of the input's shape (1-d weights are repeated along the other axes).
Tensor full_weights(const Tensor& a, const Tensor& w, const Params& params) {
  if (w.shape() == a.shape()) return w.astype(DType::f64);
  const int64_t axis = normalize_axis(int_param(params, "axis", 0), a.ndim());
  const auto strides = strides_of(a.shape());
  Tensor full(DType::f64, a.shape());
  double* dst = full.data<double>();
  for (int64_t i = 0; i < full.size(); ++i) dst[i] = w.at_as_double((i / strides[axis]) % a.shape()[axis]);
  return full;
}

Tensor weighted_average(const Tensor& a, const Tensor& w, const ReduceArgs& r, const Params& params, DType dtype) {
  const Tensor values = a.astype(DType::f64);
  const Tensor weights = full_weights(a, w, params);
  const ReduceView va = reduce_view(values, r.axes, false);
  const ReduceView vw = reduce_view(weights, r.axes, false);
  std::vector<double> num(static_cast<std::size_t>(va.outer * va.inner), 0.0), den(num.size(), 0.0);
  const double* x = va.data().data<double>();
  const double* wt = vw.data().data<double>();
  for (int64_t o = 0; o < va.outer; ++o)
    for (int64_t k = 0; k < va.len; ++k) {
      const int64_t row = (o * va.len + k) * va.inner;
      for (int64_t j = 0; j < va.inner; ++j) {
        num[o * va.inner + j] += x[row + j] * wt[row + j];
        den[o * va.inner + j] += wt[row + j];
      }
    }
  for (std::size_t i = 0; i < num.size(); ++i) {
    if (den[i] == 0.0) throw std::invalid_argument("weights sum to zero, can't be normalized");
    num[i] /= den[i];
  }
  return tensor_of(dtype, r.out, num);
}

// ---------------------------------------------------------------- rows

Cost reduce_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params&) {
  Cost c;
  c.flops = static_cast<double>(spec_elements(in[0]));
  c.bytes = spec_bytes(out);
  for (const auto& s : in) c.bytes += spec_bytes(s);
  return c;
}

// Sort-based reductions cost n log n comparisons.
Cost sort_reduce_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params& params) {
  Cost c = reduce_cost(in, out, params);
  c.flops *= std::max(1.0, std::log2(std::max(2.0, c.flops)));
  return c;
}

TensorSpec sum_infer(const std::vector<TensorSpec>& in, const Params& p) {
  return {sum_dtype(in[0].dtype), reduce_args(in[0].shape, p).out};
}
Tensor sum_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  return sum_or_prod<false>(*in[0], reduce_args(in[0]->shape(), p));
}
Tensor prod_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  return sum_or_prod<true>(*in[0], reduce_args(in[0]->shape(), p));
}

TensorSpec float_infer(const std::vector<TensorSpec>& in, const Params& p) {
  return {float_result(in[0].dtype), reduce_args(in[0].shape, p).out};
}
Tensor mean_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  return mean_of(*in[0], reduce_args(in[0]->shape(), p));
}

TensorSpec var_infer(const std::vector<TensorSpec>& in, const Params& p) {
  number_param(p, "ddof", 0);
  return float_infer(in, p);
}
Tensor var_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  return tensor_of(float_result(in[0]->dtype()), r.out, variances(*in[0], r, number_param(p, "ddof", 0)));
}
Tensor std_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  std::vector<double> v = variances(*in[0], r, number_param(p, "ddof", 0));
  for (double& x : v) x = std::sqrt(x);
  return tensor_of(float_result(in[0]->dtype()), r.out, v);
}

template <bool kMax>
TensorSpec extreme_infer(const std::vector<TensorSpec>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0].shape, p);
  require_nonempty(in[0].shape, r, kMax ? "maximum" : "minimum");
  return {in[0].dtype, r.out};
}
template <bool kMax>
Tensor extreme_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  require_nonempty(in[0]->shape(), r, kMax ? "maximum" : "minimum");
  return min_or_max<kMax>(*in[0], r);
}

template <bool kMax>
TensorSpec arg_infer(const std::vector<TensorSpec>& in, const Params& p) {
  const ReduceArgs r = arg_reduce_args(in[0].shape, p);
  require_nonempty(in[0].shape, r, kMax ? "argmax" : "argmin");
  return {DType::i32, r.out};
}
template <bool kMax>
Tensor arg_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = arg_reduce_args(in[0]->shape(), p);
  require_nonempty(in[0]->shape(), r, kMax ? "argmax" : "argmin");
  if (in[0]->size() > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("input has more elements than an int32 index can address");
  return arg_extreme<kMax>(*in[0], r);
}

Tensor median_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  return tensor_of(float_result(in[0]->dtype()), r.out,
                   sorted_line_values(*in[0], r, [](auto* first, int64_t n) { return median_of(first, n); }));
}

TensorSpec percentile_infer(const std::vector<TensorSpec>& in, const Params& p) {
  percentile_q(p);
  const ReduceArgs r = reduce_args(in[0].shape, p);
  require_nonempty(in[0].shape, r, "percentile");
  return {float_result(in[0].dtype), r.out};
}
Tensor percentile_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const double q = percentile_q(p);
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  require_nonempty(in[0]->shape(), r, "percentile");
  return tensor_of(float_result(in[0]->dtype()), r.out,
                   sorted_line_values(*in[0], r, [q](auto* first, int64_t n) { return percentile_of(first, n, q); }));
}

TensorSpec mode_infer(const std::vector<TensorSpec>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0].shape, p);
  require_nonempty(in[0].shape, r, "mode");
  return {in[0].dtype, r.out};
}
Tensor mode_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  require_nonempty(in[0]->shape(), r, "mode");
  return mode_of(*in[0], r);
}

TensorSpec average_infer(const std::vector<TensorSpec>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0].shape, p);
  if (in.size() == 1) return {float_result(in[0].dtype), r.out};
  check_weights(in[0].shape, in[1].shape, p);
  return {float_result(promote(in[0].dtype, in[1].dtype)), r.out};
}
Tensor average_kernel(const std::vector<const Tensor*>& in, const Params& p) {
  const ReduceArgs r = reduce_args(in[0]->shape(), p);
  if (in.size() == 1) return mean_of(*in[0], r);
  check_weights(in[0]->shape(), in[1]->shape(), p);
  return weighted_average(*in[0], *in[1], r, p, float_result(promote(in[0]->dtype(), in[1]->dtype())));
}

}  // namespace

std::vector<OpDef> reduce_rows() {
  const auto R = OpFamily::reduce;
  const ParamSpec axes{"axis", ParamType::int_list}, keepdims{"keepdims", ParamType::boolean};
  const ParamSpec one_axis{"axis", ParamType::integer, "an integer or null (the flattened index)"};
  const std::vector<ParamSpec> axis_keepdims{axes, keepdims};
  const std::vector<ParamSpec> with_ddof{axes, keepdims, {"ddof", ParamType::number}};
  return {
      {"sum", {}, 1, 1, R, sum_infer, reduce_cost, sum_kernel, axis_keepdims},
      {"mean", {}, 1, 1, R, float_infer, reduce_cost, mean_kernel, axis_keepdims},
      {"prod", {}, 1, 1, R, sum_infer, reduce_cost, prod_kernel, axis_keepdims},
      {"min", {}, 1, 1, R, extreme_infer<false>, reduce_cost, extreme_kernel<false>, axis_keepdims},
      {"max", {}, 1, 1, R, extreme_infer<true>, reduce_cost, extreme_kernel<true>, axis_keepdims},
      {"argmax", {}, 1, 1, R, arg_infer<true>, reduce_cost, arg_kernel<true>, {one_axis, keepdims}},
      {"argmin", {}, 1, 1, R, arg_infer<false>, reduce_cost, arg_kernel<false>, {one_axis, keepdims}},
      {"var", {"variance"}, 1, 1, R, var_infer, reduce_cost, var_kernel, with_ddof},
      {"std", {}, 1, 1, R, var_infer, reduce_cost, std_kernel, with_ddof},
      {"median", {}, 1, 1, R, float_infer, sort_reduce_cost, median_kernel, axis_keepdims},
      {"percentile", {}, 1, 1, R, percentile_infer, sort_reduce_cost, percentile_kernel,
       {axes, keepdims, {"q", ParamType::number}}},
      {"mode", {}, 1, 1, R, mode_infer, sort_reduce_cost, mode_kernel, axis_keepdims},
      {"average", {}, 1, 2, R, average_infer, reduce_cost, average_kernel, axis_keepdims},
  };
}

}  // namespace corvid::ops
