// Movement ops: reshape, flatten, expand_dims, squeeze, concat, stack, split, slice, gather,
// scatter_add, reverse, tile, sort, argsort, unique, one_hot, find_indices, bincount, shape, set_value.
// Data moves copy contiguous runs with memcpy; only the innermost strided run (reverse of the
// last axis, a gather of single elements) is copied element by element, with a fixed-size copy.
// Inference accepts inputs with data-dependent (-1) dimensions and checks what it can; run_op
// infers again from the actual inputs, so kernels only check what depends on the data.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "families.hpp"

namespace corvid::ops {

namespace {

using Specs = std::vector<TensorSpec>;
using Tensors = std::vector<const Tensor*>;

constexpr int64_t kUnknown = -1;

bool has_unknown(const Shape& shape) {
  return std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
}

// Product of shape[from, to); all dimensions known.
int64_t product(const Shape& shape, std::size_t from, std::size_t to) {
  int64_t n = 1;
  for (std::size_t i = from; i < to; ++i) n *= shape[i];
  return n;
}

// a * b for dimensions from params, refusing results that do not fit in int64.
int64_t checked_mul(int64_t a, int64_t b) {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a)
    throw std::invalid_argument("output shape is too large");
  return a * b;
}

// Throws if the element count of `shape` (its known, nonzero dimensions) does not fit in int64.
void check_size_fits(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d > 0) n = checked_mul(n, d);
}

std::string dtype_text(DType d) { return std::string(dtype_name(d)); }

void require_int32(const TensorSpec& spec, const char* what) {
  if (spec.dtype != DType::i32)
    throw std::invalid_argument(std::string(what) + " must be int32, got " + dtype_text(spec.dtype));
}

std::string axis_size_text(int64_t axis, int64_t size) {
  return "axis " + std::to_string(axis) + " of size " + std::to_string(size);
}

// ---- costs ----

double input_bytes(const Specs& inputs) {
  double bytes = 0;
  for (const auto& in : inputs) bytes += spec_bytes(in);
  return bytes;
}

// Pure data moves: no arithmetic, every input byte read and every output byte written.
Cost move_cost(const Specs& inputs, const TensorSpec& output, const Params&) {
  return {0, input_bytes(inputs) + spec_bytes(output)};
}

// One pass over the input with a comparison or an update per element.
Cost scan_cost(const Specs& inputs, const TensorSpec& output, const Params&) {
  return {static_cast<double>(spec_elements(inputs[0])), input_bytes(inputs) + spec_bytes(output)};
}

// n log2 n comparisons for sorting lines of length n.
double sort_flops(double elements, double line) { return elements * std::log2(std::max(2.0, line)); }

Cost sort_cost(const Specs& inputs, const TensorSpec& output, const Params& params) {
  const auto& x = inputs[0];
  const int64_t axis = normalize_axis(int_param(params, "axis", -1), static_cast<int64_t>(x.shape.size()));
  const double line = x.shape[axis] < 0 ? static_cast<double>(spec_elements(x)) : static_cast<double>(x.shape[axis]);
  return {sort_flops(static_cast<double>(spec_elements(x)), line), input_bytes(inputs) + spec_bytes(output)};
}

Cost unique_cost(const Specs& inputs, const TensorSpec& output, const Params&) {
  const double n = static_cast<double>(spec_elements(inputs[0]));
  return {sort_flops(n, n), 2 * input_bytes(inputs) + spec_bytes(output)};
}

// ---- copy helpers ----

// Calls fn(std::integral_constant<size_t, E>) with E the element size in bytes.
template <class Fn>
void visit_elem_size(std::size_t elem, Fn&& fn) {
  switch (elem) {
    case 1: fn(std::integral_constant<std::size_t, 1>{}); return;
    case 4: fn(std::integral_constant<std::size_t, 4>{}); return;
    case 8: fn(std::integral_constant<std::size_t, 8>{}); return;
  }
  throw std::logic_error("unsupported element size " + std::to_string(elem));
}

// Copies the view of `src` with `shape` and element `strides` (possibly negative) into the
// contiguous buffer `dst`. Dimensions that are contiguous in the view are merged so that the
// innermost run is as long as possible; a contiguous run is one memcpy.
void copy_view(const uint8_t* src, const Shape& shape, const std::vector<int64_t>& strides, std::size_t elem,
               uint8_t* dst) {
  Shape dims;
  std::vector<int64_t> steps;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (!dims.empty() && steps.back() == strides[i] * shape[i]) {
      dims.back() *= shape[i];
      steps.back() = strides[i];
    } else {
      dims.push_back(shape[i]);
      steps.push_back(strides[i]);
    }
  }
  if (dims.empty()) {
    std::memcpy(dst, src, elem);
    return;
  }
  const std::size_t outer_dims = dims.size() - 1;
  const int64_t run = dims.back();
  const int64_t run_step = steps.back();
  std::vector<int64_t> index(outer_dims, 0);
  visit_elem_size(elem, [&](auto size) {
    constexpr std::size_t E = decltype(size)::value;
    int64_t offset = 0;
    for (;;) {
      const uint8_t* s = src + offset * static_cast<int64_t>(E);
      if (run_step == 1) {
        std::memcpy(dst, s, static_cast<std::size_t>(run) * E);
      } else {
        for (int64_t j = 0; j < run; ++j) std::memcpy(dst + j * static_cast<int64_t>(E), s + j * run_step * static_cast<int64_t>(E), E);
      }
      dst += run * static_cast<int64_t>(E);
      // Odometer over the outer dimensions; done when every one has wrapped around.
      std::size_t k = outer_dims;
      for (; k > 0; --k) {
        offset += steps[k - 1];
        if (++index[k - 1] < dims[k - 1]) break;
        offset -= steps[k - 1] * dims[k - 1];
        index[k - 1] = 0;
      }
      if (k == 0) return;
    }
  });
}

// Fills dst[0, total) with copies of its first `filled` bytes, doubling the copied span each step.
void replicate(uint8_t* dst, std::size_t filled, std::size_t total) {
  while (filled < total) {
    const std::size_t n = std::min(filled, total - filled);
    std::memcpy(dst + filled, dst, n);
    filled += n;
  }
}

// For each of `outer` rounds, appends chunk_bytes[i] bytes of each source i in turn (the source
// pointer advancing by its chunk every round): the memory layout of concat and stack. A chunk of
// one element (stack on the last axis) is copied with a fixed-size copy instead of a memcpy call.
void interleave_chunks(const std::vector<const uint8_t*>& sources, const std::vector<std::size_t>& chunk_bytes,
                       int64_t outer, std::size_t elem, uint8_t* dst) {
  visit_elem_size(elem, [&](auto size) {
    constexpr std::size_t E = decltype(size)::value;
    for (int64_t o = 0; o < outer; ++o)
      for (std::size_t i = 0; i < sources.size(); ++i) {
        const std::size_t n = chunk_bytes[i];
        const uint8_t* src = sources[i] + static_cast<std::size_t>(o) * n;
        if (n == E) std::memcpy(dst, src, E);
        else if (n != 0) std::memcpy(dst, src, n);
        dst += n;
      }
  });
}

// Copies of the inputs converted to `dtype` where they differ, and byte pointers to the data to use.
struct ConvertedInputs {
  std::vector<Tensor> converted;
  std::vector<const uint8_t*> data;
  ConvertedInputs(const Tensors& inputs, DType dtype) {
    converted.reserve(inputs.size());
    for (const Tensor* t : inputs) {
      if (t->dtype() == dtype) {
        data.push_back(t->raw());
      } else {
        converted.push_back(t->astype(dtype));
        data.push_back(converted.back().raw());
      }
    }
  }
};

// ---- reshape, flatten, expand_dims, squeeze ----

TensorSpec reshape_infer(const Specs& in, const Params& p) {
  const TensorSpec& x = in[0];
  Shape target = int_list_param(p, "shape");
  int64_t free_axis = -1;
  int64_t known = 1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (free_axis >= 0) throw std::invalid_argument("can only specify one unknown dimension (-1) in shape " + p.at("shape").dump());
      free_axis = static_cast<int64_t>(i);
    } else if (target[i] < 0) {
      throw std::invalid_argument("negative dimension " + std::to_string(target[i]) + " in shape " + p.at("shape").dump());
    } else {
      known = checked_mul(known, target[i]);
    }
  }
  if (has_unknown(x.shape)) return {x.dtype, target};
  const int64_t n = num_elements(x.shape);
  const bool fits = free_axis >= 0 ? known != 0 && n % known == 0 : known == n;
  if (!fits) throw std::invalid_argument("cannot reshape " + shape_string(x.shape) + " into " + shape_string(target));
  if (free_axis >= 0) target[free_axis] = n / known;
  return {x.dtype, target};
}

Tensor reshape_kernel(const Tensors& in, const Params& p) {
  return in[0]->reshaped(reshape_infer({spec_of(*in[0])}, p).shape);
}

TensorSpec flatten_infer(const Specs& in, const Params&) {
  const TensorSpec& x = in[0];
  return {x.dtype, {has_unknown(x.shape) ? kUnknown : num_elements(x.shape)}};
}

Tensor flatten_kernel(const Tensors& in, const Params&) { return in[0]->reshaped({in[0]->size()}); }

TensorSpec expand_dims_infer(const Specs& in, const Params& p) {
  const TensorSpec& x = in[0];
  const auto axes = int_list_param(p, "axis");
  const int64_t out_ndim = static_cast<int64_t>(x.shape.size() + axes.size());
  std::vector<bool> inserted(static_cast<std::size_t>(out_ndim), false);
  for (int64_t a : axes) {
    const int64_t axis = normalize_axis(a, out_ndim);
    if (inserted[axis]) throw std::invalid_argument("repeated axis in " + p.at("axis").dump());
    inserted[axis] = true;
  }
  Shape out;
  auto next = x.shape.begin();
  for (int64_t i = 0; i < out_ndim; ++i) out.push_back(inserted[i] ? 1 : *next++);
  return {x.dtype, out};
}

Tensor expand_dims_kernel(const Tensors& in, const Params& p) {
  return in[0]->reshaped(expand_dims_infer({spec_of(*in[0])}, p).shape);
}

TensorSpec squeeze_infer(const Specs& in, const Params& p) {
  const TensorSpec& x = in[0];
  const int64_t ndim = static_cast<int64_t>(x.shape.size());
  std::vector<bool> drop(x.shape.size(), false);
  if (!has_param(p, "axis")) {
    if (has_unknown(x.shape))
      throw std::invalid_argument("squeeze without 'axis' needs a known shape, and input " + shape_string(x.shape) +
                                  " has data-dependent dimensions (-1): give 'axis'");
    for (std::size_t i = 0; i < x.shape.size(); ++i) drop[i] = x.shape[i] == 1;
  } else {
    for (int64_t axis : reduction_axes(p, ndim)) {
      const int64_t size = x.shape[axis];
      if (size != 1 && size != kUnknown)
        throw std::invalid_argument("cannot squeeze " + axis_size_text(axis, size) + ": only size-1 axes can be removed");
      drop[axis] = true;
    }
  }
  Shape out;
  for (std::size_t i = 0; i < x.shape.size(); ++i)
    if (!drop[i]) out.push_back(x.shape[i]);
  return {x.dtype, out};
}

Tensor squeeze_kernel(const Tensors& in, const Params& p) {
  return in[0]->reshaped(squeeze_infer({spec_of(*in[0])}, p).shape);
}

// ---- concat, stack, split ----

// Merges dimension `d` of input i into the dimension so far; -1 matches anything.
int64_t merge_dim(int64_t so_far, int64_t d, bool* ok) {
  if (so_far == kUnknown) return d;
  if (d != kUnknown && d != so_far) *ok = false;
  return so_far;
}

DType promote_all(const Specs& in) {
  DType dtype = in[0].dtype;
  for (const auto& s : in) dtype = promote(dtype, s.dtype);
  return dtype;
}

TensorSpec concat_infer(const Specs& in, const Params& p) {
  const Shape& first = in[0].shape;
  if (first.empty()) throw std::invalid_argument("0-d inputs cannot be concatenated");
  const int64_t ndim = static_cast<int64_t>(first.size());
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), ndim);
  Shape out = first;
  for (std::size_t i = 1; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    if (static_cast<int64_t>(s.size()) != ndim)
      throw std::invalid_argument("input " + std::to_string(i) + " is " + std::to_string(s.size()) + "-d, input 0 is " +
                                  std::to_string(ndim) + "-d");
    bool ok = true;
    for (int64_t d = 0; d < ndim; ++d) {
      if (d == axis) out[d] = out[d] == kUnknown || s[d] == kUnknown ? kUnknown : out[d] + s[d];
      else out[d] = merge_dim(out[d], s[d], &ok);
    }
    if (!ok)
      throw std::invalid_argument("input " + std::to_string(i) + " has shape " + shape_string(s) +
                                  ", which does not match input 0's shape " + shape_string(first) +
                                  " outside axis " + std::to_string(axis));
  }
  return {promote_all(in), out};
}

Tensor concat_kernel(const Tensors& in, const Params& p) {
  Specs specs;
  for (const Tensor* t : in) specs.push_back(spec_of(*t));
  const TensorSpec spec = concat_infer(specs, p);
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), static_cast<int64_t>(spec.shape.size()));
  Tensor out(spec.dtype, spec.shape);
  const ConvertedInputs sources(in, spec.dtype);
  const std::size_t inner_bytes = static_cast<std::size_t>(product(spec.shape, axis + 1, spec.shape.size())) * dtype_size(spec.dtype);
  std::vector<std::size_t> chunks;
  for (const Tensor* t : in) chunks.push_back(static_cast<std::size_t>(t->shape()[axis]) * inner_bytes);
  interleave_chunks(sources.data, chunks, product(spec.shape, 0, axis), dtype_size(spec.dtype), out.raw());
  return out;
}

TensorSpec stack_infer(const Specs& in, const Params& p) {
  const Shape& first = in[0].shape;
  const int64_t ndim = static_cast<int64_t>(first.size());
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), ndim + 1);
  Shape common = first;
  for (std::size_t i = 1; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    bool ok = static_cast<int64_t>(s.size()) == ndim;
    for (int64_t d = 0; ok && d < ndim; ++d) common[d] = merge_dim(common[d], s[d], &ok);
    if (!ok)
      throw std::invalid_argument("all inputs must have the same shape: input " + std::to_string(i) + " has shape " +
                                  shape_string(s) + ", input 0 has " + shape_string(first));
  }
  common.insert(common.begin() + axis, static_cast<int64_t>(in.size()));
  return {promote_all(in), common};
}

Tensor stack_kernel(const Tensors& in, const Params& p) {
  Specs specs;
  for (const Tensor* t : in) specs.push_back(spec_of(*t));
  const TensorSpec spec = stack_infer(specs, p);
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), static_cast<int64_t>(spec.shape.size()));
  Tensor out(spec.dtype, spec.shape);
  const ConvertedInputs sources(in, spec.dtype);
  const std::size_t chunk =
      static_cast<std::size_t>(product(spec.shape, axis + 1, spec.shape.size())) * dtype_size(spec.dtype);
  interleave_chunks(sources.data, std::vector<std::size_t>(in.size(), chunk), product(spec.shape, 0, axis),
                    dtype_size(spec.dtype), out.raw());
  return out;
}

struct SplitPart {
  int64_t axis = 0;
  int64_t index = 0;
  int64_t sections = 1;
};

SplitPart split_part(const TensorSpec& x, const Params& p) {
  SplitPart part;
  part.axis = normalize_axis(int_param(p, "axis", 0), static_cast<int64_t>(x.shape.size()));
  part.sections = required_int_param(p, "sections");
  part.index = required_int_param(p, "index");
  if (part.sections < 1) throw std::invalid_argument("sections must be at least 1, got " + std::to_string(part.sections));
  if (part.index < 0 || part.index >= part.sections)
    throw std::invalid_argument("index " + std::to_string(part.index) + " is out of range for " +
                                std::to_string(part.sections) + " sections");
  const int64_t size = x.shape[part.axis];
  if (size != kUnknown && size % part.sections != 0)
    throw std::invalid_argument(axis_size_text(part.axis, size) + " cannot be split into " +
                                std::to_string(part.sections) + " equal sections");
  return part;
}

TensorSpec split_infer(const Specs& in, const Params& p) {
  const SplitPart part = split_part(in[0], p);
  Shape out = in[0].shape;
  if (out[part.axis] != kUnknown) out[part.axis] /= part.sections;
  return {in[0].dtype, out};
}

Tensor split_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  const SplitPart part = split_part(spec_of(x), p);
  Tensor out(x.dtype(), split_infer({spec_of(x)}, p).shape);
  const auto strides = strides_of(x.shape());
  const int64_t offset = part.index * out.shape()[part.axis] * strides[part.axis];
  if (out.size() > 0) copy_view(x.raw() + offset * static_cast<int64_t>(dtype_size(x.dtype())), out.shape(), strides, dtype_size(x.dtype()), out.raw());
  return out;
}

// ---- slice ----

// Start and length of the slice on each axis; an unknown (-1) input dimension gives length -1
// unless 'size' fixes it.
struct Window {
  std::vector<int64_t> begin;
  Shape size;
};

Window slice_window(const Shape& shape, const Params& p) {
  Window w;
  w.begin = int_list_param(p, "begin");
  w.size = int_list_param(p, "size");
  const std::size_t ndim = shape.size();
  auto check_length = [&](const char* name, std::size_t length) {
    if (length != ndim)
      throw std::invalid_argument(std::string("param '") + name + "' has " + std::to_string(length) +
                                  " entries for a " + std::to_string(ndim) + "-d input");
  };
  check_length("begin", w.begin.size());
  check_length("size", w.size.size());
  for (std::size_t i = 0; i < ndim; ++i) {
    const int64_t dim = shape[i];
    int64_t& b = w.begin[i];
    int64_t& s = w.size[i];
    const int64_t axis = static_cast<int64_t>(i);
    if (s < -1) throw std::invalid_argument("size " + std::to_string(s) + " on axis " + std::to_string(axis) + " must be >= 0 or -1");
    if (dim == kUnknown) {
      if (b < 0) throw std::invalid_argument("negative begin " + std::to_string(b) + " on axis " + std::to_string(axis) +
                                             " needs a known dimension, and the input's is data-dependent");
      continue;
    }
    if (b < -dim || b > dim)
      throw std::invalid_argument("begin " + std::to_string(b) + " is out of range for " + axis_size_text(axis, dim));
    if (b < 0) b += dim;
    if (s == -1) s = dim - b;
    else if (b + s > dim)
      throw std::invalid_argument("begin " + std::to_string(b) + " + size " + std::to_string(s) + " exceeds " +
                                  axis_size_text(axis, dim));
  }
  return w;
}

TensorSpec slice_infer(const Specs& in, const Params& p) { return {in[0].dtype, slice_window(in[0].shape, p).size}; }

Tensor slice_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  const Window w = slice_window(x.shape(), p);
  Tensor out(x.dtype(), w.size);
  if (out.size() == 0) return out;
  const auto strides = strides_of(x.shape());
  int64_t offset = 0;
  for (std::size_t i = 0; i < strides.size(); ++i) offset += w.begin[i] * strides[i];
  const std::size_t elem = dtype_size(x.dtype());
  copy_view(x.raw() + offset * static_cast<int64_t>(elem), w.size, strides, elem, out.raw());
  return out;
}

// ---- gather ----

TensorSpec gather_infer(const Specs& in, const Params& p) {
  const TensorSpec& x = in[0];
  require_int32(in[1], "indices");
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), static_cast<int64_t>(x.shape.size()));
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), in[1].shape.begin(), in[1].shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  return {x.dtype, out};
}

Tensor gather_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  const Tensor& indices = *in[1];
  const int64_t axis = normalize_axis(int_param(p, "axis", 0), x.ndim());
  Tensor out(x.dtype(), gather_infer({spec_of(x), spec_of(indices)}, p).shape);
  const int64_t dim = x.shape()[axis];
  const int32_t* idx = indices.data<int32_t>();
  const int64_t count = indices.size();
  for (int64_t j = 0; j < count; ++j)
    if (idx[j] < -dim || idx[j] >= dim)
      throw std::invalid_argument("index " + std::to_string(idx[j]) + " is out of range for " + axis_size_text(axis, dim));
  const int64_t outer = product(x.shape(), 0, axis);
  const int64_t inner = product(x.shape(), axis + 1, x.shape().size());
  if (out.size() == 0) return out;
  visit_elem_size(dtype_size(x.dtype()), [&](auto size) {
    constexpr std::size_t E = decltype(size)::value;
    const std::size_t block = static_cast<std::size_t>(inner) * E;
    const uint8_t* src = x.raw();
    uint8_t* dst = out.raw();
    for (int64_t o = 0; o < outer; ++o) {
      const uint8_t* base = src + static_cast<std::size_t>(o * dim) * block;
      for (int64_t j = 0; j < count; ++j) {
        const int64_t i = idx[j] < 0 ? idx[j] + dim : idx[j];
        if (inner == 1) std::memcpy(dst, base + static_cast<std::size_t>(i) * E, E);
        else std::memcpy(dst, base + static_cast<std::size_t>(i) * block, block);
        dst += block;
      }
    }
  });
  return out;
}

// ---- scatter_add: the adjoint of gather ----

// The output shape of scatter_add(indices, updates): updates' axes [axis, axis + indices' rank)
// are indices' shape, and become one axis of length `size`.
struct Scatter {
  int64_t axis = 0;
  int64_t size = 0;
  Shape out;
};

Scatter scatter_shape(const TensorSpec& indices, const TensorSpec& updates, const Params& p) {
  require_int32(indices, "indices");
  if (updates.dtype == DType::boolean) throw std::invalid_argument("updates must be numeric, got bool");
  Scatter s;
  s.size = required_int_param(p, "size");
  if (s.size < 0) throw std::invalid_argument("size must be >= 0, got " + std::to_string(s.size));
  const auto index_ndim = static_cast<int64_t>(indices.shape.size());
  const int64_t out_ndim = static_cast<int64_t>(updates.shape.size()) - index_ndim + 1;
  if (out_ndim < 1)
    throw std::invalid_argument("updates of shape " + shape_string(updates.shape) + " have fewer axes than indices of shape " +
                                shape_string(indices.shape));
  s.axis = normalize_axis(int_param(p, "axis", 0), out_ndim);
  bool ok = true;
  for (int64_t d = 0; d < index_ndim; ++d) merge_dim(indices.shape[d], updates.shape[s.axis + d], &ok);
  if (!ok)
    throw std::invalid_argument("updates of shape " + shape_string(updates.shape) + " do not hold indices of shape " +
                                shape_string(indices.shape) + " at axis " + std::to_string(s.axis) +
                                " (they must have gather's output shape)");
  s.out.assign(updates.shape.begin(), updates.shape.begin() + s.axis);
  s.out.push_back(s.size);
  s.out.insert(s.out.end(), updates.shape.begin() + s.axis + index_ndim, updates.shape.end());
  check_size_fits(s.out);
  return s;
}

TensorSpec scatter_add_infer(const Specs& in, const Params& p) { return {in[1].dtype, scatter_shape(in[0], in[1], p).out}; }

Tensor scatter_add_kernel(const Tensors& in, const Params& p) {
  const Tensor& indices = *in[0];
  const Tensor& updates = *in[1];
  const Scatter s = scatter_shape(spec_of(indices), spec_of(updates), p);
  Tensor out(updates.dtype(), s.out);
  const int32_t* idx = indices.data<int32_t>();
  const int64_t count = indices.size();
  for (int64_t j = 0; j < count; ++j)
    if (idx[j] < -s.size || idx[j] >= s.size)
      throw std::invalid_argument("index " + std::to_string(idx[j]) + " is out of range for " +
                                  axis_size_text(s.axis, s.size));
  const int64_t outer = product(s.out, 0, s.axis);
  const int64_t inner = product(s.out, s.axis + 1, s.out.size());
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same_v<T, uint8_t>) {
      using U = std::conditional_t<std::is_same_v<T, int32_t>, uint32_t, T>;  // int32 wraps, as add does
      const T* src = updates.data<T>();
      T* dst = out.data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < count; ++j) {
          const int64_t i = idx[j] < 0 ? idx[j] + s.size : idx[j];
          T* row = dst + (o * s.size + i) * inner;
          const T* from = src + (o * count + j) * inner;
          for (int64_t k = 0; k < inner; ++k) row[k] = static_cast<T>(static_cast<U>(row[k]) + static_cast<U>(from[k]));
        }
    }
  });
  return out;
}

Cost scatter_add_cost(const Specs& inputs, const TensorSpec& output, const Params&) {
  return {static_cast<double>(spec_elements(inputs[1])), input_bytes(inputs) + spec_bytes(output)};
}

// ---- reverse, tile ----

TensorSpec reverse_infer(const Specs& in, const Params& p) {
  reduction_axes(p, static_cast<int64_t>(in[0].shape.size()));
  return in[0];
}

Tensor reverse_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  Tensor out(x.dtype(), x.shape());
  if (out.size() == 0) return out;
  auto strides = strides_of(x.shape());
  int64_t offset = 0;
  for (int64_t axis : reduction_axes(p, x.ndim())) {
    offset += (x.shape()[axis] - 1) * strides[axis];
    strides[axis] = -strides[axis];
  }
  const std::size_t elem = dtype_size(x.dtype());
  copy_view(x.raw() + offset * static_cast<int64_t>(elem), x.shape(), strides, elem, out.raw());
  return out;
}

// Input shape and reps, both padded with leading 1s to the same rank (NumPy's rule).
std::pair<Shape, Shape> tile_operands(const Shape& shape, const Params& p) {
  Shape reps = int_list_param(p, "reps");
  for (int64_t r : reps)
    if (r < 0) throw std::invalid_argument("reps must be non-negative, got " + p.at("reps").dump());
  Shape padded = shape;
  if (reps.size() > padded.size()) padded.insert(padded.begin(), reps.size() - padded.size(), 1);
  if (padded.size() > reps.size()) reps.insert(reps.begin(), padded.size() - reps.size(), 1);
  return {padded, reps};
}

TensorSpec tile_infer(const Specs& in, const Params& p) {
  const auto [shape, reps] = tile_operands(in[0].shape, p);
  Shape out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i)
    out[i] = shape[i] == kUnknown ? (reps[i] == 0 ? 0 : kUnknown) : checked_mul(shape[i], reps[i]);
  check_size_fits(out);
  return {in[0].dtype, out};
}

// Writes the tiling of the block `src` (dimensions level.. of the padded input) into `dst`:
// each sub-block is tiled first, then the whole run along this level is replicated.
void tile_level(const uint8_t* src, uint8_t* dst, std::size_t level, const Shape& shape, const Shape& reps,
                const std::vector<std::size_t>& in_block, const std::vector<std::size_t>& out_block) {
  const std::size_t run = static_cast<std::size_t>(shape[level]) * out_block[level + 1];
  if (level + 1 == shape.size()) {
    std::memcpy(dst, src, run);
  } else {
    for (int64_t i = 0; i < shape[level]; ++i)
      tile_level(src + static_cast<std::size_t>(i) * in_block[level + 1], dst + static_cast<std::size_t>(i) * out_block[level + 1],
                 level + 1, shape, reps, in_block, out_block);
  }
  replicate(dst, run, run * static_cast<std::size_t>(reps[level]));
}

Tensor tile_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  Tensor out(x.dtype(), tile_infer({spec_of(x)}, p).shape);
  if (out.size() == 0) return out;
  const auto [shape, reps] = tile_operands(x.shape(), p);
  const std::size_t elem = dtype_size(x.dtype());
  if (shape.empty()) {
    std::memcpy(out.raw(), x.raw(), elem);
    return out;
  }
  // in_block[k] / out_block[k]: bytes of one index of dimension k-1, i.e. of dimensions k.. .
  std::vector<std::size_t> in_block(shape.size() + 1, elem), out_block(shape.size() + 1, elem);
  for (std::size_t k = shape.size(); k-- > 0;) {
    in_block[k] = in_block[k + 1] * static_cast<std::size_t>(shape[k]);
    out_block[k] = out_block[k + 1] * static_cast<std::size_t>(shape[k] * reps[k]);
  }
  tile_level(x.raw(), out.raw(), 0, shape, reps, in_block, out_block);
  return out;
}

// ---- sort, unique ----

// Sorts [begin, end) ascending with NaN after every number, as NumPy sorts: NaNs are moved to
// the end first so that the sort itself compares with a plain <.
template <class T>
void sort_nan_last(T* begin, T* end) {
  if constexpr (std::is_floating_point_v<T>) end = std::partition(begin, end, [](T v) { return !std::isnan(v); });
  std::sort(begin, end);
}

template <class T>
bool same_value(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return a == b || (std::isnan(a) && std::isnan(b));
  else return a == b;
}

// dst (cols x rows) = transpose of src (rows x cols), tile by tile so both sides stay in cache.
template <class T>
void transpose_into(const T* src, int64_t rows, int64_t cols, T* dst) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
    }
}

TensorSpec sort_infer(const Specs& in, const Params& p) {
  normalize_axis(int_param(p, "axis", -1), static_cast<int64_t>(in[0].shape.size()));
  return in[0];
}

Tensor sort_kernel(const Tensors& in, const Params& p) {
  Tensor out = *in[0];
  const int64_t axis = normalize_axis(int_param(p, "axis", -1), out.ndim());
  const int64_t len = out.shape()[axis];
  const int64_t outer = product(out.shape(), 0, axis);
  const int64_t inner = product(out.shape(), axis + 1, out.shape().size());
  if (out.size() == 0 || len < 2) return out;
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* data = out.data<T>();
    if (inner == 1) {
      for (int64_t o = 0; o < outer; ++o) sort_nan_last(data + o * len, data + (o + 1) * len);
      return;
    }
    // Lines along a non-last axis are strided: transpose each (len x inner) slab so that its
    // lines become contiguous rows, sort them, and transpose back.
    std::vector<T> rows(static_cast<std::size_t>(len * inner));
    for (int64_t o = 0; o < outer; ++o) {
      T* slab = data + o * len * inner;
      transpose_into(slab, len, inner, rows.data());
      for (int64_t i = 0; i < inner; ++i) sort_nan_last(rows.data() + i * len, rows.data() + (i + 1) * len);
      transpose_into(rows.data(), inner, len, slab);
    }
  });
  return out;
}

// argsort: the int32 positions that sort each line, stable (equal values keep their order, as
// np.argsort(kind="stable")), NaN last.
TensorSpec argsort_infer(const Specs& in, const Params& p) {
  const int64_t axis = normalize_axis(int_param(p, "axis", -1), static_cast<int64_t>(in[0].shape.size()));
  if (in[0].shape[axis] > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument(axis_size_text(axis, in[0].shape[axis]) + " is longer than int32 positions can address");
  return {DType::i32, in[0].shape};
}

Tensor argsort_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  Tensor out(DType::i32, argsort_infer({spec_of(x)}, p).shape);
  const int64_t axis = normalize_axis(int_param(p, "axis", -1), x.ndim());
  const int64_t len = x.shape()[axis];
  const int64_t outer = product(x.shape(), 0, axis);
  const int64_t inner = product(x.shape(), axis + 1, x.shape().size());
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    auto before = [](T a, T b) {
      if constexpr (std::is_floating_point_v<T>) return a < b || (!std::isnan(a) && std::isnan(b));
      else return a < b;
    };
    const T* src = x.data<T>();
    int32_t* dst = out.data<int32_t>();
    std::vector<T> line(static_cast<std::size_t>(len));
    std::vector<int32_t> order(static_cast<std::size_t>(len));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * len * inner + j;
        for (int64_t k = 0; k < len; ++k) {
          line[k] = src[base + k * inner];
          order[k] = static_cast<int32_t>(k);
        }
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return before(line[a], line[b]); });
        for (int64_t k = 0; k < len; ++k) dst[base + k * inner] = order[k];
      }
  });
  return out;
}

// The output is never longer than the input, so it fits wherever the input did.
TensorSpec unique_infer(const Specs& in, const Params&) { return {in[0].dtype, {kUnknown}}; }

Tensor unique_kernel(const Tensors& in, const Params&) {
  Tensor sorted = in[0]->reshaped({in[0]->size()});
  return visit_dtype(sorted.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* begin = sorted.data<T>();
    T* end = begin + sorted.size();
    sort_nan_last(begin, end);
    end = std::unique(begin, end, [](T a, T b) { return same_value(a, b); });
    Tensor out(sorted.dtype(), {end - begin});
    if (end != begin) std::memcpy(out.raw(), begin, static_cast<std::size_t>(end - begin) * sizeof(T));
    return out;
  });
}

// ---- one_hot, find_indices, bincount ----

TensorSpec one_hot_infer(const Specs& in, const Params& p) {
  require_int32(in[0], "indices");
  const int64_t depth = required_int_param(p, "depth");
  if (depth < 0) throw std::invalid_argument("depth must be >= 0, got " + std::to_string(depth));
  Shape out = in[0].shape;
  out.push_back(depth);
  check_size_fits(out);
  return {DType::f32, out};
}

Tensor one_hot_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  Tensor out(DType::f32, one_hot_infer({spec_of(x)}, p).shape);
  const int64_t depth = out.shape().back();
  const int32_t* idx = x.data<int32_t>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < x.size(); ++i) {
    if (idx[i] < 0 || idx[i] >= depth)
      throw std::invalid_argument("index " + std::to_string(idx[i]) + " at position " + std::to_string(i) +
                                  " is out of range for depth " + std::to_string(depth));
    dst[i * depth + idx[i]] = 1.0f;
  }
  return out;
}

TensorSpec find_indices_infer(const Specs& in, const Params& p) {
  number_list_param(p, "values");
  return {DType::i32, {kUnknown}};
}

Tensor find_indices_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  if (x.size() > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("input has more elements than int32 indices can address");
  std::vector<double> values = number_list_param(p, "values");
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  std::sort(values.begin(), values.end());
  // The output holds one int32 per match: bounded here, as inference cannot know its length.
  constexpr std::size_t kMaxMatches = static_cast<std::size_t>(kMaxTensorBytes) / sizeof(int32_t);
  std::vector<int32_t> found;
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* data = x.data<T>();
    for (int64_t i = 0; i < x.size(); ++i) {
      const double value = static_cast<double>(data[i]);
      // A NaN matches nothing (np.isin compares with ==); binary_search alone would find it
      // "equivalent" to any value, since every < with NaN is false.
      if (!std::isnan(value) && std::binary_search(values.begin(), values.end(), value)) {
        if (found.size() == kMaxMatches)  // only a bool input has room for more
          throw std::invalid_argument("more than " + std::to_string(kMaxMatches) +
                                      " matches: their int32 indices would take more than " +
                                      std::to_string(static_cast<int>(kMaxTensorBytes / (1 << 20))) +
                                      " MiB, the most a tensor may take");
        found.push_back(static_cast<int32_t>(i));
      }
    }
  });
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(found.size())}, found);
}

// Refuses `bins` bins (asked for by `why`) when they would not fit in a tensor: the int32
// counts, or with weights the float64 sums the kernel accumulates before converting them.
void check_bins(int64_t bins, bool weighted, const std::string& why) {
  check_tensor_bytes(static_cast<double>(bins) * (weighted ? 8.0 : 4.0),
                     std::string(weighted ? "float64 sums" : "an int32 output") + " of " + std::to_string(bins) +
                         " bins (" + why + ")");
}

TensorSpec bincount_infer(const Specs& in, const Params& p) {
  const TensorSpec& x = in[0];
  require_int32(x, "input");
  if (x.shape.size() != 1) throw std::invalid_argument("input must be 1-d, got shape " + shape_string(x.shape));
  const int64_t minlength = int_param(p, "minlength", 0);
  if (minlength < 0) throw std::invalid_argument("minlength must be >= 0, got " + std::to_string(minlength));
  check_bins(minlength, in.size() == 2, "param 'minlength'");
  if (in.size() == 1) return {DType::i32, {kUnknown}};
  const TensorSpec& w = in[1];
  bool ok = w.shape.size() == 1;
  if (ok) merge_dim(x.shape[0], w.shape[0], &ok);
  if (!ok)
    throw std::invalid_argument("weights shape " + shape_string(w.shape) + " does not match input shape " +
                                shape_string(x.shape));
  return {float_result(w.dtype), {kUnknown}};
}

Tensor bincount_kernel(const Tensors& in, const Params& p) {
  const Tensor& x = *in[0];
  const int32_t* values = x.data<int32_t>();
  int64_t length = int_param(p, "minlength", 0);
  int64_t widest = -1;  // index of the value that sets the length, if one does
  for (int64_t i = 0; i < x.size(); ++i) {
    if (values[i] < 0)
      throw std::invalid_argument("input contains negative value " + std::to_string(values[i]) + " at index " +
                                  std::to_string(i));
    if (values[i] >= length) {
      length = int64_t{values[i]} + 1;
      widest = i;
    }
  }
  if (widest >= 0)
    check_bins(length, in.size() == 2, "value " + std::to_string(values[widest]) + " at index " + std::to_string(widest));
  if (in.size() == 1) {
    Tensor out(DType::i32, {length});
    int32_t* counts = out.data<int32_t>();
    for (int64_t i = 0; i < x.size(); ++i) ++counts[values[i]];
    return out;
  }
  const Tensor& weights = *in[1];
  std::vector<double> sums(static_cast<std::size_t>(length), 0.0);
  visit_dtype(weights.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* w = weights.data<T>();
    for (int64_t i = 0; i < x.size(); ++i) sums[values[i]] += static_cast<double>(w[i]);
  });
  Tensor out(float_result(weights.dtype()), {length});
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::copy(sums.begin(), sums.end(), out.data<T>());
  });
  return out;
}

// ---- shape, set_value ----

TensorSpec shape_infer(const Specs& in, const Params&) {
  return {DType::i32, {static_cast<int64_t>(in[0].shape.size())}};
}

Tensor shape_kernel(const Tensors& in, const Params&) {
  std::vector<int32_t> dims;
  for (int64_t d : in[0]->shape()) {
    if (d > std::numeric_limits<int32_t>::max())
      throw std::invalid_argument("dimension " + std::to_string(d) + " does not fit in int32");
    dims.push_back(static_cast<int32_t>(d));
  }
  return Tensor::from_vector<int32_t>({in[0]->ndim()}, dims);
}

// The 'value' param as a number (true and false count as 1 and 0).
double set_value_param(const Params& p) {
  if (!has_param(p, "value")) throw std::invalid_argument("param 'value' is required");
  const auto& v = p.at("value");
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (!v.is_number()) throw std::invalid_argument("param 'value' must be a number, got " + v.dump());
  return v.get<double>();
}

// Flat position of the 'index' param in `shape` (or -1 if a dimension is unknown), after checks.
int64_t set_value_position(const TensorSpec& x, const Params& p) {
  const auto index = int_list_param(p, "index");
  if (index.size() != x.shape.size())
    throw std::invalid_argument("index has " + std::to_string(index.size()) + " entries for a " +
                                std::to_string(x.shape.size()) + "-d input");
  const double value = set_value_param(p);
  if (x.dtype == DType::i32 && !(value > -2147483649.0 && value < 2147483648.0))
    throw std::invalid_argument("value " + p.at("value").dump() + " does not fit in int32");
  int64_t position = 0;
  for (std::size_t i = 0; i < index.size(); ++i) {
    const int64_t dim = x.shape[i];
    if (dim == kUnknown) {
      position = kUnknown;
      continue;
    }
    if (index[i] < -dim || index[i] >= dim)
      throw std::invalid_argument("index " + std::to_string(index[i]) + " is out of range for " +
                                  axis_size_text(static_cast<int64_t>(i), dim));
    if (position != kUnknown) position = position * dim + (index[i] < 0 ? index[i] + dim : index[i]);
  }
  return position;
}

TensorSpec set_value_infer(const Specs& in, const Params& p) {
  set_value_position(in[0], p);
  return in[0];
}

Tensor set_value_kernel(const Tensors& in, const Params& p) {
  Tensor out = *in[0];
  const int64_t position = set_value_position(spec_of(out), p);
  const double value = set_value_param(p);
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, uint8_t>) out.data<T>()[position] = value != 0.0;
    else out.data<T>()[position] = static_cast<T>(value);
  });
  return out;
}

OpDef row(std::string_view name, std::vector<std::string_view> aliases, int min_inputs, int max_inputs,
          std::vector<ParamSpec> params, TensorSpec (*infer)(const Specs&, const Params&),
          Tensor (*kernel)(const Tensors&, const Params&),
          Cost (*cost)(const Specs&, const TensorSpec&, const Params&) = move_cost) {
  OpDef def;
  def.name = name;
  def.aliases = std::move(aliases);
  def.min_inputs = min_inputs;
  def.max_inputs = max_inputs;
  def.family = OpFamily::movement;
  def.infer = infer;
  def.cost = cost;
  def.kernel = kernel;
  def.params = std::move(params);
  return def;
}

}  // namespace

std::vector<OpDef> movement_rows() {
  using T = ParamType;
  const ParamSpec axis{"axis", T::integer}, axes{"axis", T::int_list};
  return {
      row("reshape", {}, 1, 1, {{"shape", T::int_list}}, reshape_infer, reshape_kernel),
      row("flatten", {"ravel"}, 1, 1, {}, flatten_infer, flatten_kernel),
      row("expand_dims", {}, 1, 1, {axes}, expand_dims_infer, expand_dims_kernel),
      row("squeeze", {}, 1, 1, {axes}, squeeze_infer, squeeze_kernel),
      row("concat", {}, 1, -1, {axis}, concat_infer, concat_kernel),
      row("stack", {}, 1, -1, {axis}, stack_infer, stack_kernel),
      row("split", {}, 1, 1, {axis, {"sections", T::integer}, {"index", T::integer}}, split_infer, split_kernel),
      row("slice", {}, 1, 1, {{"begin", T::int_list}, {"size", T::int_list}}, slice_infer, slice_kernel),
      row("gather", {}, 2, 2, {axis}, gather_infer, gather_kernel),
      row("scatter_add", {}, 2, 2, {axis, {"size", T::integer}}, scatter_add_infer, scatter_add_kernel,
          scatter_add_cost),
      row("reverse", {}, 1, 1, {axes}, reverse_infer, reverse_kernel),
      row("tile", {}, 1, 1, {{"reps", T::int_list}}, tile_infer, tile_kernel),
      row("sort", {}, 1, 1, {axis}, sort_infer, sort_kernel, sort_cost),
      row("argsort", {}, 1, 1, {axis}, argsort_infer, argsort_kernel, sort_cost),
      row("unique", {}, 1, 1, {}, unique_infer, unique_kernel, unique_cost),
      row("one_hot", {"one_hot_encoding"}, 1, 1, {{"depth", T::integer}}, one_hot_infer, one_hot_kernel),
      row("find_indices", {}, 1, 1, {{"values", T::number_list}}, find_indices_infer, find_indices_kernel, scan_cost),
      row("bincount", {}, 1, 2, {{"minlength", T::integer}}, bincount_infer, bincount_kernel, scan_cost),
      row("shape", {}, 1, 1, {}, shape_infer, shape_kernel),
      row("set_value", {}, 1, 1, {{"index", T::int_list}, {"value", T::number_or_bool}}, set_value_infer,
          set_value_kernel),
  };
}

}  // namespace corvid::ops
