// Scheduling (see coordinator_impl.hpp): which worker gets which ready ops next, in groups sized
// for it, and the assign that hands them over.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {
namespace {

// Whether w's mirror holds op's value (no name is built for a worker that keeps nothing).
bool kept_on(const WorkerState& w, const Graph& graph, OpIndex op) {
  return !w.kept.empty() && w.kept.has(graph.wire_name(op));
}

}  // namespace

double CoordinatorImpl::input_bytes_on(const WorkerState& w, const GroupPlan& plan) const {
  const Graph& graph = graphs_.at(plan.graph);
  double bytes = 0;
  for (OpIndex in : plan.external) {
    if (kept_on(w, graph, in)) continue;
    bytes += value_bytes(graph.ops[in]);
  }
  return bytes;
}

void CoordinatorImpl::dispatch() {
  if (!checks_.empty()) dispatch_replicas();  // replicas before new work
  // Most calls (a heartbeat, a result that wakes nothing) find nothing to do: that costs
  // neither the number of graphs nor the number of workers.
  if (!fleet_.benchmarked() || !has_ready_work()) return;
  for (;;) {
    bool assigned = false;
    if (options_.policy == SchedulingPolicy::round_robin) {
      // The baseline: workers take turns in a fixed order, whatever their speed (a fleet scan).
      std::vector<WorkerLoad> loads;
      const std::vector<WorkerState*> eligible = fleet_.eligible(options_.max_in_flight_per_worker, loads);
      WorkerState& w = fleet_.in_turn(eligible);
      if (static_cast<int>(w.in_flight.size()) >= options_.max_in_flight_per_worker) return;
      WorkerState* sooner = nullptr;
      assigned = try_assign(w, ready_work(), sooner);
      if (assigned) fleet_.next_turn();
    } else {
      // Fastest free workers first; each takes a group only if nobody would finish it sooner.
      // Where the fastest free workers must wait for a busy faster one, slower ones would wait
      // too: only the first few are asked, so idle workers cost nothing here. "Fastest" is for
      // a unit of work; for a given group another free worker may be sooner (a roofline or a
      // learned correction ranks it differently): the one a candidate waits for is asked next.
      const ReadyWork ready = ready_work();
      std::vector<WorkerState*> candidates = fleet_.free_fastest_first(kDispatchCandidates);
      std::set<WorkerId> asked;
      WorkerState* waited_for_free = nullptr;  // the first candidate that left its group to a free worker
      WorkerState* sooner = nullptr;
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (!asked.insert(candidates[i]->id).second) continue;
        sooner = nullptr;
        if ((assigned = try_assign(*candidates[i], ready, sooner))) break;
        if (sooner && fleet_.load_of(*sooner).has_free_slot) {
          if (!waited_for_free) waited_for_free = candidates[i];
          candidates.insert(candidates.begin() + static_cast<std::ptrdiff_t>(i) + 1, sooner);
        }
      }
      // The free workers it waited for took nothing (each grows its own group from the tensors
      // it keeps, and two can each find the other sooner): waiting would stall with nothing in
      // flight, so it takes its group after all.
      if (!assigned && waited_for_free) assigned = try_assign(*waited_for_free, ready, sooner, /*may_wait=*/false);
    }
    if (!assigned) return;
  }
}

bool CoordinatorImpl::has_ready_work() const { return !ready_graphs_.empty(); }

CoordinatorImpl::ReadyWork CoordinatorImpl::ready_work() {
  ReadyWork ready;
  std::map<std::string_view, std::vector<Graph*>, std::less<>> by_owner;  // graphs with ready ops, in id order
  for (auto& [id, g] : ready_graphs_) {
    by_owner[g->owner].push_back(g);
    ready.cost.flops += g->ready_cost.flops;
    ready.cost.bytes += g->ready_cost.bytes;
    ready.ops += static_cast<int>(g->ready.size());
  }
  std::vector<Graph*>& order = ready.order;
  order.reserve(ready_graphs_.size());
  // Developers take turns, starting after the one served last; each developer's graphs take
  // turns too, starting after that developer's graph served last.
  auto owner = by_owner.upper_bound(owner_cursor_);
  for (std::size_t n = 0; n < by_owner.size(); ++n, ++owner) {
    if (owner == by_owner.end()) owner = by_owner.begin();
    const std::vector<Graph*>& graphs = owner->second;
    const GraphId last = graph_cursor_[std::string(owner->first)];
    const auto first = std::upper_bound(graphs.begin(), graphs.end(), last,
                                        [](GraphId id, const Graph* g) { return id < g->id; });
    order.insert(order.end(), first, graphs.end());
    order.insert(order.end(), graphs.begin(), first);
  }
  return ready;
}

bool CoordinatorImpl::try_assign(WorkerState& w, const ReadyWork& ready, WorkerState*& sooner, bool may_wait) {
  const bool alternatives = fleet_.benchmarked() > 1;
  for (Graph* candidate : ready.order) {
    Graph& graph = *candidate;
    // The round-robin baseline sizes groups for an average worker, not for the one it gives them to.
    const SpeedModel sizing = options_.policy == SchedulingPolicy::round_robin ? fleet_.average_speed() : w.speed;
    GroupLimits group_limits;
    group_limits.target_ms = options_.target_group_ms;
    if (options_.policy == SchedulingPolicy::earliest_finish) {
      // This worker's fair share of the ready work: independent parts beyond it are left for
      // the other free workers, so a map job's slices run side by side, not all on one worker.
      const std::size_t free_workers = fleet_.free_trusted();
      if (free_workers > 1)
        group_limits.new_part_below_ms =
            w.speed.estimate_ms(graph.ready_cost, static_cast<int>(graph.ready.size())) / static_cast<double>(free_workers);
    }
    GroupPlan plan = grow_group(
        graph, sizing, group_limits,
        [&](OpIndex op) { return alternatives && graph.ops[op].avoid_worker == w.id; },
        [&](OpIndex op) { return kept_on(w, graph, op); },
        [&](OpIndex op) { return reported_by(graph, op, w.id); });
    if (plan.empty()) continue;
    plan.raw_ms = w.speed.raw_ms(plan.cost, static_cast<int>(plan.ops.size()));
    if (options_.policy == SchedulingPolicy::earliest_finish) {
      // While there is more ready work than the fleet can finish before this worker would be
      // done, every worker helps; in the tail, a group waits for a busy worker that would
      // finish it sooner.
      const double t = now();  // one reading for every worker compared
      const double mine = finish_ms(fleet_.load_of(w), plan, input_bytes_on(w, plan), t, link_) - t;
      if (may_wait && mine > drain_ms(fleet_.rates(), ready.cost, ready.ops)) {
        const bool disputed = !disputes_.empty();
        sooner = fleet_.first_faster(
            plan.cost, static_cast<int>(plan.ops.size()), link_.latency_ms, mine * kSoonerMargin,
            [&](const WorkerState& other) {
              if (other.id == w.id) return false;
              // A worker that may not take these ops (it reported a disputed kernel error for
              // one of them) is no better place to wait for.
              if (disputed && std::any_of(plan.ops.begin(), plan.ops.end(),
                                          [&](OpIndex op) { return reported_by(graph, op, other.id); }))
                return false;
              return finishes_sooner(fleet_.load_of(other), plan, input_bytes_on(other, plan), t, link_, mine);
            });
        if (sooner) return false;
      }
    }
    owner_cursor_ = graph.owner;
    graph_cursor_[graph.owner] = graph.id;
    return assign(w, graph, plan);
  }
  return false;
}

bool CoordinatorImpl::assign(WorkerState& w, Graph& graph, const GroupPlan& plan, uint64_t check) {
  // Gather the input values first: one missing from the store means computing it again.
  std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> inputs;
  for (OpIndex in : plan.external) {
    if (kept_on(w, graph, in)) continue;
    auto value = value_of(graph, in);
    if (!value) {
      ensure_value(graph, in);
      return false;
    }
    inputs.emplace_back(in, std::move(value));
  }
  const GroupId gid = groups_.next_id();
  GroupRecord rec;
  rec.id = gid;
  rec.worker = w.id;
  rec.graph = graph.id;
  rec.check = check;
  rec.ops = plan.ops;
  rec.outputs = plan.outputs;
  rec.raw_ms = plan.raw_ms;
  rec.sent_ms = now();
  for (const auto& [in, value] : inputs) rec.input_bytes += static_cast<double>(value->nbytes());
  const double input_bytes = input_bytes_on(w, plan);
  const double start = std::max(now(), w.busy_until_ms);
  const double finish = start + link_.transfer_ms(input_bytes) +
                        w.speed.estimate_ms(plan.cost, static_cast<int>(plan.ops.size())) + link_.latency_ms;
  rec.estimate_ms = finish - start;
  rec.deadline_ms = now() + std::max(options_.deadline_floor_ms, options_.deadline_slack * (finish - now()));
  w.busy_until_ms = finish;

  std::set<OpIndex> in_group(plan.ops.begin(), plan.ops.end());
  protocol::Assign assign;
  assign.group_id = gid;
  for (OpIndex op : plan.ops) {
    assign.ops.push_back(graph.wire_op(op));
    apply_changes(graph, graph.set_status(op, OpStatus::running));
    graph.ops[op].groups.push_back(gid);
  }
  for (OpIndex op : plan.outputs) {
    assign.outputs.push_back(graph.wire_name(op));
    // Outputs that later groups consume may be consumed on this worker: keep them there.
    bool consumed_later = false;
    for (OpIndex dep : graph.ops[op].dependents) consumed_later = consumed_later || !in_group.count(dep);
    if (consumed_later) {
      assign.keep.push_back(graph.wire_name(op));
      rec.kept_outputs.push_back(op);
    }
  }
  for (OpIndex in : plan.external) {
    const std::string name = graph.wire_name(in);
    if (w.kept.has(name)) {
      w.kept.touch(name);
      rec.relied_on_kept = true;
      continue;
    }
    // Tensors with several consumers (model weights, shared operands) stay on the worker.
    if (graph.ops[in].dependents.size() > 1) {
      assign.keep.push_back(name);
      w.kept.add(name, value_bytes(graph.ops[in]));
      rec.kept_inputs.push_back(name);
    }
  }
  for (auto& [in, value] : inputs) assign.inputs.push_back({graph.wire_name(in), *value});
  w.in_flight.push_back(gid);
  fleet_.reindex(w);
  groups_.add(std::move(rec));
  touched(graph.id);
  outbox_.send_to_worker(w.id, protocol::encode(std::move(assign)));
  return true;
}

}  // namespace corvid::server
