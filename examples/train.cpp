// train: data-parallel training of a digit classifier (logistic regression and a small MLP) on
// Corvid workers, compared with the same model trained in this process.
//
// The training images are cut into S fixed shards, sent to the server once; each step, every
// shard's mini-batch is picked on the worker with gather (only a few hundred bytes of row
// indices travel), and the workers compute the forward pass, the loss, and the gradient by
// backpropagation with graph ops (matmul, transpose, log_softmax, sum, relu, greater, ...).
// The developer side combines the results in one of two ways:
//   - parameter averaging (synchronous): every shard starts from the same parameters, takes
//     --local-steps SGD steps on its own mini-batches, and the developer averages the S models;
//     with one local step this is exactly minibatch SGD on the union of the shards' batches;
//   - asynchronous SGD: S gradient jobs stay in flight; each gradient is applied as soon as it
//     arrives (learning rate / S), and that shard's next job starts from the parameters as they
//     are now, so gradients are computed on slightly stale parameters, as in Downpour SGD.
// Each mode prints loss and accuracy per epoch and the final test accuracy, next to the
// single-process run (same initial weights, same mini-batches, same learning rate).
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

// How training proceeds: the same for the single-process run and both distributed modes.
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

struct EpochLine {
  double loss_sum = 0, accuracy_sum = 0;
  int batches = 0;
  void add(double loss, double accuracy) {
    loss_sum += loss;
    accuracy_sum += accuracy;
    ++batches;
  }
  void print(int epoch, double test_accuracy) const {
    std::cout << "  epoch " << std::setw(2) << epoch + 1 << "  loss " << std::fixed << std::setprecision(4)
              << loss_sum / batches << "  train accuracy " << std::setprecision(1) << 100 * accuracy_sum / batches
              << "%  test accuracy " << 100 * test_accuracy << "%\n";
  }
};

std::vector<int32_t> to_int32(const std::vector<std::size_t>& rows) { return {rows.begin(), rows.end()}; }

corvid::Value row_index(const std::vector<std::size_t>& rows) {
  return corvid::t(to_int32(rows), {static_cast<int64_t>(rows.size())});
}

// ---- the reference: the same steps in this process ----
RunResult train_single_process(const TrainPlan& plan, const Digits& test) {
  std::cout << "single process:\n";
  ModelParams params = init_params(plan.shape, 1);
  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    EpochLine line;
    for (std::size_t k = 0; k < plan.steps_per_epoch; ++k) {
      Digits batch;
      for (std::size_t s = 0; s < plan.shards; ++s) {
        const Digits part = plan.shard_data[s].rows(plan.batch_rows(epoch, s, k));
        batch.pixels.insert(batch.pixels.end(), part.pixels.begin(), part.pixels.end());
        batch.labels.insert(batch.labels.end(), part.labels.begin(), part.labels.end());
      }
      const LocalGradient g = local_gradient(plan.shape, params, batch);
      local_sgd_step(params, g.grads, plan.lr);
      line.add(g.loss, g.accuracy);
    }
    line.print(epoch, accuracy(local_predict(plan.shape, params, test), test.labels));
  }
  return {"single process", accuracy(local_predict(plan.shape, params, test), test.labels)};
}

// The shards and the test set as tensor ops, created once per graph (so sent once).
struct GraphData {
  std::vector<corvid::Value> x, y, labels;
  corvid::Value test_x, test_labels;
};

GraphData send_data(const TrainPlan& plan, const Digits& test) {
  GraphData d;
  for (const Digits& shard : plan.shard_data) {
    d.x.push_back(corvid::t(shard.images()));
    d.y.push_back(corvid::t(shard.one_hot()));
    d.labels.push_back(corvid::t(shard.label_tensor()));
  }
  d.test_x = corvid::t(test.images());
  d.test_labels = corvid::t(test.label_tensor());
  return d;
}

// Test accuracy of `params`, computed by a worker.
double test_accuracy_on_workers(const TrainPlan& plan, const GraphData& data, const ModelParams& params) {
  const GraphParams p = params_to_graph(params);
  const auto predicted = corvid::argmax(graph_logits(plan.shape, p, data.test_x), 1);
  return corvid::mean(corvid::equal(predicted, data.test_labels))().at_as_double(0);
}

// Gradient ops of shard s at step k of `epoch`, for parameters p.
GraphGradient shard_gradient(const TrainPlan& plan, const GraphData& data, const GraphParams& p, int epoch,
                             std::size_t s, std::size_t k) {
  const corvid::Value rows = row_index(plan.batch_rows(epoch, s, k));
  return graph_gradient(plan.shape, p, corvid::gather(data.x[s], rows), corvid::gather(data.y[s], rows),
                        corvid::gather(data.labels[s], rows));
}

// ---- parameter averaging ----
RunResult train_parameter_averaging(const TrainPlan& plan, const Digits& test) {
  std::cout << "parameter averaging on Corvid (" << plan.shards << " shards, " << plan.local_steps
            << " local step(s) between averages):\n";
  corvid::Graph graph{"train " + plan.shape.describe() + ", parameter averaging"};
  const GraphData data = send_data(plan, test);
  ModelParams params = init_params(plan.shape, 1);
  const int64_t count = params.count();
  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    EpochLine line;
    for (std::size_t round = 0; round < plan.steps_per_epoch; round += static_cast<std::size_t>(plan.local_steps)) {
      const GraphParams start = params_to_graph(params);  // one copy, shared by every shard
      const std::size_t steps = std::min<std::size_t>(plan.local_steps, plan.steps_per_epoch - round);
      std::vector<corvid::Value> packed;
      for (std::size_t s = 0; s < plan.shards; ++s) {
        GraphParams p = start;
        corvid::Value loss, acc;
        for (std::size_t j = 0; j < steps; ++j) {
          const GraphGradient g = shard_gradient(plan, data, p, epoch, s, round + j);
          p = graph_sgd_step(p, g.grads, plan.lr);
          loss = j == 0 ? g.loss : loss + g.loss;
          acc = j == 0 ? g.accuracy : acc + g.accuracy;
        }
        packed.push_back(graph_pack(p, {loss / static_cast<double>(steps), acc / static_cast<double>(steps)}));
      }
      // One round trip for all shards; the workers compute the shards in parallel.
      const std::vector<corvid::Tensor> models = graph.values(packed);
      std::vector<double> sum(static_cast<std::size_t>(count), 0.0);
      for (const corvid::Tensor& m : models) {
        const float* v = m.data<float>();
        for (int64_t i = 0; i < count; ++i) sum[static_cast<std::size_t>(i)] += v[i];
        line.add(v[count], v[count + 1]);
      }
      std::vector<float> mean(sum.begin(), sum.end());
      for (float& v : mean) v /= static_cast<float>(plan.shards);
      params = ModelParams::unflatten(plan.shape, mean.data());
    }
    line.print(epoch, test_accuracy_on_workers(plan, data, params));
  }
  const double final_accuracy = test_accuracy_on_workers(plan, data, params);
  const corvid::Report report = graph.end();
  std::cout << "  " << report << "\n";
  if (!report.ok()) throw std::runtime_error("the parameter-averaging graph had failed ops");
  return {"parameter averaging", final_accuracy};
}

// ---- asynchronous SGD ----
RunResult train_async(const TrainPlan& plan, const Digits& test) {
  std::cout << "asynchronous SGD on Corvid (" << plan.shards << " shards, one gradient job each in flight):\n";
  corvid::Graph graph{"train " + plan.shape.describe() + ", asynchronous SGD"};
  const GraphData data = send_data(plan, test);
  ModelParams params = init_params(plan.shape, 1);
  const int64_t count = params.count();
  const std::size_t jobs_per_shard = plan.steps_per_epoch * static_cast<std::size_t>(plan.epochs);
  std::vector<std::size_t> next_job(plan.shards, 0);
  // Gradient jobs in flight, oldest first: (the packed gradient, shard).
  std::vector<std::pair<corvid::Value, std::size_t>> in_flight;

  auto start_job = [&](std::size_t s) {
    const std::size_t job = next_job[s]++;
    const int epoch = static_cast<int>(job / plan.steps_per_epoch);
    const GraphGradient g =
        shard_gradient(plan, data, params_to_graph(params), epoch, s, job % plan.steps_per_epoch);
    in_flight.emplace_back(graph_pack(g.grads, {g.loss, g.accuracy}), s);
  };
  for (std::size_t s = 0; s < plan.shards; ++s) start_job(s);

  const std::size_t updates_per_epoch = plan.steps_per_epoch * plan.shards;
  std::size_t updates = 0;
  EpochLine line;
  while (!in_flight.empty()) {
    std::vector<corvid::Value> jobs;
    for (const auto& job : in_flight) jobs.push_back(job.first);
    // Wait for whichever gradients are ready (this sends the new jobs first) and apply them,
    // oldest job first; each shard's next job starts from the parameters updated so far.
    const std::vector<std::size_t> ready = graph.wait_any(jobs);
    std::vector<std::pair<corvid::Value, std::size_t>> arrived;
    for (std::size_t i : ready) arrived.push_back(in_flight[i]);
    for (auto i = ready.rbegin(); i != ready.rend(); ++i) in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(*i));
    for (const auto& [gradient, s] : arrived) {
      const corvid::Tensor grads = gradient();  // already fetched by wait_any
      const float* v = grads.data<float>();
      local_sgd_step(params, ModelParams::unflatten(plan.shape, v), plan.lr / static_cast<double>(plan.shards));
      line.add(v[count], v[count + 1]);
      if (next_job[s] < jobs_per_shard) start_job(s);
      if (++updates % updates_per_epoch == 0) {
        line.print(static_cast<int>(updates / updates_per_epoch) - 1, test_accuracy_on_workers(plan, data, params));
        line = EpochLine{};
      }
    }
  }
  const double final_accuracy = test_accuracy_on_workers(plan, data, params);
  const corvid::Report report = graph.end();
  std::cout << "  " << report << "\n";
  if (!report.ok()) throw std::runtime_error("the asynchronous SGD graph had failed ops");
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
                 "the single-process run's")
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

      std::vector<RunResult> results{train_single_process(plan, test)};
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
                    << (close ? ", within " : ", MORE than ") << tolerance << " of the single process)";
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
