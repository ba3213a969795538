// libcorvid's optimizers: an update rule as graph ops (sgd_momentum, sgd_update, adam_m, adam_v,
// adam_update; README "Optimizers"), so that the workers update the parameters where they
// computed the gradients, and the optimizer's state stays values of the graph between steps.
//
//   corvid::Value w1 = graph.t(...), b1 = graph.t(...);
//   corvid::Adam opt({w1, b1}, {/*lr*/ 0.01});
//   for (...) {
//     auto loss = corvid::cross_entropy(model(w1, b1, x), labels);
//     opt.step(loss);                  // grads, then updates: w1 and b1 now name the new values
//     std::cout << loss() << "\n";      // only the loss travels to this program
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "corvid/graph.hpp"

namespace corvid {

// What every optimizer shares: the parameters it updates (the caller's Value variables, which
// each step rebinds to the parameters' new values, as torch.optim updates tensors in place) and
// the step count. The variables must outlive the optimizer; every parameter must be a float
// value of one graph.
class Optimizer {
 public:
  using ParamRefs = std::vector<std::reference_wrapper<Value>>;
  explicit Optimizer(ParamRefs params);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One step on the gradients of `loss` (a float scalar) with respect to every parameter, from
  // one backward pass (corvid::grad); returns those gradients. Records ops only: nothing is sent
  // until a value is asked for, so the loss and its grads travel in one batch as grad requires.
  std::vector<Value> step(const Value& loss);
  // One step on given gradients, one per parameter in order with its shape and dtype (for
  // example averaged over data-parallel shards). Throws std::invalid_argument for a count,
  // shape or dtype that does not match, naming the parameter. The step releases (Graph::release)
  // the parameters and state it replaces and the previous step's gradients, so a long run holds
  // a bounded number of values on the server; do not ask for those old values afterwards.
  void step(const std::vector<Value>& grads);

  // Steps taken so far.
  int64_t steps() const { return steps_; }
  // The parameters' current values, in the order they were given.
  std::vector<Value> params() const;

 protected:
  // Records the update of parameter i with gradient g (step number steps_, counted from 1) and
  // returns the parameter's new value; keeps its own state.
  virtual Value update(std::size_t i, const Value& w, const Value& g) = 0;
  // A zero tensor like parameter i, on its graph: the initial state.
  Value zeros_like(std::size_t i) const;
  // The state tensors the next update replaces (released by the step).
  virtual std::vector<Value> state() const = 0;

 private:
  ParamRefs params_;
  std::vector<Value> last_grads_;  // the gradients of the last step, released by the next
  Value last_loss_;                // the loss of the last step(loss): kept for the program
  std::size_t step_begin_ = 0;     // the graph's size at the end of the step before the last (or at construction)
  std::size_t step_end_ = 0;       // ... and at the end of the last step (or at construction)
  int64_t steps_ = 0;
};

// Stochastic gradient descent, with momentum as torch.optim.SGD (dampening 0): buf = momentum
// buf + g, w -= lr buf; without momentum, w -= lr g.
class SGD : public Optimizer {
 public:
  // Throws std::invalid_argument for lr < 0 or momentum outside [0, 1).
  SGD(ParamRefs params, double lr, double momentum = 0);
  double lr = 0;  // may change between steps (a schedule); the next step's ops check it
  // The momentum buffers, one per parameter (empty before the first step or without momentum).
  const std::vector<Value>& buffers() const { return buffers_; }

 private:
  Value update(std::size_t i, const Value& w, const Value& g) override;
  std::vector<Value> state() const override;
  double momentum_;
  std::vector<Value> buffers_;
};

// Adam's hyperparameters (torch.optim.Adam's defaults); weight_decay > 0 gives AdamW.
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // decoupled, as torch.optim.AdamW
};

// Adam (Kingma and Ba) with bias correction, as torch.optim.Adam (AdamW with weight_decay).
class Adam : public Optimizer {
 public:
  // Throws std::invalid_argument for a hyperparameter out of range (the ops' params' ranges).
  explicit Adam(ParamRefs params, AdamOptions options = {});
  AdamOptions options;  // may change between steps; the next step's ops check them
  // The first and second moments, one per parameter (empty before the first step).
  const std::vector<Value>& first_moments() const { return m_; }
  const std::vector<Value>& second_moments() const { return v_; }

 private:
  Value update(std::size_t i, const Value& w, const Value& g) override;
  std::vector<Value> state() const override;
  std::vector<Value> m_, v_;
};

}  // namespace corvid
