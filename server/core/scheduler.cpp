#include "server/core/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <unordered_set>

namespace corvid::server {

void SpeedModel::set_benchmark(double matmul_gflops, double elementwise_gbs) {
  // Claims beyond any real device are capped so that measurements can always correct them.
  flops_per_ms_ = (std::isfinite(matmul_gflops) && matmul_gflops > 0 ? std::min(matmul_gflops, 1e5) : 0.1) * 1e6;
  bytes_per_ms_ = (std::isfinite(elementwise_gbs) && elementwise_gbs > 0 ? std::min(elementwise_gbs, 1e4) : 0.1) * 1e6;
}

double SpeedModel::raw_ms(const Cost& cost, int ops) const {
  return std::max(cost.flops / flops_per_ms_, cost.bytes / bytes_per_ms_) + kPerOpMs * ops;
}

void SpeedModel::observe(double raw_estimate_ms, double measured_ms) {
  if (!(raw_estimate_ms > 0) || !std::isfinite(raw_estimate_ms) || !std::isfinite(measured_ms) || measured_ms < 0) return;
  // Measured and estimated times are averaged separately and the correction is their ratio, so
  // each sample counts by its size: a tiny group whose time is all overhead, or two replies that
  // arrived together (timed as one long and one near zero), cannot swing it far. A group timed
  // at 0 counts as 1 µs.
  measured_ms = std::max(measured_ms, 1e-3);
  if (samples_ == 0) {
    measured_avg_ms_ = measured_ms;
    raw_avg_ms_ = raw_estimate_ms;
  } else {
    measured_avg_ms_ = (1 - kAlpha) * measured_avg_ms_ + kAlpha * measured_ms;
    raw_avg_ms_ = (1 - kAlpha) * raw_avg_ms_ + kAlpha * raw_estimate_ms;
  }
  correction_ = std::clamp(measured_avg_ms_ / raw_avg_ms_, 1e-3, 1e7);
  ++samples_;
}

void SpeedModel::penalize(double factor) {
  correction_ = std::min(correction() * factor, 1e7);
  if (samples_ == 0) raw_avg_ms_ = 1;
  measured_avg_ms_ = correction_ * raw_avg_ms_;  // later samples average from the penalized speed
  samples_ = std::max(samples_, kSamplesBeforeTrust);
}

GroupPlan grow_group(const Graph& graph, const SpeedModel& speed, const GroupLimits& limits,
                     const std::function<bool(OpIndex)>& skip_seed, const std::function<bool(OpIndex)>& kept,
                     const std::function<bool(OpIndex)>& excluded) {
  GroupPlan plan;
  plan.graph = graph.id;
  std::unordered_set<OpIndex> in_group;
  std::unordered_set<OpIndex> external;
  auto full = [&] {
    return plan.ops.size() >= limits.max_ops || speed.estimate_ms(plan.cost, static_cast<int>(plan.ops.size())) >= limits.target_ms ||
           plan.input_bytes >= limits.max_input_bytes;
  };
  auto add = [&](OpIndex op) {
    const OpNode& node = graph.ops[op];
    in_group.insert(op);
    plan.ops.push_back(op);
    plan.cost.flops += node.cost.flops;
    plan.cost.bytes += node.cost.bytes;
    for (OpIndex in : node.inputs) {
      if (in_group.count(in) || !external.insert(in).second) continue;
      plan.external.push_back(in);
      if (!kept(in)) plan.input_bytes += value_bytes(graph.ops[in]);
    }
  };
  // Whether a pending op can join: all its inputs are available or already in the group.
  auto joinable = [&](OpIndex op) {
    const OpNode& node = graph.ops[op];
    if (node.status != OpStatus::pending || in_group.count(op) || (excluded && excluded(op))) return false;
    for (OpIndex in : node.inputs) {
      const OpNode& i = graph.ops[in];
      if (!in_group.count(in) && !(i.status == OpStatus::computed && i.has_value)) return false;
    }
    return true;
  };
  // A cheap op whose value is smaller than the group's values it consumes (sum(W @ W)).
  auto reduces = [&](OpIndex op) {
    const OpNode& node = graph.ops[op];
    double consumed = 0;
    for (OpIndex in : node.inputs)
      if (in_group.count(in)) consumed += value_bytes(graph.ops[in]);
    return value_bytes(node) < consumed &&
           speed.estimate_ms(node.cost, 1) < kReductionShareOfTarget * limits.target_ms;
  };
  for (auto seed = graph.ready.begin(); seed != graph.ready.end() && !full(); ++seed) {
    if (in_group.count(*seed) || skip_seed(*seed) || (excluded && excluded(*seed))) continue;
    if (!plan.ops.empty() &&
        speed.estimate_ms(plan.cost, static_cast<int>(plan.ops.size())) >= limits.new_part_below_ms)
      break;
    std::deque<OpIndex> frontier;
    add(*seed);
    frontier.push_back(*seed);
    while (!frontier.empty()) {
      const OpIndex op = frontier.front();
      frontier.pop_front();
      for (OpIndex dep : graph.ops[op].dependents) {
        if (!joinable(dep)) continue;
        // Once the group is full, only a cheap reduction of a value made here still joins: left
        // out, it would cost that value's trip back and a group of its own.
        if (full() && !(plan.ops.size() < limits.max_ops && reduces(dep))) continue;
        add(dep);
        frontier.push_back(dep);
      }
    }
  }
  for (OpIndex op : plan.ops) {
    const OpNode& node = graph.ops[op];
    bool needed_outside = node.requested || node.dependents.empty();
    for (OpIndex dep : node.dependents)
      if (!in_group.count(dep)) needed_outside = true;
    if (needed_outside) plan.outputs.push_back(op);
  }
  plan.raw_ms = speed.raw_ms(plan.cost, static_cast<int>(plan.ops.size()));
  return plan;
}

double finish_ms(const WorkerLoad& w, const GroupPlan& plan, double input_bytes, double now_ms, const LinkModel& link) {
  return std::max(now_ms, w.busy_until_ms) + link.transfer_ms(input_bytes) +
         w.speed->estimate_ms(plan.cost, static_cast<int>(plan.ops.size())) + link.latency_ms;
}

double drain_ms(const FleetRates& fleet, const Cost& ready, int ops) {
  if (!fleet.workers) return 0.0;
  return std::max(ready.flops / fleet.flops_per_ms, ready.bytes / fleet.bytes_per_ms) +
         SpeedModel::kPerOpMs * ops / static_cast<double>(fleet.workers);
}

bool finishes_sooner(const WorkerLoad& other, const GroupPlan& plan, double input_bytes, double now_ms,
                     const LinkModel& link, double mine_ms) {
  return finish_ms(other, plan, input_bytes, now_ms, link) - now_ms < mine_ms * kSoonerMargin;
}

}  // namespace corvid::server
