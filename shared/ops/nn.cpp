// Neural-network rows of the op table: conv2d (im2col on the packed GEMM of linalg.cpp),
// max_pool2d, avg_pool2d, cross_entropy, and the helper ops their gradients are made of
// (conv2d_backward_input, conv2d_backward_weight, max_pool2d_backward, avg_pool2d_backward).
// Images are NCHW, conv weights OIHW, as in PyTorch. Float32 and float64 only.
#include <algorithm>
#include <cmath>
#include <limits>

#include "families.hpp"
#include "linalg_kernels.hpp"

namespace corvid::ops {

namespace {

using Specs = std::vector<TensorSpec>;
using Tensors = std::vector<const Tensor*>;

// ---------------------------------------------------------------- params and geometry

// A two-element param (height, width): a list of two integers, or one integer (or a list of one)
// for both. Each value must be at least `min`.
struct Pair {
  int64_t h = 0, w = 0;
};

Pair pair_param(const Params& params, const char* name, Pair fallback, int64_t min) {
  if (!has_param(params, name)) return fallback;
  const auto v = int_list_param(params, name);
  if (v.size() != 1 && v.size() != 2)
    throw std::invalid_argument("param '" + std::string(name) + "' must have two elements (height, width), got " +
                                params.at(name).dump());
  const Pair p{v[0], v.size() == 2 ? v[1] : v[0]};
  if (p.h < min || p.w < min)
    throw std::invalid_argument("param '" + std::string(name) + "' must be at least " + std::to_string(min) +
                                ", got " + params.at(name).dump());
  return p;
}

Pair required_pair(const Params& params, const char* name, int64_t min) {
  if (!has_param(params, name)) throw std::invalid_argument("param '" + std::string(name) + "' is required");
  return pair_param(params, name, {}, min);
}

// The geometry of a sliding window over an image: kernel (k), stride (s), padding (p), dilation (d).
struct Window {
  Pair k, s{1, 1}, p{0, 0}, d{1, 1};
  // Output length of one axis, or throws when the dilated kernel exceeds the padded input.
  static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, const char* axis) {
    const int64_t span = d * (k - 1) + 1;
    if (in + 2 * p < span)
      throw std::invalid_argument("the " + std::string(axis) + " of the kernel (" + std::to_string(span) +
                                  (d > 1 ? ", dilated" : "") + ") exceeds the padded input's (" +
                                  std::to_string(in + 2 * p) + ")");
    return (in + 2 * p - span) / s + 1;
  }
  Pair out(int64_t h, int64_t w) const {
    return {out_len(h, k.h, s.h, p.h, d.h, "height"), out_len(w, k.w, s.w, p.w, d.w, "width")};
  }
};

Window conv_window(const Params& params, Pair kernel) {
  Window win;
  win.k = kernel;
  win.s = pair_param(params, "stride", {1, 1}, 1);
  win.p = pair_param(params, "padding", {0, 0}, 0);
  win.d = pair_param(params, "dilation", {1, 1}, 1);
  return win;
}

// One convolution's sizes: x is (n, c, h, w); each image's im2col buffer has ckk rows, cols
// columns. Small images are computed `batch` at a time, their columns side by side, so that one
// GEMM is wide enough for the packed kernel; large ones one at a time.
struct ConvShape {
  int64_t n, c, h, w;
  Window win;
  Pair out;
  int64_t ckk, cols, batch;
  // Images [i, i + batch) clipped to n.
  int64_t images_from(int64_t i) const { return std::min(batch, n - i); }
};

ConvShape conv_shape(const Params& params, const Shape& x, Pair kernel) {
  ConvShape cs{x[0], x[1], x[2], x[3], conv_window(params, kernel), {}, 0, 0, 1};
  cs.out = cs.win.out(cs.h, cs.w);
  cs.ckk = cs.c * kernel.h * kernel.w;
  cs.cols = cs.out.h * cs.out.w;
  // Up to 1,024 columns, and a batch's buffer of at most 64Ki values, so that it stays in L2
  // (measured natively: 8x8 images with 16 channels ran at 66 GFLOPS one at a time, 49 with 2Mi
  // values a batch, 74 with 64Ki).
  constexpr int64_t kTargetColumns = 1024, kMaxBatchElements = int64_t{1} << 16;
  if (cs.cols > 0 && cs.ckk > 0)
    cs.batch = std::max<int64_t>(1, std::min({std::max<int64_t>(cs.n, 1), kTargetColumns / cs.cols,
                                              kMaxBatchElements / (cs.ckk * cs.cols)}));
  return cs;
}

// Copies `images` of (O, cols) values between the (images, O, cols) layout of a tensor and the
// (O, width) layout of one GEMM, image j in columns [j cols, (j + 1) cols): from the tensor's
// layout when from_images, else to it.
template <class T>
void regroup(const T* src, T* dst, int64_t images, int64_t o, int64_t cols, int64_t width, bool from_images) {
  for (int64_t j = 0; j < images; ++j)
    for (int64_t oc = 0; oc < o; ++oc) {
      const int64_t image_at = (j * o + oc) * cols, wide_at = oc * width + j * cols;
      const T* from = src + (from_images ? image_at : wide_at);
      std::copy(from, from + cols, dst + (from_images ? wide_at : image_at));
    }
}

// Throws unless an input of `size` through `win` gives g's height and width.
void check_g_matches(const Window& win, Pair size, const Shape& g) {
  const Pair o = win.out(size.h, size.w);
  if (o.h != g[2] || o.w != g[3])
    throw std::invalid_argument("an input of " + std::to_string(size.h) + "x" + std::to_string(size.w) + " gives a " +
                                std::to_string(o.h) + "x" + std::to_string(o.w) + " output, but g is " +
                                shape_string(g));
}

// Pooling: stride defaults to the kernel (PyTorch), padding at most half the kernel so that every
// window holds at least one element of the input.
Window pool_window(const Params& params) {
  Window win;
  win.k = required_pair(params, "kernel", 1);
  win.s = pair_param(params, "stride", win.k, 1);
  win.p = pair_param(params, "padding", {0, 0}, 0);
  if (win.p.h * 2 > win.k.h || win.p.w * 2 > win.k.w)
    throw std::invalid_argument("param 'padding' " + params.at("padding").dump() +
                                " must be at most half the kernel (" + std::to_string(win.k.h) + "x" +
                                std::to_string(win.k.w) + ")");
  return win;
}

void check_float(const TensorSpec& s, const char* what) {
  if (!is_float(s.dtype))
    throw std::invalid_argument(std::string(what) + " must be float32 or float64, got " +
                                std::string(dtype_name(s.dtype)));
}

// Checks a 4-d NCHW (or OIHW) input; unknown (-1) dimensions are refused.
void check_4d(const TensorSpec& s, const char* what, const char* layout) {
  if (s.shape.size() != 4)
    throw std::invalid_argument(std::string(what) + " must be 4-d " + layout + ", got shape " + shape_string(s.shape));
  for (int64_t d : s.shape)
    if (d < 0) throw std::invalid_argument(std::string(what) + " has a data-dependent shape " + shape_string(s.shape));
  check_float(s, what);
}

Pair required_size(const Params& params, const char* name) { return required_pair(params, name, 1); }

// The im2col buffer of one image (C kh kw rows of Ho Wo columns) must fit like any tensor.
void check_col_bytes(DType dtype, int64_t c, const Window& win, Pair out) {
  check_tensor_bytes(static_cast<double>(dtype_size(dtype)) * static_cast<double>(c) * static_cast<double>(win.k.h) *
                         static_cast<double>(win.k.w) * static_cast<double>(out.h) * static_cast<double>(out.w),
                     "the im2col buffer of one image");
}

// ---------------------------------------------------------------- im2col / col2im

// col (C kh kw rows, Ho Wo columns, row stride ld; or transposed: Ho Wo rows, C kh kw columns)
// from one image x (C, H, W); padding reads as zero.
template <class T, bool kTransposed>
void im2col(const T* x, int64_t c, int64_t h, int64_t w, const Window& win, Pair out, T* col, int64_t ld) {
  const int64_t rows = c * win.k.h * win.k.w;
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ki = 0; ki < win.k.h; ++ki)
      for (int64_t kj = 0; kj < win.k.w; ++kj) {
        const int64_t row = (ci * win.k.h + ki) * win.k.w + kj;
        for (int64_t oh = 0; oh < out.h; ++oh) {
          const int64_t ih = oh * win.s.h - win.p.h + ki * win.d.h;
          const bool row_in = ih >= 0 && ih < h;
          const T* src = x + (ci * h + (row_in ? ih : 0)) * w;
          for (int64_t ow = 0; ow < out.w; ++ow) {
            const int64_t iw = ow * win.s.w - win.p.w + kj * win.d.w;
            const T v = row_in && iw >= 0 && iw < w ? src[iw] : T(0);
            const int64_t j = oh * out.w + ow;
            if constexpr (kTransposed) col[j * rows + row] = v;
            else col[row * ld + j] = v;
          }
        }
      }
}

// The adjoint of im2col (row stride ld): adds each column entry to the pixel it was read from (x
// zeroed by the caller).
template <class T>
void col2im(const T* col, int64_t ld, int64_t c, int64_t h, int64_t w, const Window& win, Pair out, T* x) {
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ki = 0; ki < win.k.h; ++ki)
      for (int64_t kj = 0; kj < win.k.w; ++kj) {
        const T* src = col + ((ci * win.k.h + ki) * win.k.w + kj) * ld;
        for (int64_t oh = 0; oh < out.h; ++oh) {
          const int64_t ih = oh * win.s.h - win.p.h + ki * win.d.h;
          if (ih < 0 || ih >= h) continue;
          T* dst = x + (ci * h + ih) * w;
          for (int64_t ow = 0; ow < out.w; ++ow) {
            const int64_t iw = ow * win.s.w - win.p.w + kj * win.d.w;
            if (iw >= 0 && iw < w) dst[iw] += src[oh * out.w + ow];
          }
        }
      }
}

// Calls fn(T{}) for float32 or float64.
template <class Fn>
void visit_float(DType dtype, Fn&& fn) {
  if (dtype == DType::f64) fn(double{});
  else fn(float{});
}

Cost conv_like_cost(const Specs& in, const TensorSpec& out, double macs) {
  Cost c;
  c.flops = 2.0 * macs;
  for (const auto& s : in) c.bytes += spec_bytes(s);
  c.bytes += spec_bytes(out);
  return c;
}

double dims(const Shape& s, std::size_t from, std::size_t to) {
  double n = 1;
  for (std::size_t i = from; i < to && i < s.size(); ++i) n *= static_cast<double>(std::max<int64_t>(s[i], 1));
  return n;
}

// Checks that inputs 0 and 1 are 4-d floats and that dim da of input 0 (named a) equals dim db of
// input 1 (named b): "the channels do not match: x (1, 3, 8, 8) has 3, w (4, 2, 3, 3) expects 2".
void check_two_4d(const Specs& in, const char* a, const char* b, const char* b_layout, int da, int db,
                  const char* what) {
  check_4d(in[0], (std::string("input 0 (") + a + ")").c_str(), "NCHW");
  check_4d(in[1], (std::string("input 1 (") + b + ")").c_str(), b_layout);
  if (in[0].shape[da] != in[1].shape[db])
    throw std::invalid_argument(std::string("the ") + what + " do not match: " + a + " " + shape_string(in[0].shape) +
                                " has " + std::to_string(in[0].shape[da]) + ", " + b + " " +
                                shape_string(in[1].shape) + " expects " + std::to_string(in[1].shape[db]));
}

// ---------------------------------------------------------------- conv2d

TensorSpec conv2d_infer(const Specs& in, const Params& params) {
  const TensorSpec &x = in[0], &w = in[1];
  check_two_4d(in, "x", "w", "OIHW", 1, 1, "channels");
  DType dtype = promote(x.dtype, w.dtype);
  if (in.size() == 3) {
    const TensorSpec& b = in[2];
    check_float(b, "input 2 (bias)");
    if (b.shape != Shape{w.shape[0]})
      throw std::invalid_argument("bias must have shape " + shape_string({w.shape[0]}) + " (one per output channel), got " +
                                  shape_string(b.shape));
    dtype = promote(dtype, b.dtype);
  }
  const Window win = conv_window(params, {w.shape[2], w.shape[3]});
  const Pair o = win.out(x.shape[2], x.shape[3]);
  check_col_bytes(dtype, x.shape[1], win, o);
  return {dtype, {x.shape[0], w.shape[0], o.h, o.w}};
}

Cost conv2d_cost(const Specs& in, const TensorSpec& out, const Params&) {
  return conv_like_cost(in, out, dims(out.shape, 0, 4) * dims(in[1].shape, 1, 4));
}

Tensor conv2d_kernel(const Tensors& in, const Params& params) {
  const TensorSpec spec = conv2d_infer({spec_of(*in[0]), spec_of(*in[1])}, params);
  const DType dtype = in.size() == 3 ? promote(spec.dtype, in[2]->dtype()) : spec.dtype;
  const Tensor x = in[0]->astype(dtype), w = in[1]->astype(dtype);
  const Shape& ws = w.shape();
  const ConvShape cs = conv_shape(params, x.shape(), {ws[2], ws[3]});
  const int64_t o = ws[0];
  Tensor y(dtype, {cs.n, o, cs.out.h, cs.out.w});
  visit_float(dtype, [&](auto zero) {
    using T = decltype(zero);
    const int64_t width = cs.batch * cs.cols;
    std::vector<T> col(static_cast<std::size_t>(cs.ckk * width));
    std::vector<T> wide(static_cast<std::size_t>(cs.batch > 1 ? o * width : 0));
    const Tensor b = in.size() == 3 ? in[2]->astype(dtype) : Tensor();
    for (int64_t i = 0; i < cs.n; i += cs.batch) {
      const int64_t m = cs.images_from(i);
      for (int64_t j = 0; j < m; ++j)
        im2col<T, false>(x.data<T>() + (i + j) * cs.c * cs.h * cs.w, cs.c, cs.h, cs.w, cs.win, cs.out,
                         col.data() + j * cs.cols, width);
      T* yi = y.data<T>() + i * o * cs.cols;
      gemm<T>(o, m * cs.cols, cs.ckk, w.data<T>(), cs.ckk, col.data(), width, cs.batch > 1 ? wide.data() : yi, width);
      if (cs.batch > 1) regroup<T>(wide.data(), yi, m, o, cs.cols, width, false);
      if (in.size() == 3)
        for (int64_t j = 0; j < m * o; ++j) {
          const T bias = b.data<T>()[j % o];
          for (int64_t t = 0; t < cs.cols; ++t) yi[j * cs.cols + t] += bias;
        }
    }
  });
  return y;
}

// conv2d_backward_input(g, w): the gradient of conv2d with respect to x (N, C, input_size).
TensorSpec conv2d_backward_input_infer(const Specs& in, const Params& params) {
  const TensorSpec &g = in[0], &w = in[1];
  check_two_4d(in, "g", "w", "OIHW", 1, 0, "channels");
  const Pair size = required_size(params, "input_size");
  const Window win = conv_window(params, {w.shape[2], w.shape[3]});
  check_g_matches(win, size, g.shape);
  const DType dtype = promote(g.dtype, w.dtype);
  check_col_bytes(dtype, w.shape[1], win, {g.shape[2], g.shape[3]});
  return {dtype, {g.shape[0], w.shape[1], size.h, size.w}};
}

Cost conv2d_backward_input_cost(const Specs& in, const TensorSpec& out, const Params&) {
  return conv_like_cost(in, out, dims(in[0].shape, 0, 4) * dims(in[1].shape, 1, 4));
}

Tensor conv2d_backward_input_kernel(const Tensors& in, const Params& params) {
  const TensorSpec spec = conv2d_backward_input_infer({spec_of(*in[0]), spec_of(*in[1])}, params);
  const Tensor g = in[0]->astype(spec.dtype), w = in[1]->astype(spec.dtype);
  const ConvShape cs = conv_shape(params, spec.shape, {w.shape()[2], w.shape()[3]});
  const int64_t o = w.shape()[0];
  Tensor dx(spec.dtype, spec.shape);
  visit_float(spec.dtype, [&](auto zero) {
    using T = decltype(zero);
    const Tensor wt = permute_axes(w.reshaped({o, cs.ckk}), {1, 0});  // (C kh kw, O)
    const int64_t width = cs.batch * cs.cols;
    std::vector<T> col(static_cast<std::size_t>(cs.ckk * width)), wide(static_cast<std::size_t>(o * width), T(0));
    std::fill(dx.data<T>(), dx.data<T>() + dx.size(), T(0));
    for (int64_t i = 0; i < cs.n; i += cs.batch) {
      const int64_t m = cs.images_from(i);
      regroup<T>(g.data<T>() + i * o * cs.cols, wide.data(), m, o, cs.cols, width, true);
      gemm<T>(cs.ckk, m * cs.cols, o, wt.data<T>(), o, wide.data(), width, col.data(), width);
      for (int64_t j = 0; j < m; ++j)
        col2im<T>(col.data() + j * cs.cols, width, cs.c, cs.h, cs.w, cs.win, cs.out,
                  dx.data<T>() + (i + j) * cs.c * cs.h * cs.w);
    }
  });
  return dx;
}

// conv2d_backward_weight(x, g): the gradient of conv2d with respect to w (O, C, kernel_size).
TensorSpec conv2d_backward_weight_infer(const Specs& in, const Params& params) {
  const TensorSpec &x = in[0], &g = in[1];
  check_two_4d(in, "x", "g", "NCHW", 0, 0, "batch sizes");
  const Pair k = required_size(params, "kernel_size");
  const Window win = conv_window(params, k);
  check_g_matches(win, {x.shape[2], x.shape[3]}, g.shape);
  const DType dtype = promote(x.dtype, g.dtype);
  check_col_bytes(dtype, x.shape[1], win, {g.shape[2], g.shape[3]});
  return {dtype, {g.shape[1], x.shape[1], k.h, k.w}};
}

Cost conv2d_backward_weight_cost(const Specs& in, const TensorSpec& out, const Params&) {
  return conv_like_cost(in, out, dims(in[1].shape, 0, 4) * dims(out.shape, 1, 4));
}

Tensor conv2d_backward_weight_kernel(const Tensors& in, const Params& params) {
  const TensorSpec spec = conv2d_backward_weight_infer({spec_of(*in[0]), spec_of(*in[1])}, params);
  const Tensor x = in[0]->astype(spec.dtype), g = in[1]->astype(spec.dtype);
  const ConvShape cs = conv_shape(params, x.shape(), {spec.shape[2], spec.shape[3]});
  const int64_t o = spec.shape[0];
  Tensor dw(spec.dtype, spec.shape);
  visit_float(spec.dtype, [&](auto zero) {
    using T = decltype(zero);
    const int64_t width = cs.batch * cs.cols;
    std::vector<T> col_t(static_cast<std::size_t>(width * cs.ckk), T(0)), part(static_cast<std::size_t>(o * cs.ckk));
    std::vector<T> wide(static_cast<std::size_t>(o * width), T(0));
    T* acc = dw.data<T>();
    std::fill(acc, acc + dw.size(), T(0));
    for (int64_t i = 0; i < cs.n; i += cs.batch) {
      const int64_t m = cs.images_from(i);
      for (int64_t j = 0; j < m; ++j)
        im2col<T, true>(x.data<T>() + (i + j) * cs.c * cs.h * cs.w, cs.c, cs.h, cs.w, cs.win, cs.out,
                        col_t.data() + j * cs.cols * cs.ckk, 0);
      regroup<T>(g.data<T>() + i * o * cs.cols, wide.data(), m, o, cs.cols, width, true);
      // Only the first m images' columns: the GEMM's depth is m cols.
      T* dst = i == 0 ? acc : part.data();
      gemm<T>(o, cs.ckk, m * cs.cols, wide.data(), width, col_t.data(), cs.ckk, dst, cs.ckk);
      if (i > 0)
        for (int64_t j = 0; j < o * cs.ckk; ++j) acc[j] += part[j];
    }
  });
  return dw;
}

// ---------------------------------------------------------------- pooling

TensorSpec pool_infer(const Specs& in, const Params& params) {
  check_4d(in[0], "input", "NCHW");
  const Shape& s = in[0].shape;
  const Pair o = pool_window(params).out(s[2], s[3]);
  return {in[0].dtype, {s[0], s[1], o.h, o.w}};
}

Cost pool_cost(const Specs& in, const TensorSpec& out, const Params& params) {
  const Window win = pool_window(params);
  Cost c;
  c.flops = dims(out.shape, 0, 4) * static_cast<double>(win.k.h * win.k.w);
  for (const auto& s : in) c.bytes += spec_bytes(s);
  c.bytes += spec_bytes(out);
  return c;
}

// Calls visit(plane, oh, ow, ih, iw) for every element of every window, plane = n C + c, in the
// window's row-major order; elements in the padding are skipped.
template <class Visit>
void for_each_window(const Shape& xs, const Window& win, Pair out, Visit&& visit) {
  const int64_t planes = xs[0] * xs[1], h = xs[2], w = xs[3];
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < out.h; ++oh)
      for (int64_t ow = 0; ow < out.w; ++ow)
        for (int64_t ki = 0; ki < win.k.h; ++ki) {
          const int64_t ih = oh * win.s.h - win.p.h + ki;
          if (ih < 0 || ih >= h) continue;
          for (int64_t kj = 0; kj < win.k.w; ++kj) {
            const int64_t iw = ow * win.s.w - win.p.w + kj;
            if (iw >= 0 && iw < w) visit(p, oh, ow, ih, iw);
          }
        }
}

// Index (into the plane) of the max of each window: the first largest, a NaN wins (PyTorch).
template <class T>
std::vector<int64_t> argmax_windows(const Tensor& x, const Window& win, Pair out) {
  const Shape& xs = x.shape();
  const int64_t hw = xs[2] * xs[3], ohw = out.h * out.w;
  std::vector<int64_t> arg(static_cast<std::size_t>(xs[0] * xs[1] * ohw), -1);
  const T* px = x.data<T>();
  for_each_window(xs, win, out, [&](int64_t p, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    int64_t& a = arg[p * ohw + oh * out.w + ow];
    const int64_t at = ih * xs[3] + iw;
    const T v = px[p * hw + at];
    if (a < 0 || v > px[p * hw + a] || std::isnan(v)) a = at;
  });
  return arg;
}

// A pool's output for x: fill(T{}, win, out, y) computes it in x's float type.
template <class Fill>
Tensor pool_output(const Tensor& x, const Params& params, Fill&& fill) {
  const Window win = pool_window(params);
  const Pair out = win.out(x.shape()[2], x.shape()[3]);
  Tensor y(x.dtype(), {x.shape()[0], x.shape()[1], out.h, out.w});
  visit_float(x.dtype(), [&](auto zero) { fill(zero, win, out, y); });
  return y;
}

Tensor max_pool2d_kernel(const Tensors& in, const Params& params) {
  const Tensor& x = *in[0];
  return pool_output(x, params, [&](auto zero, const Window& win, Pair out, Tensor& y) {
    using T = decltype(zero);
    const auto arg = argmax_windows<T>(x, win, out);
    const int64_t hw = x.shape()[2] * x.shape()[3], ohw = out.h * out.w;
    for (std::size_t i = 0; i < arg.size(); ++i)
      y.data<T>()[i] = x.data<T>()[static_cast<int64_t>(i) / ohw * hw + arg[i]];
  });
}

// avg_pool2d divides by the kernel's area, padding included (PyTorch's count_include_pad).
Tensor avg_pool2d_kernel(const Tensors& in, const Params& params) {
  const Tensor& x = *in[0];
  return pool_output(x, params, [&](auto zero, const Window& win, Pair out, Tensor& y) {
    using T = decltype(zero);
    std::vector<double> sums(static_cast<std::size_t>(y.size()), 0.0);
    const int64_t hw = x.shape()[2] * x.shape()[3], ohw = out.h * out.w;
    const T* px = x.data<T>();
    for_each_window(x.shape(), win, out, [&](int64_t p, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
      sums[p * ohw + oh * out.w + ow] += px[p * hw + ih * x.shape()[3] + iw];
    });
    const double area = static_cast<double>(win.k.h * win.k.w);
    for (int64_t i = 0; i < y.size(); ++i) y.data<T>()[i] = static_cast<T>(sums[i] / area);
  });
}

// max_pool2d_backward(x, g): g routed to the max of each window (summed where windows overlap).
TensorSpec max_pool2d_backward_infer(const Specs& in, const Params& params) {
  const TensorSpec y = pool_infer({in[0]}, params);
  check_4d(in[1], "input 1 (g)", "NCHW");
  if (in[1].shape != y.shape)
    throw std::invalid_argument("g must have max_pool2d's output shape " + shape_string(y.shape) + ", got " +
                                shape_string(in[1].shape));
  return {promote(in[0].dtype, in[1].dtype), in[0].shape};
}

Tensor max_pool2d_backward_kernel(const Tensors& in, const Params& params) {
  const TensorSpec spec = max_pool2d_backward_infer({spec_of(*in[0]), spec_of(*in[1])}, params);
  const Tensor g = in[1]->astype(spec.dtype);
  const Window win = pool_window(params);
  const Pair out = win.out(spec.shape[2], spec.shape[3]);
  Tensor dx(spec.dtype, spec.shape);
  visit_float(in[0]->dtype(), [&](auto zero) {
    const auto arg = argmax_windows<decltype(zero)>(*in[0], win, out);
    visit_float(spec.dtype, [&](auto z) {
      using T = decltype(z);
      T* pdx = dx.data<T>();
      std::fill(pdx, pdx + dx.size(), T(0));
      const int64_t hw = spec.shape[2] * spec.shape[3], ohw = out.h * out.w;
      for (std::size_t i = 0; i < arg.size(); ++i)
        pdx[static_cast<int64_t>(i) / ohw * hw + arg[i]] += g.data<T>()[i];
    });
  });
  return dx;
}

// avg_pool2d_backward(g): g / area spread over each window, for an input of input_size.
TensorSpec avg_pool2d_backward_infer(const Specs& in, const Params& params) {
  check_4d(in[0], "input (g)", "NCHW");
  const Pair size = required_size(params, "input_size");
  const Shape& gs = in[0].shape;
  check_g_matches(pool_window(params), size, gs);
  return {in[0].dtype, {gs[0], gs[1], size.h, size.w}};
}

Tensor avg_pool2d_backward_kernel(const Tensors& in, const Params& params) {
  const Tensor& g = *in[0];
  const TensorSpec spec = avg_pool2d_backward_infer({spec_of(g)}, params);
  const Window win = pool_window(params);
  const Pair out = win.out(spec.shape[2], spec.shape[3]);
  Tensor dx(spec.dtype, spec.shape);
  visit_float(spec.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* pdx = dx.data<T>();
    std::fill(pdx, pdx + dx.size(), T(0));
    const T inv_area = T(1) / static_cast<T>(win.k.h * win.k.w);
    const int64_t hw = spec.shape[2] * spec.shape[3], ohw = out.h * out.w;
    for_each_window(spec.shape, win, out, [&](int64_t p, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
      pdx[p * hw + ih * spec.shape[3] + iw] += g.data<T>()[p * ohw + oh * out.w + ow] * inv_area;
    });
  });
  return dx;
}

// ---------------------------------------------------------------- cross_entropy

// cross_entropy(logits (N, C), labels (N) int32): mean over the batch of logsumexp(row) - row[label].
TensorSpec cross_entropy_infer(const Specs& in, const Params&) {
  const TensorSpec &logits = in[0], &labels = in[1];
  check_float(logits, "input 0 (logits)");
  if (logits.shape.size() != 2)
    throw std::invalid_argument("logits must be 2-d (batch, classes), got shape " + shape_string(logits.shape));
  if (labels.dtype != DType::i32)
    throw std::invalid_argument("labels must be int32, got " + std::string(dtype_name(labels.dtype)));
  if (labels.shape.size() != 1 || (labels.shape[0] != logits.shape[0] && labels.shape[0] >= 0 && logits.shape[0] >= 0))
    throw std::invalid_argument("labels must have shape (" + std::to_string(logits.shape[0]) +
                                ",), one per row of the logits, got " + shape_string(labels.shape));
  if (logits.shape[1] == 0) throw std::invalid_argument("logits have no classes (shape " + shape_string(logits.shape) + ")");
  return {logits.dtype, {}};
}

Cost cross_entropy_cost(const Specs& in, const TensorSpec& out, const Params&) {
  Cost c;
  c.flops = 4.0 * static_cast<double>(spec_elements(in[0]));
  c.bytes = spec_bytes(in[0]) + spec_bytes(in[1]) + spec_bytes(out);
  return c;
}

Tensor cross_entropy_kernel(const Tensors& in, const Params&) {
  const Tensor& logits = *in[0];
  const int32_t* labels = in[1]->data<int32_t>();
  const int64_t n = logits.shape()[0], classes = logits.shape()[1];
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw std::invalid_argument("label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                                  " is out of range for " + std::to_string(classes) + " classes");
  Tensor out(logits.dtype(), {});
  visit_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* row = logits.data<T>() + i * classes;
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < classes; ++j) m = std::max<double>(m, row[j]);
      if (std::isinf(m)) m = 0;  // all -inf, or an inf: let the arithmetic give inf or NaN
      double s = 0;
      for (int64_t j = 0; j < classes; ++j) s += std::exp(static_cast<double>(row[j]) - m);
      total += m + std::log(s) - static_cast<double>(row[labels[i]]);
    }
    out.data<T>()[0] = static_cast<T>(n == 0 ? std::numeric_limits<double>::quiet_NaN() : total / static_cast<double>(n));
  });
  return out;
}

}  // namespace

std::vector<OpDef> nn_rows() {
  const ParamSpec stride{"stride", ParamType::int_list}, padding{"padding", ParamType::int_list},
      dilation{"dilation", ParamType::int_list};
  const ParamSpec kernel{"kernel", ParamType::int_list};
  return {
      {"conv2d", {}, 2, 3, OpFamily::nn, conv2d_infer, conv2d_cost, conv2d_kernel, {stride, padding, dilation}},
      {"conv2d_backward_input", {}, 2, 2, OpFamily::nn, conv2d_backward_input_infer, conv2d_backward_input_cost,
       conv2d_backward_input_kernel, {stride, padding, dilation, {"input_size", ParamType::int_list}}},
      {"conv2d_backward_weight", {}, 2, 2, OpFamily::nn, conv2d_backward_weight_infer, conv2d_backward_weight_cost,
       conv2d_backward_weight_kernel, {stride, padding, dilation, {"kernel_size", ParamType::int_list}}},
      {"max_pool2d", {}, 1, 1, OpFamily::nn, pool_infer, pool_cost, max_pool2d_kernel, {kernel, stride, padding}},
      {"max_pool2d_backward", {}, 2, 2, OpFamily::nn, max_pool2d_backward_infer, pool_cost, max_pool2d_backward_kernel,
       {kernel, stride, padding}},
      {"avg_pool2d", {}, 1, 1, OpFamily::nn, pool_infer, pool_cost, avg_pool2d_kernel, {kernel, stride, padding}},
      {"avg_pool2d_backward", {}, 1, 1, OpFamily::nn, avg_pool2d_backward_infer, pool_cost, avg_pool2d_backward_kernel,
       {kernel, stride, padding, {"input_size", ParamType::int_list}}},
      {"cross_entropy", {}, 2, 2, OpFamily::nn, cross_entropy_infer, cross_entropy_cost, cross_entropy_kernel, {}},
  };
}

}  // namespace corvid::ops
