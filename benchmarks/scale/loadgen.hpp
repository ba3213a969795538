// corvid-loadgen's engine: many protocol-speaking workers and developers in one process, on one
// Asio thread, kept cheap so that it leaves the cores it shares with the server to the server:
// each connection reads whatever has arrived in one system call into a buffer it keeps, and
// writes the frames one turn produces in one (loadgen.cpp, Connection). Workers say hello, report benchmark figures spread over a range of devices, send
// heartbeats and compute the groups they are assigned with the real kernel (GroupExecutor);
// developers submit fresh `a + b` ops to their graph and wait for the value, checking it. It
// measures connect times, dispatch latency (submit sent to the assign arriving at a worker),
// submit-to-result latency and groups/s; /proc gives the server's RSS and CPU time, and this
// process's own CPU time (/proc/self: the server is a child, so `time corvid-loadgen` would add
// the server's CPU to the load generator's).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corvid::loadgen {

// Where the server is and how hard to push it.
struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;                 // the developer token (data dir's `token`)
  int workers = 100;                 // worker connections
  int connect_concurrency = 256;     // connection attempts in flight at once
  double min_gflops = 1, max_gflops = 200;  // benchmark figures are log-uniform in this range
  int developers = 16;               // developer connections
  double rate_per_developer = 0;     // submits per second per developer; 0: closed loop (next after the answer)
  std::chrono::milliseconds timeout{60000};  // bound on connecting and on each phase
};

// Quantiles of a set of latencies, in ms.
struct Latency {
  std::size_t count = 0;
  double p50 = 0, p99 = 0, max = 0;
};

// What one measured phase saw.
struct PhaseReport {
  double seconds = 0;
  uint64_t groups = 0;          // results the load generator's workers sent
  uint64_t rounds = 0;          // developers' a + b answered and checked
  Latency dispatch_ms;          // submit sent -> assign at a worker
  Latency result_ms;            // submit sent -> values at the developer
  double server_cpu_s = 0;      // server CPU time (user + system) during the phase
  double loadgen_cpu_s = 0;     // this process's CPU time (every thread, user + system) during the phase
};

// The server process as /proc shows it.
struct ProcessSample {
  double rss_kb = 0;
  double cpu_s = 0;  // user + system
  int open_fds = 0;
};
// Reads /proc/<pid>/{status,stat,fd}; throws std::runtime_error if the process is gone.
ProcessSample sample_process(pid_t pid);

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit.
long raise_fd_limit();

// The fleet and the developers, driven on a background thread. Not copyable.
class LoadGenerator {
 public:
  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Opens the worker connections and waits until each is welcomed and has sent its benchmark.
  // Returns per-connection connect times (TCP + upgrade + welcome); throws std::runtime_error
  // naming how many connected if they are not all up within the timeout.
  Latency connect_workers();
  // Runs the developers for `duration` (closed loop or at the set rate) and reports the phase;
  // throws std::runtime_error on a wrong value or an error from the server.
  PhaseReport run_developers(std::chrono::milliseconds duration, pid_t server_pid);
  // Workers still connected (a closed one is not reopened).
  int connected_workers() const;
  // Closes every connection and stops the thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corvid::loadgen
