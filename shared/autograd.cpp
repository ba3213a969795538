// The reverse-mode expansion of `grad` ops. For each loss: the ops between the targets (the w of
// its grad ops) and the loss are walked once in reverse topological order; each op turns the
// cotangent of its output into cotangents of its inputs with its vector-Jacobian rule (the table
// at the end of this file), emitting ordinary ops; contributions from fan-out are summed, and
// broadcasting is summed back to each input's shape. Forward values are reused by id.
#include "autograd.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <unordered_set>

#include "ops/families.hpp"

namespace corvid {

namespace {

using ops::has_param;

// ---------------------------------------------------------------------------------------------
// The grad op's own definition.

TensorSpec grad_infer(const std::vector<TensorSpec>& in, const Params&) {
  const TensorSpec& loss = in[0];
  const TensorSpec& w = in[1];
  if (!is_float(loss.dtype))
    throw std::invalid_argument("the loss must be float32 or float64, got " + std::string(dtype_name(loss.dtype)));
  for (int64_t d : loss.shape)
    if (d != 1)
      throw std::invalid_argument("the loss must have one element (a scalar), got shape " + shape_string(loss.shape));
  if (!is_float(w.dtype))
    throw std::invalid_argument("w must be float32 or float64 (only floats have gradients), got " +
                                std::string(dtype_name(w.dtype)));
  return w;
}

Tensor grad_kernel(const std::vector<const Tensor*>&, const Params&) {
  throw std::logic_error("grad is expanded into other ops at submission and has no kernel");
}

// ---------------------------------------------------------------------------------------------
// The backward pass of one loss: emits ops and tracks their specs.

class Backward;

// A vector-Jacobian rule: given the op, its output's cotangent `g` and which inputs need one,
// sets grads[i] to the id of the cotangent of input i (of input i's shape) or leaves it empty.
using Rule = void (*)(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                      std::vector<std::string>& grads);

struct RuleEntry {
  Rule rule = nullptr;
  std::vector<int> no_gradient_inputs;  // positions that never carry a gradient (indices, conditions)
};

const std::map<std::string_view, RuleEntry>& rules();

class Backward {
 public:
  Backward(std::string prefix, std::unordered_set<std::string>& taken,
           std::unordered_map<std::string, TensorSpec>& specs, const KnownSpecs& known)
      : prefix_(std::move(prefix)), taken_(taken), specs_(specs), known_(known) {}

  std::vector<OpSpec>& emitted() { return emitted_; }

  const TensorSpec& spec(const std::string& id) const {
    auto it = specs_.find(id);
    return it != specs_.end() ? it->second : *known_(id);
  }
  const Shape& shape(const std::string& id) const { return spec(id).shape; }
  DType dtype(const std::string& id) const { return spec(id).dtype; }

  // Emits op `name` of the table and returns its id.
  std::string op(std::string_view name, std::vector<std::string> inputs, Params params = Params::object()) {
    const OpDef* def = find_op(name);
    if (!def) throw std::logic_error("autograd: no op " + std::string(name));
    std::vector<TensorSpec> in;
    for (const auto& id : inputs) in.push_back(spec(id));
    TensorSpec out = infer_op(*def, in, params);
    OpSpec s;
    s.id = next_id();
    s.def = def;
    s.inputs = std::move(inputs);
    s.params = std::move(params);
    return add(std::move(s), std::move(out));
  }

  // A constant (a `tensor` op, computed at submission).
  std::string tensor(Tensor t) {
    OpSpec s;
    s.id = next_id();
    s.def = find_op("tensor");
    const TensorSpec spec = spec_of(t);
    s.value = std::move(t);
    return add(std::move(s), spec);
  }

  // A constant of `shape` filled with `value` (a `tensor` op, computed at submission).
  std::string constant(double value, DType dtype, const Shape& shape = {}) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    const std::string key = text + std::string(dtype_name(dtype)) + shape_string(shape);
    auto it = constants_.find(key);
    if (it != constants_.end()) return it->second;
    Tensor t(dtype, shape);
    visit_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      std::fill(t.data<T>(), t.data<T>() + t.size(), static_cast<T>(value));
    });
    const std::string id = tensor(std::move(t));
    constants_.emplace(key, id);
    return id;
  }

  // ---- shorthands ----
  std::string add(const std::string& a, const std::string& b) { return op("add", {a, b}); }
  std::string sub(const std::string& a, const std::string& b) { return op("sub", {a, b}); }
  std::string mul(const std::string& a, const std::string& b) { return op("mul", {a, b}); }
  std::string div(const std::string& a, const std::string& b) { return op("div", {a, b}); }
  std::string neg(const std::string& a) { return op("neg", {a}); }
  // A 0-d constant in the dtype of `like` (so that it does not widen float32 to float64).
  std::string scalar(double value, const std::string& like) { return constant(value, dtype(like)); }

  std::string reshape(const std::string& x, const Shape& shape) {
    if (this->shape(x) == shape) return x;
    return op("reshape", {x}, {{"shape", shape}});
  }

  // Sums `g` down to `target`, the shape of an operand that was broadcast to g's shape.
  std::string sum_to(const std::string& g, const Shape& target) {
    const Shape& s = shape(g);
    if (s == target) return g;
    const std::size_t lead = s.size() - target.size();
    std::vector<int64_t> axes;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (i < lead || (target[i - lead] == 1 && s[i] != 1)) axes.push_back(static_cast<int64_t>(i));
    const std::string summed = axes.empty() ? g : op("sum", {g}, {{"axis", axes}});
    return reshape(summed, target);
  }

  // Broadcasts `g` to `target` (g's shape broadcasts to it) by tiling its size-1 axes.
  std::string expand_to(const std::string& g, const Shape& target) {
    Shape s = shape(g);
    if (s == target) return g;
    s.insert(s.begin(), target.size() - s.size(), 1);
    Shape reps(target.size(), 1);
    for (std::size_t i = 0; i < target.size(); ++i)
      if (s[i] != target[i]) reps[i] = target[i];
    return op("tile", {g}, {{"reps", reps}});
  }

  // `g`, the cotangent of a reduction of x over `axes`, with the reduced axes kept as size 1.
  std::string keep_dims(const std::string& g, const Shape& x, const std::vector<int64_t>& axes) {
    Shape kept = x;
    for (int64_t a : axes) kept[a] = 1;
    return reshape(g, kept);
  }

  // x with its axes permuted (transpose), or x itself for the identity.
  std::string permute(const std::string& x, const std::vector<int64_t>& perm) {
    for (std::size_t i = 0; i < perm.size(); ++i)
      if (perm[i] != static_cast<int64_t>(i)) return op("transpose", {x}, {{"axes", perm}});
    return x;
  }

  // Swaps the last two axes.
  std::string transpose_last2(const std::string& x) {
    const auto n = static_cast<int64_t>(shape(x).size());
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < n; ++i) perm.push_back(i);
    std::swap(perm[n - 1], perm[n - 2]);
    return op("transpose", {x}, {{"axes", perm}});
  }

  std::string cast(const std::string& x, DType dtype) {
    return this->dtype(x) == dtype ? x : op("cast", {x}, {{"dtype", std::string(dtype_name(dtype))}});
  }

  std::string zeros(const Shape& shape, DType dtype) {
    return op("zeros", {}, {{"shape", shape}, {"dtype", std::string(dtype_name(dtype))}});
  }

  // Renames the emitted op `from` to `to` (an op nobody refers to yet).
  void rename(const std::string& from, const std::string& to) {
    for (auto& s : emitted_)
      if (s.id == from) s.id = to;
    specs_[to] = specs_.at(from);
    specs_.erase(from);
    for (auto it = constants_.begin(); it != constants_.end(); ++it)
      if (it->second == from) {
        constants_.erase(it);
        break;
      }
  }

  bool is_emitted(const std::string& id) const {
    return std::any_of(emitted_.begin(), emitted_.end(), [&](const OpSpec& s) { return s.id == id; });
  }
  bool is_used(const std::string& id) const {
    for (const auto& s : emitted_)
      if (std::find(s.inputs.begin(), s.inputs.end(), id) != s.inputs.end()) return true;
    return false;
  }

 private:
  std::string next_id() {
    std::string id;
    do id = prefix_ + "#" + std::to_string(++counter_);
    while (taken_.count(id) || known_(id));
    taken_.insert(id);
    return id;
  }

  std::string add(OpSpec s, TensorSpec out) {
    std::string id = s.id;
    specs_[id] = std::move(out);
    emitted_.push_back(std::move(s));
    return id;
  }

  std::string prefix_;
  int counter_ = 0;
  std::unordered_set<std::string>& taken_;
  std::unordered_map<std::string, TensorSpec>& specs_;
  const KnownSpecs& known_;
  std::vector<OpSpec> emitted_;
  std::map<std::string, std::string> constants_;
};

// ---------------------------------------------------------------------------------------------
// Rules. `in(op, i)` is the id of input i; x is input 0.

const std::string& in(const OpSpec& op, std::size_t i) { return op.inputs[i]; }

// ---- unary ----

void neg_rule(Backward& b, const OpSpec&, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.neg(g);
}
void pos_rule(Backward&, const OpSpec&, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = g;
}
void abs_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.op("sign", {in(op, 0)}));
}
void exp_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, op.id);
}
void log_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.div(g, in(op, 0));
}
void sqrt_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.div(g, b.mul(op.id, b.scalar(2, g)));
}
void cbrt_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.div(g, b.mul(b.op("square", {op.id}), b.scalar(3, g)));
}
void square_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.mul(in(op, 0), b.scalar(2, g)));
}
void cube_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.mul(b.op("square", {in(op, 0)}), b.scalar(3, g)));
}
void reciprocal_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                     std::vector<std::string>& gr) {
  gr[0] = b.neg(b.mul(g, b.op("square", {op.id})));
}
void sin_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.op("cos", {in(op, 0)}));
}
void cos_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.neg(b.mul(g, b.op("sin", {in(op, 0)})));
}
void tanh_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.sub(b.scalar(1, g), b.op("square", {op.id})));
}
void sigmoid_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.mul(op.id, b.sub(b.scalar(1, g), op.id)));
}
// PyTorch's threshold_backward: the gradient passes where the result is positive.
void relu_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.op("greater", {op.id, b.scalar(0, op.id)}));
}
// PyTorch's clamp_backward: the gradient passes where min <= x <= max, that is where clip kept x.
void clip_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  gr[0] = b.mul(g, b.op("equal", {op.id, in(op, 0)}));
}
void softmax_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                  std::vector<std::string>& gr) {
  const Params axis = {{"axis", ops::int_param(op.params, "axis", -1)}, {"keepdims", true}};
  const std::string s = b.op("sum", {b.mul(g, op.id)}, axis);
  gr[0] = b.mul(op.id, b.sub(g, s));
}
void log_softmax_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                      std::vector<std::string>& gr) {
  const Params axis = {{"axis", ops::int_param(op.params, "axis", -1)}, {"keepdims", true}};
  gr[0] = b.sub(g, b.mul(b.op("exp", {op.id}), b.op("sum", {g}, axis)));
}

// A cast between float widths casts the gradient back; other casts make integers, which have none.
void cast_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const DType from = b.dtype(in(op, 0)), to = b.dtype(op.id);
  if (!is_float(from) || !is_float(to))
    throw std::invalid_argument("a cast from " + std::string(dtype_name(from)) + " to " + std::string(dtype_name(to)) +
                                " has no gradient");
  gr[0] = b.cast(g, from);
}

// ---- binary, with broadcasting summed back ----

void add_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  if (need[0]) gr[0] = b.sum_to(g, b.shape(in(op, 0)));
  if (need[1]) gr[1] = b.sum_to(g, b.shape(in(op, 1)));
}
void sub_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  if (need[0]) gr[0] = b.sum_to(g, b.shape(in(op, 0)));
  if (need[1]) gr[1] = b.sum_to(b.neg(g), b.shape(in(op, 1)));
}
void mul_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  if (need[0]) gr[0] = b.sum_to(b.mul(g, in(op, 1)), b.shape(in(op, 0)));
  if (need[1]) gr[1] = b.sum_to(b.mul(g, in(op, 0)), b.shape(in(op, 1)));
}
void div_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  const std::string ga = b.div(g, in(op, 1));
  if (need[0]) gr[0] = b.sum_to(ga, b.shape(in(op, 0)));
  if (need[1]) gr[1] = b.sum_to(b.neg(b.mul(ga, op.id)), b.shape(in(op, 1)));
}
// PyTorch's pow_backward_self and pow_backward_exponent, with their masks at b == 0 and a == 0.
void pow_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  const std::string& x = in(op, 0);
  const std::string& e = in(op, 1);
  const std::string zero = b.scalar(0, g);
  if (need[0]) {
    const std::string d = b.mul(e, b.op("pow", {x, b.sub(e, b.scalar(1, g))}));
    gr[0] = b.sum_to(b.op("where", {b.op("equal", {e, zero}), zero, b.mul(g, d)}), b.shape(x));
  }
  if (need[1]) {
    const std::string masked = b.op("logical_and", {b.op("equal", {x, zero}), b.op("greater_equal", {e, zero})});
    const std::string d = b.mul(op.id, b.op("log", {x}));
    gr[1] = b.sum_to(b.op("where", {masked, zero, b.mul(g, d)}), b.shape(e));
  }
}
// PyTorch's maximum and minimum: the gradient goes to the selected operand, half to each at a tie.
template <bool kMax>
void extreme_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                  std::vector<std::string>& gr) {
  const std::string tie = b.op("equal", {in(op, 0), in(op, 1)});
  const std::string half = b.scalar(0.5, g);
  for (std::size_t i = 0; i < 2; ++i) {
    if (!need[i]) continue;
    const std::string wins = b.op(kMax ? "greater" : "less", {in(op, i), in(op, 1 - i)});
    gr[i] = b.sum_to(b.mul(g, b.op("where", {tie, half, wins})), b.shape(in(op, i)));
  }
}
void where_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                std::vector<std::string>& gr) {
  const std::string zero = b.scalar(0, g);
  if (need[1]) gr[1] = b.sum_to(b.op("where", {in(op, 0), g, zero}), b.shape(in(op, 1)));
  if (need[2]) gr[2] = b.sum_to(b.op("where", {in(op, 0), zero, g}), b.shape(in(op, 2)));
}

// ---- reductions ----

std::vector<int64_t> axes_of(Backward& b, const OpSpec& op) {
  return ops::reduction_axes(op.params, static_cast<int64_t>(b.shape(in(op, 0)).size()));
}
double count_of(const Shape& x, const std::vector<int64_t>& axes) {
  double n = 1;
  for (int64_t a : axes) n *= static_cast<double>(x[a]);
  return n;
}
Params keep_params(const std::vector<int64_t>& axes) { return {{"axis", axes}, {"keepdims", true}}; }

void sum_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  gr[0] = b.expand_to(b.keep_dims(g, x, axes_of(b, op)), x);
}
void mean_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  const auto axes = axes_of(b, op);
  gr[0] = b.expand_to(b.mul(b.keep_dims(g, x, axes), b.scalar(1.0 / count_of(x, axes), g)), x);
}
// The product of the other elements of each line, exact when x has zeros.
void prod_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const std::string& x = in(op, 0);
  const auto axes = axes_of(b, op);
  const std::string zero = b.scalar(0, x), one = b.scalar(1, x);
  const std::string z = b.op("equal", {x, zero});
  const std::string nonzero = b.op("where", {z, one, x});
  const std::string p = b.op("prod", {nonzero}, keep_params(axes));
  const std::string zeros_in_line = b.op("sum", {z}, keep_params(axes));
  const std::string at_zero = b.op("where", {b.op("equal", {zeros_in_line, one}), p, zero});
  const std::string at_nonzero = b.op("where", {b.op("equal", {zeros_in_line, zero}), b.div(p, nonzero), zero});
  const std::string others = b.op("where", {z, at_zero, at_nonzero});
  gr[0] = b.mul(others, b.keep_dims(g, b.shape(x), axes));
}
// amax/amin as PyTorch: the gradient is shared evenly among the elements equal to the extreme.
void reduce_extreme_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                         std::vector<std::string>& gr) {
  const std::string& x = in(op, 0);
  const auto axes = axes_of(b, op);
  const std::string mask = b.op("equal", {x, b.keep_dims(op.id, b.shape(x), axes)});
  const std::string count = b.op("sum", {mask}, keep_params(axes));
  gr[0] = b.mul(mask, b.div(b.keep_dims(g, b.shape(x), axes), count));
}
// var: g * 2 (x - mean) / (N - ddof); std: g * (x - mean) / ((N - ddof) std), 0 where std is 0 (PyTorch).
template <bool kStd>
void var_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const std::string& x = in(op, 0);
  const auto axes = axes_of(b, op);
  const double divisor = count_of(b.shape(x), axes) - ops::number_param(op.params, "ddof", 0);
  const std::string centred = b.sub(x, b.op("mean", {x}, keep_params(axes)));
  std::string scale = b.keep_dims(g, b.shape(x), axes);
  if (kStd) {
    const std::string y = b.keep_dims(op.id, b.shape(x), axes);
    const std::string zero = b.scalar(0, g);
    scale = b.op("where", {b.op("equal", {y, zero}), zero, b.div(scale, b.mul(y, b.scalar(divisor, g)))});
  } else {
    scale = b.mul(scale, b.scalar(2 / divisor, g));
  }
  gr[0] = b.mul(centred, scale);
}
// average(a, weights): y = sum(a w) / sum(w); 1-d weights lie along the single axis.
void average_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                  std::vector<std::string>& gr) {
  if (op.inputs.size() == 1) return mean_rule(b, op, g, need, gr);
  const std::string& a = in(op, 0);
  const Shape& as = b.shape(a);
  const auto axes = axes_of(b, op);
  std::string w = in(op, 1);
  const bool one_d = b.shape(w) != as;
  if (one_d) {
    Shape along(as.size(), 1);
    along[axes[0]] = as[axes[0]];
    w = b.reshape(w, along);
  }
  const std::string total = b.op("sum", {w}, keep_params(axes));
  const std::string gk = b.keep_dims(g, as, axes);
  if (need[0]) gr[0] = b.expand_to(b.mul(gk, b.div(w, total)), as);
  if (need[1]) {
    const std::string ga = b.mul(gk, b.div(b.sub(a, b.keep_dims(op.id, as, axes)), total));
    if (!one_d) {
      gr[1] = ga;
    } else {
      std::vector<int64_t> others;
      for (int64_t i = 0; i < static_cast<int64_t>(as.size()); ++i)
        if (i != axes[0]) others.push_back(i);
      gr[1] = others.empty() ? ga : b.op("sum", {ga}, {{"axis", others}});
    }
  }
}

// ---- linear algebra ----

// matmul with NumPy's 1-d promotion and batch broadcasting.
void matmul_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                 std::vector<std::string>& gr) {
  const std::string& a = in(op, 0);
  const std::string& c = in(op, 1);
  const Shape& as = b.shape(a);
  const Shape& cs = b.shape(c);
  const std::string a2 = as.size() == 1 ? b.reshape(a, {1, as[0]}) : a;
  const std::string c2 = cs.size() == 1 ? b.reshape(c, {cs[0], 1}) : c;
  Shape gs = b.shape(g);
  if (as.size() == 1) gs.insert(gs.end() - (cs.size() == 1 ? 0 : 1), 1);
  if (cs.size() == 1) gs.push_back(1);
  const std::string g2 = b.reshape(g, gs);
  if (need[0]) gr[0] = b.reshape(b.sum_to(b.op("matmul", {g2, b.transpose_last2(c2)}), b.shape(a2)), as);
  if (need[1]) gr[1] = b.reshape(b.sum_to(b.op("matmul", {b.transpose_last2(a2), g2}), b.shape(c2)), cs);
}
// np.dot as a 2-d product: a (P, K) times b moved to (K, J... N) and flattened to (K, J N).
void dot_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
              std::vector<std::string>& gr) {
  const std::string& a = in(op, 0);
  const std::string& c = in(op, 1);
  const Shape as = b.shape(a), cs = b.shape(c);
  if (as.empty() || cs.empty()) return mul_rule(b, op, g, need, gr);
  const int64_t k = as.back();
  const int64_t p = k == 0 ? num_elements(Shape(as.begin(), as.end() - 1)) : num_elements(as) / k;
  const std::string a2 = b.reshape(a, {p, k});
  if (cs.size() == 1) {
    Shape gs(as.begin(), as.end() - 1);
    gs.push_back(1);
    if (need[0]) gr[0] = b.mul(b.reshape(g, gs), c);
    if (need[1]) gr[1] = b.op("matmul", {b.transpose_last2(a2), b.reshape(g, {p})});
    return;
  }
  // b's axes with K first: (K, J..., N).
  const auto nd = static_cast<int64_t>(cs.size());
  std::vector<int64_t> to_front = {nd - 2};
  for (int64_t i = 0; i < nd; ++i)
    if (i != nd - 2) to_front.push_back(i);
  const int64_t jn = k == 0 ? num_elements(Shape(cs.begin(), cs.end() - 2)) * cs.back() : num_elements(cs) / k;
  const std::string g2 = b.reshape(g, {p, jn});
  if (need[0]) {
    const std::string c2 = b.reshape(b.op("transpose", {c}, {{"axes", to_front}}), {k, jn});
    gr[0] = b.reshape(b.op("matmul", {g2, b.transpose_last2(c2)}), as);
  }
  if (need[1]) {
    Shape front = {k};
    for (int64_t i = 0; i < nd; ++i)
      if (i != nd - 2) front.push_back(cs[i]);
    std::vector<int64_t> back(static_cast<std::size_t>(nd));
    for (int64_t i = 0; i < nd; ++i) back[to_front[i]] = i;
    const std::string gc = b.reshape(b.op("matmul", {b.transpose_last2(a2), g2}), front);
    gr[1] = b.op("transpose", {gc}, {{"axes", back}});
  }
}
void transpose_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                    std::vector<std::string>& gr) {
  const auto nd = static_cast<int64_t>(b.shape(in(op, 0)).size());
  std::vector<int64_t> perm;
  if (has_param(op.params, "axes")) {
    perm = ops::int_list_param(op.params, "axes");
    for (auto& a : perm) a = ops::normalize_axis(a, nd);
  } else {
    for (int64_t i = nd - 1; i >= 0; --i) perm.push_back(i);
  }
  std::vector<int64_t> inverse(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  gr[0] = b.op("transpose", {g}, {{"axes", inverse}});
}
// d(A^-1) = -A^-T g A^-T.
void inv_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const std::string yt = b.transpose_last2(op.id);
  gr[0] = b.neg(b.op("matmul", {b.op("matmul", {yt, g}), yt}));
}

// ---- movement ----

void reshape_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                  std::vector<std::string>& gr) {
  gr[0] = b.reshape(g, b.shape(in(op, 0)));
}
void set_value_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                    std::vector<std::string>& gr) {
  gr[0] = b.op("set_value", {g}, {{"index", op.params.at("index")}, {"value", 0}});
}
void reverse_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                  std::vector<std::string>& gr) {
  gr[0] = b.op("reverse", {g}, op.params);
}
void concat_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                 std::vector<std::string>& gr) {
  const Shape& out = b.shape(op.id);
  const int64_t axis = ops::normalize_axis(ops::int_param(op.params, "axis", 0), static_cast<int64_t>(out.size()));
  int64_t offset = 0;
  for (std::size_t i = 0; i < op.inputs.size(); ++i) {
    const int64_t len = b.shape(in(op, i))[axis];
    if (need[i]) {
      std::vector<int64_t> begin(out.size(), 0), size(out.size(), -1);
      begin[axis] = offset;
      size[axis] = len;
      gr[i] = b.op("slice", {g}, {{"begin", begin}, {"size", size}});
    }
    offset += len;
  }
}
void stack_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                std::vector<std::string>& gr) {
  const int64_t axis = ops::normalize_axis(ops::int_param(op.params, "axis", 0), static_cast<int64_t>(b.shape(op.id).size()));
  const auto n = static_cast<int64_t>(op.inputs.size());
  for (int64_t i = 0; i < n; ++i)
    if (need[i])
      gr[i] = b.reshape(b.op("split", {g}, {{"axis", axis}, {"sections", n}, {"index", i}}), b.shape(in(op, i)));
}
// Places `g` at `begin` on `axis` of a zero tensor whose axis has length `dim` (zeros on either side).
std::string pad_axis(Backward& b, const std::string& g, int64_t axis, int64_t begin, int64_t dim) {
  const Shape& s = b.shape(g);
  const int64_t after = dim - begin - s[axis];
  if (begin == 0 && after == 0) return g;
  std::vector<std::string> parts;
  auto zeros = [&](int64_t len) {
    Shape z = s;
    z[axis] = len;
    parts.push_back(b.zeros(z, b.dtype(g)));
  };
  if (begin > 0) zeros(begin);
  parts.push_back(g);
  if (after > 0) zeros(after);
  return b.op("concat", parts, {{"axis", axis}});
}
void split_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  const int64_t axis = ops::normalize_axis(ops::int_param(op.params, "axis", 0), static_cast<int64_t>(x.size()));
  const int64_t len = b.shape(op.id)[axis];
  gr[0] = pad_axis(b, g, axis, ops::int_param(op.params, "index", 0) * len, x[axis]);
}
void slice_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  const auto begin = ops::int_list_param(op.params, "begin");
  std::string padded = g;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const int64_t start = begin[i] < 0 ? begin[i] + x[i] : begin[i];
    padded = pad_axis(b, padded, static_cast<int64_t>(i), start, x[i]);
  }
  gr[0] = padded;
}
void gather_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                 std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  const int64_t axis = ops::normalize_axis(ops::int_param(op.params, "axis", 0), static_cast<int64_t>(x.size()));
  gr[0] = b.op("scatter_add", {in(op, 1), g}, {{"axis", axis}, {"size", x[axis]}});
}
void scatter_add_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                      std::vector<std::string>& gr) {
  gr[1] = b.op("gather", {g, in(op, 0)}, {{"axis", ops::int_param(op.params, "axis", 0)}});
}
// sort: each element's gradient goes back to where argsort took it from. With the sorted axis
// moved last and the rest flattened to m rows, the element (r, k) came from flat position
// r len + argsort (in that layout), and a scatter_add puts g there. The row starts r len come
// from iota = argsort(zeros(m)) (stable), so that no constant as large as the input is made.
void sort_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const std::string& x = in(op, 0);
  const Shape& xs = b.shape(x);
  const auto nd = static_cast<int64_t>(xs.size());
  const int64_t axis = ops::normalize_axis(ops::int_param(op.params, "axis", -1), nd);
  const int64_t len = xs[axis];
  const int64_t n = num_elements(xs);
  if (len <= 1) {  // nothing moves
    gr[0] = g;
    return;
  }
  if (n > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("an input of more than 2^31 - 1 elements is too large for int32 positions");
  const int64_t rows = n / len;
  std::vector<int64_t> last, back(static_cast<std::size_t>(nd));
  for (int64_t i = 0; i < nd; ++i)
    if (i != axis) last.push_back(i);
  last.push_back(axis);
  for (int64_t i = 0; i < nd; ++i) back[last[i]] = i;
  const std::string order = b.reshape(b.permute(b.op("argsort", {x}, {{"axis", axis}}), last), {rows, len});
  const std::string iota = b.op("argsort", {b.zeros({rows}, DType::i32)}, {{"axis", 0}});
  const std::string starts = b.mul(b.reshape(iota, {rows, 1}), b.constant(static_cast<double>(len), DType::i32));
  const std::string from = b.reshape(b.add(order, starts), {n});
  const std::string moved = b.permute(g, last);
  const Shape moved_shape = b.shape(moved);
  const std::string flat = b.op("scatter_add", {from, b.reshape(moved, {n})}, {{"axis", 0}, {"size", n}});
  gr[0] = b.permute(b.reshape(flat, moved_shape), back);
}
// tile: the sum of g over the copies, seen as (r0, d0, r1, d1, ...).
void tile_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&, std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  Shape reps = ops::int_list_param(op.params, "reps");
  Shape padded = x;
  if (reps.size() > padded.size()) padded.insert(padded.begin(), reps.size() - padded.size(), 1);
  if (padded.size() > reps.size()) reps.insert(reps.begin(), padded.size() - reps.size(), 1);
  Shape split;
  std::vector<int64_t> copies;
  for (std::size_t i = 0; i < padded.size(); ++i) {
    copies.push_back(static_cast<int64_t>(split.size()));
    split.push_back(reps[i]);
    split.push_back(padded[i]);
  }
  gr[0] = b.reshape(copies.empty() ? g : b.op("sum", {b.reshape(g, split)}, {{"axis", copies}}), x);
}

// ---- neural-network ops ----

// conv2d's params with the size of the other operand, for its backward helper ops.
Params conv_params(const OpSpec& op, const char* size_name, int64_t h, int64_t w) {
  Params p = Params::object();
  for (const char* name : {"stride", "padding", "dilation"})
    if (has_param(op.params, name)) p[name] = op.params.at(name);
  p[size_name] = {h, w};
  return p;
}
void conv2d_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>& need,
                 std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  const Shape& w = b.shape(in(op, 1));
  if (need[0]) gr[0] = b.op("conv2d_backward_input", {g, in(op, 1)}, conv_params(op, "input_size", x[2], x[3]));
  if (need[1]) gr[1] = b.op("conv2d_backward_weight", {in(op, 0), g}, conv_params(op, "kernel_size", w[2], w[3]));
  if (op.inputs.size() == 3 && need[2]) gr[2] = b.op("sum", {g}, {{"axis", {0, 2, 3}}});
}
// PyTorch's: each window's gradient goes to its (first) largest element.
void max_pool2d_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                     std::vector<std::string>& gr) {
  gr[0] = b.op("max_pool2d_backward", {in(op, 0), g}, op.params);
}
void avg_pool2d_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                     std::vector<std::string>& gr) {
  const Shape& x = b.shape(in(op, 0));
  Params p = op.params.is_object() ? op.params : Params::object();
  p["input_size"] = {x[2], x[3]};
  gr[0] = b.op("avg_pool2d_backward", {g}, p);
}
// (softmax(logits) - one_hot(labels)) g / N.
void cross_entropy_rule(Backward& b, const OpSpec& op, const std::string& g, const std::vector<bool>&,
                        std::vector<std::string>& gr) {
  const std::string& logits = in(op, 0);
  const Shape& s = b.shape(logits);
  const std::string hot = b.cast(b.op("one_hot", {in(op, 1)}, {{"depth", s[1]}}), b.dtype(logits));
  const std::string diff = b.sub(b.op("softmax", {logits}, {{"axis", -1}}), hot);
  gr[0] = b.mul(diff, b.mul(g, b.scalar(1.0 / static_cast<double>(std::max<int64_t>(s[0], 1)), g)));
}

// Ops whose result does not change with their float input almost everywhere: a zero gradient
// (PyTorch's for sign), so the rule adds nothing.
void zero_rule(Backward&, const OpSpec&, const std::string&, const std::vector<bool>&, std::vector<std::string>&) {}

const std::map<std::string_view, RuleEntry>& rules() {
  static const std::map<std::string_view, RuleEntry> table = {
      {"neg", {neg_rule, {}}},
      {"pos", {pos_rule, {}}},
      {"abs", {abs_rule, {}}},
      {"sign", {zero_rule, {}}},
      {"exp", {exp_rule, {}}},
      {"log", {log_rule, {}}},
      {"sqrt", {sqrt_rule, {}}},
      {"cbrt", {cbrt_rule, {}}},
      {"square", {square_rule, {}}},
      {"cube", {cube_rule, {}}},
      {"reciprocal", {reciprocal_rule, {}}},
      {"sin", {sin_rule, {}}},
      {"cos", {cos_rule, {}}},
      {"tanh", {tanh_rule, {}}},
      {"sigmoid", {sigmoid_rule, {}}},
      {"relu", {relu_rule, {}}},
      {"cast", {cast_rule, {}}},
      {"add", {add_rule, {}}},
      {"sub", {sub_rule, {}}},
      {"mul", {mul_rule, {}}},
      {"div", {div_rule, {}}},
      {"pow", {pow_rule, {}}},
      {"maximum", {extreme_rule<true>, {}}},
      {"minimum", {extreme_rule<false>, {}}},
      {"where", {where_rule, {0}}},
      {"clip", {clip_rule, {}}},
      {"softmax", {softmax_rule, {}}},
      {"log_softmax", {log_softmax_rule, {}}},
      {"sum", {sum_rule, {}}},
      {"mean", {mean_rule, {}}},
      {"prod", {prod_rule, {}}},
      {"max", {reduce_extreme_rule, {}}},
      {"min", {reduce_extreme_rule, {}}},
      {"var", {var_rule<false>, {}}},
      {"std", {var_rule<true>, {}}},
      {"average", {average_rule, {}}},
      {"matmul", {matmul_rule, {}}},
      {"dot", {dot_rule, {}}},
      {"transpose", {transpose_rule, {}}},
      {"inv", {inv_rule, {}}},
      {"reshape", {reshape_rule, {}}},
      {"flatten", {reshape_rule, {}}},
      {"expand_dims", {reshape_rule, {}}},
      {"squeeze", {reshape_rule, {}}},
      {"concat", {concat_rule, {}}},
      {"stack", {stack_rule, {}}},
      {"split", {split_rule, {}}},
      {"slice", {slice_rule, {}}},
      {"gather", {gather_rule, {1}}},
      {"scatter_add", {scatter_add_rule, {0}}},
      {"reverse", {reverse_rule, {}}},
      {"tile", {tile_rule, {}}},
      {"sort", {sort_rule, {}}},
      {"set_value", {set_value_rule, {}}},
      {"conv2d", {conv2d_rule, {}}},
      {"max_pool2d", {max_pool2d_rule, {}}},
      {"avg_pool2d", {avg_pool2d_rule, {}}},
      {"cross_entropy", {cross_entropy_rule, {1}}},
      // Inputs that are never differentiated: indices, and a tensor read only for its shape.
      {"one_hot", {zero_rule, {0}}},
      {"shape", {zero_rule, {0}}},
  };
  return table;
}

// ---------------------------------------------------------------------------------------------
// The walk.

struct Walk {
  GraphSpec& spec;
  const std::unordered_map<std::string, TensorSpec>& batch_specs;
  const KnownSpecs& known;
  std::unordered_map<std::string, std::size_t> pos;  // batch op id -> index in spec.ops

  bool in_batch(const std::string& id) const { return pos.count(id) > 0; }

  // depends[i]: op i of the batch is one of `targets` or is computed from one.
  std::vector<bool> dependents(const std::unordered_set<std::string>& targets) const {
    std::vector<bool> depends(spec.ops.size(), false);
    for (std::size_t i = 0; i < spec.ops.size(); ++i) {
      const auto& op = spec.ops[i];
      bool d = targets.count(op.id) > 0;
      for (const auto& input : op.inputs) {
        auto it = pos.find(input);
        d = d || (it != pos.end() ? depends[it->second] : targets.count(input) > 0);
      }
      depends[i] = d;
    }
    return depends;
  }

  bool depends_on(const std::vector<bool>& depends, const std::unordered_set<std::string>& targets,
                  const std::string& id) const {
    auto it = pos.find(id);
    return it != pos.end() ? depends[it->second] : targets.count(id) > 0;
  }

  // The first grad of `grads` whose w `op_id` depends on, for messages.
  const OpSpec& needing(const std::vector<const OpSpec*>& grads, const std::string& op_id) const {
    for (const OpSpec* g : grads)
      if (depends_on(dependents({g->inputs[1]}), {g->inputs[1]}, op_id)) return *g;
    return *grads.front();
  }
};

const RuleEntry* rule_of(const OpSpec& op) {
  auto it = rules().find(op.def->name);
  return it != rules().end() ? &it->second : nullptr;
}

// Which inputs of `op` a cotangent must reach: those that depend on a target, except positions
// that never carry a gradient.
std::vector<bool> needed_inputs(const Walk& walk, const OpSpec& op, const std::vector<bool>& depends,
                                const std::unordered_set<std::string>& targets) {
  const RuleEntry* entry = rule_of(op);
  std::vector<bool> need(op.inputs.size(), false);
  for (std::size_t k = 0; k < op.inputs.size(); ++k) {
    const bool never = entry && std::count(entry->no_gradient_inputs.begin(), entry->no_gradient_inputs.end(),
                                           static_cast<int>(k));
    need[k] = !never && walk.depends_on(depends, targets, op.inputs[k]);
  }
  return need;
}

// Before any op is emitted: refuses the op nearest the loss that a cotangent reaches, whose inputs
// need one, and that has no rule (or is itself a grad).
void refuse_without_rule(const Walk& walk, const std::vector<const OpSpec*>& grads, const std::vector<bool>& depends,
                         const std::unordered_set<std::string>& targets, std::size_t loss_pos) {
  std::unordered_set<std::string> reached;
  if (depends[loss_pos]) reached.insert(walk.spec.ops[loss_pos].id);
  for (std::size_t i = loss_pos + 1; i-- > 0;) {
    const OpSpec& op = walk.spec.ops[i];
    if (!reached.count(op.id)) continue;
    const auto need = needed_inputs(walk, op, depends, targets);
    if (std::none_of(need.begin(), need.end(), [](bool b) { return b; })) continue;
    if (is_grad_op(op))
      throw GraphError(walk.needing(grads, op.id).id, "grad: gradients of gradients are not supported (loss '" +
                                                          grads.front()->inputs[0] + "' depends on grad '" + op.id + "')");
    if (!rule_of(op))
      throw GraphError(op.id, std::string(op.def->name) + " has no gradient (needed for grad '" +
                                  walk.needing(grads, op.id).id + "')");
    for (std::size_t k = 0; k < op.inputs.size(); ++k)
      if (need[k]) reached.insert(op.inputs[k]);
  }
}

// One backward pass for the grad ops `grads` of one loss; returns the ops to append.
std::vector<OpSpec> backward_pass(Walk& walk, const std::vector<const OpSpec*>& grads,
                                  std::unordered_set<std::string>& taken) {
  const std::string& loss = grads.front()->inputs[0];
  auto all_specs = walk.batch_specs;
  Backward b(grads.front()->id, taken, all_specs, walk.known);
  std::unordered_set<std::string> targets;
  for (const OpSpec* g : grads) targets.insert(g->inputs[1]);
  const auto depends = walk.dependents(targets);

  // Contributions to the cotangent of each value, summed when the value is reached.
  std::unordered_map<std::string, std::vector<std::string>> parts;
  std::unordered_map<std::string, std::string> total;
  auto finish = [&](const std::string& id) -> std::string {
    auto it = parts.find(id);
    if (it == parts.end()) return "";
    std::string sum = it->second.front();
    for (std::size_t i = 1; i < it->second.size(); ++i) sum = b.add(sum, it->second[i]);
    parts.erase(it);
    return total[id] = sum;
  };

  const std::size_t start = walk.pos.at(loss);
  refuse_without_rule(walk, grads, depends, targets, start);
  if (walk.depends_on(depends, targets, loss)) parts[loss].push_back(b.constant(1, b.dtype(loss), b.shape(loss)));
  for (std::size_t i = start + 1; i-- > 0;) {
    const OpSpec& op = walk.spec.ops[i];
    if (!depends[i]) continue;
    const std::string g = finish(op.id);
    if (g.empty()) continue;
    const auto need = needed_inputs(walk, op, depends, targets);
    const bool any = std::any_of(need.begin(), need.end(), [](bool n) { return n; });
    const RuleEntry* entry = rule_of(op);
    if (!any) continue;  // a target whose inputs do not depend on another target
    // Computed only for a message: finding the grad costs a walk per grad.
    auto needed = [&] { return " (needed for grad '" + walk.needing(grads, op.id).id + "')"; };
    if (!entry) throw GraphError(op.id, "internal error: no gradient rule" + needed());  // refuse_without_rule missed it
    for (const auto& input : op.inputs)
      for (int64_t d : b.shape(input))
        if (d < 0)
          throw GraphError(op.id, std::string(op.def->name) + ": input '" + input +
                                      "' has a data-dependent shape, which grad does not support" + needed());
    std::vector<std::string> grads_of(op.inputs.size());
    try {
      entry->rule(b, op, g, need, grads_of);
    } catch (const std::exception& e) {
      throw GraphError(op.id, std::string("gradient of ") + std::string(op.def->name) + ": " + e.what() + needed());
    }
    for (std::size_t k = 0; k < op.inputs.size(); ++k) {
      if (!need[k] || grads_of[k].empty()) continue;
      const TensorSpec& want = b.spec(op.inputs[k]);
      const TensorSpec& got = b.spec(grads_of[k]);
      if (got.shape != want.shape)
        throw GraphError(op.id, "internal error: the gradient of input '" + op.inputs[k] + "' has shape " +
                                    shape_string(got.shape) + ", not " + shape_string(want.shape) + needed());
      if (is_float(want.dtype) && got.dtype != want.dtype) grads_of[k] = b.cast(grads_of[k], want.dtype);
      parts[op.inputs[k]].push_back(grads_of[k]);
    }
  }
  // Targets submitted earlier were not reached by the walk.
  for (const auto& t : targets)
    if (!walk.in_batch(t)) finish(t);

  // Each grad op's id names its value: the gradient's last op renamed, or an identity of it.
  std::unordered_set<std::string> named;
  for (const OpSpec* grad : grads) {
    const std::string& w = grad->inputs[1];
    auto it = total.find(w);
    if (it == total.end()) {  // the loss does not depend on w: a zero gradient
      const TensorSpec& ws = b.spec(w);
      for (int64_t d : ws.shape)
        if (d < 0) throw GraphError(grad->id, "grad: w '" + w + "' has a data-dependent shape");
      b.rename(b.zeros(ws.shape, ws.dtype), grad->id);
      continue;
    }
    const std::string value = it->second;
    if (b.is_emitted(value) && !b.is_used(value) && !named.count(value)) {
      b.rename(value, grad->id);
      for (auto& [id, sum] : total)
        if (sum == value) sum = grad->id;
    } else {
      b.rename(b.op("pos", {value}), grad->id);
    }
    named.insert(grad->id);
  }
  return std::move(b.emitted());
}

}  // namespace

const OpDef& grad_op_def() {
  static const OpDef def = {"grad", {}, 2, 2, OpFamily::reduce, grad_infer, nullptr, grad_kernel, {}};
  return def;
}

bool is_grad_op(const OpSpec& op) { return op.def == &grad_op_def(); }

bool has_gradient(std::string_view op_name) {
  auto it = rules().find(op_name);
  return it != rules().end() && it->second.rule != zero_rule;
}

void expand_grads(GraphSpec& spec, const std::unordered_map<std::string, TensorSpec>& specs, const KnownSpecs& known) {
  Walk walk{spec, specs, known, {}};
  std::unordered_set<std::string> taken;
  for (std::size_t i = 0; i < spec.ops.size(); ++i) {
    walk.pos.emplace(spec.ops[i].id, i);
    taken.insert(spec.ops[i].id);
  }
  // Grad ops grouped by loss, in the order of their first grad op.
  std::vector<std::vector<const OpSpec*>> groups;
  std::unordered_map<std::string, std::size_t> group_of;
  for (const auto& op : spec.ops) {
    if (!is_grad_op(op)) continue;
    const std::string& loss = op.inputs[0];
    if (!walk.in_batch(loss))
      throw GraphError(op.id, "grad: the loss '" + loss + "' was submitted earlier; submit a grad with its loss");
    auto [it, fresh] = group_of.emplace(loss, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(&op);
  }
  std::vector<OpSpec> appended;
  for (const auto& group : groups)
    for (auto& s : backward_pass(walk, group, taken)) appended.push_back(std::move(s));
  std::vector<OpSpec> kept;
  for (auto& op : spec.ops)
    if (!is_grad_op(op)) kept.push_back(std::move(op));
  for (auto& s : appended) kept.push_back(std::move(s));
  spec.ops = std::move(kept);
}

}  // namespace corvid
