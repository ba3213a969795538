// Scheduler benchmark over the network: the real corvid-server (a child process on a free
// loopback port) and real corvid-worker processes (slowed with --slowdown), driven through
// libcorvid. Prints one table: ops/s and groups/s, submit-to-result latency of `a + b`, and the
// makespan of equal independent sum(matmul) items on 1x/2x/4x/8x and 1x/4x workers against the bound
// (total work / total speed, from the measured 1x time per op) and against --policy round-robin.
// Each figure is the median over the rounds (-r) and stands next to its target.
//
// Usage: corvid_scheduler_bench [-r rounds] [--smoke] [--workers N] [--ops N] [--clients N]
//          [--client-rounds N] [--latency-rounds N] [--makespan-ops N] [--matmul-n N]
//          [--server-bin P] [--worker-bin P] [--verify off|adaptive|replicate]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corvid/corvid.hpp"
#include "processes.hpp"

namespace {

using namespace corvid;
using bench::Server;
using bench::Workers;
using Clock = std::chrono::steady_clock;

// Sizes of one benchmark run.
struct Config {
  std::string server_bin = CORVID_SERVER_BIN;
  std::string worker_bin = CORVID_WORKER_BIN;
  int rounds = 3;
  int workers = 2;             // native 1x workers of the throughput scenario
  int ops = 20000;             // small independent ops of the throughput scenario
  int latency_rounds = 300;    // `a + b` round trips per round
  int clients = 16;            // concurrent developers of the groups/s scenario
  int client_rounds = 200;     // `a + b` round trips per developer there
  int makespan_ops = 1000;     // equal independent matmul + sum items per makespan run
  int matmul_n = 320;          // each matmul is n x n by n x n
  std::string verify = "off";  // the servers' --verify: off measures scheduling alone
  std::chrono::seconds timeout{300};  // bound on every wait for the server
};

// Interrupts a Graph's blocked request if it is still running after `limit`, so no wait of the
// benchmark can hang; the interrupted call throws corvid::RequestStopped.
class Watchdog {
 public:
  Watchdog(Graph& graph, std::chrono::seconds limit)
      : thread_([this, &graph, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [&] { return done_; })) graph.interrupt();
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

GraphOptions options_for(const Server& server) {
  GraphOptions options;
  options.server = server.url();
  options.token = server.token();
  options.owner = "scheduler-bench";
  options.reconnect_window = std::chrono::milliseconds(5000);
  return options;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The q-quantile (0..1) by nearest rank.
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

void require_ok(const Report& report, const char* scenario) {
  if (!report.ok()) {
    std::ostringstream out;
    out << report;
    throw std::runtime_error(std::string(scenario) + ": the graph did not compute: " + out.str());
  }
}

// Throughput: `ops` independent `x + y` on 4-element tensors through the server with 1x workers.
struct Throughput {
  double ops_per_s, groups_per_s, ops_per_group;
};
Throughput run_throughput(const Config& c) {
  Server server(c.server_bin, "eft", {"--verify", c.verify});
  Workers workers(c.worker_bin, server, std::vector<double>(static_cast<std::size_t>(c.workers), 1.0));
  server.wait_for_idle_workers(workers.size(), std::chrono::seconds(60));
  Graph graph("throughput", options_for(server));
  Value x = t(std::vector<float>{1, 2, 3, 4}, Shape{4});
  Value y = t(std::vector<float>{5, 6, 7, 8}, Shape{4});
  for (int i = 0; i < c.ops; ++i) static_cast<void>(x + y);  // recorded in the graph
  const long long groups_before = server.groups_done();
  Watchdog watchdog(graph, c.timeout);
  const auto start = Clock::now();
  const Report report = graph.end();  // sends every op, waits until all are final
  const double elapsed = seconds_since(start);
  require_ok(report, "throughput");
  const double groups = static_cast<double>(server.groups_done() - groups_before);
  return {c.ops / elapsed, groups / elapsed, c.ops / std::max(1.0, groups)};
}

// One developer's fresh `a + b` (two fresh 4-element tensors) on the current graph, computed and
// checked; returns the submit-to-result time in ms.
double add_round_trip(int i) {
  const float f = static_cast<float>(i);
  Value a = t(std::vector<float>{f, f + 1, f + 2, f + 3}, Shape{4});
  Value b = t(std::vector<float>{1, 1, 1, 1}, Shape{4});
  Value sum = a + b;
  const auto start = Clock::now();
  const Tensor value = sum();  // sends the three ops, waits for the worker's result
  const double elapsed_ms = seconds_since(start) * 1e3;
  if (value.dtype() != DType::f32 || num_elements(value.shape()) != 4 || value.data<float>()[3] != f + 4)
    throw std::runtime_error("op " + sum.id() + " (add) computed a wrong value");
  return elapsed_ms;
}

// Groups/s: `clients` developers at once (one thread and connection each), each doing
// `client_rounds` fresh `a + b` round trips, so every group holds one op; 1x workers.
double run_group_rate(const Config& c) {
  Server server(c.server_bin, "eft", {"--verify", c.verify});
  Workers workers(c.worker_bin, server, std::vector<double>(static_cast<std::size_t>(c.workers), 1.0));
  server.wait_for_idle_workers(workers.size(), std::chrono::seconds(60));
  const long long groups_before = server.groups_done();
  std::mutex error_mutex;
  std::string error;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int k = 0; k < c.clients; ++k) {
    threads.emplace_back([&, k] {
      try {
        Graph graph("groups-" + std::to_string(k), options_for(server));
        Watchdog watchdog(graph, c.timeout);
        for (int i = 0; i < c.client_rounds; ++i) add_round_trip(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        error = "groups/s, developer " + std::to_string(k) + ": " + e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double elapsed = seconds_since(start);
  if (!error.empty()) throw std::runtime_error(error);
  return static_cast<double>(server.groups_done() - groups_before) / elapsed;
}

// Latency: submit-to-result time of a fresh `a + b` (two fresh 4-element tensors) with one idle
// worker; returns {p50, p99} in ms over `latency_rounds` (after a few warm-up rounds).
std::pair<double, double> run_latency(const Config& c) {
  Server server(c.server_bin, "eft", {"--verify", c.verify});
  Workers workers(c.worker_bin, server, {1.0});
  server.wait_for_idle_workers(1, std::chrono::seconds(60));
  Graph graph("latency", options_for(server));
  Watchdog watchdog(graph, c.timeout);
  constexpr int kWarmup = 5;
  std::vector<double> ms;
  for (int i = 0; i < c.latency_rounds + kWarmup; ++i) {
    const double elapsed_ms = add_round_trip(i);
    if (i >= kWarmup) ms.push_back(elapsed_ms);
  }
  return {quantile(ms, 0.5), quantile(ms, 0.99)};
}

// Makespan in seconds of `makespan_ops` equal independent items (n x n matmul, then its sum) on workers with these
// slowdowns, under `policy`: from the submit until every op is final.
double run_makespan(const Config& c, const std::vector<double>& slowdowns, const std::string& policy) {
  Server server(c.server_bin, policy, {"--verify", c.verify});
  Workers workers(c.worker_bin, server, slowdowns);
  server.wait_for_idle_workers(workers.size(), std::chrono::seconds(60));
  Graph graph("makespan", options_for(server));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1, 1);
  const auto n = static_cast<std::size_t>(c.matmul_n);
  std::vector<float> values(n * n);
  for (auto& v : values) v = uniform(rng);
  Value a = t(values, Shape{c.matmul_n, c.matmul_n});
  for (auto& v : values) v = uniform(rng);
  Value b = t(values, Shape{c.matmul_n, c.matmul_n});
  // Each item: an n x n matmul and the sum of its result (the matmul stays on the worker, so
  // only a scalar travels back per item).
  for (int i = 0; i < c.makespan_ops; ++i) static_cast<void>(sum(matmul(a, b)));  // recorded in the graph
  Watchdog watchdog(graph, c.timeout);
  const auto start = Clock::now();
  const Report report = graph.end();
  const double elapsed = seconds_since(start);
  require_ok(report, "makespan");
  return elapsed;
}

std::string label(const std::vector<double>& slowdowns) {
  std::string s;
  for (double d : slowdowns) s += (s.empty() ? "" : "/") + std::to_string(static_cast<int>(d)) + "x";
  return s;
}

// One table row: what, the measured figure (with its unit), the target, and measured / target.
void row(const std::string& what, const std::string& measured, const std::string& target, const std::string& ratio,
         const std::string& verdict) {
  std::printf("%-52s %12s %16s %8s  %s\n", what.c_str(), measured.c_str(), target.c_str(), ratio.c_str(),
              verdict.c_str());
}

std::string fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  bool smoke = false;
  CLI::App app{"corvid_scheduler_bench: the real corvid-server and corvid-worker processes on loopback"};
  app.add_option("-r,--rounds", c.rounds, "repetitions; every figure is the median")->check(CLI::PositiveNumber);
  app.add_flag("--smoke", smoke, "tiny sizes, one round (checks that the benchmark still runs)");
  app.add_option("--workers", c.workers, "1x workers of the throughput scenario")->check(CLI::PositiveNumber);
  app.add_option("--ops", c.ops, "small independent ops of the throughput scenario")->check(CLI::PositiveNumber);
  app.add_option("--latency-rounds", c.latency_rounds, "a + b round trips per round")->check(CLI::PositiveNumber);
  app.add_option("--clients", c.clients, "concurrent developers of the groups/s scenario")->check(CLI::PositiveNumber);
  app.add_option("--client-rounds", c.client_rounds, "a + b round trips per developer there")->check(CLI::PositiveNumber);
  app.add_option("--makespan-ops", c.makespan_ops, "equal independent matmuls per makespan run")
      ->check(CLI::PositiveNumber);
  app.add_option("--matmul-n", c.matmul_n, "size of each square matmul of the makespan runs")->check(CLI::Range(1, 2048));
  app.add_option("--server-bin", c.server_bin, "corvid-server binary")->check(CLI::ExistingFile);
  app.add_option("--verify", c.verify,
                 "the servers' --verify: off (default) measures scheduling alone; under adaptive every group "
                 "of a new worker is replicated on another, which the makespan bound does not count "
                 "(verification's cost is benchmarks/verification's)")
      ->check(CLI::IsMember({"off", "adaptive", "replicate"}));
  app.add_option("--worker-bin", c.worker_bin, "corvid-worker binary")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    c.rounds = 1;
    c.ops = 200;
    c.latency_rounds = 10;
    c.clients = 2;
    c.client_rounds = 5;
    c.makespan_ops = 40;
    c.matmul_n = 32;
    c.timeout = std::chrono::seconds(120);
  }

  try {
    const std::vector<std::vector<double>> mixes = {{1, 2, 4, 8}, {1, 4}};
    std::vector<double> ops_per_s, groups_per_s, ops_per_group, small_groups_per_s, p50, p99, op_ms;
    std::vector<std::vector<double>> eft(mixes.size()), rr(mixes.size());
    for (int r = 0; r < c.rounds; ++r) {
      std::fprintf(stderr, "round %d/%d: throughput\n", r + 1, c.rounds);
      const Throughput tp = run_throughput(c);
      ops_per_s.push_back(tp.ops_per_s);
      groups_per_s.push_back(tp.groups_per_s);
      ops_per_group.push_back(tp.ops_per_group);
      std::fprintf(stderr, "round %d/%d: groups/s\n", r + 1, c.rounds);
      small_groups_per_s.push_back(run_group_rate(c));
      std::fprintf(stderr, "round %d/%d: latency\n", r + 1, c.rounds);
      const auto [l50, l99] = run_latency(c);
      p50.push_back(l50);
      p99.push_back(l99);
      std::fprintf(stderr, "round %d/%d: makespan on one 1x worker\n", r + 1, c.rounds);
      op_ms.push_back(run_makespan(c, {1}, "eft") * 1e3 / c.makespan_ops);
      for (std::size_t m = 0; m < mixes.size(); ++m) {
        std::fprintf(stderr, "round %d/%d: makespan on %s\n", r + 1, c.rounds, label(mixes[m]).c_str());
        eft[m].push_back(run_makespan(c, mixes[m], "eft"));
        rr[m].push_back(run_makespan(c, mixes[m], "round-robin"));
      }
    }

    std::printf("Scheduler benchmark: real corvid-server and corvid-worker processes on loopback, median of %d round%s\n",
                c.rounds, c.rounds == 1 ? "" : "s");
    std::printf("ops/s: one graph of %d independent 4-element adds, %d 1x worker%s; groups/s: %d developers x %d "
                "fresh a + b; latency: %d rounds; makespan: %d sum(matmul) of %dx%d, 1x time per item measured alone\n",
                c.ops, c.workers, c.workers == 1 ? "" : "s", c.clients, c.client_rounds, c.latency_rounds,
                c.makespan_ops, c.matmul_n, c.matmul_n);
    row("figure", "measured", "target", "ratio", "");
    const double ops_s = median(ops_per_s), groups_s = median(groups_per_s);
    row("ops/s through the server (" + std::to_string(c.workers) + " workers)", fmt("%.0f", ops_s), ">= 20000",
        fmt("%.2fx", ops_s / 20000), ops_s >= 20000 ? "meets" : "MISSES");
    row("  groups/s in that run (" + fmt("%.0f", median(ops_per_group)) + " ops/group)", fmt("%.0f", groups_s), "-", "-",
        "");
    const double small_groups_s = median(small_groups_per_s);
    row("groups/s, " + std::to_string(c.clients) + " developers' 1-op groups", fmt("%.0f", small_groups_s), ">= 5000",
        fmt("%.2fx", small_groups_s / 5000), small_groups_s >= 5000 ? "meets" : "MISSES");
    const double lat50 = median(p50), lat99 = median(p99);
    row("a + b submit-to-result p50, 1 idle worker", fmt("%.3f ms", lat50), "<= 1 ms", fmt("%.2fx", lat50 / 1.0),
        lat50 <= 1.0 ? "meets" : "MISSES");
    row("a + b submit-to-result p99, 1 idle worker", fmt("%.3f ms", lat99), "-", "-", "");
    const double t1 = median(op_ms);
    row("1x time per item (alone, incl. overheads)", fmt("%.2f ms", t1), "-", "-", "");
    for (std::size_t m = 0; m < mixes.size(); ++m) {
      double speed = 0;
      for (double s : mixes[m]) speed += 1.0 / s;
      const double bound = c.makespan_ops * t1 / 1e3 / speed;
      const double e = median(eft[m]), b = median(rr[m]);
      const std::string mix = label(mixes[m]);
      row("makespan " + mix + ": lower bound", fmt("%.3f s", bound), "-", "-", "");
      row("makespan " + mix + ": earliest finish / bound", fmt("%.3f s", e), "<= 1.15x bound",
          fmt("%.2fx", e / bound), e / bound <= 1.15 ? "meets" : "MISSES");
      const bool rr_target = mixes[m].size() == 2;  // the 2x-better-than-round-robin target is on 1x/4x
      row("makespan " + mix + ": round robin / earliest finish", fmt("%.3f s", b), rr_target ? ">= 2x" : "-",
          fmt("%.2fx", b / e), rr_target ? (b / e >= 2 ? "meets" : "MISSES") : "");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "corvid_scheduler_bench: %s\n", e.what());
    return 1;
  }
}
