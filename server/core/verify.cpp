// `--verify replicate` (see verification.hpp and docs/server-core.md): a group's result is a
// candidate until a result from a distinct worker agrees with it, or the server's own kernel
// (authoritative) settles it; its ops stay running meanwhile. On disagreement more replicas run
// until two results agree, up to CoordinatorOptions::verify_cap results, then the ops fail.
#include <algorithm>
#include <optional>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

namespace {

std::string who(WorkerId worker) { return worker ? "worker " + std::to_string(worker) : "the server's own kernel"; }

std::string what(const Check& c, GroupId group) {
  return "graph " + std::to_string(c.graph) + " group " + std::to_string(group);
}

}  // namespace

void CoordinatorImpl::verify_result(WorkerState& w, Graph& graph, const GroupRecord& done,
                                    std::vector<NamedTensor> outputs) {
  touched(graph.id);
  if (done.check) {
    Check* check = checks_.find(done.check);
    if (!check) return;  // settled already (a late replica)
    if (check->replica == done.id) check->replica = 0;
    check->results.push_back({w.id, done.id, std::move(outputs)});
    return decide(*check);
  }
  // A first result: its ops that are not final yet stay running, held by a new check.
  const std::vector<OpIndex>& ops = done.ops;
  const auto final = [&](OpIndex op) { return is_final(graph.ops[op].status); };
  const auto held = [&](OpIndex op) { return checks_.holds(graph.id, op); };
  // Some ops were finished (cancelled, settled) or are being verified from another result: the
  // replicas could not compute the same group; the other ops are computed again.
  if (std::any_of(ops.begin(), ops.end(), final) || std::any_of(ops.begin(), ops.end(), held))
    return release_ops(graph, ops);
  std::set<OpIndex> in_group(ops.begin(), ops.end());
  std::vector<OpIndex> external;
  Cost cost;
  for (OpIndex op : ops) {
    cost.flops += graph.ops[op].cost.flops;
    cost.bytes += graph.ops[op].cost.bytes;
    for (OpIndex in : graph.ops[op].inputs)
      if (!in_group.count(in) && std::find(external.begin(), external.end(), in) == external.end()) external.push_back(in);
  }
  Check& check = checks_.open(graph.id, ops, done.outputs, external, cost);
  check.results.push_back({w.id, done.id, std::move(outputs)});
  check.workers.insert(w.id);
  std::set<GroupId> others;
  for (OpIndex op : ops) {
    // After a deadline the ops may have gone back to pending: the check runs them now.
    if (graph.ops[op].status == OpStatus::pending) apply_changes(graph, graph.set_status(op, OpStatus::running));
    others.insert(graph.ops[op].groups.begin(), graph.ops[op].groups.end());
  }
  // Other groups computing these ops (after a deadline) are redundant: replicas are the check's.
  for (GroupId other : others) cancel_group(other);
}

void CoordinatorImpl::release_ops(Graph& graph, const std::vector<OpIndex>& ops) {
  for (OpIndex op : ops) {
    const OpNode& node = graph.ops[op];
    if (node.status == OpStatus::running && node.groups.empty() && !checks_.holds(graph.id, op))
      apply_changes(graph, graph.set_status(op, OpStatus::pending));
  }
  for (OpIndex op : ops) graph.refresh_ready(op);
  touched(graph.id);
}

void CoordinatorImpl::abandon(Check& check, Graph& graph) {
  const std::vector<OpIndex> ops = check.ops;
  checks_.close(check.id);
  release_ops(graph, ops);
}

void CoordinatorImpl::decide(Check& check) {
  auto g = graphs_.find(check.graph);
  if (g == graphs_.end()) return checks_.close(check.id);
  Graph& graph = g->second;
  touched(graph.id);
  const auto& results = check.results;
  std::map<std::pair<int, int>, Comparison> compared;
  auto comparison = [&](int i, int j) -> const Comparison& {
    const auto key = std::minmax(i, j);
    auto it = compared.find(key);
    if (it == compared.end()) it = compared.emplace(key, compare_results(graph, results[i].outputs, results[j].outputs)).first;
    return it->second;
  };
  std::vector<bool> authoritative;
  for (const auto& r : results) authoritative.push_back(r.worker == 0);
  const Verdict verdict =
      majority(authoritative, [&](int i, int j) { return comparison(i, j).agree; }, options_.verify_cap);
  const int latest = static_cast<int>(results.size()) - 1;
  if (verdict.kind == Verdict::need_more) {
    if (latest > 0) {
      ++stats_.totals.disagreements;
      event("disagreement", what(check, results[latest].group) + ": " + who(results[latest].worker) + " and " +
                                who(results[0].worker) + " disagree (" + comparison(0, latest).describe() +
                                "); another replica runs");
    }
    return;  // check.replica is 0: dispatch_replicas starts the next one
  }
  if (verdict.kind == Verdict::fail) {
    // Every pair disagrees: name the largest difference against the first result.
    const Comparison* worst = &comparison(0, 1);
    for (int i = 2; i <= latest; ++i)
      if (comparison(0, i).disagreement.difference > worst->disagreement.difference) worst = &comparison(0, i);
    std::string workers;
    for (const auto& r : results) workers += (workers.empty() ? "" : ", ") + std::to_string(r.worker);
    const std::string error = "results disagree: " + std::to_string(results.size()) + " results of graph " +
                              std::to_string(graph.id) + " from workers " + workers +
                              " never agreed; " + worst->describe();
    ++stats_.totals.verification_failed;
    event("unverified", error);
    const std::vector<OpIndex> ops = check.ops;
    checks_.close(check.id);
    for (OpIndex op : ops)
      if (!is_final(graph.ops[op].status)) fail_op(graph, op, error);
    return;
  }
  for (int wrong : verdict.wrong) blame(check, results[wrong], results[verdict.accepted], comparison(wrong, verdict.accepted));
  Candidate accepted = std::move(check.results[verdict.accepted]);
  const std::vector<OpIndex> ops = check.ops;
  checks_.close(check.id);
  ++stats_.totals.groups_verified;
  const uint64_t computed = apply_result(graph, ops, accepted.outputs, {}, nullptr);
  if (WorkerState* w = fleet_.find(accepted.worker)) w->ops_done += computed;
}

void CoordinatorImpl::blame(const Check& check, const Candidate& wrong, const Candidate& right, const Comparison& how) {
  ++stats_.totals.results_wrong;
  if (WorkerState* w = fleet_.find(wrong.worker)) {
    ++w->failures;
    w->kept.clear();  // its copies of values are not to be relied on
  }
  event("wrong", who(wrong.worker) + "'s result of " + what(check, wrong.group) + " was wrong against " +
                     who(right.worker) + ": " + how.describe());
}

void CoordinatorImpl::replica_lost(const GroupRecord& group) {
  Check* check = checks_.find(group.check);
  if (!check || check->replica != group.id) return;
  check->replica = 0;
  touched(check->graph);
}

void CoordinatorImpl::dispatch_replicas() {
  for (Check* check : checks_.waiting()) {
    auto g = graphs_.find(check->graph);
    if (g == graphs_.end()) {
      checks_.close(check->id);
      continue;
    }
    Graph& graph = g->second;
    if (std::any_of(check->ops.begin(), check->ops.end(), [&](OpIndex op) { return is_final(graph.ops[op].status); })) {
      // Some ops were cancelled by the developer, or settled by the server's kernel after a
      // replica's kernel error: a replica can no longer compute the group as it was.
      abandon(*check, graph);
      continue;
    }
    std::vector<WorkerLoad> loads;
    WorkerState* best = nullptr;
    for (WorkerState* w : fleet_.eligible(options_.max_in_flight_per_worker, loads)) {
      if (w->suspect || check->workers.count(w->id) ||
          static_cast<int>(w->in_flight.size()) >= options_.max_in_flight_per_worker)
        continue;
      if (!best || w->speed.estimate_ms(check->cost, 1) < best->speed.estimate_ms(check->cost, 1)) best = w;
    }
    if (best) {
      GroupPlan plan;
      plan.graph = graph.id;
      plan.ops = check->ops;
      plan.outputs = check->outputs;
      plan.external = check->external;
      plan.cost = check->cost;
      plan.raw_ms = best->speed.raw_ms(plan.cost, static_cast<int>(plan.ops.size()));
      if (assign(*best, graph, plan, check->id)) {
        check->replica = best->in_flight.back();
        check->workers.insert(best->id);
      }
    } else if (!fleet_.someone_else(check->workers)) {
      start_server_replica(*check, graph);  // a fleet of one: the server gives the second opinion
    }
  }
}

void CoordinatorImpl::start_server_replica(Check& check, Graph& graph) {
  std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> inputs;
  for (OpIndex in : check.external) {
    auto value = value_of(graph, in);
    if (!value) {
      // An input's value is lost: the group starts over once it is computed again.
      abandon(check, graph);
      return ensure_value(graph, in);
    }
    inputs.emplace_back(in, std::move(value));
  }
  GroupRecord rec;
  rec.graph = graph.id;
  rec.ops = check.ops;
  rec.outputs = check.outputs;
  rec.check = check.id;
  check.replica = compute_on_server(std::move(rec), inputs);
  check.server_replica = true;
  ++stats_.totals.server_replicas;
  event("verifying", "no other worker for graph " + std::to_string(graph.id) + " (" + std::to_string(check.ops.size()) +
                         " op(s)): the server's own kernel computes the second opinion");
}

void CoordinatorImpl::server_replica_done(const GroupRecord& job, Frame reply) {
  Check* check = checks_.find(job.check);
  auto g = graphs_.find(job.graph);
  if (!check || g == graphs_.end()) return settle();
  Graph& graph = g->second;
  check->replica = 0;
  check->server_replica = false;
  std::string problem;
  if (protocol::type_of(reply) == protocol::Result::kType) {
    protocol::Result result = protocol::decode<protocol::Result>(std::move(reply));
    problem = result_problem(graph, job, result.outputs);
    if (problem.empty()) {
      check->results.push_back({0, job.id, std::move(result.outputs)});
      decide(*check);
      return settle();
    }
  } else {
    problem = protocol::decode<protocol::WorkerError>(std::move(reply)).error;
  }
  // The server's kernel is the reference: what it cannot compute fails.
  const std::string error = "the server's own kernel could not verify the result: " + problem;
  event("kernel", "graph " + std::to_string(graph.id) + ": " + error);
  const std::vector<OpIndex> ops = check->ops;
  checks_.close(check->id);
  for (OpIndex op : ops)
    if (!is_final(graph.ops[op].status)) fail_op(graph, op, error);
  settle();
}

}  // namespace corvid::server
