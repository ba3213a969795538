// Workers' messages (see coordinator_impl.hpp): hello, benchmark, result (the path of one
// result, top to bottom in on_result), error, release and heartbeat, and protocol errors.
#include <algorithm>
#include <cmath>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

namespace {

constexpr std::size_t kMaxErrorText = 1000;  // a worker's error text is truncated to this

std::string truncated(std::string s) {
  if (s.size() > kMaxErrorText) s = s.substr(0, kMaxErrorText) + "...";
  return s;
}

}  // namespace

void CoordinatorImpl::worker_connected(WorkerId worker, const protocol::WorkerHello& hello, bool operator_credential) {
  WorkerState& w = fleet_.connect(worker, now());
  w.connected_at = unix_now();
  w.name = truncated(hello.name);
  w.user_agent = truncated(hello.user_agent);
  w.device = hello.device;
  w.slot = hello.slot;
  for (const auto& name : hello.cached) {
    GraphId g = 0;
    std::string op_id;
    if (!parse_wire_name(name, g, op_id)) continue;
    auto graph = graphs_.find(g);
    if (graph == graphs_.end() || !graph->second.index.count(op_id)) continue;
    w.kept.add(name, 0);
  }
  if (w.name.empty()) w.name = "worker " + std::to_string(worker);
  // Its identity for earned trust: an operator's worker is known by name; any other connection
  // is a new identity (this run's start and the worker id: never bound again), untrusted.
  const std::string identity = operator_credential ? "operator:" + w.name
                                                   : "anonymous:" + std::to_string(static_cast<uint64_t>(unix_at_start_ * 1000)) + "-" +
                                                         std::to_string(worker);
  w.quarantined = trust_.bind(worker, identity, operator_credential).quarantined;
  outbox_.send_to_worker(worker, protocol::encode(protocol::WorkerWelcome{worker, options_.heartbeat_ms, welcome_servers()}));
  event("worker", "worker " + std::to_string(worker) + " '" + w.name + "' connected" +
                      (operator_credential ? " with the worker token (trusted)" : "") +
                      (w.quarantined ? "; " + identity + " is quarantined: it gets no work" : ""));
}

void CoordinatorImpl::worker_message(WorkerId worker, Frame frame) {
  WorkerState* found = fleet_.find(worker);
  if (!found) return;  // already dropped
  WorkerState& w = *found;
  fleet_.seen(w, now());
  const std::string type = protocol::type_of(frame);
  try {
    if (type == protocol::Benchmark::kType) {
      on_benchmark(w, protocol::decode<protocol::Benchmark>(std::move(frame)));
    } else if (type == protocol::Result::kType) {
      on_result(w, protocol::decode<protocol::Result>(std::move(frame)));
    } else if (type == protocol::WorkerError::kType) {
      on_worker_error(w, protocol::decode<protocol::WorkerError>(std::move(frame)));
    } else if (type == protocol::Release::kType) {
      on_release(w, protocol::decode<protocol::Release>(std::move(frame)));
    } else if (type == protocol::Heartbeat::kType) {
      outbox_.send_to_worker(worker, protocol::encode(protocol::Heartbeat{now()}));
    } else if (type == protocol::WorkerHello::kType) {
      protocol_error(w, "hello: already received");
    } else {
      protocol_error(w, "unknown message type '" + type + "' (expected benchmark, result, error, release or heartbeat)");
    }
  } catch (const protocol::ProtocolError& e) {
    protocol_error(w, e.what());
  }
  settle();
}

void CoordinatorImpl::worker_malformed(WorkerId worker, const std::string& error) {
  WorkerState* w = fleet_.find(worker);
  if (!w) return;
  protocol_error(*w, error, false);
  settle();
}

void CoordinatorImpl::worker_disconnected(WorkerId worker) {
  if (!fleet_.find(worker)) return;
  drop_worker(worker, "worker disconnected");
  settle();
}

std::size_t CoordinatorImpl::redirect_free_workers(std::size_t count, const std::string& url) {
  if (const std::string problem = protocol::server_address_problem(url); !problem.empty())
    throw protocol::ProtocolError("redirect: 'url' " + problem);
  const std::vector<WorkerId> leaving = fleet_.idle(count);
  for (WorkerId id : leaving) {
    outbox_.send_to_worker(id, protocol::encode(protocol::Redirect{url, "redirected to " + url}));
    drop_worker(id, "redirected to " + url);
    outbox_.part_worker(id, "redirected to " + url);
  }
  if (!leaving.empty())
    event("redirect", std::to_string(leaving.size()) + " free worker(s) redirected to " + url);
  settle();
  return leaving.size();
}

bool CoordinatorImpl::protocol_error(WorkerState& w, const std::string& error, bool reply) {
  const WorkerId id = w.id;
  if (reply) outbox_.send_to_worker(id, protocol::encode(protocol::ErrorReply{nullptr, "", error}));
  if (!Fleet::protocol_error_limit_reached(w)) return true;
  event("abuse", "worker " + std::to_string(id) + " closed after " + std::to_string(Fleet::kMaxProtocolErrors) +
                     " protocol errors (last: " + error + ")");
  drop_worker(id, "worker closed for protocol errors");
  outbox_.close_worker(id, "too many protocol errors (last: " + error + ")");
  return false;
}

void CoordinatorImpl::drop_worker(WorkerId worker, const std::string& reason) {
  const WorkerState* w = fleet_.find(worker);
  if (!w) return;
  const std::vector<GroupId> in_flight = w->in_flight;
  event("worker", "worker " + std::to_string(worker) + " '" + w->name + "' gone: " + reason +
                      (in_flight.empty() ? "" : ", " + std::to_string(in_flight.size()) + " group(s) handed to others"));
  for (GroupId g : in_flight) requeue_group(g, reason, true);
  fleet_.remove(worker);
  trust_.unbind(worker);
  if (!fleet_.size()) last_worker_ms_ = now();
}

GroupRecord* CoordinatorImpl::group_of(WorkerState& w, GroupId group, bool& cancelled) {
  cancelled = Fleet::recently_cancelled(w, group);
  return groups_.assigned_to(w.id, group);
}

GroupRecord* CoordinatorImpl::named_group(WorkerState& w, GroupId gid, const char* type, bool& cancelled,
                                          bool& unassigned) {
  cancelled = unassigned = false;
  GroupRecord* group = group_of(w, gid, cancelled);
  if (!group && !cancelled) {
    unassigned = true;
    protocol_error(w, std::string(type) + ": group " + std::to_string(gid) + " is not assigned to this worker");
  }
  return group;
}

void CoordinatorImpl::on_benchmark(WorkerState& w, const protocol::Benchmark& benchmark) {
  w.speed.set_benchmark(benchmark.score.matmul_gflops, benchmark.score.elementwise_gbs);
  w.benchmark = benchmark.score;
  w.benchmarked = true;
  fleet_.reindex(w);
}

void CoordinatorImpl::on_result(WorkerState& w, protocol::Result result) {
  // Receive: the group the result answers must be in flight on this worker.
  bool cancelled = false, unassigned = false;
  GroupRecord* group = named_group(w, result.group_id, protocol::Result::kType, cancelled, unassigned);
  if (!group) {
    if (cancelled) ++stats_.totals.duplicates_ignored;
    if (unassigned) ++stats_.totals.results_rejected;
    return;
  }
  const GroupId gid = group->id;
  Graph& graph = graphs_.at(group->graph);
  // Check the result against the group before touching any state.
  const std::string problem = !result.compute_ms ? "'compute_ms' must be a non-negative number"
                                                 : result_problem(graph, *group, result.outputs);
  if (!problem.empty()) {
    ++stats_.totals.results_rejected;
    ++w.failures;
    event("rejected", "worker " + std::to_string(w.id) + ": result of group " + std::to_string(gid) +
                          " rejected: " + problem);
    requeue_group(gid, "invalid result from worker " + std::to_string(w.id) + ": " + problem, true);
    protocol_error(w, "result of group " + std::to_string(gid) + " rejected: " + problem);
    return;
  }
  // Credit the worker: its speed on the server's clock, and it is trusted again.
  w.reported_compute_ms += *result.compute_ms;
  if (!group->expired) w.speed.observe(group->raw_ms, measured_compute_ms(w, *group, result.outputs));
  w.last_reply_ms = now();
  w.suspect = false;
  fleet_.reindex(w);
  // Complete: the group leaves the table and its worker.
  const GroupRecord done = *group;
  ++w.groups_done;
  ++stats_.totals.groups_done;
  remove_group(*group);
  if (done.expired) event("late", "worker " + std::to_string(w.id) + " finished a group after its deadline; its result is used");
  // Under verification the result is a candidate until a second opinion agrees (verify.cpp).
  const Verification how = done.check ? Verification::replicate : verification_for(graph, w);
  if (how != Verification::none) return verify_result(w, graph, done, std::move(result.outputs), how);
  // Persist the values, mark the ops computed, cancel groups made redundant, wake dependents.
  w.ops_done += apply_result(graph, done.ops, result.outputs, done.kept_outputs, &w.kept);
  // Taken on earned trust: verified again should the worker be quarantined.
  if (policy_of(graph) == VerifyPolicy::adaptive)
    trust_.delivered_unverified(w.id, {graph.id, done.id, done.ops, done.outputs, external_inputs(graph, done.ops)});
  // Answer waiters: the graph is touched, and settle() after this message serves its waiters
  // and dispatches the ops that became ready.
}

std::string CoordinatorImpl::result_problem(const Graph& graph, const GroupRecord& group,
                                            const std::vector<NamedTensor>& outputs) const {
  if (outputs.size() != group.outputs.size())
    return std::to_string(outputs.size()) + " tensor(s) for " + std::to_string(group.outputs.size()) + " output(s)";
  std::unordered_map<std::string, OpIndex> expected;
  for (OpIndex op : group.outputs) expected.emplace(graph.wire_name(op), op);
  for (const auto& nt : outputs) {
    auto e = expected.find(nt.name);
    if (e == expected.end()) return "tensor '" + nt.name + "' is not an output of the group (or comes twice)";
    const TensorSpec& want = graph.ops[e->second].spec;
    if (!spec_matches(want, spec_of(nt.tensor)))
      return "tensor '" + nt.name + "' is " + std::string(dtype_name(nt.tensor.dtype())) +
             shape_string(nt.tensor.shape()) + ", expected " + std::string(dtype_name(want.dtype)) +
             shape_string(want.shape);
    expected.erase(e);
  }
  return "";
}

double CoordinatorImpl::measured_compute_ms(const WorkerState& w, const GroupRecord& group,
                                            const std::vector<NamedTensor>& outputs) const {
  double output_bytes = 0;
  for (const auto& nt : outputs) output_bytes += static_cast<double>(nt.tensor.nbytes());
  const double elapsed = now() - std::max(group.sent_ms, w.last_reply_ms);
  return std::max(0.0, elapsed - link_.transfer_ms(group.input_bytes + output_bytes) - link_.latency_ms);
}

void CoordinatorImpl::on_worker_error(WorkerState& w, const protocol::WorkerError& error) {
  bool cancelled = false, unassigned = false;
  GroupRecord* group = named_group(w, error.group_id, protocol::WorkerError::kType, cancelled, unassigned);
  if (!group) return;
  const GroupId gid = group->id;
  const std::string message = truncated(error.error);
  w.last_reply_ms = now();
  Graph& graph = graphs_.at(group->graph);
  if (error.kind == protocol::WorkerErrorKind::kernel) {
    OpIndex failed = 0;
    bool found = false;
    for (OpIndex op : group->ops)
      if (graph.wire_name(op) == error.op_id) failed = op, found = true;
    if (!found) {
      ++w.failures;
      requeue_group(gid, "worker " + std::to_string(w.id) + " reported a kernel error for an op not in the group", true);
      protocol_error(w, "error: op_id '" + error.op_id + "' is not an op of group " + std::to_string(gid));
      return;
    }
    ++stats_.totals.groups_failed;
    // The group is computed again; the op fails only once the error is reproduced. Whether the
    // report was false is known later, and only then counts as a failure of this worker.
    requeue_group(gid, message, false);
    if (!is_final(graph.ops[failed].status)) dispute_kernel_error(w, graph, failed, message);
    return;
  }
  ++w.failures;
  if (error.kind == protocol::WorkerErrorKind::unknown) {
    requeue_group(gid, "worker " + std::to_string(w.id) + " sent an error of unknown kind", true);
    protocol_error(w, "error: 'kind' must be kernel, missing_input or malformed");
    return;
  }
  // Transient: the worker's cache was not what the server thought, or the frame got damaged.
  // A wrong guess about the cache is the server's fault and does not count as an attempt.
  const bool missing_input = error.kind == protocol::WorkerErrorKind::missing_input;
  const bool our_guess = missing_input && group->relied_on_kept;
  if (missing_input) w.kept.clear();
  ++stats_.totals.groups_failed;
  requeue_group(gid, std::string(protocol::kind_name(error.kind)) + " on worker " + std::to_string(w.id) + ": " + message,
                !our_guess);
}

void CoordinatorImpl::on_release(WorkerState& w, const protocol::Release& release) {
  for (GroupId gid : release.group_ids) {
    bool cancelled = false;
    GroupRecord* group = group_of(w, gid, cancelled);
    if (!group) continue;
    // It was not computed, so the inputs it asked the worker to keep are not there.
    for (const auto& name : group->kept_inputs) w.kept.erase(name);
    requeue_group(gid, "released", false);
  }
}

}  // namespace corvid::server
