// train_cnn: a small convolutional network on the 8x8 digits, trained data-parallel on Corvid
// workers with corvid::grad and corvid::Adam, next to the MLP of the train example trained the
// same way on the same data, so that their test accuracies can be compared.
//
// The CNN: conv2d 1->8 (3x3, padding 1), relu, max_pool2d 2 -> conv2d 8->16 (3x3, padding 1),
// relu, max_pool2d 2 -> a linear layer 64->10, cross_entropy. Each step, every one of S shards
// picks its mini-batch on a worker with gather and computes its loss and gradients (the `grad`
// ops the server expands into conv2d_backward_*, max_pool2d_backward, ...); the S gradients are
// averaged by ops and Adam's update ops apply them (synchronous data-parallel SGD). The weights
// and Adam's moments stay values of the graph; this program asks for the epoch's losses and
// accuracies once per epoch.
//
//   examples/run.sh train_cnn [--epochs 12] [--shards 2] [--batch 64]
#include <CLI/CLI.hpp>

#include <cmath>
#include <functional>
#include <iomanip>
#include <iostream>

#include "common/digits.hpp"
#include "common/model.hpp"
#include "common/random.hpp"
#include "corvid/corvid.hpp"

using namespace corvid::examples;

namespace {

// A model to train: its parameters (the variables the optimizer rebinds) and its logits.
struct Model {
  std::string name;
  std::vector<corvid::Value> params;
  std::function<corvid::Value(const std::vector<corvid::Value>& params, const corvid::Value& images)> logits;
};

// A float32 tensor of `shape` uniform in [-limit, limit] (He's uniform init with limit
// sqrt(6 / fan_in)), or zeros for limit 0.
corvid::Tensor uniform_tensor(const corvid::Shape& shape, double limit, Random& random) {
  corvid::Tensor t(corvid::DType::f32, shape);
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.size(); ++i) data[i] = limit == 0 ? 0.0f : static_cast<float>(random.uniform(-limit, limit));
  return t;
}

// The CNN of the header comment, with weights from `seed`.
Model cnn(int64_t channels1, int64_t channels2, uint64_t seed) {
  Random random(seed);
  auto he = [](int64_t fan_in) { return std::sqrt(6.0 / static_cast<double>(fan_in)); };
  const int64_t features = channels2 * 2 * 2;
  Model m;
  m.name = "CNN conv" + std::to_string(channels1) + "-pool-conv" + std::to_string(channels2) + "-pool-linear";
  for (const auto& [shape, limit] : std::vector<std::pair<corvid::Shape, double>>{
           {{channels1, 1, 3, 3}, he(9)},
           {{channels1}, 0},
           {{channels2, channels1, 3, 3}, he(channels1 * 9)},
           {{channels2}, 0},
           {{features, Digits::kClasses}, he(features)},
           {{Digits::kClasses}, 0}})
    m.params.push_back(corvid::t(uniform_tensor(shape, limit, random)));
  m.logits = [](const std::vector<corvid::Value>& p, const corvid::Value& images) {
    const int64_t n = images.shape().at(0);
    corvid::Value h = corvid::reshape(images, {n, 1, 8, 8});
    h = corvid::max_pool2d(corvid::relu(corvid::conv2d(h, p[0], p[1], 1, 1)), 2);  // (n, c1, 4, 4)
    h = corvid::max_pool2d(corvid::relu(corvid::conv2d(h, p[2], p[3], 1, 1)), 2);  // (n, c2, 2, 2)
    return corvid::matmul(corvid::reshape(h, {n, -1}), p[4]) + p[5];
  };
  return m;
}

// The train example's MLP (64-32-10 relu, its initial weights).
Model mlp() {
  const ModelShape shape{{32}, Activation::relu};
  Model m;
  m.name = "MLP " + shape.describe().substr(4);
  m.params = params_to_graph(init_params(shape, 1)).values();
  m.logits = [shape](const std::vector<corvid::Value>& p, const corvid::Value& images) {
    GraphParams params;
    for (std::size_t i = 0; i < p.size(); i += 2) {
      params.weights.push_back(p[i]);
      params.biases.push_back(p[i + 1]);
    }
    return graph_logits(shape, params, images);
  };
  return m;
}

struct Plan {
  int epochs = 12;
  std::size_t shards = 2;
  std::size_t shard_batch = 32;
  double lr = 0.01;
};

// Trains `make()`'s model on its own graph; prints a line per epoch and returns the final test accuracy.
double train(const std::function<Model()>& make, const Plan& plan, const std::vector<Digits>& shards,
             const Digits& test) {
  corvid::Graph graph{"train_cnn"};
  Model model = make();
  std::cout << std::defaultfloat << model.name << ", Adam (lr " << plan.lr << ") on " << plan.shards << " shards:\n";
  std::vector<corvid::Value> x, labels;
  for (const Digits& shard : shards) {
    x.push_back(corvid::t(shard.images()));
    labels.push_back(corvid::t(shard.label_tensor()));
  }
  const corvid::Value test_x = corvid::t(test.images()), test_labels = corvid::t(test.label_tensor());
  corvid::Optimizer::ParamRefs refs(model.params.begin(), model.params.end());
  corvid::Adam optimizer(refs, {plan.lr});
  const std::size_t steps = shards.back().size() / plan.shard_batch;
  double test_accuracy = 0;
  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    std::vector<corvid::Value> losses, accuracies;
    for (std::size_t k = 0; k < steps; ++k) {
      std::vector<corvid::Value> mean_grads;
      for (std::size_t s = 0; s < plan.shards; ++s) {
        const auto order = permutation(shards[s].size(), 1000 * static_cast<uint64_t>(epoch) + s);
        const std::vector<int32_t> rows(order.begin() + static_cast<std::ptrdiff_t>(k * plan.shard_batch),
                                        order.begin() + static_cast<std::ptrdiff_t>((k + 1) * plan.shard_batch));
        const corvid::Value index = corvid::t(rows, {static_cast<int64_t>(rows.size())});
        const corvid::Value batch_labels = corvid::gather(labels[s], index);
        const corvid::Value logits = model.logits(model.params, corvid::gather(x[s], index));
        const corvid::Value loss = corvid::cross_entropy(logits, batch_labels);
        const std::vector<corvid::Value> grads = corvid::grad(loss, model.params);
        if (s == 0) mean_grads = grads;
        else
          for (std::size_t i = 0; i < grads.size(); ++i) mean_grads[i] = mean_grads[i] + grads[i];
        losses.push_back(loss);
        accuracies.push_back(corvid::mean(corvid::equal(corvid::argmax(logits, 1), batch_labels)));
      }
      for (corvid::Value& g : mean_grads) g = g / static_cast<double>(plan.shards);
      optimizer.step(mean_grads);
    }
    const corvid::Value test_predicted = corvid::argmax(model.logits(model.params, test_x), 1);
    std::vector<corvid::Value> wanted = losses;
    wanted.insert(wanted.end(), accuracies.begin(), accuracies.end());
    wanted.push_back(corvid::mean(corvid::equal(test_predicted, test_labels)));
    const std::vector<corvid::Tensor> got = graph.values(wanted);  // the epoch's one round trip
    double loss = 0, accuracy = 0;
    for (std::size_t i = 0; i < losses.size(); ++i) {
      loss += got[i].at_as_double(0);
      accuracy += got[losses.size() + i].at_as_double(0);
    }
    test_accuracy = got.back().at_as_double(0);
    const double n = static_cast<double>(losses.size());
    std::cout << "  epoch " << std::setw(2) << epoch + 1 << "  loss " << std::fixed << std::setprecision(4) << loss / n
              << "  train accuracy " << std::setprecision(1) << 100 * accuracy / n << "%  test accuracy "
              << 100 * test_accuracy << "%\n";
  }
  const corvid::Report report = graph.end();
  std::cout << "  " << report << "\n";
  if (!report.ok()) throw std::runtime_error("the graph had failed ops");
  return test_accuracy;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"train_cnn: a small CNN on the 8x8 digits, data-parallel on Corvid workers, against the MLP"};
  std::string data_path = default_digits_path();
  Plan plan;
  std::size_t batch = 64, train_size = 1500;
  int64_t channels1 = 8, channels2 = 16;
  bool no_mlp = false;
  app.add_option("--data", data_path, "digits file (label and 64 pixels per line)")->capture_default_str();
  app.add_option("--epochs", plan.epochs, "passes over the training images")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--shards", plan.shards, "shards of the training images (gradients computed in parallel)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch", batch, "images per step, over all shards")->capture_default_str();
  app.add_option("--lr", plan.lr, "Adam's learning rate")->capture_default_str();
  app.add_option("--channels", channels1, "channels of the first convolution (the second has twice as many)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--train-size", train_size, "training images (the rest of the file is the test set)")
      ->capture_default_str();
  app.add_flag("--no-mlp", no_mlp, "do not train the MLP for comparison");
  CLI11_PARSE(app, argc, argv);
  channels2 = 2 * channels1;

  std::cout << std::unitbuf;
  try {
    const auto split = split_digits(load_digits(data_path), train_size, 42);
    const Digits& training = split.first;
    const Digits& test = split.second;
    if (batch % plan.shards != 0 || batch < plan.shards)
      throw std::invalid_argument("--batch " + std::to_string(batch) + " must be a multiple of --shards " +
                                  std::to_string(plan.shards));
    plan.shard_batch = batch / plan.shards;
    std::vector<Digits> shards;
    for (std::size_t s = 0; s < plan.shards; ++s)
      shards.push_back(training.range(training.size() * s / plan.shards, training.size() * (s + 1) / plan.shards));
    if (shards.back().size() < plan.shard_batch) throw std::invalid_argument("--batch is larger than the training set");
    std::cout << "== " << training.size() << " training images in " << plan.shards << " shards, batch " << batch << ", "
              << plan.epochs << " epochs; " << test.size() << " test images\n";
    const double cnn_accuracy = train([&] { return cnn(channels1, channels2, 1); }, plan, shards, test);
    std::cout << "CNN test accuracy: " << std::fixed << std::setprecision(1) << 100 * cnn_accuracy << "%\n";
    if (no_mlp) return 0;
    const double mlp_accuracy = train(mlp, plan, shards, test);
    std::cout << "final test accuracy: CNN " << 100 * cnn_accuracy << "%, MLP " << 100 * mlp_accuracy << "% ("
              << std::showpos << std::round(1000 * (cnn_accuracy - mlp_accuracy)) / 10 << std::noshowpos
              << " points)\n";
    if (cnn_accuracy <= mlp_accuracy) {
      std::cerr << "train_cnn: the CNN did not beat the MLP\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "train_cnn: " << e.what() << "\n";
    return 1;
  }
}
