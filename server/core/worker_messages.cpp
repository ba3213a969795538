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

bool positive_number(const nlohmann::json& header, const char* field, double& out) {
  auto it = header.find(field);
  if (it == header.end() || !it->is_number()) return false;
  out = it->get<double>();
  return std::isfinite(out) && out > 0;
}

bool group_id_field(const nlohmann::json& header, GroupId& out) {
  auto it = header.find("group_id");
  if (it == header.end() || !it->is_number_unsigned()) return false;
  out = it->get<GroupId>();
  return true;
}

}  // namespace

void CoordinatorImpl::worker_connected(WorkerId worker, const nlohmann::json& hello) {
  WorkerState& w = fleet_.connect(worker);
  w.connected_at = unix_now();
  w.last_seen_ms = now();
  if (auto it = hello.find("name"); it != hello.end() && it->is_string()) w.name = truncated(it->get<std::string>());
  if (auto it = hello.find("user_agent"); it != hello.end() && it->is_string())
    w.user_agent = truncated(it->get<std::string>());
  if (auto it = hello.find("cached"); it != hello.end() && it->is_array()) {
    for (const auto& name : *it) {
      if (!name.is_string()) continue;
      GraphId g = 0;
      std::string op_id;
      if (!parse_wire_name(name.get<std::string>(), g, op_id)) continue;
      auto graph = graphs_.find(g);
      if (graph == graphs_.end() || !graph->second.index.count(op_id)) continue;
      w.kept.add(name.get<std::string>(), 0);
    }
  }
  if (w.name.empty()) w.name = "worker " + std::to_string(worker);
  Frame welcome;
  welcome.header = {{"type", "welcome"}, {"worker_id", worker}, {"heartbeat_ms", options_.heartbeat_ms}};
  outbox_.send_to_worker(worker, std::move(welcome));
  event("worker", "worker " + std::to_string(worker) + " '" + w.name + "' connected");
}

void CoordinatorImpl::worker_message(WorkerId worker, Frame frame) {
  WorkerState* found = fleet_.find(worker);
  if (!found) return;  // already dropped
  WorkerState& w = *found;
  w.last_seen_ms = now();
  const auto type_it = frame.header.find("type");
  const std::string type = type_it != frame.header.end() && type_it->is_string() ? type_it->get<std::string>() : "";
  if (type == "benchmark") {
    on_benchmark(w, frame);
  } else if (type == "result") {
    on_result(w, std::move(frame));
  } else if (type == "error") {
    on_worker_error(w, frame);
  } else if (type == "release") {
    on_release(w, frame);
  } else if (type == "heartbeat") {
    Frame beat;
    beat.header = {{"type", "heartbeat"}, {"t", now()}};
    outbox_.send_to_worker(worker, std::move(beat));
  } else if (type == "hello") {
    protocol_error(w, "hello: already received");
  } else {
    protocol_error(w, "unknown message type '" + type + "' (expected benchmark, result, error, release or heartbeat)");
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

bool CoordinatorImpl::protocol_error(WorkerState& w, const std::string& error, bool reply) {
  const WorkerId id = w.id;
  if (reply) {
    Frame f;
    f.header = {{"type", "error"}, {"error", error}};
    outbox_.send_to_worker(id, std::move(f));
  }
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
}

GroupRecord* CoordinatorImpl::group_of(WorkerState& w, GroupId group, bool& cancelled) {
  cancelled = Fleet::recently_cancelled(w, group);
  return groups_.assigned_to(w.id, group);
}

GroupRecord* CoordinatorImpl::named_group(WorkerState& w, const Frame& frame, const char* type, bool& cancelled,
                                          bool& unassigned) {
  cancelled = unassigned = false;
  GroupId gid = 0;
  if (!group_id_field(frame.header, gid)) {
    protocol_error(w, std::string(type) + ": 'group_id' must be a non-negative integer");
    return nullptr;
  }
  GroupRecord* group = group_of(w, gid, cancelled);
  if (!group && !cancelled) {
    unassigned = true;
    protocol_error(w, std::string(type) + ": group " + std::to_string(gid) + " is not assigned to this worker");
  }
  return group;
}

void CoordinatorImpl::on_benchmark(WorkerState& w, const Frame& frame) {
  double gflops = 0, gbs = 0;
  if (!positive_number(frame.header, "matmul_gflops", gflops) || !positive_number(frame.header, "elementwise_gbs", gbs)) {
    protocol_error(w, "benchmark: 'matmul_gflops' and 'elementwise_gbs' must be positive numbers");
    return;
  }
  double reduce = 0, duration = 0;
  positive_number(frame.header, "reduce_gbs", reduce);
  positive_number(frame.header, "duration_ms", duration);
  w.speed.set_benchmark(gflops, gbs);
  w.benchmark = {{"matmul_gflops", gflops}, {"elementwise_gbs", gbs}, {"reduce_gbs", reduce}, {"duration_ms", duration}};
  w.benchmarked = true;
}

void CoordinatorImpl::on_result(WorkerState& w, Frame frame) {
  // Receive: the group the result answers must be in flight on this worker.
  bool cancelled = false, unassigned = false;
  GroupRecord* group = named_group(w, frame, "result", cancelled, unassigned);
  if (!group) {
    if (cancelled) ++stats_.totals.duplicates_ignored;
    if (unassigned) ++stats_.totals.results_rejected;
    return;
  }
  const GroupId gid = group->id;
  Graph& graph = graphs_.at(group->graph);
  // Check the result against the group before touching any state.
  std::string problem;
  auto cm = frame.header.find("compute_ms");
  if (cm == frame.header.end() || !cm->is_number() || !std::isfinite(cm->get<double>()) || cm->get<double>() < 0)
    problem = "'compute_ms' must be a non-negative number";
  else
    problem = result_problem(graph, *group, frame);
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
  w.reported_compute_ms += cm->get<double>();
  if (!group->expired) w.speed.observe(group->raw_ms, measured_compute_ms(w, *group, frame));
  w.last_reply_ms = now();
  w.suspect = false;
  // Complete: the group leaves the table and its worker.
  const GroupRecord done = *group;
  ++w.groups_done;
  ++stats_.totals.groups_done;
  remove_group(*group);
  // Persist the values, mark the ops computed, cancel groups made redundant, wake dependents.
  w.ops_done += apply_result(graph, done.ops, frame, done.kept_outputs, &w.kept);
  if (done.expired) event("late", "worker " + std::to_string(w.id) + " finished a group after its deadline; its result is used");
  // Answer waiters: the graph is touched, and settle() after this message serves its waiters
  // and dispatches the ops that became ready.
}

std::string CoordinatorImpl::result_problem(const Graph& graph, const GroupRecord& group, const Frame& result) const {
  if (result.tensors.size() != group.outputs.size())
    return std::to_string(result.tensors.size()) + " tensor(s) for " + std::to_string(group.outputs.size()) +
           " output(s)";
  std::unordered_map<std::string, OpIndex> expected;
  for (OpIndex op : group.outputs) expected.emplace(graph.wire_name(op), op);
  for (const auto& nt : result.tensors) {
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

double CoordinatorImpl::measured_compute_ms(const WorkerState& w, const GroupRecord& group, const Frame& result) const {
  double output_bytes = 0;
  for (const auto& nt : result.tensors) output_bytes += static_cast<double>(nt.tensor.nbytes());
  const double elapsed = now() - std::max(group.sent_ms, w.last_reply_ms);
  return std::max(0.0, elapsed - link_.transfer_ms(group.input_bytes + output_bytes) - link_.latency_ms);
}

void CoordinatorImpl::on_worker_error(WorkerState& w, const Frame& frame) {
  bool cancelled = false, unassigned = false;
  GroupRecord* group = named_group(w, frame, "error", cancelled, unassigned);
  if (!group) return;
  const GroupId gid = group->id;
  const auto& h = frame.header;
  const std::string kind = h.contains("kind") && h["kind"].is_string() ? h["kind"].get<std::string>() : "";
  const std::string message =
      truncated(h.contains("error") && h["error"].is_string() ? h["error"].get<std::string>() : "no message");
  const std::string op_wire = h.contains("op_id") && h["op_id"].is_string() ? h["op_id"].get<std::string>() : "";
  w.last_reply_ms = now();
  Graph& graph = graphs_.at(group->graph);
  if (kind == "kernel") {
    OpIndex failed = 0;
    bool found = false;
    for (OpIndex op : group->ops)
      if (graph.wire_name(op) == op_wire) failed = op, found = true;
    if (!found) {
      ++w.failures;
      requeue_group(gid, "worker " + std::to_string(w.id) + " reported a kernel error for an op not in the group", true);
      protocol_error(w, "error: op_id '" + op_wire + "' is not an op of group " + std::to_string(gid));
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
  if (kind != "missing_input" && kind != "malformed") {
    requeue_group(gid, "worker " + std::to_string(w.id) + " sent an error of unknown kind", true);
    protocol_error(w, "error: 'kind' must be kernel, missing_input or malformed");
    return;
  }
  // Transient: the worker's cache was not what the server thought, or the frame got damaged.
  // A wrong guess about the cache is the server's fault and does not count as an attempt.
  const bool our_guess = kind == "missing_input" && group->relied_on_kept;
  if (kind == "missing_input") w.kept.clear();
  ++stats_.totals.groups_failed;
  requeue_group(gid, kind + " on worker " + std::to_string(w.id) + ": " + message, !our_guess);
}

void CoordinatorImpl::on_release(WorkerState& w, const Frame& frame) {
  auto ids = frame.header.find("group_ids");
  if (ids == frame.header.end() || !ids->is_array()) {
    protocol_error(w, "release: 'group_ids' must be a list of group ids");
    return;
  }
  for (const auto& id : *ids) {
    if (!id.is_number_unsigned()) continue;
    bool cancelled = false;
    GroupRecord* group = group_of(w, id.get<GroupId>(), cancelled);
    if (!group) continue;
    // It was not computed, so the inputs it asked the worker to keep are not there.
    for (const auto& name : group->kept_inputs) w.kept.erase(name);
    requeue_group(id.get<GroupId>(), "released", false);
  }
}

}  // namespace corvid::server
