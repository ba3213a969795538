// hyperparameter_search: a population of classifier configurations (hidden layers, units,
// activation, learning rate), each trained from start to finish as one slice of a map job.
//
// The training and validation images are tensor ops created outside the slice template, so
// they travel to the server once and every slice uses them. A slice's input is its initial
// weights; its template unrolls the whole training run (epochs of minibatch SGD, each step a
// forward pass, backpropagation and an update, all graph ops) and ends with the validation
// accuracy. The chain of a slice stays on one worker, so the weights between steps never travel;
// slices run side by side on different workers. Progress is shown while the job runs, each
// configuration's result as it arrives, and at the end the best configuration, whose trained
// weights come back with its result, is scored on the test images.
//
//   examples/run.sh hyperparameter_search [--population 12] [--epochs 5]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/digits.hpp"
#include "common/model.hpp"
#include "common/random.hpp"
#include "corvid/corvid.hpp"

using namespace corvid::examples;

namespace {

// One member of the population.
struct Config {
  ModelShape shape;
  double lr = 0.1;
  std::string describe() const {
    std::ostringstream out;
    out << shape.hidden.size() << " x " << std::setw(2) << (shape.hidden.empty() ? 0 : shape.hidden[0]) << " "
        << std::setw(7) << std::left << activation_name(shape.activation) << std::right << " lr " << std::fixed
        << std::setprecision(3) << lr;
    return out.str();
  }
};

// Random configurations from a fixed seed: 1 or 2 hidden layers of 16, 32 or 64 units, relu,
// tanh or sigmoid, learning rate log-uniform in [0.05, 2].
std::vector<Config> make_population(std::size_t size, uint64_t seed) {
  Random random(seed);
  const int64_t units[] = {16, 32, 64};
  const Activation activations[] = {Activation::relu, Activation::tanh, Activation::sigmoid};
  std::vector<Config> out;
  for (std::size_t i = 0; i < size; ++i) {
    Config c;
    const std::size_t layers = 1 + random.below(2);
    const int64_t width = units[random.below(3)];
    c.shape.hidden.assign(layers, width);
    c.shape.activation = activations[random.below(3)];
    c.lr = std::exp(random.uniform(std::log(0.05), std::log(2.0)));
    out.push_back(c);
  }
  return out;
}

// Where one trained configuration ended.
struct Outcome {
  double validation = -1;
  double loss = 0;
  std::optional<ModelParams> params;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hyperparameter_search: a population of configurations trained as slices of a Corvid map job"};
  std::string data_path = default_digits_path();
  std::size_t population = 12, batch = 100;
  int epochs = 5;
  uint64_t seed = 5;
  double min_accuracy = 0.5;
  app.add_option("--data", data_path, "digits file (label and 64 pixels per line)")->capture_default_str();
  app.add_option("--population", population, "configurations to train")->check(CLI::Range(1, 500))->capture_default_str();
  app.add_option("--epochs", epochs, "passes over the training images per configuration")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--batch", batch, "images per SGD step")->check(CLI::Range(1, 1200))->capture_default_str();
  app.add_option("--seed", seed, "seed of the population and the initial weights")->capture_default_str();
  app.add_option("--min-accuracy", min_accuracy, "exit with status 1 if the best validation accuracy is lower")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::cout << std::unitbuf;  // each line as soon as it is printed, also into a pipe
  try {
    const auto split = split_digits(load_digits(data_path), 1500, 42);
    const Digits fit = split.first.range(0, 1200);
    const Digits validation = split.first.range(1200, split.first.size());
    const Digits& test = split.second;
    const std::vector<Config> configs = make_population(population, seed);
    const std::size_t steps = fit.size() / batch;
    std::cout << population << " configurations, each trained for " << epochs << " epochs of " << steps
              << " steps (batch " << batch << ") on " << fit.size() << " images, scored on " << validation.size()
              << " validation images\n";

    corvid::Graph graph{"hyperparameter search"};
    // Shared by every slice: sent once.
    const corvid::Value x = corvid::t(fit.images());
    const corvid::Value labels = corvid::t(fit.label_tensor());
    const corvid::Value val_x = corvid::t(validation.images());
    const corvid::Value val_labels = corvid::t(validation.label_tensor());

    // A slice: the initial weights in, the trained weights, validation accuracy and last loss out.
    corvid::MapJob job(graph, [&](const std::vector<corvid::Value>& in, std::size_t i) {
      const Config& c = configs[i];
      GraphParams p;
      for (std::size_t l = 0; l < in.size(); l += 2) {
        p.weights.push_back(in[l]);
        p.biases.push_back(in[l + 1]);
      }
      corvid::SGD optimizer(p.refs(), c.lr);
      corvid::Value loss;
      for (int epoch = 0; epoch < epochs; ++epoch)
        for (std::size_t k = 0; k < steps; ++k) {
          const int64_t first = static_cast<int64_t>(k * batch), rows = static_cast<int64_t>(batch);
          loss = graph_loss(c.shape, p, corvid::slice(x, {first, 0}, {rows, -1}), corvid::slice(labels, {first}, {rows})).loss;
          optimizer.step(loss);
        }
      const auto predicted = corvid::argmax(graph_logits(c.shape, p, val_x), 1);
      return graph_pack(p, {corvid::mean(corvid::equal(predicted, val_labels)), loss});
    });
    for (std::size_t i = 0; i < configs.size(); ++i) {
      const ModelParams initial = init_params(configs[i].shape, seed * 1000 + i);
      std::vector<corvid::Tensor> inputs;
      for (std::size_t l = 0; l < initial.weights.size(); ++l) {
        inputs.push_back(initial.weights[l]);
        inputs.push_back(initial.biases[l]);
      }
      job.add_slice(inputs);
    }

    std::vector<Outcome> outcomes(configs.size());
    corvid::MapEvents events;
    events.on_posted = [&](std::size_t n, uint64_t graph_id) {
      std::cout << n << " slices posted (graph " << graph_id << ", " << graph.size() << " ops)\n";
    };
    std::string last_status;
    events.on_status = [&](const corvid::MapStatus& s) {
      std::ostringstream line;
      line << "progress: " << s.computed + s.failed << "/" << s.slices << " configurations trained";
      const std::size_t done = s.computed + s.failed;
      if (done < s.slices)
        line << ", " << s.distributed - done << " training on workers, " << s.slices - s.distributed << " waiting";
      if (line.str() != last_status) std::cout << line.str() << "\n";
      last_status = line.str();
    };
    events.on_result = [&](std::size_t i, const corvid::Tensor& value) {
      const ModelParams params = ModelParams::unflatten(configs[i].shape, value.data<float>());
      const int64_t count = params.count();
      outcomes[i] = {value.data<float>()[count], value.data<float>()[count + 1], params};
      std::cout << "config " << std::setw(2) << i << ": " << configs[i].describe() << "  validation accuracy "
                << std::fixed << std::setprecision(1) << 100 * outcomes[i].validation << "%  loss " << std::setprecision(3)
                << outcomes[i].loss << "\n";
    };
    events.on_error = [&](std::size_t i, const std::string& error) {
      std::cout << "config " << i << " (" << configs[i].describe() << ") failed: " << error << "\n";
    };
    const corvid::MapOutcome run = job.run(events);
    if (!run.ok()) {
      std::cerr << "hyperparameter_search: " << run.failed.size() << " configuration(s) failed\n";
      return 1;
    }

    std::vector<std::size_t> ranking(configs.size());
    for (std::size_t i = 0; i < ranking.size(); ++i) ranking[i] = i;
    std::stable_sort(ranking.begin(), ranking.end(),
                     [&](std::size_t a, std::size_t b) { return outcomes[a].validation > outcomes[b].validation; });
    std::cout << "ranking by validation accuracy:\n";
    for (std::size_t r = 0; r < ranking.size(); ++r)
      std::cout << "  " << std::setw(2) << r + 1 << ". " << configs[ranking[r]].describe() << "  " << std::fixed
                << std::setprecision(1) << 100 * outcomes[ranking[r]].validation << "%\n";

    // The winner on the test images, computed by a worker and checked against this process.
    const std::size_t best = ranking.front();
    const Config& c = configs[best];
    const GraphParams trained = params_to_graph(*outcomes[best].params);
    const corvid::Value test_x = corvid::t(test.images());
    const std::vector<int32_t> on_workers = labels_of(corvid::argmax(graph_logits(c.shape, trained, test_x), 1)());
    const double test_accuracy = accuracy(on_workers, test.labels);
    const double here = accuracy(local_predict(c.shape, *outcomes[best].params, test), test.labels);
    std::cout << graph.end() << "\n";
    std::cout << "best configuration: " << c.shape.hidden.size() << " hidden layer(s) of " << c.shape.hidden[0]
              << " units, " << activation_name(c.shape.activation) << ", learning rate " << std::setprecision(3)
              << c.lr << "\n  validation accuracy " << std::setprecision(1) << 100 * outcomes[best].validation
              << "%, test accuracy " << 100 * test_accuracy << "% (" << 100 * here
              << "% with the same weights in this process)\n";
    if (std::abs(test_accuracy - here) > 0.01) {
      std::cerr << "hyperparameter_search: the workers' test accuracy differs from this process's\n";
      return 1;
    }
    if (outcomes[best].validation < min_accuracy) {
      std::cerr << "hyperparameter_search: the best validation accuracy is below " << min_accuracy << "\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "hyperparameter_search: " << e.what() << "\n";
    return 1;
  }
}
