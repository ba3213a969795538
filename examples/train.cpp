// train: data-parallel training of a digit classifier (logistic regression and a small MLP) on
// Corvid workers, with corvid::grad for the gradients and corvid::SGD for the updates: no
// gradient is written by hand, and the weights never travel to this program.
//
// The training images are cut into S fixed shards, sent to the server once; each step, every
// shard's mini-batch is picked on the worker with gather (only a few hundred bytes of row
// indices travel), and the workers compute the forward pass, the loss (cross_entropy), its
// gradient (the `grad` ops the server expands into a backward pass) and the update (sgd_update).
// The parameters and their updates stay values of the graph; this program asks only for losses
// and accuracies. Three ways to combine the shards:
//   - minibatch SGD (the reference): one gradient per step on the union of the shards' batches;
//   - parameter averaging (synchronous): every shard starts from the same parameters, takes
//     --local-steps SGD steps on its own mini-batches, and the S models are averaged (by ops on
//     the workers); with one local step this is exactly minibatch SGD on the union of the batches;
//   - asynchronous SGD: S gradient jobs stay in flight; each gradient is applied as soon as its
//     loss arrives (learning rate / S), and that shard's next job starts from the parameters as
//     they are now, so gradients are computed on slightly stale parameters, as in Downpour SGD.
// Each run prints loss and accuracy per epoch and the final test accuracy; the data-parallel runs
// are compared with minibatch SGD (same initial weights, same mini-batches, same learning rate).
//
//   examples/run.sh train [--model logistic|mlp|both] [--mode average|async|both] [--epochs 15]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "common/digits.hpp"
#include "common/model.hpp"
#include "common/random.hpp"
#include "corvid/corvid.hpp"

using namespace corvid::examples;

namespace {

// How training proceeds: the same for every run.
struct TrainPlan {
  ModelShape shape;
  double lr = 0.5;
  int epochs = 15;
  std::size_t shards = 4;
  std::size_t shard_batch = 25;  // rows per shard per step: the batch is shards * shard_batch
  int local_steps = 1;           // parameter averaging: SGD steps per shard between averages
  std::vector<Digits> shard_data;
  std::size_t steps_per_epoch = 0;

  // Rows (indices into shard s) of that shard's mini-batch at step k of `epoch`.
  std::vector<std::size_t> batch_rows(int epoch, std::size_t s, std::size_t k) const {
    const auto order = permutation(shard_data[s].size(), 1000 * static_cast<uint64_t>(epoch) + s);
    return {order.begin() + static_cast<std::ptrdiff_t>(k * shard_batch),
            order.begin() + static_cast<std::ptrdiff_t>((k + 1) * shard_batch)};
  }
};

// What one run printed last, for the summary.
struct RunResult {
  std::string name;
  double test_accuracy = 0;
};

// An epoch's losses and accuracies, as values of the graph until the epoch ends: then fetched
// with the test accuracy in one round trip, so that an epoch's steps travel in one batch.
struct EpochLine {
  std::vector<corvid::Value> losses, accuracies;
  void add(const GraphLoss& step) {
    losses.push_back(step.loss);
    accuracies.push_back(step.accuracy);
  }
  // Prints the epoch's means and the test accuracy; returns the test accuracy.
  double print(corvid::Graph& graph, int epoch, const corvid::Value& test_accuracy) const {
    std::vector<corvid::Value> wanted = losses;
    wanted.insert(wanted.end(), accuracies.begin(), accuracies.end());
    wanted.push_back(test_accuracy);
    const std::vector<corvid::Tensor> got = graph.values(wanted);
    double loss = 0, train_accuracy = 0;
    for (std::size_t i = 0; i < losses.size(); ++i) {
      loss += got[i].at_as_double(0);
      train_accuracy += got[losses.size() + i].at_as_double(0);
    }
    const double test = got.back().at_as_double(0);
    const double n = static_cast<double>(losses.size());
    std::cout << "  epoch " << std::setw(2) << epoch + 1 << "  loss " << std::fixed << std::setprecision(4) << loss / n
              << "  train accuracy " << std::setprecision(1) << 100 * train_accuracy / n << "%  test accuracy "
              << 100 * test << "%\n";
    return test;
  }
};

std::vector<int32_t> to_int32(const std::vector<std::size_t>& rows) { return {rows.begin(), rows.end()}; }

corvid::Value row_index(const std::vector<std::size_t>& rows) {
  return corvid::t(to_int32(rows), {static_cast<int64_t>(rows.size())});
}

// The shards and the test set as tensor ops, created once per graph (so sent once).
struct GraphData {
  std::vector<corvid::Value> x, labels;
  corvid::Value test_x, test_labels;
};

GraphData send_data(const TrainPlan& plan, const Digits& test) {
  GraphData d;
  for (const Digits& shard : plan.shard_data) {
    d.x.push_back(corvid::t(shard.images()));
    d.labels.push_back(corvid::t(shard.label_tensor()));
  }
  d.test_x = corvid::t(test.images());
  d.test_labels = corvid::t(test.label_tensor());
  return d;
}

// Test accuracy of `params`, as an op.
corvid::Value test_accuracy(const TrainPlan& plan, const GraphData& data, const GraphParams& params) {
  return graph_loss(plan.shape, params, data.test_x, data.test_labels).accuracy;
}

// Loss and accuracy of shard s's mini-batch at step k of `epoch`, for parameters p.
GraphLoss shard_loss(const TrainPlan& plan, const GraphData& data, const GraphParams& p, int epoch, std::size_t s,
                     std::size_t k) {
  const corvid::Value rows = row_index(plan.batch_rows(epoch, s, k));
  return graph_loss(plan.shape, p, corvid::gather(data.x[s], rows), corvid::gather(data.labels[s], rows));
}

// Ends the run's graph and fails on failed ops.
void end_graph(corvid::Graph& graph, const char* run) {
  const corvid::Report report = graph.end();
  std::cout << "  " << report << "\n";
  if (!report.ok()) throw std::runtime_error(std::string("the ") + run + " graph had failed ops");
}

// ---- the reference: minibatch SGD, one gradient per step on the union of the shards' batches ----
RunResult train_minibatch(const TrainPlan& plan, const Digits& test) {
  std::cout << "minibatch SGD on Corvid (one gradient per step on all " << plan.shards << " shards' batches):\n";
  corvid::Graph graph{"train " + plan.shape.describe() + ", minibatch SGD"};
  const GraphData data = send_data(plan, test);
  GraphParams params = params_to_graph(init_params(plan.shape, 1));
  corvid::SGD optimizer(params.refs(), plan.lr);
  double final_accuracy = 0;
  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    EpochLine line;
    for (std::size_t k = 0; k < plan.steps_per_epoch; ++k) {
      std::vector<corvid::Value> x, labels;
      for (std::size_t s = 0; s < plan.shards; ++s) {
        const corvid::Value rows = row_index(plan.batch_rows(epoch, s, k));
        x.push_back(corvid::gather(data.x[s], rows));
        labels.push_back(corvid::gather(data.labels[s], rows));
      }
      const GraphLoss step = graph_loss(plan.shape, params, corvid::concat(x), corvid::concat(labels));
      optimizer.step(step.loss);
      line.add(step);
    }
    final_accuracy = line.print(graph, epoch, test_accuracy(plan, data, params));
  }
  end_graph(graph, "minibatch SGD");
  return {"minibatch SGD", final_accuracy};
}

// ---- parameter averaging ----
RunResult train_parameter_averaging(const TrainPlan& plan, const Digits& test) {
  std::cout << "parameter averaging on Corvid (" << plan.shards << " shards, " << plan.local_steps
            << " local step(s) between averages):\n";
  corvid::Graph graph{"train " + plan.shape.describe() + ", parameter averaging"};
  const GraphData data = send_data(plan, test);
  GraphParams params = params_to_graph(init_params(plan.shape, 1));
  double final_accuracy = 0;
  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    EpochLine line;
    for (std::size_t round = 0; round < plan.steps_per_epoch; round += static_cast<std::size_t>(plan.local_steps)) {
      const std::size_t steps = std::min<std::size_t>(plan.local_steps, plan.steps_per_epoch - round);
      std::vector<GraphParams> models(plan.shards, params);  // every shard starts from the same values
      for (std::size_t s = 0; s < plan.shards; ++s) {
        corvid::SGD optimizer(models[s].refs(), plan.lr);
        for (std::size_t j = 0; j < steps; ++j) {
          const GraphLoss step = shard_loss(plan, data, models[s], epoch, s, round + j);
          optimizer.step(step.loss);
          line.add(step);
        }
      }
      params = graph_average(models);
    }
    final_accuracy = line.print(graph, epoch, test_accuracy(plan, data, params));
  }
  end_graph(graph, "parameter-averaging");
  return {"parameter averaging", final_accuracy};
}

// ---- asynchronous SGD ----
RunResult train_async(const TrainPlan& plan, const Digits& test) {
  std::cout << "asynchronous SGD on Corvid (" << plan.shards << " shards, one gradient job each in flight):\n";
  corvid::Graph graph{"train " + plan.shape.describe() + ", asynchronous SGD"};
  const GraphData data = send_data(plan, test);
  GraphParams params = params_to_graph(init_params(plan.shape, 1));
  corvid::SGD optimizer(params.refs(), plan.lr / static_cast<double>(plan.shards));
  const std::size_t jobs_per_shard = plan.steps_per_epoch * static_cast<std::size_t>(plan.epochs);
  std::vector<std::size_t> next_job(plan.shards, 0);
  // A gradient job in flight: its loss, accuracy and gradients, and its shard.
  struct Job {
    GraphLoss step;
    std::vector<corvid::Value> grads;
    std::size_t shard;
  };
  std::vector<Job> in_flight;

  auto start_job = [&](std::size_t s) {
    const std::size_t job = next_job[s]++;
    const int epoch = static_cast<int>(job / plan.steps_per_epoch);
    const GraphLoss step = shard_loss(plan, data, params, epoch, s, job % plan.steps_per_epoch);
    in_flight.push_back({step, corvid::grad(step.loss, params.values()), s});
  };
  for (std::size_t s = 0; s < plan.shards; ++s) start_job(s);

  const std::size_t updates_per_epoch = plan.steps_per_epoch * plan.shards;
  std::size_t updates = 0;
  double final_accuracy = 0;
  EpochLine line;
  while (!in_flight.empty()) {
    std::vector<corvid::Value> losses;
    for (const Job& job : in_flight) losses.push_back(job.step.loss);
    // Wait for whichever losses are ready (this sends the new jobs first) and apply their
    // gradients, oldest job first; each shard's next job starts from the parameters updated so far.
    const std::vector<std::size_t> ready = graph.wait_any(losses);
    std::vector<Job> arrived;
    for (std::size_t i : ready) arrived.push_back(in_flight[i]);
    for (auto i = ready.rbegin(); i != ready.rend(); ++i) in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(*i));
    for (const Job& job : arrived) {
      optimizer.step(job.grads);
      line.add(job.step);
      if (next_job[job.shard] < jobs_per_shard) start_job(job.shard);
      if (++updates % updates_per_epoch == 0) {
        final_accuracy = line.print(graph, static_cast<int>(updates / updates_per_epoch) - 1,
                                    test_accuracy(plan, data, params));
        line = EpochLine{};
      }
    }
  }
  end_graph(graph, "asynchronous SGD");
  return {"asynchronous SGD", final_accuracy};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"train: data-parallel training on Corvid workers (parameter averaging and asynchronous SGD)"};
  std::string data_path = default_digits_path();
  std::string model = "both", mode = "both";
  int epochs = 15, local_steps = 1;
  std::vector<int64_t> hidden{32};
  std::string activation = "relu";
  std::size_t shards = 4, batch = 100, train_size = 1500;
  double lr_logistic = 0.5, lr_mlp = 0.3, tolerance = 1.0;
  app.add_option("--data", data_path, "digits file (label and 64 pixels per line)")->capture_default_str();
  app.add_option("--model", model, "logistic, mlp or both")
      ->check(CLI::IsMember({"logistic", "mlp", "both"}))
      ->capture_default_str();
  app.add_option("--mode", mode, "average (parameter averaging), async (asynchronous SGD) or both")
      ->check(CLI::IsMember({"average", "async", "both"}))
      ->capture_default_str();
  app.add_option("--epochs", epochs, "passes over the training images")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--shards", shards, "shards of the training images (jobs computed in parallel)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch", batch, "images per step, over all shards")->capture_default_str();
  app.add_option("--local-steps", local_steps, "parameter averaging: SGD steps per shard between averages")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--hidden", hidden, "widths of the MLP's hidden layers, e.g. 32 or 64,32")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--activation", activation, "activation of the MLP's hidden layers: relu, tanh or sigmoid")
      ->check(CLI::IsMember({"relu", "tanh", "sigmoid"}))
      ->capture_default_str();
  app.add_option("--lr-logistic", lr_logistic, "learning rate of logistic regression")->capture_default_str();
  app.add_option("--lr-mlp", lr_mlp, "learning rate of the MLP")->capture_default_str();
  app.add_option("--train-size", train_size, "training images (the rest of the file is the test set)")
      ->capture_default_str();
  app.add_option("--tolerance", tolerance,
                 "exit with status 1 when a distributed run's test accuracy is further than this many points from "
                 "minibatch SGD's")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::cout << std::unitbuf;  // each line as soon as it is printed, also into a pipe
  try {
    const auto split = split_digits(load_digits(data_path), train_size, 42);
    const Digits& train = split.first;
    const Digits& test = split.second;
    if (batch % shards != 0 || batch < shards)
      throw std::invalid_argument("--batch " + std::to_string(batch) + " must be a multiple of --shards " +
                                  std::to_string(shards));
    std::vector<ModelShape> shapes;
    if (model != "mlp") shapes.push_back(ModelShape{});
    if (model != "logistic") shapes.push_back(ModelShape{hidden, parse_activation(activation)});

    bool all_close = true;
    for (const ModelShape& shape : shapes) {
      TrainPlan plan;
      plan.shape = shape;
      plan.lr = shape.hidden.empty() ? lr_logistic : lr_mlp;
      plan.epochs = epochs;
      plan.shards = shards;
      plan.shard_batch = batch / shards;
      plan.local_steps = local_steps;
      for (std::size_t s = 0; s < shards; ++s)
        plan.shard_data.push_back(train.range(train.size() * s / shards, train.size() * (s + 1) / shards));
      plan.steps_per_epoch = plan.shard_data.back().size() / plan.shard_batch;
      if (plan.steps_per_epoch == 0) throw std::invalid_argument("--batch is larger than the training set");
      std::cout << "== " << shape.describe() << ": " << train.size() << " training images in " << shards
                << " shards, batch " << batch << " (" << plan.shard_batch << " per shard), learning rate " << plan.lr
                << ", " << epochs << " epochs; " << test.size() << " test images\n";

      std::vector<RunResult> results{train_minibatch(plan, test)};
      if (mode != "async") results.push_back(train_parameter_averaging(plan, test));
      if (mode != "average") results.push_back(train_async(plan, test));

      std::cout << shape.describe() << ", final test accuracy:\n";
      for (const RunResult& r : results) {
        double points = std::round(1000 * (r.test_accuracy - results.front().test_accuracy)) / 10;
        if (points == 0) points = 0;  // no "-0.0"
        std::cout << "  " << std::setw(20) << std::left << r.name << std::right << std::fixed << std::setprecision(1)
                  << std::setw(6) << 100 * r.test_accuracy << "%";
        if (&r != &results.front()) {
          const bool close = std::abs(points) <= tolerance + 1e-9;
          all_close = all_close && close;
          std::cout << "  (" << std::showpos << points << std::noshowpos << " points"
                    << (close ? ", within " : ", MORE than ") << tolerance <<  " of minibatch SGD)";
        }
        std::cout << "\n";
      }
    }
    return all_close ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "train: " << e.what() << "\n";
    return 1;
  }
}
