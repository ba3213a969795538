// The digit classifier of the train, hyperparameter_search and inference examples: a
// multi-layer perceptron (no hidden layer: multinomial logistic regression) with a softmax
// cross-entropy loss. As Corvid graph ops that workers compute (trained with corvid::grad and an
// optimizer), and its forward pass as plain loops in this process (the reference the examples'
// predictions on workers are compared with).
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
  // Every parameter, layer by layer, weight then bias (ModelParams::flatten's order), as the
  // variables an optimizer rebinds; they must outlive it.
  Optimizer::ParamRefs refs();
  // The same, as values.
  std::vector<Value> values() const;
};
// One tensor op per array, on the current graph.
GraphParams params_to_graph(const ModelParams& params);

// The logits (n, 10) of images x (n, 64).
Value graph_logits(const ModelShape& shape, const GraphParams& params, const Value& x);

// The mean cross-entropy loss (0-d) of a batch and its accuracy (0-d, the fraction of rows whose
// argmax is the label). x: (n, 64) float32, labels: (n,) int32.
struct GraphLoss {
  Value loss;
  Value accuracy;
};
GraphLoss graph_loss(const ModelShape& shape, const GraphParams& params, const Value& x, const Value& labels);
// The mean of several models' parameters, as ops (parameter averaging).
GraphParams graph_average(const std::vector<GraphParams>& models);
// Every parameter flattened into one float32 vector (ModelParams::flatten's order), followed
// by `scalars` (0-d float32 values), so that one value carries a whole model back.
Value graph_pack(const GraphParams& params, const std::vector<Value>& scalars = {});

// ---- in this process ----

// Argmax of the logits for each image.
std::vector<int32_t> local_predict(const ModelShape& shape, const ModelParams& params, const Digits& data);
// Fraction of equal entries; requires equal sizes.
double accuracy(const std::vector<int32_t>& predicted, const std::vector<int32_t>& labels);
// Predictions from a (n,) int32 tensor as computed by workers.
std::vector<int32_t> labels_of(const Tensor& predictions);

}  // namespace corvid::examples
