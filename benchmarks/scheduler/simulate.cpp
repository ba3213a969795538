// Scheduler simulation: the real Coordinator (groups, earliest-finish-time assignment, the
// round-robin baseline) driven by a simulated clock and simulated workers, so the makespan of
// 1,000 equal independent ops on workers slowed 1x/2x/4x/8x can be compared with the lower bound
// (total work / total speed) and with round robin, without the noise of real sockets.
//
// Usage: corvid_scheduler_sim [ops] [op_ms]
//   ops    number of independent ops (default 1000)
//   op_ms  time of one op on a 1x worker, in simulated milliseconds (default 1)
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include <unistd.h>

#include "server/core/coordinator.hpp"
#include "shared/group_executor.hpp"

namespace {

using namespace corvid;
using namespace corvid::server;

constexpr double kOneWayMs = 0.1;           // simulated network latency each way
constexpr double kLinkBytesPerMs = 5e5;     // simulated bandwidth (500 MB/s)
constexpr int kElements = 1000;             // float32 elements per op: 8,000 bytes read + written

// A clock the simulation moves forward.
class SimClock final : public Clock {
 public:
  double now_ms() const override { return t; }
  double t = 0;
};

// One simulated worker: computes its groups one after the other, each op taking op_ms × slowdown.
struct SimWorker {
  double slowdown = 1;
  double free_at = 0;
  GroupExecutor executor;  // computes the real values, so results pass the server's checks
};

// A message that arrives at the coordinator at `t`.
struct Arrival {
  double t;
  uint64_t seq;
  WorkerId worker;
  Frame frame;
  bool operator>(const Arrival& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

// Delivers the coordinator's messages to the simulated workers and records when the developer's
// wait is answered.
class SimOutbox final : public Outbox {
 public:
  SimOutbox(SimClock& clock, double op_ms) : clock_(clock), op_ms_(op_ms) {}

  void send_to_worker(WorkerId worker, Frame frame) override {
    // welcome, heartbeat, cancel: nothing to simulate
    if (protocol::type_of(frame) != protocol::Assign::kType) return;
    auto assign = protocol::decode<protocol::Assign>(std::move(frame));
    SimWorker& w = workers.at(worker);
    std::size_t bytes = 0;
    for (const auto& nt : assign.inputs) bytes += nt.tensor.nbytes();
    const double arrives = clock_.t + kOneWayMs + static_cast<double>(bytes) / kLinkBytesPerMs;
    const double start = std::max(arrives, w.free_at);
    const double compute = static_cast<double>(assign.ops.size()) * op_ms_ * w.slowdown;
    w.free_at = start + compute;
    Frame reply = w.executor.execute(std::move(assign));
    if (protocol::type_of(reply) == protocol::Result::kType) {
      auto result = protocol::decode<protocol::Result>(std::move(reply));
      result.compute_ms = compute;
      reply = protocol::encode(std::move(result));
    }
    std::size_t out_bytes = 0;
    for (const auto& nt : reply.tensors) out_bytes += nt.tensor.nbytes();
    arrivals.push({w.free_at + kOneWayMs + static_cast<double>(out_bytes) / kLinkBytesPerMs, seq_++, worker,
                   std::move(reply)});
  }
  void send_to_client(ClientId, Frame frame) override {
    const auto type = protocol::type_of(frame);
    if (type == protocol::Values::kType) {
      done_at = clock_.t;
      status = protocol::decode<protocol::Values>(std::move(frame)).status;
    } else if (type == protocol::Submitted::kType) {
      graph_id = protocol::decode<protocol::Submitted>(std::move(frame)).graph_id;
    } else if (type == protocol::ErrorReply::kType) {
      submit_error = protocol::decode<protocol::ErrorReply>(std::move(frame)).error;
    }
  }
  void close_worker(WorkerId worker, const std::string& reason) override {
    std::fprintf(stderr, "simulation: worker %llu closed: %s\n", static_cast<unsigned long long>(worker), reason.c_str());
  }

  std::map<WorkerId, SimWorker> workers;
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> arrivals;
  double done_at = -1;
  std::string status;
  uint64_t graph_id = 0;     // from `submitted`
  std::string submit_error;  // from `error`

 private:
  SimClock& clock_;
  double op_ms_;
  uint64_t seq_ = 0;
};

// Makespan in simulated ms of `ops` equal independent ops on workers with these slowdowns.
double simulate(const std::vector<double>& slowdowns, SchedulingPolicy policy, int ops, double op_ms) {
  const auto dir = std::filesystem::temp_directory_path() / ("corvid-scheduler-sim-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  SimClock clock;
  SimOutbox outbox(clock, op_ms);
  CoordinatorOptions options;
  options.policy = policy;
  options.verify = VerifyPolicy::off;  // scheduling alone (benchmarks/verification measures verification)
  double makespan = -1;
  {
    auto core = make_coordinator(dir.string(), clock, outbox, options);
    // Honest benchmarks: an op of 8,000 bytes takes op_ms × slowdown.
    const double bytes_per_op = 8.0 * kElements;
    for (std::size_t i = 0; i < slowdowns.size(); ++i) {
      const WorkerId id = i + 1;
      outbox.workers[id].slowdown = slowdowns[i];
      protocol::WorkerHello hello;
      hello.name = "sim";
      core->worker_connected(id, hello, false);
      const double gbs = bytes_per_op / (op_ms * slowdowns[i]) / 1e6;
      core->worker_message(id, protocol::encode(protocol::Benchmark{{1000.0, gbs, gbs, 1}}));
    }
    protocol::Submit submit;
    submit.request_id = 1;
    submit.name = "simulation";
    OpSpec x;
    x.id = "x";
    x.def = find_op("tensor");
    x.value = Tensor::from_vector<float>({kElements}, std::vector<float>(kElements, 0.5f));
    submit.ops.push_back(std::move(x));
    for (int i = 0; i < ops; ++i) {
      OpSpec n;
      n.id = "n" + std::to_string(i);
      n.def = find_op("neg");
      n.inputs = {"x"};
      submit.ops.push_back(std::move(n));
    }
    core->client_connected(1, "simulation");
    const double start = clock.t;
    core->client_message(1, protocol::encode(std::move(submit)));
    if (!outbox.graph_id) {
      std::fprintf(stderr, "simulation: submit refused: %s\n", outbox.submit_error.c_str());
      std::exit(1);
    }
    core->client_message(1, protocol::encode(protocol::Wait{2, outbox.graph_id, std::nullopt, false, false, std::nullopt}));
    double next_tick = clock.t + 50;
    while (outbox.done_at < 0 && !outbox.arrivals.empty()) {
      Arrival a = outbox.arrivals.top();
      outbox.arrivals.pop();
      for (; next_tick <= a.t; next_tick += 50) {
        clock.t = next_tick;
        core->tick();
      }
      clock.t = a.t;
      core->worker_message(a.worker, std::move(a.frame));
    }
    if (outbox.status != "computed") {
      std::fprintf(stderr, "simulation: the graph did not compute (status '%s')\n", outbox.status.c_str());
      std::exit(1);
    }
    makespan = outbox.done_at - start;
  }
  std::filesystem::remove_all(dir);
  return makespan;
}

std::string label(const std::vector<double>& slowdowns) {
  std::string s;
  for (double d : slowdowns) s += (s.empty() ? "" : "/") + std::to_string(static_cast<int>(d)) + "x";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const int ops = argc > 1 ? std::atoi(argv[1]) : 1000;
  const double op_ms = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (ops <= 0 || !(op_ms > 0)) {
    std::fprintf(stderr, "usage: corvid_scheduler_sim [ops > 0] [op_ms > 0]\n");
    return 2;
  }
  std::printf("Scheduler simulation: %d equal independent ops of %.3g ms on a 1x worker, %.1f ms one-way latency\n",
              ops, op_ms, kOneWayMs);
  std::printf("%-14s %12s %14s %8s %14s %8s %10s\n", "workers", "lower bound", "earliest-fin.", "xLB", "round-robin",
              "xLB", "RR/EFT");
  for (const auto& slowdowns : std::vector<std::vector<double>>{{1, 2, 4, 8}, {1, 4}, {1, 1, 1, 1}}) {
    double speed = 0;
    for (double s : slowdowns) speed += 1.0 / s;
    const double lower_bound = ops * op_ms / speed;
    const double eft = simulate(slowdowns, SchedulingPolicy::earliest_finish, ops, op_ms);
    const double rr = simulate(slowdowns, SchedulingPolicy::round_robin, ops, op_ms);
    std::printf("%-14s %10.1f ms %11.1f ms %7.2fx %11.1f ms %7.2fx %9.2fx\n", label(slowdowns).c_str(), lower_bound,
                eft, eft / lower_bound, rr, rr / lower_bound, rr / eft);
  }
  return 0;
}
