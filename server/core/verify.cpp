// `--verify replicate|adaptive` (see verification.hpp and docs/design.md): a group's result is a
// candidate until a result from a distinct worker agrees with it, or the server's own kernel
// (authoritative) settles it; its ops stay running meanwhile. On disagreement the server's kernel
// breaks the tie within its budget, else more replicas run until two results agree, up to
// CoordinatorOptions::verify_cap results, then the ops fail. Under `adaptive` a trusted worker's
// result is taken alone with the probability its record earned (TrustTable); spot checks send a
// sample of accepted groups to the server's kernel first; repeated proven-wrong results
// quarantine a worker.
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

bool CoordinatorImpl::draw(double p) {
  if (p >= 1) return true;
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

bool CoordinatorImpl::spot_check_due() {
  return options_.spot_check_budget > 0 && budget_.allows(now()) && draw(options_.spot_check_rate);
}

CoordinatorImpl::Verification CoordinatorImpl::verification_for(const Graph& graph, const WorkerState& w) {
  const VerifyPolicy policy = policy_of(graph);
  if (policy == VerifyPolicy::off) return Verification::none;
  if (policy == VerifyPolicy::adaptive) {
    const TrustRecord* r = trust_.of(w.id);
    if (!r || draw(trust_.replication_probability(*r))) return Verification::replicate;
    return spot_check_due() ? Verification::spot_check : Verification::none;
  }
  return Verification::replicate;
}

std::vector<OpIndex> CoordinatorImpl::external_inputs(const Graph& graph, const std::vector<OpIndex>& ops) const {
  std::set<OpIndex> in_group(ops.begin(), ops.end());
  std::vector<OpIndex> external;
  for (OpIndex op : ops)
    for (OpIndex in : graph.ops[op].inputs)
      if (!in_group.count(in) && std::find(external.begin(), external.end(), in) == external.end()) external.push_back(in);
  return external;
}

void CoordinatorImpl::verify_result(WorkerState& w, Graph& graph, const GroupRecord& done,
                                    std::vector<NamedTensor> outputs, Verification how) {
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
  Cost cost;
  for (OpIndex op : ops) {
    cost.flops += graph.ops[op].cost.flops;
    cost.bytes += graph.ops[op].cost.bytes;
  }
  Check& check = checks_.open(graph.id, ops, done.outputs, external_inputs(graph, ops), cost);
  check.results.push_back({w.id, done.id, std::move(outputs)});
  check.workers.insert(w.id);
  if (!w.device.empty()) check.devices.insert(w.device);
  std::set<GroupId> others;
  for (OpIndex op : ops) {
    // After a deadline the ops may have gone back to pending: the check runs them now.
    if (graph.ops[op].status == OpStatus::pending) apply_changes(graph, graph.set_status(op, OpStatus::running));
    others.insert(graph.ops[op].groups.begin(), graph.ops[op].groups.end());
  }
  // Other groups computing these ops (after a deadline) are redundant: replicas are the check's.
  for (GroupId other : others) cancel_group(other);
  if (how == Verification::spot_check) {
    check.spot_checked = check.server_next = true;
    ++graph.verification.spot_checked;
    return;
  }
  ++graph.verification.replicated;
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
      ++graph.verification.disagreements;
      // The server's kernel settles a disagreement when its budget allows; else another worker.
      check.server_next = !check.spot_checked && options_.spot_check_budget > 0 && budget_.allows(now());
      if (check.server_next) {
        check.spot_checked = true;
        ++graph.verification.spot_checked;
      }
      event("disagreement", what(check, results[latest].group) + ": " + who(results[latest].worker) + " and " +
                                who(results[0].worker) + " disagree (" + comparison(0, latest).describe() + "); " +
                                (check.server_next ? "the server's own kernel settles it" : "another replica runs"));
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
  // Spot check: workers that agree may agree on the same wrong values; a sample of accepted
  // groups waits for the server's kernel first.
  if (!authoritative[verdict.accepted] && !check.spot_checked && spot_check_due()) {
    check.spot_checked = check.server_next = true;
    ++graph.verification.spot_checked;
    return;  // dispatch_replicas hands it to the server's kernel
  }
  std::vector<WorkerId> to_quarantine;
  for (int wrong : verdict.wrong)
    if (blame(check, results[wrong], results[verdict.accepted], comparison(wrong, verdict.accepted)))
      to_quarantine.push_back(results[wrong].worker);
  std::vector<WorkerId> agreed;  // the workers whose results were right: each is credited (as BOINC does)
  for (int i = 0; i < static_cast<int>(results.size()); ++i)
    if (results[i].worker && std::find(verdict.wrong.begin(), verdict.wrong.end(), i) == verdict.wrong.end()) {
      trust_.verified(results[i].worker);
      agreed.push_back(results[i].worker);
    }
  Candidate accepted = std::move(check.results[verdict.accepted]);
  const std::vector<OpIndex> ops = check.ops;
  checks_.close(check.id);
  ++stats_.totals.groups_verified;
  const uint64_t computed = apply_result(graph, ops, accepted.outputs, {}, nullptr);
  for (WorkerId worker : agreed)
    if (WorkerState* w = fleet_.find(worker)) w->ops_done += computed;
  for (WorkerId worker : to_quarantine) quarantine(worker);
}

bool CoordinatorImpl::blame(const Check& check, const Candidate& wrong, const Candidate& right, const Comparison& how) {
  ++stats_.totals.results_wrong;
  if (auto g = graphs_.find(check.graph); g != graphs_.end()) ++g->second.verification.wrong;
  if (WorkerState* w = fleet_.find(wrong.worker)) {
    ++w->failures;
    w->kept.clear();  // its copies of values are not to be relied on
  }
  event("wrong", who(wrong.worker) + "'s result of " + what(check, wrong.group) + " was wrong against " +
                     who(right.worker) + ": " + how.describe());
  return trust_.proven_wrong(wrong.worker,
                             Evidence{check.graph, wrong.group, how.op_id, how.disagreement.difference, how.describe()});
}

void CoordinatorImpl::quarantine(WorkerId worker) {
  const TrustRecord* r = trust_.of(worker);
  if (!r) return;
  ++stats_.totals.quarantines;
  if (auto g = graphs_.find(r->evidence.graph); g != graphs_.end()) ++g->second.verification.quarantines;
  event("quarantine", "worker " + std::to_string(worker) + " (" + r->identity + ") quarantined after " +
                          std::to_string(r->wrong) + " wrong results; last: graph " + std::to_string(r->evidence.graph) +
                          " group " + std::to_string(r->evidence.group) + ", " + r->evidence.detail);
  isolate(worker);
}

void CoordinatorImpl::isolate(WorkerId worker) {
  const TrustRecord* r = trust_.of(worker);
  if (!r) return;
  const std::string identity = r->identity;
  // It gets no work, and what it holds or answered and is not verified yet is discarded.
  if (WorkerState* w = fleet_.find(worker)) {
    w->quarantined = true;
    const std::vector<GroupId> in_flight = w->in_flight;
    for (GroupId g : in_flight) cancel_group(g);
    fleet_.reindex(*w);  // out of the indexes dispatch picks from
  }
  std::vector<CheckId> emptied;
  for (auto& [id, check] : checks_.all()) {
    auto& results = check.results;
    results.erase(std::remove_if(results.begin(), results.end(), [&](const Candidate& c) { return c.worker == worker; }),
                  results.end());
    if (results.empty() && !check.replica) emptied.push_back(id);
  }
  for (CheckId id : emptied) {
    Check* check = checks_.find(id);
    auto g = graphs_.find(check->graph);
    if (g == graphs_.end()) checks_.close(id);
    else abandon(*check, g->second);
  }
  // What it delivered unreplicated (the last kUnverifiedMemory groups) is computed again by the
  // server's own kernel and compared (recheck_done).
  int rechecks = 0, skipped = 0;
  for (Unverified& u : trust_.take_unverified(worker)) {
    auto g = graphs_.find(u.graph);
    if (g == graphs_.end()) {
      ++skipped;
      continue;
    }
    std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> inputs;
    bool complete = true;
    for (OpIndex in : u.external) {
      auto value = value_of(g->second, in);
      if (!value) complete = false;
      inputs.emplace_back(in, std::move(value));
    }
    if (!complete) {
      ++skipped;
      continue;
    }
    GroupRecord rec;
    rec.graph = u.graph;
    rec.ops = u.ops;
    rec.outputs = u.outputs;
    const uint64_t job = compute_on_server(std::move(rec), inputs);
    checks_.rechecks[job] = Recheck{identity, std::move(u)};
    ++rechecks;
  }
  if (rechecks || skipped)
    event("recheck", "the server's own kernel verifies again the " + std::to_string(rechecks) + " group(s) worker " +
                         std::to_string(worker) + " delivered unreplicated" +
                         (skipped ? " (" + std::to_string(skipped) + " more could not be: graph removed or input lost)" : ""));
  save_trust();
}

void CoordinatorImpl::recheck_done(const GroupRecord& job, Frame reply) {
  const Recheck recheck = checks_.rechecks.at(job.id);
  checks_.rechecks.erase(job.id);
  auto g = graphs_.find(job.graph);
  if (g == graphs_.end()) return;
  Graph& graph = g->second;
  const std::string not_verified = "graph " + std::to_string(graph.id) + " group " + std::to_string(recheck.group.group) +
                                   " from " + recheck.identity + " could not be verified again: ";
  if (protocol::type_of(reply) != protocol::Result::kType)
    return event("recheck", not_verified + protocol::decode<protocol::WorkerError>(std::move(reply)).error);
  protocol::Result result = protocol::decode<protocol::Result>(std::move(reply));
  if (const std::string problem = result_problem(graph, job, result.outputs); !problem.empty())
    return event("recheck", not_verified + problem);
  // Compared with the values delivered (those the server holds: outputs that stayed on the
  // worker were never delivered).
  std::vector<NamedTensor> delivered, server;
  for (auto& nt : result.outputs) {
    GraphId gid = 0;
    std::string op_id;
    parse_wire_name(nt.name, gid, op_id);
    const OpIndex op = graph.index.at(op_id);
    if (graph.ops[op].status != OpStatus::computed) continue;
    auto value = value_of(graph, op);
    if (!value) continue;
    delivered.push_back({nt.name, *value});
    server.push_back(std::move(nt));
  }
  const Comparison how = compare_results(graph, server, delivered);
  ++stats_.totals.rechecked;
  if (how.agree) return;
  // A wrong value was delivered before its worker was caught: the server's value replaces it.
  ++stats_.totals.wrong_delivered;
  for (auto& nt : server) {
    GraphId gid = 0;
    std::string op_id;
    parse_wire_name(nt.name, gid, op_id);
    const OpIndex op = graph.index.at(op_id);
    graph.ops[op].value = std::make_shared<const Tensor>(std::move(nt.tensor));
    holding_values_.insert(graph.id);
    store_.record_value(graph, op);
  }
  event("corrected", "graph " + std::to_string(graph.id) + " group " + std::to_string(recheck.group.group) + " from " +
                         recheck.identity + " was delivered wrong (" + how.describe() +
                         "): the server's own kernel's values replace it; ops computed from it before are not "
                         "recomputed");
}

void CoordinatorImpl::save_trust() { store_.save_trust(trust_.take_changed()); }

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
    if (check->server_next) {
      // One budgeted job at a time: the others wait for the server's kernel to be idle.
      if (!budget_.idle()) continue;
      check->server_next = false;
      start_server_replica(*check, graph);
      continue;
    }
    std::vector<WorkerLoad> loads;
    WorkerState* best = nullptr;
    bool someone = false;  // a worker that may take the replica, now or once it has a free slot
    for (WorkerState* w : fleet_.eligible(options_.max_in_flight_per_worker, loads)) {
      // Not a worker that reported a kernel error for one of these ops: it would report it again.
      // Not another slot of a device that computed the group: it runs the same kernel in the same
      // browser, so it would repeat a fault of that device (or its owner's lie) and check nothing.
      if (w->suspect || check->workers.count(w->id) || (!w->device.empty() && check->devices.count(w->device)) ||
          std::any_of(check->ops.begin(), check->ops.end(), [&](OpIndex op) { return reported_by(graph, op, w->id); }))
        continue;
      someone = true;
      if (static_cast<int>(w->in_flight.size()) >= options_.max_in_flight_per_worker) continue;
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
        if (!best->device.empty()) check->devices.insert(best->device);
      }
    } else if (!someone) {
      // A fleet of one: the server gives the second opinion (not budgeted: nobody else can).
      start_server_replica(*check, graph);
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
