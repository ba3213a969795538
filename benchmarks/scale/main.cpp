// corvid-loadgen: a real corvid-server (started here, or one already running) under N protocol
// workers and M developers from one process (loadgen.hpp).
//
//   corvid-loadgen --workers 10000 --developers 16 --seconds 10
//       starts corvid-server (--server-bin) with --max-worker-connects-per-s 0 and --verify off
//       (--verify picks another policy) and prints connect
//       time, the server's RSS per worker, idle CPU, /api/status and /metrics times, groups/s,
//       CPU time per group of the server and of this load generator (both from /proc over the
//       developer phase; the server is a child, so `time corvid-loadgen` counts both together),
//       and dispatch and submit-to-result latency.
//   corvid-loadgen --port 8080 --token T --server-pid P ...   drives a server already running.
//   corvid-loadgen --curve 10,100,1000,10000                  the benchmarks/scale table: each
//       size on a fresh server, with growth ratios between steps.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "../scheduler/processes.hpp"
#include "loadgen.hpp"

namespace {

using namespace corvid;
using Clock = std::chrono::steady_clock;

// What the command line asks for.
struct Config {
  std::string server_bin = CORVID_SERVER_BIN;
  std::optional<uint16_t> port;  // a running server instead of starting one
  std::string token;
  pid_t server_pid = 0;
  int workers = 1000;
  int developers = 16;
  double rate = 0;
  double seconds = 5;
  double idle_seconds = 3;
  std::vector<int> curve;
  int timeout_s = 120;
  std::string verify = "off";  // the started server's --verify
};

// One size's figures.
struct Row {
  int workers = 0;
  loadgen::Latency connect;
  double rss_per_worker_kb = 0, idle_cpu_percent = 0, status_ms = 0, metrics_ms = 0;
  loadgen::PhaseReport load;     // `developers` developers, closed loop or at the set rate
  int dropped = 0;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The median time of a few GETs of `target`, in ms.
double get_ms(uint16_t port, const std::string& target) {
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    bench::http_get(port, target, std::chrono::seconds(30));
    ms.push_back(ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

Row run_size(const Config& c, int workers, int developers, double rate) {
  std::unique_ptr<bench::Server> server;
  loadgen::LoadOptions options;
  options.timeout = std::chrono::seconds(c.timeout_s);
  options.workers = workers;
  options.developers = developers;
  options.rate_per_developer = rate;
  pid_t pid = c.server_pid;
  if (c.port) {
    options.port = *c.port;
    options.token = c.token;
  } else {
    // Every connection comes from 127.0.0.1: the per-address connect limit is lifted.
    server = std::make_unique<bench::Server>(
        c.server_bin, "eft", std::vector<std::string>{"--max-worker-connects-per-s", "0", "--verify", c.verify});
    options.port = server->port();
    options.token = server->token();
    pid = server->pid();
  }
  Row row;
  row.workers = workers;
  const loadgen::ProcessSample empty = loadgen::sample_process(pid);
  loadgen::LoadGenerator lg(options);
  row.connect = lg.connect_workers();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // benchmarks processed
  const loadgen::ProcessSample connected = loadgen::sample_process(pid);
  row.rss_per_worker_kb = (connected.rss_kb - empty.rss_kb) / std::max(1, workers);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(c.idle_seconds * 1000)));
  const loadgen::ProcessSample idle = loadgen::sample_process(pid);
  row.idle_cpu_percent = 100 * (idle.cpu_s - connected.cpu_s) / c.idle_seconds;
  row.status_ms = get_ms(options.port, "/api/status");
  row.metrics_ms = get_ms(options.port, "/metrics");
  const auto phase = std::chrono::milliseconds(static_cast<int64_t>(c.seconds * 1000));
  if (developers > 0) row.load = lg.run_developers(phase, pid);
  row.dropped = workers - lg.connected_workers();
  lg.stop();
  return row;
}

std::string fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

void print_row(const Row& r) {
  const double groups_s = r.load.seconds > 0 ? static_cast<double>(r.load.groups) / r.load.seconds : 0;
  auto per_group_us = [&](double cpu_s) { return r.load.groups ? 1e6 * cpu_s / static_cast<double>(r.load.groups) : 0; };
  std::printf("%8d %9.0f %9.0f %8.1f %8.1f %8.1f %8.1f %9.0f %9.1f %9.1f %9.2f %9.2f %9.2f %9.2f %9.1f %7d\n",
              r.workers, r.connect.p50, r.connect.p99, r.rss_per_worker_kb, r.idle_cpu_percent, r.status_ms,
              r.metrics_ms, groups_s, per_group_us(r.load.server_cpu_s), per_group_us(r.load.loadgen_cpu_s),
              r.load.dispatch_ms.p50, r.load.dispatch_ms.p99, r.load.result_ms.p50,
              r.load.result_ms.p99, r.load.result_ms.max, r.dropped);
}

void print_header() {
  std::printf("%8s %9s %9s %8s %8s %8s %8s %9s %9s %9s %9s %9s %9s %9s %9s %7s\n", "workers", "conn_p50",
              "conn_p99", "KB/wkr", "idle%cpu", "status", "metrics", "groups/s", "cpu_us/g", "cpu_us/g", "disp_p50",
              "disp_p99", "res_p50", "res_p99", "res_max", "dropped");
  std::printf("%8s %9s %9s %8s %8s %8s %8s %9s %9s %9s %9s %9s %9s %9s %9s %7s\n", "", "ms", "ms", "RSS", "server", "ms",
              "ms", "", "server", "loadgen", "ms", "ms", "ms", "ms", "ms", "");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{
      "corvid-loadgen: N protocol workers and M developers against a corvid-server. Prints connect time, the "
      "server's RSS per worker and idle CPU, /api/status and /metrics times, groups/s, CPU microseconds per group "
      "of the server and of the load generator itself (cpu_us/g server, cpu_us/g loadgen: /proc over the developer "
      "phase; the two share the machine's cores), dispatch and submit-to-result latency"};
  app.add_option("--server-bin", c.server_bin, "corvid-server to start (unless --port names a running one)");
  app.add_option("--port", c.port, "a running server on 127.0.0.1 (needs --token and --server-pid)");
  app.add_option("--token", c.token, "the running server's developer token");
  app.add_option("--server-pid", c.server_pid, "the running server's process id (RSS and CPU from /proc)");
  app.add_option("--workers", c.workers, "worker connections")->check(CLI::NonNegativeNumber);
  app.add_option("--developers", c.developers, "developer connections")->check(CLI::NonNegativeNumber);
  app.add_option("--rate", c.rate, "submits per second per developer (0: closed loop)")->check(CLI::NonNegativeNumber);
  app.add_option("--seconds", c.seconds, "length of the developer phase")->check(CLI::PositiveNumber);
  app.add_option("--idle-seconds", c.idle_seconds, "idle time over which the server's CPU is measured")
      ->check(CLI::PositiveNumber);
  app.add_option("--curve", c.curve, "worker counts for the benchmarks/scale table, e.g. 10,100,1000,10000")
      ->delimiter(',');
  app.add_option("--verify", c.verify,
                 "the started server's --verify: off measures dispatch alone (verification's cost is "
                 "benchmarks/verification's)")
      ->check(CLI::IsMember({"off", "adaptive", "replicate"}))
      ->capture_default_str();
  app.add_option("--timeout-s", c.timeout_s, "bound on connecting and on each phase")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (c.port && (c.token.empty() || c.server_pid == 0)) {
    std::cerr << "corvid-loadgen: --port needs --token and --server-pid\n";
    return 2;
  }
  const long fds = loadgen::raise_fd_limit();
  const int largest = c.curve.empty() ? c.workers : *std::max_element(c.curve.begin(), c.curve.end());
  if (fds >= 0 && fds < largest + c.developers + 64) {
    std::cerr << "corvid-loadgen: the descriptor limit (" << fds << ") is below the " << largest
              << " connections asked for; raise the hard limit (ulimit -Hn, LimitNOFILE)\n";
    return 2;
  }
  try {
    if (c.curve.empty()) {
      print_header();
      print_row(run_size(c, c.workers, c.developers, c.rate));
      return 0;
    }
    // The curve: server cost per group and a + b latency with one developer (closed loop) at each
    // fleet size, on a fresh server each time, with the growth ratio to the previous size.
    std::vector<Row> rows;
    print_header();
    for (int n : c.curve) {
      rows.push_back(run_size(c, n, 1, 0));
      print_row(rows.back());
      std::fflush(stdout);
    }
    std::printf("\ngrowth between steps (this size / previous size):\n%8s %12s %12s %12s %12s %12s\n", "workers",
                "cpu_us/g", "res_p50", "KB/wkr", "idle%cpu", "status_ms");
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const Row& a = rows[i - 1];
      const Row& b = rows[i];
      auto per_group = [](const Row& r) {
        return r.load.groups ? r.load.server_cpu_s / static_cast<double>(r.load.groups) : 0;
      };
      auto ratio = [](double x, double y) { return y > 0 ? fmt("%.2fx", x / y) : std::string("-"); };
      std::printf("%8d %12s %12s %12s %12s %12s\n", b.workers, ratio(per_group(b), per_group(a)).c_str(),
                  ratio(b.load.result_ms.p50, a.load.result_ms.p50).c_str(),
                  ratio(b.rss_per_worker_kb, a.rss_per_worker_kb).c_str(),
                  ratio(b.idle_cpu_percent, a.idle_cpu_percent).c_str(), ratio(b.status_ms, a.status_ms).c_str());
    }
    const Row& first = rows.front();
    const Row& last = rows.back();
    auto per_group = [](const Row& r) { return r.load.groups ? r.load.server_cpu_s / static_cast<double>(r.load.groups) : 0; };
    std::printf("\n%d -> %d workers: server CPU per group %s (target < 2x), a + b p50 %.2f ms at %d (target <= 2 ms)\n",
                first.workers, last.workers,
                per_group(first) > 0 ? fmt("%.2fx", per_group(last) / per_group(first)).c_str() : "-",
                last.load.result_ms.p50, last.workers);
  } catch (const std::exception& e) {
    std::cerr << "corvid-loadgen: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
