// Optimizer rows of the op table: one op per update rule, so that a training step's update runs on
// the workers next to its gradient, and the optimizer's state (momentum buffer, Adam's moments) is
// an ordinary value of the graph that the next step's ops take as input (docs/design.md,
// "Optimizer state is values of the training graph"). Each op is elementwise over tensors of one
// float dtype and one shape (no broadcasting: a parameter and its state always match):
//   sgd_momentum(buf, g)         momentum * buf + g                           (PyTorch's buffer)
//   sgd_update(w, d)             w - lr * d                                   (d: g or the buffer)
//   adam_m(m, g)                 beta1 * m + (1 - beta1) * g
//   adam_v(v, g)                 beta2 * v + (1 - beta2) * g * g
//   adam_update(w, m, v)         w - lr * (m / c1) / (sqrt(v / c2) + eps) - lr * weight_decay * w
// with c1 = 1 - beta1^step, c2 = 1 - beta2^step (bias correction; weight_decay is AdamW's
// decoupled decay, 0 by default). The step count is a param: the developer numbers the steps as
// it submits them, and a param keeps each update a pure function of its inputs.
#include <cmath>
#include <optional>
#include <type_traits>

#include "families.hpp"

namespace corvid::ops {

namespace {

using Specs = std::vector<TensorSpec>;
using Tensors = std::vector<const Tensor*>;

// The names of an update rule's inputs, for errors ("input 1 (g) ...").
constexpr const char* kSgdMomentumInputs[] = {"buf", "g"};
constexpr const char* kSgdUpdateInputs[] = {"w", "d"};
constexpr const char* kAdamMInputs[] = {"m", "g"};
constexpr const char* kAdamVInputs[] = {"v", "g"};
constexpr const char* kAdamUpdateInputs[] = {"w", "m", "v"};

// Every input must be float32 or float64 and have input 0's dtype and shape.
TensorSpec same_float_specs(const Specs& in, const char* const* names) {
  const TensorSpec& first = in[0];
  if (first.dtype != DType::f32 && first.dtype != DType::f64)
    throw std::invalid_argument(std::string("input 0 (") + names[0] + ") must be float32 or float64, got " +
                                std::string(dtype_name(first.dtype)));
  for (std::size_t i = 1; i < in.size(); ++i) {
    const std::string what = "input " + std::to_string(i) + " (" + names[i] + ")";
    if (in[i].dtype != first.dtype)
      throw std::invalid_argument(what + " must have the dtype of " + names[0] + " (" +
                                  std::string(dtype_name(first.dtype)) + "), got " + std::string(dtype_name(in[i].dtype)));
    if (in[i].shape != first.shape)
      throw std::invalid_argument(what + " must have the shape of " + names[0] + " " + shape_string(first.shape) +
                                  ", got " + shape_string(in[i].shape));
  }
  return first;
}

// A number param in [low, high) (`range` says so in errors), or `fallback` when absent; without a
// fallback it is required.
double rate_param(const Params& params, const char* name, double low, double high, const char* range,
                  std::optional<double> fallback = std::nullopt) {
  if (!has_param(params, name)) {
    if (!fallback) throw std::invalid_argument("param '" + std::string(name) + "' is required");
    return *fallback;
  }
  const double v = number_param(params, name, 0);
  if (!(v >= low && v < high))  // also refuses NaN
    throw std::invalid_argument("param '" + std::string(name) + "' must be a number in " + range + ", got " +
                                params.at(name).dump());
  return v;
}

constexpr double kMaxRate = 1e30;  // finite: an infinite rate only makes NaN

double lr_param(const Params& p) { return rate_param(p, "lr", 0, kMaxRate, "[0, 1e30)"); }
double momentum_param(const Params& p) { return rate_param(p, "momentum", 0, 1, "[0, 1)"); }
double beta1_param(const Params& p) { return rate_param(p, "beta1", 0, 1, "[0, 1)", 0.9); }
double beta2_param(const Params& p) { return rate_param(p, "beta2", 0, 1, "[0, 1)", 0.999); }
double eps_param(const Params& p) { return rate_param(p, "eps", 0, kMaxRate, "[0, 1e30)", 1e-8); }
double weight_decay_param(const Params& p) { return rate_param(p, "weight_decay", 0, kMaxRate, "[0, 1e30)", 0.0); }
int64_t step_param(const Params& p) {
  const int64_t step = required_int_param(p, "step");
  if (step < 1) throw std::invalid_argument("param 'step' must be at least 1 (the first step is 1), got " + std::to_string(step));
  return step;
}

// Output like input 0, computed element by element: out[i] = f(a[i], b[i]) or f(a[i], b[i], c[i]).
template <class Fn>
Tensor map_float(const Tensors& in, Fn&& fn) {
  Tensor out(in[0]->dtype(), in[0]->shape());
  visit_dtype(in[0]->dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_floating_point_v<T>) {
      const int64_t n = out.size();
      T* o = out.data<T>();
      const T* a = in[0]->data<T>();
      const T* b = in[1]->data<T>();
      if (in.size() == 2) {
        for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i], b[i], T(0));
      } else {
        const T* c = in[2]->data<T>();
        for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i], b[i], c[i]);
      }
    }
  });
  return out;
}

// ---- infer, one per arity and input names ----
TensorSpec sgd_momentum_infer(const Specs& in, const Params& p) {
  momentum_param(p);
  return same_float_specs(in, kSgdMomentumInputs);
}
TensorSpec sgd_update_infer(const Specs& in, const Params& p) {
  lr_param(p);
  return same_float_specs(in, kSgdUpdateInputs);
}
TensorSpec adam_m_infer(const Specs& in, const Params& p) {
  beta1_param(p);
  return same_float_specs(in, kAdamMInputs);
}
TensorSpec adam_v_infer(const Specs& in, const Params& p) {
  beta2_param(p);
  return same_float_specs(in, kAdamVInputs);
}
TensorSpec adam_update_infer(const Specs& in, const Params& p) {
  lr_param(p), beta1_param(p), beta2_param(p), eps_param(p), weight_decay_param(p), step_param(p);
  return same_float_specs(in, kAdamUpdateInputs);
}

// flops per element of each rule (multiplies, adds, the square root and divide of Adam).
template <int kFlopsPerElement>
Cost update_cost(const Specs& in, const TensorSpec& out, const Params& params) {
  Cost c = elementwise_cost(in, out, params);
  c.flops *= kFlopsPerElement;
  return c;
}

// ---- kernels ----
Tensor sgd_momentum_kernel(const Tensors& in, const Params& p) {
  const double momentum = momentum_param(p);
  return map_float(in, [momentum](auto buf, auto g, auto) {
    using T = decltype(buf);
    return static_cast<T>(momentum) * buf + g;
  });
}

Tensor sgd_update_kernel(const Tensors& in, const Params& p) {
  const double lr = lr_param(p);
  return map_float(in, [lr](auto w, auto d, auto) {
    using T = decltype(w);
    return w - static_cast<T>(lr) * d;
  });
}

Tensor adam_m_kernel(const Tensors& in, const Params& p) {
  const double beta1 = beta1_param(p);
  return map_float(in, [beta1](auto m, auto g, auto) {
    using T = decltype(m);
    return static_cast<T>(beta1) * m + static_cast<T>(1 - beta1) * g;
  });
}

Tensor adam_v_kernel(const Tensors& in, const Params& p) {
  const double beta2 = beta2_param(p);
  return map_float(in, [beta2](auto v, auto g, auto) {
    using T = decltype(v);
    return static_cast<T>(beta2) * v + static_cast<T>(1 - beta2) * (g * g);
  });
}

Tensor adam_update_kernel(const Tensors& in, const Params& p) {
  const double lr = lr_param(p), beta1 = beta1_param(p), beta2 = beta2_param(p), eps = eps_param(p);
  const double decay = weight_decay_param(p);
  const auto step = static_cast<double>(step_param(p));
  // Scalars in double, once: lr / c1, 1 / sqrt(c2), and the decay factor 1 - lr * weight_decay.
  const double step_size = lr / (1 - std::pow(beta1, step));
  const double inv_sqrt_c2 = 1 / std::sqrt(1 - std::pow(beta2, step));
  const double keep = 1 - lr * decay;
  return map_float(in, [=](auto w, auto m, auto v) {
    using T = decltype(w);
    return static_cast<T>(keep) * w -
           static_cast<T>(step_size) * m / (std::sqrt(v) * static_cast<T>(inv_sqrt_c2) + static_cast<T>(eps));
  });
}

}  // namespace

std::vector<OpDef> optim_rows() {
  const ParamSpec lr{"lr", ParamType::number}, beta1{"beta1", ParamType::number}, beta2{"beta2", ParamType::number};
  return {
      {"sgd_momentum", {}, 2, 2, OpFamily::optim, sgd_momentum_infer, update_cost<2>, sgd_momentum_kernel,
       {{"momentum", ParamType::number}}},
      {"sgd_update", {}, 2, 2, OpFamily::optim, sgd_update_infer, update_cost<2>, sgd_update_kernel, {lr}},
      {"adam_m", {}, 2, 2, OpFamily::optim, adam_m_infer, update_cost<3>, adam_m_kernel, {beta1}},
      {"adam_v", {}, 2, 2, OpFamily::optim, adam_v_infer, update_cost<4>, adam_v_kernel, {beta2}},
      {"adam_update", {}, 3, 3, OpFamily::optim, adam_update_infer, update_cost<6>, adam_update_kernel,
       {lr, beta1, beta2, {"eps", ParamType::number}, {"weight_decay", ParamType::number},
        {"step", ParamType::integer}}},
  };
}

}  // namespace corvid::ops
