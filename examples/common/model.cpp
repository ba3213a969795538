#include "common/model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/random.hpp"

namespace corvid::examples {

std::string_view activation_name(Activation activation) {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
  }
  return "?";
}

Activation parse_activation(std::string_view name) {
  if (name == "relu") return Activation::relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  throw std::invalid_argument("unknown activation '" + std::string(name) + "' (relu, tanh or sigmoid)");
}

std::vector<int64_t> ModelShape::widths() const {
  std::vector<int64_t> out{Digits::kFeatures};
  out.insert(out.end(), hidden.begin(), hidden.end());
  out.push_back(Digits::kClasses);
  return out;
}

std::string ModelShape::describe() const {
  if (hidden.empty()) return "logistic regression";
  std::string out = "MLP ";
  for (int64_t w : widths()) out += std::to_string(w) + "-";
  out.back() = ' ';
  return out + std::string(activation_name(activation));
}

int64_t ModelParams::count() const {
  int64_t n = 0;
  for (std::size_t l = 0; l < weights.size(); ++l) n += weights[l].size() + biases[l].size();
  return n;
}

std::vector<float> ModelParams::flatten() const {
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(count()));
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const float* w = weights[l].data<float>();
    const float* b = biases[l].data<float>();
    out.insert(out.end(), w, w + weights[l].size());
    out.insert(out.end(), b, b + biases[l].size());
  }
  return out;
}

ModelParams ModelParams::unflatten(const ModelShape& shape, const float* data) {
  ModelParams out;
  const auto widths = shape.widths();
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    Tensor w(DType::f32, {widths[l], widths[l + 1]});
    Tensor b(DType::f32, {widths[l + 1]});
    std::copy(data, data + w.size(), w.data<float>());
    data += w.size();
    std::copy(data, data + b.size(), b.data<float>());
    data += b.size();
    out.weights.push_back(std::move(w));
    out.biases.push_back(std::move(b));
  }
  return out;
}

ModelParams init_params(const ModelShape& shape, uint64_t seed) {
  ModelParams out;
  Random random(seed);
  const auto widths = shape.widths();
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const double limit = std::sqrt(6.0 / static_cast<double>(widths[l] + widths[l + 1]));
    Tensor w(DType::f32, {widths[l], widths[l + 1]});
    float* data = w.data<float>();
    for (int64_t i = 0; i < w.size(); ++i) data[i] = static_cast<float>(random.uniform(-limit, limit));
    out.weights.push_back(std::move(w));
    out.biases.emplace_back(DType::f32, Shape{widths[l + 1]});
  }
  return out;
}

// ---- graph ops ----

GraphParams params_to_graph(const ModelParams& params) {
  GraphParams out;
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    out.weights.push_back(t(params.weights[l]));
    out.biases.push_back(t(params.biases[l]));
  }
  return out;
}

namespace {

Value activate(Activation activation, const Value& z) {
  switch (activation) {
    case Activation::relu: return relu(z);
    case Activation::tanh: return tanh(z);
    case Activation::sigmoid: return sigmoid(z);
  }
  throw std::logic_error("activate: unknown activation");
}

// The logits: each layer h W + b, activated except the last.
Value forward(const ModelShape& shape, const GraphParams& params, const Value& x) {
  Value h = x;
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    Value z = matmul(h, params.weights[l]) + params.biases[l];
    if (l + 1 == params.weights.size()) return z;
    h = activate(shape.activation, z);
  }
  throw std::logic_error("forward: a model without layers");
}

}  // namespace

Optimizer::ParamRefs GraphParams::refs() {
  Optimizer::ParamRefs out;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    out.emplace_back(weights[l]);
    out.emplace_back(biases[l]);
  }
  return out;
}

std::vector<Value> GraphParams::values() const {
  std::vector<Value> out;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    out.push_back(weights[l]);
    out.push_back(biases[l]);
  }
  return out;
}

Value graph_logits(const ModelShape& shape, const GraphParams& params, const Value& x) {
  return forward(shape, params, x);
}

GraphLoss graph_loss(const ModelShape& shape, const GraphParams& params, const Value& x, const Value& labels) {
  const Value logits = forward(shape, params, x);
  return {cross_entropy(logits, labels), mean(equal(argmax(logits, 1), labels))};
}

GraphParams graph_average(const std::vector<GraphParams>& models) {
  const double n = static_cast<double>(models.size());
  auto average = [&](auto member, std::size_t l) {
    Value total = (models[0].*member)[l];
    for (std::size_t i = 1; i < models.size(); ++i) total = total + (models[i].*member)[l];
    return total / n;
  };
  GraphParams out;
  for (std::size_t l = 0; l < models.at(0).weights.size(); ++l) {
    out.weights.push_back(average(&GraphParams::weights, l));
    out.biases.push_back(average(&GraphParams::biases, l));
  }
  return out;
}

Value graph_pack(const GraphParams& params, const std::vector<Value>& scalars) {
  std::vector<Value> parts;
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    parts.push_back(reshape(params.weights[l], {-1}));
    parts.push_back(params.biases[l]);
  }
  for (const Value& s : scalars) parts.push_back(reshape(s, {1}));
  return concat(parts, 0);
}

// ---- in this process ----

namespace {

// Row-major dense matrix of floats, just enough for the reference model.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), data(static_cast<std::size_t>(r * c), 0.0f) {}
  float& at(int64_t r, int64_t c) { return data[static_cast<std::size_t>(r * cols + c)]; }
  float at(int64_t r, int64_t c) const { return data[static_cast<std::size_t>(r * cols + c)]; }
};

// h W + b
Matrix affine(const Matrix& h, const Tensor& w, const Tensor& b) {
  const int64_t in = w.shape()[0], out = w.shape()[1];
  const float* wd = w.data<float>();
  const float* bd = b.data<float>();
  Matrix z(h.rows, out);
  for (int64_t r = 0; r < h.rows; ++r) {
    for (int64_t o = 0; o < out; ++o) z.at(r, o) = bd[o];
    for (int64_t k = 0; k < in; ++k) {
      const float hv = h.at(r, k);
      for (int64_t o = 0; o < out; ++o) z.at(r, o) += hv * wd[k * out + o];
    }
  }
  return z;
}

float activate_value(Activation activation, float z) {
  switch (activation) {
    case Activation::relu: return z > 0 ? z : 0.0f;
    case Activation::tanh: return std::tanh(z);
    case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-z));
  }
  return z;
}

Matrix local_forward(const ModelShape& shape, const ModelParams& params, const Digits& data) {
  Matrix h(static_cast<int64_t>(data.size()), Digits::kFeatures);
  std::copy(data.pixels.begin(), data.pixels.end(), h.data.begin());
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    Matrix z = affine(h, params.weights[l], params.biases[l]);
    if (l + 1 == params.weights.size()) return z;
    for (float& v : z.data) v = activate_value(shape.activation, v);
    h = std::move(z);
  }
  throw std::logic_error("local_forward: a model without layers");
}

int32_t argmax_row(const Matrix& m, int64_t r) {
  int32_t best = 0;
  for (int64_t c = 1; c < m.cols; ++c)
    if (m.at(r, c) > m.at(r, best)) best = static_cast<int32_t>(c);
  return best;
}

}  // namespace

std::vector<int32_t> local_predict(const ModelShape& shape, const ModelParams& params, const Digits& data) {
  const Matrix logits = local_forward(shape, params, data);
  std::vector<int32_t> out(static_cast<std::size_t>(logits.rows));
  for (int64_t r = 0; r < logits.rows; ++r) out[static_cast<std::size_t>(r)] = argmax_row(logits, r);
  return out;
}

double accuracy(const std::vector<int32_t>& predicted, const std::vector<int32_t>& labels) {
  if (predicted.size() != labels.size() || labels.empty())
    throw std::invalid_argument("accuracy: " + std::to_string(predicted.size()) + " predictions for " +
                                std::to_string(labels.size()) + " labels");
  std::size_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += predicted[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

std::vector<int32_t> labels_of(const Tensor& predictions) {
  const Tensor as_int = predictions.dtype() == DType::i32 ? predictions : predictions.astype(DType::i32);
  return std::vector<int32_t>(as_int.data<int32_t>(), as_int.data<int32_t>() + as_int.size());
}

}  // namespace corvid::examples
