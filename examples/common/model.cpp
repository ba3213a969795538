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

// The activation's derivative written with its output h.
Value activation_slope(Activation activation, const Value& h) {
  switch (activation) {
    case Activation::relu: return h > 0.0;  // bool; multiplying by it promotes to float32
    case Activation::tanh: return 1.0 - h * h;
    case Activation::sigmoid: return h * (1.0 - h);
  }
  throw std::logic_error("activation_slope: unknown activation");
}

// Layer inputs h_0 = x, h_1, ..., h_L (the last hidden layer's output) and the logits.
Value forward(const ModelShape& shape, const GraphParams& params, const Value& x, std::vector<Value>* inputs) {
  Value h = x;
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    if (inputs) inputs->push_back(h);
    Value z = matmul(h, params.weights[l]) + params.biases[l];
    if (l + 1 == params.weights.size()) return z;
    h = activate(shape.activation, z);
  }
  throw std::logic_error("forward: a model without layers");
}

}  // namespace

Value graph_logits(const ModelShape& shape, const GraphParams& params, const Value& x) {
  return forward(shape, params, x, nullptr);
}

GraphGradient graph_gradient(const ModelShape& shape, const GraphParams& params, const Value& x, const Value& y,
                             const Value& labels) {
  std::vector<Value> inputs;
  const Value logits = forward(shape, params, x, &inputs);
  const double n = static_cast<double>(x.shape().at(0));
  const Value log_p = log_softmax(logits, 1);
  GraphGradient out;
  out.loss = neg(sum(y * log_p)) / n;
  out.accuracy = mean(equal(argmax(logits, 1), labels));
  Value delta = (exp(log_p) - y) / n;  // d loss / d logits
  const std::size_t layers = params.weights.size();
  out.grads.weights.resize(layers);
  out.grads.biases.resize(layers);
  for (std::size_t l = layers; l-- > 0;) {
    out.grads.weights[l] = matmul(transpose(inputs[l]), delta);
    out.grads.biases[l] = sum(delta, 0);
    if (l > 0) delta = matmul(delta, transpose(params.weights[l])) * activation_slope(shape.activation, inputs[l]);
  }
  return out;
}

GraphParams graph_sgd_step(const GraphParams& params, const GraphParams& grads, double lr) {
  GraphParams out;
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    out.weights.push_back(params.weights[l] - grads.weights[l] * lr);
    out.biases.push_back(params.biases[l] - grads.biases[l] * lr);
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

float slope_value(Activation activation, float h) {
  switch (activation) {
    case Activation::relu: return h > 0 ? 1.0f : 0.0f;
    case Activation::tanh: return 1.0f - h * h;
    case Activation::sigmoid: return h * (1.0f - h);
  }
  return 1.0f;
}

Matrix local_forward(const ModelShape& shape, const ModelParams& params, const Digits& data,
                     std::vector<Matrix>* inputs) {
  Matrix h(static_cast<int64_t>(data.size()), Digits::kFeatures);
  std::copy(data.pixels.begin(), data.pixels.end(), h.data.begin());
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    if (inputs) inputs->push_back(h);
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

LocalGradient local_gradient(const ModelShape& shape, const ModelParams& params, const Digits& batch) {
  std::vector<Matrix> inputs;
  const Matrix logits = local_forward(shape, params, batch, &inputs);
  const int64_t n = logits.rows, classes = logits.cols;
  LocalGradient out;
  Matrix delta(n, classes);
  double loss = 0, correct = 0;
  for (int64_t r = 0; r < n; ++r) {
    float top = logits.at(r, 0);
    for (int64_t c = 1; c < classes; ++c) top = std::max(top, logits.at(r, c));
    double total = 0;
    for (int64_t c = 0; c < classes; ++c) total += std::exp(static_cast<double>(logits.at(r, c) - top));
    const int32_t label = batch.labels[static_cast<std::size_t>(r)];
    for (int64_t c = 0; c < classes; ++c) {
      const double log_p = static_cast<double>(logits.at(r, c) - top) - std::log(total);
      if (c == label) loss -= log_p;
      delta.at(r, c) = static_cast<float>((std::exp(log_p) - (c == label ? 1.0 : 0.0)) / static_cast<double>(n));
    }
    if (argmax_row(logits, r) == label) ++correct;
  }
  out.loss = loss / static_cast<double>(n);
  out.accuracy = correct / static_cast<double>(n);

  const std::size_t layers = params.weights.size();
  out.grads.weights.resize(layers);
  out.grads.biases.resize(layers);
  for (std::size_t l = layers; l-- > 0;) {
    const Matrix& h = inputs[l];
    const Tensor& w = params.weights[l];
    const int64_t in = w.shape()[0], width = w.shape()[1];
    Tensor gw(DType::f32, {in, width});
    Tensor gb(DType::f32, {width});
    float* gwd = gw.data<float>();
    float* gbd = gb.data<float>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t o = 0; o < width; ++o) {
        const float d = delta.at(r, o);
        gbd[o] += d;
        for (int64_t k = 0; k < in; ++k) gwd[k * width + o] += h.at(r, k) * d;
      }
    out.grads.weights[l] = std::move(gw);
    out.grads.biases[l] = std::move(gb);
    if (l == 0) break;
    Matrix previous(n, in);
    const float* wd = w.data<float>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t k = 0; k < in; ++k) {
        float s = 0;
        for (int64_t o = 0; o < width; ++o) s += delta.at(r, o) * wd[k * width + o];
        previous.at(r, k) = s * slope_value(shape.activation, h.at(r, k));
      }
    delta = std::move(previous);
  }
  return out;
}

void local_sgd_step(ModelParams& params, const ModelParams& grads, double lr) {
  const float rate = static_cast<float>(lr);
  auto step = [rate](Tensor& p, const Tensor& g) {
    float* pd = p.data<float>();
    const float* gd = g.data<float>();
    for (int64_t i = 0; i < p.size(); ++i) pd[i] -= rate * gd[i];
  };
  for (std::size_t l = 0; l < params.weights.size(); ++l) {
    step(params.weights[l], grads.weights[l]);
    step(params.biases[l], grads.biases[l]);
  }
}

std::vector<int32_t> local_predict(const ModelShape& shape, const ModelParams& params, const Digits& data) {
  const Matrix logits = local_forward(shape, params, data, nullptr);
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
