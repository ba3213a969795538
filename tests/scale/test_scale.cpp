// Scale tests (docs/benchmarks.md "Scale" has the figures): thousands of protocol workers from
// the load generator next to real corvid-worker processes compute a graph correctly, and ten
// thousand worker connections open and close without leaking descriptors or memory.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <chrono>
#include <thread>

#include "corvid/corvid.hpp"
#include "scale/loadgen.hpp"
#include "scheduler/processes.hpp"

namespace {

using namespace corvid;
using namespace std::chrono_literals;

// Every connection comes from 127.0.0.1: the per-address connect limit is lifted.
const std::vector<std::string> kUnlimitedConnects{"--max-worker-connects-per-s", "0"};

// Raises the descriptor limit for `connections`; false (with the reason) if the hard limit is too low.
bool enough_descriptors(long connections, std::string& why) {
  const long soft = loadgen::raise_fd_limit();
  if (soft >= connections + 256) return true;
  why = "the descriptor hard limit (" + std::to_string(soft) + ") is below the " + std::to_string(connections) +
        " connections this test opens; raise it (ulimit -Hn) to run it";
  return false;
}

loadgen::LoadOptions options_for(const bench::Server& server, int workers) {
  loadgen::LoadOptions options;
  options.port = server.port();
  options.token = server.token();
  options.workers = workers;
  options.developers = 0;
  options.timeout = 120s;
  return options;
}

// Waits until the server's descriptors fall to at most `limit`; returns the last count seen.
int descriptors_settle(pid_t pid, int limit) {
  int open = 0;
  for (int i = 0; i < 300; ++i) {
    open = loadgen::sample_process(pid).open_fds;
    if (open <= limit) break;
    std::this_thread::sleep_for(100ms);
  }
  return open;
}

}  // namespace

TEST_CASE("2,000 protocol workers and real corvid-workers compute a graph correctly") {
  std::string why;
  if (!enough_descriptors(2100, why)) {
    MESSAGE("skipped: " << why);
    return;
  }
  bench::Server server(CORVID_SERVER_BIN, "eft", kUnlimitedConnects);
  loadgen::LoadGenerator fleet(options_for(server, 2000));
  fleet.connect_workers();
  bench::Workers real(CORVID_WORKER_BIN, server, {1.0, 1.0});
  server.wait_for_idle_workers(2002, 60s);

  GraphOptions options;
  options.server = server.url();
  options.token = server.token();
  options.owner = "scale-test";
  Graph graph("two thousand workers", options);
  // 300 independent items: sum(x + i) = 10 + 4i, plus a chain through all of them.
  Value x = t(std::vector<float>{1, 2, 3, 4}, Shape{4});
  std::vector<Value> items;
  for (int i = 0; i < 300; ++i) {
    const float f = static_cast<float>(i);
    items.push_back(sum(x + t(std::vector<float>{f, f, f, f}, Shape{4})));
  }
  Value total = items[0];
  for (int i = 1; i < 300; ++i) total = total + items[static_cast<std::size_t>(i)];
  const Report report = graph.end();
  CHECK(report.ok());
  for (int i = 0; i < 300; i += 37) CHECK(items[static_cast<std::size_t>(i)]().data<float>()[0] == 10.0f + 4.0f * i);
  // Σ (10 + 4i) over i < 300 = 3000 + 4 · 44850
  CHECK(total().data<float>()[0] == 182400.0f);
  CHECK(fleet.connected_workers() == 2000);
  const nlohmann::json fleet_status = server.status().at("fleet");
  CHECK(fleet_status.at("workers") == 2002);
  CHECK(fleet_status.at("groups_done").get<long long>() > 0);
}

TEST_CASE("10,000 worker connections open and close without leaking descriptors or memory") {
  std::string why;
  if (!enough_descriptors(10100, why)) {
    MESSAGE("skipped: " << why);
    return;
  }
  bench::Server server(CORVID_SERVER_BIN, "eft", kUnlimitedConnects);
  const loadgen::ProcessSample start = loadgen::sample_process(server.pid());
  std::vector<loadgen::ProcessSample> after_close;
  for (int round = 0; round < 2; ++round) {
    loadgen::LoadGenerator fleet(options_for(server, 10000));
    fleet.connect_workers();
    const loadgen::ProcessSample open = loadgen::sample_process(server.pid());
    CHECK(open.open_fds >= start.open_fds + 10000);
    CHECK(server.status().at("fleet").at("workers") == 10000);
    fleet.stop();
    const int fds = descriptors_settle(server.pid(), start.open_fds);
    CHECK_MESSAGE(fds <= start.open_fds, "round " << round << ": " << fds << " descriptors open, " << start.open_fds
                                                  << " before the connections");
    after_close.push_back(loadgen::sample_process(server.pid()));
    CHECK(server.status().at("fleet").at("workers") == 0);
  }
  // Memory freed by the first round is reused by the second: a leak would add about as much
  // again (the first round's growth is what 10,000 connections take).
  const double first_growth = after_close[0].rss_kb - start.rss_kb;
  const double second_growth = after_close[1].rss_kb - after_close[0].rss_kb;
  MESSAGE("RSS " << start.rss_kb << " KiB at start, " << after_close[0].rss_kb << " after round 1, "
                 << after_close[1].rss_kb << " after round 2");
  CHECK_MESSAGE(second_growth < std::max(0.25 * first_growth, 4096.0),
                "the second round of 10,000 connections grew the server by " << second_growth << " KiB (the first by "
                                                                             << first_growth << " KiB)");
}
