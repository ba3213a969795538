// Scheduling policy, pure and clock-free: the speed model of a worker, op-group formation from
// a graph's ready frontier, and the choice of worker by earliest estimated finish time.
#pragma once

#include <limits>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "server/core/graph.hpp"

namespace corvid::server {

// How fast one worker computes, from its benchmark and then from measured group timings.
// A group's compute time is estimated as the sum over its ops of max(flops / flop rate,
// bytes / memory rate) plus a small per-op overhead (a roofline), times a correction factor
// learned once there are a few samples: the ratio of exponentially weighted averages of the
// measured and the estimated times (so that samples count by their size).
class SpeedModel {
 public:
  static constexpr double kPerOpMs = 0.002;       // dispatch overhead of one op in a kernel call
  static constexpr int kSamplesBeforeTrust = 3;   // measured timings replace the benchmark after these
  static constexpr double kAlpha = 0.3;           // weight of the newest measurement

  // From the Participate benchmark; non-positive numbers are replaced by a slow default and
  // claims beyond 100 TFLOPS or 10 TB/s are capped.
  void set_benchmark(double matmul_gflops, double elementwise_gbs);
  // Estimated compute time of `cost` split over `ops` ops, before the correction.
  double raw_ms(const Cost& cost, int ops) const;
  // Estimated compute time with the learned correction.
  double estimate_ms(const Cost& cost, int ops) const { return raw_ms(cost, ops) * correction(); }
  // Records a group that took `measured_ms` where raw_ms estimated `raw_estimate_ms`.
  void observe(double raw_estimate_ms, double measured_ms);
  // After a missed deadline: the worker is at least `factor` times slower than believed.
  void penalize(double factor);
  double correction() const { return samples_ >= kSamplesBeforeTrust ? correction_ : 1.0; }
  int samples() const { return samples_; }
  double benchmark_gflops() const { return flops_per_ms_ / 1e6; }
  // The matmul rate the measurements imply.
  double measured_gflops() const { return benchmark_gflops() / correction(); }

 private:
  double flops_per_ms_ = 1e6;  // 1 GFLOPS until a benchmark arrives
  double bytes_per_ms_ = 1e6;  // 1 GB/s
  double correction_ = 1.0;
  double measured_avg_ms_ = 0, raw_avg_ms_ = 0;  // weighted averages over the samples
  int samples_ = 0;
};

// Transfer model shared by every worker: WebSocket bandwidth and per-group round trip.
struct LinkModel {
  double bytes_per_ms = 5e5;  // 500 MB/s on loopback-class links
  double latency_ms = 0.3;
  double transfer_ms(double bytes) const { return bytes / bytes_per_ms; }
};

// A candidate op group: ops in topological order, which of them go back to the server, and
// the tensors it needs from outside.
struct GroupPlan {
  GraphId graph = 0;
  std::vector<OpIndex> ops;
  std::vector<OpIndex> outputs;         // ops whose values must come back
  std::vector<OpIndex> external;        // inputs computed earlier (values on the server)
  Cost cost;                            // summed over the ops
  double raw_ms = 0;                    // SpeedModel::raw_ms of the worker it was sized for
  double input_bytes = 0;               // of the external tensors the worker does not keep
  bool empty() const { return ops.empty(); }
};

// Limits of one group.
struct GroupLimits {
  double target_ms = 20;               // stop growing once the estimate on the worker reaches this
  std::size_t max_ops = 4096;
  double max_input_bytes = 64e6;       // leave room under the frame cap
  // A further independent part (another seed of the ready frontier) joins only while the group's
  // estimate is below this: with several free workers, independent slices spread across them.
  double new_part_below_ms = std::numeric_limits<double>::infinity();
};

// A dependent that reduces a group's value (its own value is smaller than the group's values it
// consumes) joins a full group while its estimate is below this share of the target.
constexpr double kReductionShareOfTarget = 0.25;

// Grows a group on `graph` for a worker with speed `speed`: seeds are taken from the ready
// frontier in submission order (skipping those `skip_seed` rejects), and each seed's pending
// dependents join as soon as all their inputs are available or inside the group, so
// intermediates stay on the worker; once the group is full, only cheap reductions of its values
// still join (kReductionShareOfTarget). When a connected part is exhausted below the target, the
// next ready op seeds another part of the same group. `kept(op)` says whether the worker already
// holds op's value (it then does not count towards input bytes). Ops that `excluded` names never
// join, neither as seeds nor as dependents (a kernel error this worker reported is disputed).
// Outputs are the ops that are requested, have no dependents, or have a dependent outside the group.
GroupPlan grow_group(const Graph& graph, const SpeedModel& speed, const GroupLimits& limits,
                     const std::function<bool(OpIndex)>& skip_seed, const std::function<bool(OpIndex)>& kept,
                     const std::function<bool(OpIndex)>& excluded = {});

// What the finish-time rule needs to know about one worker.
struct WorkerLoad {
  uint64_t id = 0;
  const SpeedModel* speed = nullptr;
  double busy_until_ms = 0;  // when its groups in flight are estimated to be done
  bool has_free_slot = false;
};

// Estimated finish of a group of `plan`'s size on a worker:
// max(now, busy_until) + input transfer + compute + latency.
double finish_ms(const WorkerLoad& w, const GroupPlan& plan, double input_bytes, double now_ms, const LinkModel& link);

// The summed speed of the workers counted on (benchmarked, not suspect): Σ flop and byte rates.
struct FleetRates {
  double flops_per_ms = 0, bytes_per_ms = 0;
  std::size_t workers = 0;
};

// Time the whole fleet would need for `ready` (cost of `ops` ready ops) if it were split
// perfectly over the workers' summed flop and byte rates, the per-op overhead shared among them.
// A group a worker can finish within this horizon cannot delay the end of the known work,
// whoever else would be faster. 0 without workers.
double drain_ms(const FleetRates& fleet, const Cost& ready, int ops);

// The earliest-finish-time rule for one other worker: true when `other` (busy or free) would
// finish `plan`, with `input_bytes` to send it, clearly earlier than `mine_ms` from now (the
// candidate's finish). Ties and gains under 2% go to the candidate, so it does not idle for a
// negligible gain. A busy worker that finishes sooner makes the candidate wait: this keeps slow
// workers from taking the last groups of a run.
bool finishes_sooner(const WorkerLoad& other, const GroupPlan& plan, double input_bytes, double now_ms,
                     const LinkModel& link, double mine_ms);
// The margin of finishes_sooner: another worker must finish within this fraction of mine_ms.
constexpr double kSoonerMargin = 0.98;

}  // namespace corvid::server
