// What operators see: GET /api/status, GET /api/graphs/<id> and GET /metrics (formats in
// docs/protocol.md), and the one-second history behind the status page's charts.
#include <sstream>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

int64_t CoordinatorImpl::queue_depth() const {
  int64_t depth = 0;
  for (const auto& [id, g] : graphs_) depth += static_cast<int64_t>(g.ready.size());
  return depth;
}

namespace {

// A worker's benchmark as /api/status shows it (null until it reported one).
nlohmann::json benchmark_json(const WorkerState& w) {
  if (!w.benchmarked) return nullptr;
  const DeviceScore& s = w.benchmark;
  return {{"matmul_gflops", s.matmul_gflops}, {"elementwise_gbs", s.elementwise_gbs}, {"reduce_gbs", s.reduce_gbs},
          {"duration_ms", s.duration_ms}};
}

// Seconds from a graph's submit until its last op became final, or until now while it runs;
// null for a graph finished before servers recorded the time.
nlohmann::json elapsed_s(const Graph& g, double now_ms) {
  if (!g.finished()) return (now_ms - g.created_ms) / 1000.0;
  if (g.finished_at <= 0) return nullptr;
  return g.finished_at - g.created_at;
}

}  // namespace

nlohmann::json CoordinatorImpl::status_json() const {
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& [id, w] : fleet_.all()) {
    std::size_t in_flight = 0;
    for (GroupId g : w.in_flight)
      if (groups_.live(g)) ++in_flight;
    const std::string state = !w.benchmarked ? "benchmarking" : in_flight < w.in_flight.size() ? "stalled"
                                                             : in_flight ? "busy" : "idle";
    workers.push_back({{"id", id},
                       {"name", w.name},
                       {"user_agent", w.user_agent},
                       {"device", w.device},
                       {"slot", w.slot ? nlohmann::json(*w.slot) : nlohmann::json()},
                       {"state", state},
                       {"benchmark", benchmark_json(w)},
                       {"score_gflops", w.benchmarked ? w.speed.benchmark_gflops() : 0.0},
                       {"measured_gflops", w.speed.samples() >= SpeedModel::kSamplesBeforeTrust
                                               ? nlohmann::json(w.speed.measured_gflops())
                                               : nlohmann::json()},
                       {"in_flight", w.in_flight.size()},
                       {"groups_done", w.groups_done},
                       {"ops_done", w.ops_done},
                       {"failures", w.failures},
                       {"reported_compute_ms", w.reported_compute_ms},
                       {"connected_since", w.connected_at}});
  }
  nlohmann::json graphs = nlohmann::json::array();
  const double t = now();
  for (const auto& [id, g] : graphs_) {
    nlohmann::json counts = nlohmann::json::object();
    for (int s = 0; s < kOpStatusCount; ++s) counts[status_name(static_cast<OpStatus>(s))] = g.counts[s];
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& op : g.ops) {
      if (op.status != OpStatus::failed || failed.size() >= 20) continue;
      failed.push_back({{"id", op.id}, {"op", op.def ? std::string(op.def->name) : "?"}, {"error", op.error}});
    }
    graphs.push_back({{"id", id},
                      {"name", g.name},
                      {"owner", g.owner},
                      {"status", g.status()},
                      {"total", g.total()},
                      {"counts", std::move(counts)},
                      {"created_at", g.created_at},
                      {"elapsed_s", elapsed_s(g, t)},
                      {"failed", std::move(failed)}});
  }
  return {{"workers", std::move(workers)},
          {"graphs", std::move(graphs)},
          {"queue_depth", queue_depth()},
          {"throughput", stats_.throughput_json(t)},
          {"history", stats_.history_json()},
          {"events", stats_.events_json()},
          {"policy", options_.policy == SchedulingPolicy::round_robin ? "round-robin" : "earliest-finish"}};
}

std::shared_ptr<const Tensor> CoordinatorImpl::value(uint64_t graph_id, const std::string& op_id, std::string& why) {
  auto g = graphs_.find(graph_id);
  if (g == graphs_.end()) {
    why = "no graph " + std::to_string(graph_id);
    return nullptr;
  }
  Graph& graph = g->second;
  auto op = graph.index.find(op_id);
  if (op == graph.index.end()) {
    why = "no op '" + op_id + "' in graph " + std::to_string(graph_id);
    return nullptr;
  }
  const OpNode& node = graph.ops[op->second];
  if (node.status != OpStatus::computed) {
    why = "op '" + op_id + "' is " + status_name(node.status) + (node.error.empty() ? "" : ": " + node.error);
    return nullptr;
  }
  auto v = value_of(graph, op->second);
  if (!v) why = "op '" + op_id + "' was computed but its value stayed on a worker; wait for it (corvid wait) to have it computed again";
  return v;
}

nlohmann::json CoordinatorImpl::graph_json(uint64_t graph_id) const {
  auto it = graphs_.find(graph_id);
  if (it == graphs_.end()) return nullptr;
  const Graph& g = it->second;
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : g.ops) {
    nlohmann::json inputs = nlohmann::json::array();
    for (OpIndex in : op.inputs) inputs.push_back(g.ops[in].id);
    ops.push_back({{"id", op.id},
                   {"op", op.def ? std::string(op.def->name) : "?"},
                   {"inputs", std::move(inputs)},
                   {"status", status_name(op.status)},
                   {"error", op.error.empty() ? nlohmann::json() : nlohmann::json(op.error)}});
  }
  return {{"id", g.id}, {"name", g.name}, {"owner", g.owner}, {"status", g.status()}, {"ops", std::move(ops)}};
}

std::string CoordinatorImpl::metrics_text() const {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  metric("corvid_workers", "gauge", "Connected workers.");
  out << "corvid_workers " << fleet_.size() << "\n";
  metric("corvid_graphs", "gauge", "Graphs known to the server, by status.");
  std::map<std::string, int> by_status{{"running", 0}, {"computed", 0}, {"failed", 0}, {"cancelled", 0}};
  int64_t ops_by_status[kOpStatusCount] = {0, 0, 0, 0, 0};
  for (const auto& [id, g] : graphs_) {
    by_status[g.status()]++;
    for (int s = 0; s < kOpStatusCount; ++s) ops_by_status[s] += g.counts[s];
  }
  for (const auto& [status, n] : by_status) out << "corvid_graphs{status=\"" << status << "\"} " << n << "\n";
  metric("corvid_ops", "gauge", "Ops of all graphs, by status.");
  for (int s = 0; s < kOpStatusCount; ++s)
    out << "corvid_ops{status=\"" << status_name(static_cast<OpStatus>(s)) << "\"} " << ops_by_status[s] << "\n";
  metric("corvid_queue_depth", "gauge", "Ops ready to run and waiting for a worker.");
  out << "corvid_queue_depth " << queue_depth() << "\n";
  metric("corvid_groups_in_flight", "gauge", "Op groups assigned to workers and not yet answered.");
  out << "corvid_groups_in_flight " << groups_.size() << "\n";
  metric("corvid_ops_computed_total", "counter", "Ops computed by workers.");
  out << "corvid_ops_computed_total " << stats_.totals.ops_computed << "\n";
  metric("corvid_groups_completed_total", "counter", "Op groups whose result was accepted.");
  out << "corvid_groups_completed_total " << stats_.totals.groups_done << "\n";
  metric("corvid_groups_failed_total", "counter", "Op groups that came back with an error.");
  out << "corvid_groups_failed_total " << stats_.totals.groups_failed << "\n";
  metric("corvid_deadlines_missed_total", "counter", "Op groups handed to another worker at their deadline.");
  out << "corvid_deadlines_missed_total " << stats_.totals.deadlines_missed << "\n";
  metric("corvid_results_rejected_total", "counter", "Results rejected (wrong group, tensor names, dtypes or shapes).");
  out << "corvid_results_rejected_total " << stats_.totals.results_rejected << "\n";
  metric("corvid_duplicate_results_total", "counter", "Groups made redundant because another worker finished first.");
  out << "corvid_duplicate_results_total " << stats_.totals.duplicates_ignored << "\n";
  const std::pair<const char*, std::pair<const char*, uint64_t>> verification[] = {
      {"corvid_groups_verified_total", {"Replicated groups whose result was accepted (--verify replicate).",
                                        stats_.totals.groups_verified}},
      {"corvid_verification_disagreements_total", {"Replicas that disagreed with an earlier result.",
                                                   stats_.totals.disagreements}},
      {"corvid_results_wrong_total", {"Results proven wrong by a majority or the server's own kernel.",
                                      stats_.totals.results_wrong}},
      {"corvid_server_replicas_total", {"Replicas computed by the server's own kernel (no other worker).",
                                        stats_.totals.server_replicas}},
      {"corvid_verification_failed_total", {"Groups whose results never agreed: their ops failed.",
                                            stats_.totals.verification_failed}}};
  for (const auto& [name, help] : verification) {
    metric(name, "counter", help.first);
    out << name << " " << help.second << "\n";
  }
  metric("corvid_worker_ops_done", "counter", "Ops computed per connected worker.");
  for (const auto& [id, w] : fleet_.all()) out << "corvid_worker_ops_done{worker=\"" << id << "\"} " << w.ops_done << "\n";
  metric("corvid_worker_speed_gflops", "gauge", "Matmul speed the scheduler assumes per worker.");
  for (const auto& [id, w] : fleet_.all())
    out << "corvid_worker_speed_gflops{worker=\"" << id << "\"} " << w.speed.measured_gflops() << "\n";
  return out.str();
}

}  // namespace corvid::server
