// The coordinator's state, its workers, op groups and scheduling (see coordinator_impl.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

namespace {

constexpr std::size_t kCancelledMemory = 256;   // recently cancelled groups remembered per worker
constexpr std::size_t kMaxErrorText = 1000;     // a worker's error text is truncated to this
constexpr double kFlushPeriodMs = 50;           // queued results reach the store at least this often
constexpr std::size_t kFlushBytes = 64u << 20;  // or when this much is queued
constexpr double kRemovalPeriodMs = 10000;      // how often finished graphs are checked for removal

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

// ---------------------------------------------------------------- KeptTensors

void KeptTensors::touch(const std::string& name) {
  auto it = index_.find(name);
  if (it != index_.end()) lru_.splice(lru_.begin(), lru_, it->second);
}

void KeptTensors::add(const std::string& name, double bytes) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    bytes_ -= it->second->second;
    lru_.erase(it->second);
    index_.erase(it);
  }
  if (bytes > kBudgetBytes) return;
  lru_.emplace_front(name, bytes);
  index_[name] = lru_.begin();
  bytes_ += bytes;
  while (bytes_ > kBudgetBytes && !lru_.empty()) {
    bytes_ -= lru_.back().second;
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void KeptTensors::erase(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  bytes_ -= it->second->second;
  lru_.erase(it->second);
  index_.erase(it);
}

void KeptTensors::clear() {
  lru_.clear();
  index_.clear();
  bytes_ = 0;
}

// ---------------------------------------------------------------- construction and restart

CoordinatorImpl::CoordinatorImpl(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                 CoordinatorOptions options, ServerKernel* kernel)
    : clock_(clock),
      outbox_(outbox),
      options_(options),
      graph_ids_(data_dir),
      own_kernel_(kernel ? nullptr : std::make_unique<InlineServerKernel>()),
      kernel_(kernel ? *kernel : *own_kernel_) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + data_dir + ": " + ec.message());
  store_ = open_sqlite_store((std::filesystem::path(data_dir) / "corvid.db").string());
  clock_at_start_ = clock_.now_ms();
  unix_at_start_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  last_history_ms_ = last_flush_ms_ = clock_at_start_;
  // Group ids differ across restarts, so a result for a group of an earlier run is never taken
  // for one of this run.
  next_group_id_ = static_cast<GroupId>(unix_at_start_ * 1000) * 1000;
  load_from_store();
  // Ids continue after the mark even if corvid.db lost graphs; a mark behind the store (or none,
  // from an older server) catches up at once.
  next_graph_id_ = std::max(next_graph_id_, graph_ids_.last() + 1);
  graph_ids_.raise(next_graph_id_ - 1);
}

CoordinatorImpl::~CoordinatorImpl() = default;

void CoordinatorImpl::load_from_store() {
  int resumed = 0;
  for (StoredGraph& stored : store_->load_graphs()) {
    Graph& g = graphs_[stored.id];
    g.id = stored.id;
    g.name = stored.name;
    g.owner = stored.owner;
    g.created_at = stored.created_at;
    g.created_ms = now() - (unix_now() - stored.created_at) * 1000.0;
    g.finished_at = stored.finished_at;
    g.submit_key = stored.submit_key;
    if (!g.submit_key.empty()) graph_by_key_[{g.owner, g.submit_key}] = g.id;
    next_graph_id_ = std::max(next_graph_id_, stored.id + 1);
    for (StoredOp& op : stored.ops) {
      OpNode node;
      node.id = op.id;
      node.def = find_op(op.op);
      node.inputs = op.inputs;
      node.params = op.params;
      node.spec = op.spec;
      node.status = op.status == OpStatus::running ? OpStatus::pending : op.status;
      node.error = op.error;
      node.requested = op.requested;
      node.has_value = op.status == OpStatus::computed && op.has_value;
      bool inputs_ok = op.seq == g.ops.size();
      for (OpIndex in : node.inputs) inputs_ok = inputs_ok && in < g.ops.size();
      if (!inputs_ok) break;  // a damaged row: keep the consistent prefix
      if (!node.def && !is_final(node.status)) {
        node.status = OpStatus::failed;
        node.error = "op '" + op.op + "' is not known to this server version";
      }
      if (node.def) {
        std::vector<TensorSpec> specs;
        for (OpIndex in : node.inputs) specs.push_back(g.ops[in].spec);
        try {
          node.cost = estimate_cost(*node.def, specs, node.spec, node.params);
        } catch (const std::exception&) {
          node.cost = {};
        }
      }
      g.add_op(std::move(node));
    }
    for (OpIndex out : stored.outputs)
      if (out < g.ops.size()) g.outputs.push_back(out);
    // Pending ops whose inputs stayed on a worker need those inputs computed again.
    for (OpIndex op = 0; op < g.ops.size(); ++op) {
      if (g.ops[op].status != OpStatus::pending) continue;
      for (OpIndex in : g.ops[op].inputs) ensure_value(g, in);
    }
    for (OpIndex op = 0; op < g.ops.size(); ++op) {
      if (g.ops[op].requested) ensure_value(g, op);
      g.refresh_ready(op);
    }
    if (!g.finished()) ++resumed;
  }
  next_graph_id_ = std::max(next_graph_id_, store_->last_graph_id() + 1);  // removed graphs' ids too
  if (resumed) event("restart", "resumed " + std::to_string(resumed) + " unfinished graph(s) from the store");
}

void CoordinatorImpl::event(const std::string& kind, const std::string& message) {
  events_.push_back({unix_now(), kind, message});
  while (events_.size() > kMaxEvents) events_.pop_front();
}

// ---------------------------------------------------------------- workers

void CoordinatorImpl::worker_connected(WorkerId worker, const nlohmann::json& hello) {
  WorkerState& w = workers_[worker];
  w = WorkerState{};
  w.id = worker;
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
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;  // already dropped
  WorkerState& w = it->second;
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
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  protocol_error(it->second, error, false);
  settle();
}

void CoordinatorImpl::worker_disconnected(WorkerId worker) {
  if (!workers_.count(worker)) return;
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
  if (++w.protocol_errors < kMaxProtocolErrors) return true;
  event("abuse", "worker " + std::to_string(id) + " closed after " + std::to_string(kMaxProtocolErrors) +
                     " protocol errors (last: " + error + ")");
  drop_worker(id, "worker closed for protocol errors");
  outbox_.close_worker(id, "too many protocol errors (last: " + error + ")");
  return false;
}

void CoordinatorImpl::drop_worker(WorkerId worker, const std::string& reason) {
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  const std::vector<GroupId> in_flight = it->second.in_flight;
  event("worker", "worker " + std::to_string(worker) + " '" + it->second.name + "' gone: " + reason +
                      (in_flight.empty() ? "" : ", " + std::to_string(in_flight.size()) + " group(s) handed to others"));
  for (GroupId g : in_flight) requeue_group(g, reason, true);
  workers_.erase(worker);
}

GroupRecord* CoordinatorImpl::group_of(WorkerState& w, GroupId group, bool& cancelled) {
  cancelled = std::find(w.cancelled.begin(), w.cancelled.end(), group) != w.cancelled.end();
  auto it = groups_.find(group);
  if (it == groups_.end() || it->second.worker != w.id) return nullptr;
  return &it->second;
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

const GroupRecord* CoordinatorImpl::live_group(GroupId group) const {
  auto it = groups_.find(group);
  return it == groups_.end() || it->second.expired ? nullptr : &it->second;
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
  bool cancelled = false, unassigned = false;
  GroupRecord* group = named_group(w, frame, "result", cancelled, unassigned);
  if (!group) {
    if (cancelled) ++duplicates_ignored_total_;
    if (unassigned) ++results_rejected_total_;
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
    ++results_rejected_total_;
    ++w.failures;
    event("rejected", "worker " + std::to_string(w.id) + ": result of group " + std::to_string(gid) +
                          " rejected: " + problem);
    requeue_group(gid, "invalid result from worker " + std::to_string(w.id) + ": " + problem, true);
    protocol_error(w, "result of group " + std::to_string(gid) + " rejected: " + problem);
    return;
  }
  w.reported_compute_ms += cm->get<double>();
  if (!group->expired) w.speed.observe(group->raw_ms, measured_compute_ms(w, *group, frame));
  w.last_reply_ms = now();
  w.suspect = false;
  complete_group(w, *group, frame);
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
    ++groups_failed_total_;
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
  ++groups_failed_total_;
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

// ---------------------------------------------------------------- scheduling

GroupLimits CoordinatorImpl::limits() const {
  GroupLimits l;
  l.target_ms = options_.target_group_ms;
  return l;
}

double CoordinatorImpl::input_bytes_on(const WorkerState& w, const GroupPlan& plan) const {
  const Graph& graph = graphs_.at(plan.graph);
  double bytes = 0;
  for (OpIndex in : plan.external) {
    if (w.kept.has(graph.wire_name(in))) continue;
    bytes += value_bytes(graph.ops[in]);
  }
  return bytes;
}

void CoordinatorImpl::refresh_busy_until(WorkerState& w) {
  double busy = now();
  for (GroupId g : w.in_flight)
    if (const GroupRecord* group = live_group(g)) busy += group->estimate_ms;
  w.busy_until_ms = busy;
}

void CoordinatorImpl::dispatch() {
  for (;;) {
    std::vector<WorkerLoad> loads;
    std::vector<WorkerState*> eligible;
    for (auto& [id, w] : workers_) {
      if (!w.benchmarked) continue;
      eligible.push_back(&w);
      // A worker that missed a deadline may never answer: until it delivers a result, it only
      // gets work nobody else can take, and nobody waits for it.
      loads.push_back({id, &w.speed, w.suspect ? std::numeric_limits<double>::infinity() : w.busy_until_ms,
                       static_cast<int>(w.in_flight.size()) < options_.max_in_flight_per_worker});
    }
    if (eligible.empty()) return;
    bool assigned = false;
    if (options_.policy == SchedulingPolicy::round_robin) {
      // The baseline: workers take turns in a fixed order, whatever their speed.
      WorkerState& w = *eligible[round_robin_next_ % eligible.size()];
      if (static_cast<int>(w.in_flight.size()) >= options_.max_in_flight_per_worker) return;
      assigned = try_assign(w, loads);
      if (assigned) ++round_robin_next_;
    } else {
      // Fastest free workers first; each takes a group only if nobody would finish it sooner.
      std::vector<WorkerState*> free;
      for (WorkerState* w : eligible)
        if (static_cast<int>(w->in_flight.size()) < options_.max_in_flight_per_worker) free.push_back(w);
      std::sort(free.begin(), free.end(), [](const WorkerState* a, const WorkerState* b) {
        const Cost unit{1e9, 1e9};
        return a->speed.estimate_ms(unit, 1) < b->speed.estimate_ms(unit, 1);
      });
      for (WorkerState* w : free) {
        if ((assigned = try_assign(*w, loads))) break;
      }
    }
    if (!assigned) return;
  }
}

std::vector<Graph*> CoordinatorImpl::graphs_in_fair_order() {
  std::map<std::string, std::vector<Graph*>> by_owner;  // graphs with ready ops, in id order
  for (auto& [id, g] : graphs_)
    if (!g.ready.empty()) by_owner[g.owner].push_back(&g);
  std::vector<Graph*> order;
  // Developers take turns, starting after the one served last; each developer's graphs take
  // turns too, starting after that developer's graph served last.
  auto owner = by_owner.upper_bound(owner_cursor_);
  for (std::size_t n = 0; n < by_owner.size(); ++n, ++owner) {
    if (owner == by_owner.end()) owner = by_owner.begin();
    const std::vector<Graph*>& graphs = owner->second;
    const GraphId last = graph_cursor_[owner->first];
    const auto first = std::upper_bound(graphs.begin(), graphs.end(), last,
                                        [](GraphId id, const Graph* g) { return id < g->id; });
    order.insert(order.end(), first, graphs.end());
    order.insert(order.end(), graphs.begin(), first);
  }
  return order;
}

bool CoordinatorImpl::try_assign(WorkerState& w, const std::vector<WorkerLoad>& loads) {
  if (graphs_.empty()) return false;
  const bool alternatives = loads.size() > 1;
  for (Graph* candidate : graphs_in_fair_order()) {
    Graph& graph = *candidate;
    SpeedModel sizing = w.speed;
    if (options_.policy == SchedulingPolicy::round_robin) {
      // The baseline sizes groups for an average worker, not for the one it gives them to.
      double gflops = 0, gbs = 0;
      int n_workers = 0;
      for (const auto& [id, other] : workers_) {
        if (!other.benchmarked) continue;
        gflops += other.benchmark.value("matmul_gflops", 1.0);
        gbs += other.benchmark.value("elementwise_gbs", 1.0);
        ++n_workers;
      }
      sizing = SpeedModel{};
      sizing.set_benchmark(gflops / n_workers, gbs / n_workers);
    }
    GroupLimits group_limits = limits();
    if (options_.policy == SchedulingPolicy::earliest_finish) {
      // This worker's fair share of the ready work: independent parts beyond it are left for
      // the other free workers, so a map job's slices run side by side, not all on one worker.
      int free_workers = 0;
      for (const auto& l : loads) free_workers += l.has_free_slot && !std::isinf(l.busy_until_ms);
      if (free_workers > 1)
        group_limits.new_part_below_ms =
            w.speed.estimate_ms(graph.ready_cost, static_cast<int>(graph.ready.size())) / free_workers;
    }
    GroupPlan plan = grow_group(
        graph, sizing, group_limits,
        [&](OpIndex op) { return alternatives && graph.ops[op].avoid_worker == w.id; },
        [&](OpIndex op) { return w.kept.has(graph.wire_name(op)); },
        [&](OpIndex op) { return reported_by(graph, op, w.id); });
    if (plan.empty()) continue;
    plan.raw_ms = w.speed.raw_ms(plan.cost, static_cast<int>(plan.ops.size()));
    if (options_.policy == SchedulingPolicy::earliest_finish) {
      const WorkerLoad* me = nullptr;
      for (const auto& l : loads)
        if (l.id == w.id) me = &l;
      auto bytes_on = [&](uint64_t id) { return input_bytes_on(workers_.at(id), plan); };
      // While there is more ready work than the fleet can finish before this worker would be
      // done, every worker helps; in the tail, a group waits for a busy worker that would
      // finish it sooner.
      Cost ready;
      int ready_ops = 0;
      for (const auto& [id, g] : graphs_) {
        ready.flops += g.ready_cost.flops;
        ready.bytes += g.ready_cost.bytes;
        ready_ops += static_cast<int>(g.ready.size());
      }
      // A worker that may not take these ops (it reported a disputed kernel error for one of
      // them) is no better place to wait for.
      std::vector<WorkerLoad> takers;
      for (const auto& l : loads)
        if (std::none_of(plan.ops.begin(), plan.ops.end(), [&](OpIndex op) { return reported_by(graph, op, l.id); }))
          takers.push_back(l);
      const double mine = finish_ms(*me, plan, bytes_on(w.id), now(), link_) - now();
      if (mine > drain_ms(loads, ready, ready_ops) && !earliest_finish(*me, takers, plan, bytes_on, now(), link_))
        return false;
    }
    owner_cursor_ = graph.owner;
    graph_cursor_[graph.owner] = graph.id;
    return assign(w, graph, plan);
  }
  return false;
}

bool CoordinatorImpl::assign(WorkerState& w, Graph& graph, const GroupPlan& plan) {
  // Gather the input values first: one missing from the store means computing it again.
  std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> inputs;
  for (OpIndex in : plan.external) {
    if (w.kept.has(graph.wire_name(in))) continue;
    auto value = value_of(graph, in);
    if (!value) {
      ensure_value(graph, in);
      return false;
    }
    inputs.emplace_back(in, std::move(value));
  }
  const GroupId gid = next_group_id_++;
  GroupRecord rec;
  rec.id = gid;
  rec.worker = w.id;
  rec.graph = graph.id;
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
  nlohmann::json ops = nlohmann::json::array();
  for (OpIndex op : plan.ops) {
    ops.push_back(op_json(graph, op));
    set_status(graph, op, OpStatus::running);
    graph.ops[op].groups.push_back(gid);
  }
  nlohmann::json outputs = nlohmann::json::array();
  nlohmann::json keep = nlohmann::json::array();
  for (OpIndex op : plan.outputs) {
    outputs.push_back(graph.wire_name(op));
    // Outputs that later groups consume may be consumed on this worker: keep them there.
    bool consumed_later = false;
    for (OpIndex dep : graph.ops[op].dependents) consumed_later = consumed_later || !in_group.count(dep);
    if (consumed_later) {
      keep.push_back(graph.wire_name(op));
      rec.kept_outputs.push_back(op);
    }
  }
  Frame frame;
  for (OpIndex in : plan.external) {
    const std::string name = graph.wire_name(in);
    if (w.kept.has(name)) {
      w.kept.touch(name);
      rec.relied_on_kept = true;
      continue;
    }
    // Tensors with several consumers (model weights, shared operands) stay on the worker.
    if (graph.ops[in].dependents.size() > 1) {
      keep.push_back(name);
      w.kept.add(name, value_bytes(graph.ops[in]));
      rec.kept_inputs.push_back(name);
    }
  }
  for (auto& [in, value] : inputs) frame.tensors.push_back({graph.wire_name(in), *value});
  frame.header = {{"type", "assign"}, {"group_id", gid}, {"ops", std::move(ops)}, {"outputs", std::move(outputs)}};
  if (!keep.empty()) frame.header["keep"] = std::move(keep);
  w.in_flight.push_back(gid);
  groups_.emplace(gid, std::move(rec));
  touched(graph.id);
  outbox_.send_to_worker(w.id, std::move(frame));
  return true;
}

// ---------------------------------------------------------------- group outcomes

void CoordinatorImpl::remove_group(GroupRecord& group) {
  const GroupId gid = group.id;
  auto w = workers_.find(group.worker);
  if (w != workers_.end()) {
    auto& f = w->second.in_flight;
    f.erase(std::remove(f.begin(), f.end(), gid), f.end());
  }
  auto graph = graphs_.find(group.graph);
  if (graph != graphs_.end()) {
    for (OpIndex op : group.ops) {
      auto& gs = graph->second.ops[op].groups;
      gs.erase(std::remove(gs.begin(), gs.end(), gid), gs.end());
    }
  }
  groups_.erase(gid);
  if (w != workers_.end()) refresh_busy_until(w->second);
}

void CoordinatorImpl::complete_group(WorkerState& w, GroupRecord& group, Frame& result) {
  Graph& graph = graphs_.at(group.graph);
  const std::vector<OpIndex> ops = group.ops;
  const std::vector<OpIndex> keep = group.kept_outputs;
  const bool late = group.expired;
  ++w.groups_done;
  ++groups_done_total_;
  remove_group(group);
  w.ops_done += apply_result(graph, ops, result, keep, &w.kept);
  if (late) event("late", "worker " + std::to_string(w.id) + " finished a group after its deadline; its result is used");
}

uint64_t CoordinatorImpl::apply_result(Graph& graph, const std::vector<OpIndex>& ops, Frame& result,
                                       const std::vector<OpIndex>& keep, KeptTensors* kept_by) {
  std::unordered_map<std::string, Tensor*> values;
  for (auto& nt : result.tensors) values.emplace(nt.name, &nt.tensor);
  std::set<GroupId> losers;
  uint64_t computed = 0;
  for (OpIndex op : ops) {
    OpNode& node = graph.ops[op];
    if (is_final(node.status)) continue;
    auto v = values.find(graph.wire_name(op));
    if (v != values.end()) {
      node.value = std::make_shared<const Tensor>(std::move(*v->second));
      node.has_value = true;
      holding_values_.insert(graph.id);
      store_->queue_value(graph.id, op, node.value);
      if (kept_by && std::find(keep.begin(), keep.end(), op) != keep.end()) kept_by->add(v->first, value_bytes(node));
    }
    set_status(graph, op, OpStatus::computed);
    losers.insert(node.groups.begin(), node.groups.end());
    ++computed;
  }
  ops_computed_total_ += computed;
  recent_.emplace_back(now(), computed);
  for (GroupId loser : losers) {
    ++duplicates_ignored_total_;
    cancel_group(loser);
  }
  for (OpIndex op : ops) {
    OpNode& node = graph.ops[op];
    if (node.status != OpStatus::computed) continue;
    if (node.has_value) {
      for (OpIndex dep : node.dependents) graph.refresh_ready(dep);
      continue;
    }
    // A value that stayed on the worker but is wanted after all (a later submit or wait).
    bool wanted = node.requested;
    for (OpIndex dep : node.dependents) wanted = wanted || !is_final(graph.ops[dep].status);
    if (wanted) ensure_value(graph, op);
  }
  if (store_->queued_bytes() > kFlushBytes) flush_store();
  return computed;
}

void CoordinatorImpl::requeue_group(GroupId gid, const std::string& reason, bool transient) {
  auto it = groups_.find(gid);
  if (it == groups_.end()) return;
  GroupRecord group = it->second;
  remove_group(it->second);
  auto g = graphs_.find(group.graph);
  if (g == graphs_.end()) return;
  Graph& graph = g->second;
  if (group.expired) return;  // its ops were already handed on at the deadline
  for (OpIndex op : group.ops) {
    OpNode& node = graph.ops[op];
    if (node.status != OpStatus::running) continue;
    if (transient) retry_op(graph, op, group.worker, reason);
    else set_status(graph, op, OpStatus::pending);
  }
  for (OpIndex op : group.ops) graph.refresh_ready(op);
  touched(graph.id);
}

void CoordinatorImpl::retry_op(Graph& graph, OpIndex op, WorkerId worker, const std::string& reason) {
  OpNode& node = graph.ops[op];
  node.avoid_worker = worker;
  if (++node.attempts >= options_.max_attempts)
    fail_op(graph, op, "gave up after " + std::to_string(node.attempts) + " attempts (last: " + reason + ")");
  else
    set_status(graph, op, OpStatus::pending);
}

void CoordinatorImpl::cancel_group(GroupId gid) {
  auto it = groups_.find(gid);
  if (it == groups_.end()) return;
  const WorkerId worker = it->second.worker;
  auto w = workers_.find(worker);
  if (w != workers_.end()) {
    w->second.cancelled.push_back(gid);
    while (w->second.cancelled.size() > kCancelledMemory) w->second.cancelled.pop_front();
    Frame f;
    f.header = {{"type", "cancel"}, {"group_id", gid}};
    outbox_.send_to_worker(worker, std::move(f));
  }
  requeue_group(gid, "cancelled", false);
}

void CoordinatorImpl::expire_group(GroupRecord& group) {
  group.expired = true;
  ++deadlines_missed_total_;
  auto w = workers_.find(group.worker);
  if (w != workers_.end()) {
    ++w->second.failures;
    w->second.suspect = true;
    // It is slower than believed by at least the slack; measurements will correct this.
    w->second.speed.penalize(options_.deadline_slack);
    refresh_busy_until(w->second);
  }
  Graph& graph = graphs_.at(group.graph);
  event("deadline", "group " + std::to_string(group.id) + " of graph " + std::to_string(graph.id) + " missed its deadline on worker " +
                        std::to_string(group.worker) + "; handing its " + std::to_string(group.ops.size()) +
                        " op(s) to another worker");
  for (OpIndex op : group.ops)
    if (graph.ops[op].status == OpStatus::running) retry_op(graph, op, group.worker, "missed its deadline");
  for (OpIndex op : group.ops) graph.refresh_ready(op);
  touched(graph.id);
}

void CoordinatorImpl::cancel_finished_groups(GraphId graph_id) {
  const Graph& graph = graphs_.at(graph_id);
  std::vector<GroupId> done;
  for (const auto& [gid, group] : groups_) {
    if (group.graph != graph_id) continue;
    bool all_final = true;
    for (OpIndex op : group.ops) all_final = all_final && is_final(graph.ops[op].status);
    if (all_final) done.push_back(gid);
  }
  for (GroupId gid : done) cancel_group(gid);
}

// ---------------------------------------------------------------- op state

void CoordinatorImpl::set_status(Graph& graph, OpIndex op, OpStatus status, const std::string& error) {
  const bool was_finished = graph.finished();
  graph.set_status(op, status);
  graph.ops[op].error = error;
  // Running is not stored: after a restart every running op is pending again anyway.
  if (status != OpStatus::running) store_->queue_status(graph.id, op, status, error);
  if (is_final(status) && !disputes_.empty()) close_dispute(graph, op, status == OpStatus::computed);
  if (!was_finished && graph.finished()) note_finished(graph);
  touched(graph.id);
}

void CoordinatorImpl::note_finished(Graph& graph) {
  graph.finished_at = unix_now();
  store_->queue_finished(graph.id, graph.finished_at);
}

void CoordinatorImpl::fail_op(Graph& graph, OpIndex root, const std::string& error) {
  set_status(graph, root, OpStatus::failed, error);
  const std::string because = "input op '" + graph.ops[root].id + "' failed: " + error;
  std::vector<OpIndex> stack(graph.ops[root].dependents.begin(), graph.ops[root].dependents.end());
  while (!stack.empty()) {
    const OpIndex op = stack.back();
    stack.pop_back();
    if (is_final(graph.ops[op].status)) continue;
    set_status(graph, op, OpStatus::failed, because);
    stack.insert(stack.end(), graph.ops[op].dependents.begin(), graph.ops[op].dependents.end());
  }
}

void CoordinatorImpl::cancel_op(Graph& graph, OpIndex root, int& count) {
  std::vector<OpIndex> stack{root};
  while (!stack.empty()) {
    const OpIndex op = stack.back();
    stack.pop_back();
    if (is_final(graph.ops[op].status)) continue;
    set_status(graph, op, OpStatus::cancelled, "cancelled");
    ++count;
    stack.insert(stack.end(), graph.ops[op].dependents.begin(), graph.ops[op].dependents.end());
  }
}

void CoordinatorImpl::ensure_value(Graph& graph, OpIndex root) {
  std::vector<OpIndex> stack{root};
  std::vector<OpIndex> reset;
  while (!stack.empty()) {
    const OpIndex op = stack.back();
    stack.pop_back();
    OpNode& node = graph.ops[op];
    if (node.status != OpStatus::computed || node.has_value) continue;
    set_status(graph, op, OpStatus::pending);
    reset.push_back(op);
    stack.insert(stack.end(), node.inputs.begin(), node.inputs.end());
  }
  for (OpIndex op : reset) {
    graph.refresh_ready(op);
    for (OpIndex dep : graph.ops[op].dependents) graph.refresh_ready(dep);
  }
}

void CoordinatorImpl::mark_requested(Graph& graph, OpIndex op) {
  if (graph.ops[op].requested) return;
  graph.ops[op].requested = true;
  store_->queue_requested(graph.id, op);
}

std::shared_ptr<const Tensor> CoordinatorImpl::value_of(Graph& graph, OpIndex op) {
  OpNode& node = graph.ops[op];
  if (node.value || !node.has_value) return node.value;
  if (auto stored = store_->load_value(graph.id, op)) {
    node.value = std::make_shared<const Tensor>(std::move(*stored));
    holding_values_.insert(graph.id);
  } else {
    node.has_value = false;  // lost: computed again when needed
  }
  return node.value;
}

void CoordinatorImpl::flush_store() {
  store_->flush();
  last_flush_ms_ = now();
}

void CoordinatorImpl::settle() {
  if (settling_) return;
  settling_ = true;
  // Answering waiters can reset value-less ops to pending, and dispatching can touch graphs
  // again; a few rounds reach a fixed point.
  for (int round = 0; round < 4 && !touched_.empty(); ++round) {
    std::set<GraphId> touched;
    touched.swap(touched_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (touched.count(it->graph) && serve_waiter(*it))
        it = waiters_.erase(it);
      else
        ++it;
    }
    dispatch();
  }
  dispatch();
  settle_orphaned_disputes();
  settling_ = false;
  // Without a ServerKernel, the coordinator computes disputed groups itself, now.
  while (own_kernel_ && !own_kernel_->idle()) {
    auto [job, reply] = own_kernel_->run_one();
    server_kernel_done(job, std::move(reply));
  }
}

// ---------------------------------------------------------------- tick

void CoordinatorImpl::tick() {
  const double t = now();
  std::vector<WorkerId> silent;
  for (auto& [id, w] : workers_)
    if (t - w.last_seen_ms > 3 * options_.heartbeat_ms) silent.push_back(id);
  for (WorkerId id : silent) {
    event("heartbeat", "worker " + std::to_string(id) + " silent for " +
                           std::to_string(static_cast<int>(t - workers_.at(id).last_seen_ms)) + " ms");
    drop_worker(id, "no heartbeat");
    outbox_.close_worker(id, "no message for " + std::to_string(static_cast<int>(3 * options_.heartbeat_ms)) + " ms");
  }
  std::vector<GroupRecord*> late;
  for (auto& [gid, group] : groups_)
    if (!group.expired && t > group.deadline_ms) late.push_back(&group);
  for (GroupRecord* group : late) expire_group(*group);
  for (auto& waiter : waiters_) {
    auto g = graphs_.find(waiter.graph);
    if (g != graphs_.end() && g->second.version != waiter.progress_version && t - waiter.progress_sent_ms >= 200)
      send_progress(waiter, g->second);
  }
  while (!recent_.empty() && recent_.front().first < t - 5000) recent_.pop_front();
  if (t - last_history_ms_ >= 1000) record_history();
  if (t - last_flush_ms_ >= kFlushPeriodMs || store_->queued_bytes() > kFlushBytes) {
    flush_store();
    // Finished graphs nobody waits for give their values back to the store.
    std::set<GraphId> waited;
    for (const auto& w : waiters_) waited.insert(w.graph);
    for (auto it = holding_values_.begin(); it != holding_values_.end();) {
      auto g = graphs_.find(*it);
      if (g == graphs_.end() || (g->second.finished() && !waited.count(*it))) {
        if (g != graphs_.end())
          for (auto& op : g->second.ops) op.value.reset();
        it = holding_values_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (t - last_removal_ms_ >= kRemovalPeriodMs) remove_old_graphs();
  settle();
}

void CoordinatorImpl::remove_old_graphs() {
  last_removal_ms_ = now();
  if (options_.keep_finished_s <= 0) return;
  const double cutoff = unix_now() - options_.keep_finished_s;
  // A graph someone waits for, or that a group still refers to (a late answer may come), stays.
  std::set<GraphId> in_use;
  for (const auto& w : waiters_) in_use.insert(w.graph);
  for (const auto& [gid, group] : groups_) in_use.insert(group.graph);
  std::vector<GraphId> old;
  for (const auto& [id, g] : graphs_)
    if (g.finished() && g.finished_at > 0 && g.finished_at < cutoff && !in_use.count(id)) old.push_back(id);
  for (GraphId id : old) {
    try {
      store_->remove_graph(id, unix_now());
    } catch (const std::exception& e) {
      event("store", "could not remove graph " + std::to_string(id) + ": " + e.what());
      return;
    }
    const Graph& g = graphs_.at(id);
    event("removed", "graph " + std::to_string(id) + " '" + g.name + "' removed, finished " +
                         std::to_string(static_cast<int>((unix_now() - g.finished_at) / 3600)) + " h ago");
    graph_by_key_.erase({g.owner, g.submit_key});
    graphs_.erase(id);
    holding_values_.erase(id);
    touched_.erase(id);
  }
}

std::unique_ptr<Coordinator> make_coordinator(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                              CoordinatorOptions options, ServerKernel* kernel) {
  return std::make_unique<CoordinatorImpl>(data_dir, clock, outbox, options, kernel);
}

}  // namespace corvid::server
