// The digit classifier of the train, hyperparameter_search and inference examples: a
// multi-layer perceptron (no hidden layer: multinomial logistic regression) with a softmax
// cross-entropy loss. The same math twice: as Corvid graph ops that workers compute, and as
// plain loops in this process (the single-process reference the distributed runs are compared with).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/digits.hpp"
#include "corvid/corvid.hpp"

namespace corvid::examples {

enum class Activation { relu, tanh, sigmoid };
std::string_view activation_name(Activation activation);
// "relu", "tanh" or "sigmoid"; throws std::invalid_argument naming the text otherwise.
Activation parse_activation(std::string_view name);

// Architecture: 64 inputs, the hidden layers' widths, 10 outputs. Plain value type.
struct ModelShape {
  std::vector<int64_t> hidden;
  Activation activation = Activation::relu;
  // "logistic regression" or "MLP 64-32-10 relu".
  std::string describe() const;
  // Widths of every layer, inputs first: {64, hidden..., 10}.
  std::vector<int64_t> widths() const;
};

// Weights (in x out) and biases (out) of each layer, float32. Plain value type.
struct ModelParams {
  std::vector<Tensor> weights;
  std::vector<Tensor> biases;
  // Number of floats in all arrays.
  int64_t count() const;
  // Layer by layer, weights then biases (the order graph_pack uses).
  std::vector<float> flatten() const;
  // The inverse of flatten: reads count() floats from `data`.
  static ModelParams unflatten(const ModelShape& shape, const float* data);
};

// Glorot-uniform weights and zero biases, the same for the same seed everywhere.
ModelParams init_params(const ModelShape& shape, uint64_t seed);

// ---- as graph ops, computed by workers ----

// Parameters as Values of a graph.
struct GraphParams {
  std::vector<Value> weights;
  std::vector<Value> biases;
};
// One tensor op per array, on the current graph.
GraphParams params_to_graph(const ModelParams& params);

// The logits (n, 10) of images x (n, 64).
Value graph_logits(const ModelShape& shape, const GraphParams& params, const Value& x);

// Ops for one step on a batch: mean cross-entropy loss (0-d), accuracy (0-d, fraction of
// rows whose argmax is the label) and the loss's gradient for every parameter.
struct GraphGradient {
  GraphParams grads;
  Value loss;
  Value accuracy;
};
// x: (n, 64) float32, y: (n, 10) one-hot float32, labels: (n,) int32.
GraphGradient graph_gradient(const ModelShape& shape, const GraphParams& params, const Value& x, const Value& y,
                             const Value& labels);
// p - lr * g for every parameter.
GraphParams graph_sgd_step(const GraphParams& params, const GraphParams& grads, double lr);
// Every parameter flattened into one float32 vector (ModelParams::flatten's order), followed
// by `scalars` (0-d float32 values), so that one value carries a whole model back.
Value graph_pack(const GraphParams& params, const std::vector<Value>& scalars = {});

// ---- in this process ----

struct LocalGradient {
  ModelParams grads;
  double loss = 0;
  double accuracy = 0;
};
// The same step as graph_gradient, computed here.
LocalGradient local_gradient(const ModelShape& shape, const ModelParams& params, const Digits& batch);
// params -= lr * grads.
void local_sgd_step(ModelParams& params, const ModelParams& grads, double lr);
// Argmax of the logits for each image.
std::vector<int32_t> local_predict(const ModelShape& shape, const ModelParams& params, const Digits& data);
// Fraction of equal entries; requires equal sizes.
double accuracy(const std::vector<int32_t>& predicted, const std::vector<int32_t>& labels);
// Predictions from a (n,) int32 tensor as computed by workers.
std::vector<int32_t> labels_of(const Tensor& predictions);

}  // namespace corvid::examples
