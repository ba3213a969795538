// The libcorvid snippet against a real server, plus the library features around it:
// operators and scalars, a failing op named in end()'s report, and a map job whose shared
// weights travel once. Usage: corvid_library_snippet ws://host:port (token from CORVID_TOKEN).
// Prints what it computed; exits 1 with the reason when a value differs from the expected one.
#include <cmath>
#include <iostream>
#include <sstream>

#include "corvid/corvid.hpp"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "MISMATCH: " << what << "\n";
    ++failures;
  }
}

std::string text(const corvid::Tensor& t) {
  std::ostringstream s;
  s << t;
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: corvid_library_snippet ws://host:port\n";
    return 2;
  }
  corvid::GraphOptions options;
  options.server = argv[1];
  try {
    // The snippet of the issue, as written there.
    corvid::Graph graph{"test", options};
    auto a = corvid::t({1, 2, 3});
    auto b = corvid::t({5, 22, 7});
    auto c = a + b;
    std::cout << "c: " << c() << "\n";
    expect(text(c()) == "[6, 24, 10]", "c = " + text(c()));

    // Operators, scalars that broadcast, functions of the op table, one batch for several values.
    auto x = corvid::t({{1.0, 2.0}, {3.0, 4.0}});
    auto y = (x * 2.0 - 1.0) / 2.0;
    auto s = corvid::sum(y, 1);
    auto m = corvid::matmul(x, corvid::transpose(x));
    auto e = corvid::exp(corvid::t({0.0, 1.0}));
    auto big = x > 2.5;
    auto values = graph.values({y, s, m, e, big});
    std::cout << "y: " << values[0] << "\ns: " << values[1] << "\nm: " << values[2] << "\ne: " << values[3]
              << "\nbig: " << values[4] << "\n";
    expect(text(values[0]) == "[[0.5, 1.5], [2.5, 3.5]]", "y = " + text(values[0]));
    expect(text(values[1]) == "[2, 6]", "s = " + text(values[1]));
    expect(text(values[2]) == "[[5, 11], [11, 25]]", "m = " + text(values[2]));
    expect(std::abs(values[3].data<float>()[1] - 2.7182817f) < 1e-5f, "e = " + text(values[3]));
    expect(text(values[4]) == "[[false, false], [true, true]]", "big = " + text(values[4]));

    // A failing op: its value throws OpFailed naming it, its dependent fails too, end() lists both.
    auto singular = corvid::t({{1.0, 2.0}, {2.0, 4.0}}, corvid::DType::f64);
    auto bad = corvid::inv(singular);
    auto after = bad + 1.0;
    try {
      bad();
      expect(false, "inv of a singular matrix computed");
    } catch (const corvid::OpFailed& f) {
      std::cout << "expected failure: " << f.what() << "\n";
      expect(f.op_id() == bad.id() && f.error().find("singular") != std::string::npos, f.what());
    }
    auto report = graph.end();
    std::cout << report << "\n";
    expect(report.status == "failed", "report status " + report.status);
    expect(report.failed.size() == 2, "failed ops listed: " + std::to_string(report.failed.size()));
    bool names_after = false;
    for (const auto& f : report.failed) names_after = names_after || f.id == after.id();
    expect(names_after, "the dependent of the failed op is not in the report");

    // Many small batches: a batch ends after 64 bytes of tensor values here.
    corvid::GraphOptions small = options;
    small.max_batch_bytes = 64;
    corvid::Graph batched{"batched", small};
    std::vector<corvid::Value> parts;
    for (int i = 0; i < 10; ++i) parts.push_back(corvid::t(std::vector<double>(8, double(i)), {8}));
    auto total = corvid::sum(corvid::concat(parts, 0));
    std::cout << "batched total: " << total() << "\n";
    expect(text(total()) == "360", "batched total = " + text(total()));

    // And a batch ends after 3 ops: a chain of 20 ops goes in 7 batches.
    corvid::GraphOptions few = options;
    few.max_batch_ops = 3;
    corvid::Graph chained{"chained", few};
    auto chain = corvid::t({1.0, 2.0});
    for (int i = 0; i < 19; ++i) chain = chain + 1.0;
    auto chain_sum = corvid::sum(chain);
    expect(text(chain_sum()) == "41", "chained sum = " + text(chain_sum()));

    // A map job: weights sent once, 12 slices, results as they arrive with their index.
    corvid::Graph job_graph{"map", options};
    auto w = corvid::t({{1.0f, 0.0f}, {0.0f, 2.0f}, {1.0f, 1.0f}});  // 3x2
    corvid::MapJob job(job_graph, [&](const std::vector<corvid::Value>& in, std::size_t) {
      return corvid::sum(corvid::matmul(in[0], w), 1);
    });
    for (int i = 0; i < 12; ++i)
      job.add_slice({corvid::Tensor::from_vector<float>({1, 3}, {float(i), 1.0f, 2.0f})});
    // One tensor op for the weights, and per slice: its input, matmul, sum.
    expect(job_graph.size() == 1 + 12 * 3, "ops in the job graph: " + std::to_string(job_graph.size()));
    std::size_t posted = 0, results = 0;
    corvid::MapEvents events;
    events.on_posted = [&](std::size_t n, uint64_t) { posted = n; };
    events.on_result = [&](std::size_t i, const corvid::Tensor& v) {
      ++results;
      // [i, 1, 2] @ w = [i + 2, 2 + 2] -> sum i + 6
      expect(std::abs(v.data<float>()[0] - float(i + 6)) < 1e-5f, "slice " + std::to_string(i) + " = " + text(v));
    };
    auto outcome = job.run(events);
    std::cout << "map job: " << outcome.computed << " of " << outcome.results.size() << " slices computed\n";
    expect(posted == 12 && results == 12 && outcome.ok(), "map job outcome");

    // Cancelling from a callback stops the job and keeps what arrived.
    corvid::MapJob cancelled(job_graph, [&](const std::vector<corvid::Value>& in, std::size_t) {
      return corvid::sum(corvid::matmul(in[0], w), 1);
    });
    for (int i = 0; i < 8; ++i) cancelled.add_slice({corvid::Tensor::from_vector<float>({1, 3}, {1.0f, 1.0f, float(i)})});
    corvid::MapEvents stop_early;
    std::size_t delivered = 0;
    stop_early.on_result = [&](std::size_t, const corvid::Tensor&) {
      ++delivered;
      cancelled.cancel();
    };
    auto partial = cancelled.run(stop_early);
    std::cout << "cancelled map job: " << partial.computed << " of 8 slices kept\n";
    expect(partial.cancelled && delivered == 1 && partial.computed == 1, "cancel from a callback");
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return failures ? 1 : 0;
}
