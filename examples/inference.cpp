// inference: batch predictions with a trained model, as a map job. The model (an MLP on the
// 8x8 digits, trained on the workers first in a few seconds) becomes tensor ops once, outside the slice
// template, so its weights travel to the server once and every slice uses them; the test images
// are cut into slices, each slice is argmax(model(images)) on a worker, and each slice's
// predictions and accuracy are printed as soon as that slice returns. The predictions are
// checked against the same model run in this process.
//
//   examples/run.sh inference [--slices 20] [--hidden 32]
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>

#include "common/digits.hpp"
#include "common/model.hpp"
#include "common/random.hpp"
#include "corvid/corvid.hpp"

using namespace corvid::examples;

namespace {

// Plain minibatch SGD on the workers (corvid::grad and corvid::SGD, every step sent in one batch):
// the "trained model" this example serves, fetched once at the end.
ModelParams train_on_workers(const ModelShape& shape, const Digits& train, int epochs, std::size_t batch, double lr) {
  corvid::Graph graph{"inference: training the model"};
  const corvid::Value x = corvid::t(train.images()), labels = corvid::t(train.label_tensor());
  GraphParams params = params_to_graph(init_params(shape, 1));
  corvid::SGD optimizer(params.refs(), lr);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const auto order = permutation(train.size(), 100 + static_cast<uint64_t>(epoch));
    for (std::size_t begin = 0; begin + batch <= train.size(); begin += batch) {
      const std::vector<int32_t> rows(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                      order.begin() + static_cast<std::ptrdiff_t>(begin + batch));
      const corvid::Value index = corvid::t(rows, {static_cast<int64_t>(batch)});
      optimizer.step(graph_loss(shape, params, corvid::gather(x, index), corvid::gather(labels, index)).loss);
    }
  }
  const corvid::Tensor trained = graph_pack(params)();
  if (!graph.end().ok()) throw std::runtime_error("training the model failed on the workers");
  return ModelParams::unflatten(shape, trained.data<float>());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"inference: a trained model's weights sent once, test images classified in slices on Corvid workers"};
  std::string data_path = default_digits_path();
  int slices = 20, hidden = 32, epochs = 15;
  double max_mismatch = 0.01;
  app.add_option("--data", data_path, "digits file (label and 64 pixels per line)")->capture_default_str();
  app.add_option("--slices", slices, "slices the test images are cut into")->check(CLI::Range(1, 500))->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units of the model (0: logistic regression)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--epochs", epochs, "training epochs (on the workers, before serving)")->capture_default_str();
  app.add_option("--max-mismatch", max_mismatch,
                 "largest fraction of predictions allowed to differ from this process's (float rounding on near ties)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::cout << std::unitbuf;  // each line as soon as it is printed, also into a pipe
  try {
    const auto split = split_digits(load_digits(data_path), 1500, 42);
    const Digits& train = split.first;
    const Digits& test = split.second;
    ModelShape shape;
    if (hidden > 0) shape.hidden = {hidden};
    const ModelParams model = train_on_workers(shape, train, epochs, 100, hidden > 0 ? 0.3 : 0.5);
    const std::vector<int32_t> local = local_predict(shape, model, test);
    std::cout << "trained " << shape.describe() << " here (" << model.count() << " parameters); test accuracy "
              << std::fixed << std::setprecision(1) << 100 * accuracy(local, test.labels) << "% in this process\n";

    corvid::Graph graph{"inference"};
    const GraphParams weights = params_to_graph(model);  // sent once, shared by every slice
    corvid::MapJob job(graph, [&](const std::vector<corvid::Value>& in, std::size_t) {
      return corvid::argmax(graph_logits(shape, weights, in[0]), 1);
    });
    std::vector<std::pair<std::size_t, std::size_t>> bounds;  // rows of each slice
    for (int s = 0; s < slices; ++s) {
      const std::size_t begin = test.size() * static_cast<std::size_t>(s) / static_cast<std::size_t>(slices);
      const std::size_t end = test.size() * static_cast<std::size_t>(s + 1) / static_cast<std::size_t>(slices);
      bounds.emplace_back(begin, end);
      job.add_slice({test.range(begin, end).images()});
    }

    std::vector<int32_t> predicted(test.size(), -1);
    std::size_t mismatches = 0, returned = 0;
    corvid::MapEvents events;
    events.on_posted = [&](std::size_t n, uint64_t graph_id) {
      std::cout << n << " slices of about " << test.size() / n << " images posted (graph " << graph_id << ")\n";
    };
    events.on_result = [&](std::size_t s, const corvid::Tensor& value) {
      const auto [begin, end] = bounds[s];
      const std::vector<int32_t> got = labels_of(value);
      const std::vector<int32_t> want(test.labels.begin() + static_cast<std::ptrdiff_t>(begin),
                                      test.labels.begin() + static_cast<std::ptrdiff_t>(end));
      for (std::size_t i = 0; i < got.size(); ++i) {
        predicted[begin + i] = got[i];
        mismatches += got[i] != local[begin + i];
      }
      std::string shown;
      for (std::size_t i = 0; i < std::min<std::size_t>(got.size(), 12); ++i) shown += std::to_string(got[i]);
      std::cout << "slice " << std::setw(3) << s << " (" << ++returned << "/" << bounds.size() << "): images "
                << std::setw(4) << begin << ".." << std::setw(4) << end - 1 << "  predicted " << shown
                << (got.size() > 12 ? "..." : "") << "  accuracy " << std::setprecision(1) << 100 * accuracy(got, want)
                << "%\n";
    };
    events.on_error = [](std::size_t s, const std::string& error) {
      std::cout << "slice " << s << " failed: " << error << "\n";
    };
    const corvid::MapOutcome outcome = job.run(events);
    std::cout << graph.end() << "\n";
    if (!outcome.ok()) {
      std::cerr << "inference: " << outcome.failed.size() << " slice(s) failed\n";
      return 1;
    }
    const double total = accuracy(predicted, test.labels);
    std::cout << "test accuracy " << std::setprecision(1) << 100 * total << "% over " << test.size() << " images; "
              << mismatches << " prediction(s) differ from this process's\n";
    if (static_cast<double>(mismatches) > max_mismatch * static_cast<double>(test.size())) {
      std::cerr << "inference: too many predictions differ from the single-process model\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "inference: " << e.what() << "\n";
    return 1;
  }
}
