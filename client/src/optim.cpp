// libcorvid's optimizers (corvid/optim.hpp): each step records the update ops of the optim
// family (shared/ops/optim.cpp) and rebinds the caller's parameter variables to their results.
#include "corvid/optim.hpp"

#include <stdexcept>
#include <string>

#include "corvid/ops.hpp"

namespace corvid {

namespace {

// Throws std::invalid_argument unless low <= v < high (`range` says so in the message), as the
// update ops' params are checked.
void check_range(const char* name, double v, double low, double high, const char* range) {
  if (!(v >= low && v < high))
    throw std::invalid_argument(std::string("optimizer: ") + name + " must be in " + range + ", got " + std::to_string(v));
}

}  // namespace

Optimizer::Optimizer(ParamRefs params) : params_(std::move(params)) {
  if (params_.empty()) throw std::invalid_argument("optimizer: no parameters to update");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Value& w = params_[i].get();
    if (!w.valid()) throw std::invalid_argument("optimizer: parameter " + std::to_string(i) + " is an empty Value");
    if (w.dtype() != DType::f32 && w.dtype() != DType::f64)
      throw std::invalid_argument("optimizer: parameter " + std::to_string(i) + " (" + w.id() + ") is " +
                                  std::string(dtype_name(w.dtype())) + ", not a float");
    if (&w.graph() != &params_[0].get().graph())
      throw std::invalid_argument("optimizer: parameter " + std::to_string(i) + " (" + w.id() +
                                  ") is on another graph than parameter 0");
  }
  step_begin_ = step_end_ = params_[0].get().graph().size();
}

std::vector<Value> Optimizer::step(const Value& loss) {
  std::vector<Value> grads = grad(loss, params());
  loss.graph().mark_outputs({loss});  // the loop's likely question, kept when the step's values go
  step(grads);
  last_loss_ = loss;
  return grads;
}

void Optimizer::step(const std::vector<Value>& grads) {
  if (grads.size() != params_.size())
    throw std::invalid_argument("optimizer: " + std::to_string(grads.size()) + " gradients for " +
                                std::to_string(params_.size()) + " parameters");
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const Value& w = params_[i].get();
    if (!grads[i].valid() || !(grads[i].spec() == w.spec()))
      throw std::invalid_argument("optimizer: the gradient of parameter " + std::to_string(i) + " (" + w.id() +
                                  ") must have its dtype and shape");
  }
  ++steps_;
  // What the step before left behind and this step's update ops were the last to read: the
  // parameters they replace, the state they replace and the gradients the step before took.
  std::vector<Value> superseded = params();
  for (const Value& s : state()) superseded.push_back(s);
  superseded.insert(superseded.end(), last_grads_.begin(), last_grads_.end());
  for (std::size_t i = 0; i < grads.size(); ++i) params_[i].get() = update(i, params_[i].get(), grads[i]);
  Graph& graph = params_[0].get().graph();
  // Read by the next step (or the program): their values go to the server.
  std::vector<Value> carried = params();
  for (const Value& s : state()) carried.push_back(s);
  carried.insert(carried.end(), grads.begin(), grads.end());
  graph.mark_outputs(carried);
  graph.release(superseded);
  // The last step's own intermediates (forward pass, averaging of shards, ...) that this step
  // does not read.
  graph.release_unread(step_begin_, step_end_, {last_loss_});
  step_begin_ = step_end_;
  step_end_ = graph.size();
  last_grads_ = grads;
}

std::vector<Value> Optimizer::params() const { return {params_.begin(), params_.end()}; }

Value Optimizer::zeros_like(std::size_t i) const {
  const Value& w = params_[i].get();
  return w.graph().zeros(w.shape(), w.dtype());
}

SGD::SGD(ParamRefs params, double lr, double momentum) : Optimizer(std::move(params)), lr(lr), momentum_(momentum) {
  check_range("lr", lr, 0, 1e30, "[0, 1e30)");
  check_range("momentum", momentum, 0, 1, "[0, 1)");
}

std::vector<Value> SGD::state() const { return buffers_; }

Value SGD::update(std::size_t i, const Value& w, const Value& g) {
  if (momentum_ == 0) return sgd_update(w, g, lr);
  if (buffers_.empty())
    for (std::size_t j = 0; j < params().size(); ++j) buffers_.push_back(zeros_like(j));
  buffers_[i] = sgd_momentum(buffers_[i], g, momentum_);
  return sgd_update(w, buffers_[i], lr);
}

Adam::Adam(ParamRefs params, AdamOptions opts) : Optimizer(std::move(params)), options(opts) {
  check_range("lr", options.lr, 0, 1e30, "[0, 1e30)");
  check_range("beta1", options.beta1, 0, 1, "[0, 1)");
  check_range("beta2", options.beta2, 0, 1, "[0, 1)");
  check_range("eps", options.eps, 0, 1e30, "[0, 1e30)");
  check_range("weight_decay", options.weight_decay, 0, 1e30, "[0, 1e30)");
}

std::vector<Value> Adam::state() const {
  std::vector<Value> out = m_;
  out.insert(out.end(), v_.begin(), v_.end());
  return out;
}

Value Adam::update(std::size_t i, const Value& w, const Value& g) {
  if (m_.empty())
    for (std::size_t j = 0; j < params().size(); ++j) {
      m_.push_back(zeros_like(j));
      v_.push_back(zeros_like(j));
    }
  m_[i] = adam_m(m_[i], g, options.beta1);
  v_[i] = adam_v(v_[i], g, options.beta2);
  return adam_update(w, m_[i], v_[i], options.lr, steps(), options.beta1, options.beta2, options.eps,
                     options.weight_decay);
}

}  // namespace corvid
