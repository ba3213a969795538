// What operators see: GET /api/status, GET /api/graphs/<id> and GET /metrics (formats in
// docs/protocol.md), and the one-second history behind the status page's charts.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

int64_t CoordinatorImpl::queue_depth() const {
  int64_t depth = 0;
  for (const auto& [id, g] : graphs_) depth += static_cast<int64_t>(g.ready.size());
  return depth;
}

protocol::VerificationSummary CoordinatorImpl::verification_of(const Graph& graph) const {
  protocol::VerificationSummary v = graph.verification;
  v.policy = verify_policy_name(policy_of(graph));
  return v;
}

namespace {

nlohmann::json summary_json(const protocol::VerificationSummary& v) {
  return {{"policy", v.policy},         {"replicated", v.replicated}, {"spot_checked", v.spot_checked},
          {"disagreements", v.disagreements}, {"wrong", v.wrong},     {"quarantines", v.quarantines}};
}

// A trust record as /api/status shows it: the evidence of its last proven-wrong result.
nlohmann::json evidence_json(const TrustRecord& r) { return r.wrong ? r.evidence.to_json() : nlohmann::json(); }

// A worker's benchmark as /api/status shows it (null until it reported one).
nlohmann::json benchmark_json(const WorkerState& w) {
  if (!w.benchmarked) return nullptr;
  const DeviceScore& s = w.benchmark;
  return {{"matmul_gflops", s.matmul_gflops}, {"elementwise_gbs", s.elementwise_gbs}, {"reduce_gbs", s.reduce_gbs},
          {"duration_ms", s.duration_ms}};
}

// A graph's ValueHoldings as /api/status shows them.
nlohmann::json holdings_json(const ValueHoldings& h) {
  return {{"held", h.values}, {"bytes", h.bytes}, {"in_memory", h.in_memory}, {"freed", h.freed}};
}

// Seconds from a graph's submit until its last op became final, or until now while it runs;
// null for a graph finished before servers recorded the time.
nlohmann::json elapsed_s(const Graph& g, double now_ms) {
  if (!g.finished()) return (now_ms - g.created_ms) / 1000.0;
  if (g.finished_at <= 0) return nullptr;
  return g.finished_at - g.created_at;
}

}  // namespace

std::string CoordinatorImpl::worker_state(const WorkerState& w) const {
  if (!w.benchmarked) return "benchmarking";
  std::size_t live = 0;
  for (GroupId g : w.in_flight)
    if (groups_.live(g)) ++live;
  return live < w.in_flight.size() ? "stalled" : live ? "busy" : "idle";
}

nlohmann::json CoordinatorImpl::worker_row(const WorkerState& w) const {
  const TrustRecord* r = trust_.of(w.id);
  return {{"id", w.id},
          {"name", w.name},
          {"user_agent", w.user_agent},
          {"device", w.device},
          {"slot", w.slot ? nlohmann::json(*w.slot) : nlohmann::json()},
          {"state", worker_state(w)},
          {"benchmark", benchmark_json(w)},
          {"score_gflops", w.benchmarked ? w.speed.benchmark_gflops() : 0.0},
          {"measured_gflops", w.speed.samples() >= SpeedModel::kSamplesBeforeTrust ? nlohmann::json(w.speed.measured_gflops())
                                                                                    : nlohmann::json()},
          {"in_flight", w.in_flight.size()},
          {"groups_done", w.groups_done},
          {"ops_done", w.ops_done},
          {"failures", w.failures},
          {"reported_compute_ms", w.reported_compute_ms},
          {"connected_since", w.connected_at},
          {"trust", r ? trust_.trust(*r) : 0.0},
          {"quarantined", w.quarantined},
          {"verified_in_a_row", r ? r->verified : 0},
          {"wrong", r ? r->wrong : 0},
          {"evidence", r ? evidence_json(*r) : nlohmann::json()}};
}

nlohmann::json CoordinatorImpl::fleet_json() const {
  // Speeds (the matmul rate the scheduler assumes) in bins of a factor of 2 from 1/8 GFLOPS up.
  constexpr double kFirstEdge = 0.125;
  constexpr int kBins = 24;  // up to 2^21 GFLOPS, beyond the 1e5 cap of SpeedModel
  std::vector<uint64_t> bins(kBins, 0);
  std::map<std::string, uint64_t> by_state{{"benchmarking", 0}, {"idle", 0}, {"busy", 0}, {"stalled", 0}};
  uint64_t groups_done = 0, ops_done = 0, in_flight = 0;
  double total_gflops = 0;
  std::vector<std::pair<double, const WorkerState*>> speeds;
  speeds.reserve(fleet_.size());
  for (const auto& [id, w] : fleet_.all()) {
    ++by_state[worker_state(w)];
    groups_done += w.groups_done;
    ops_done += w.ops_done;
    in_flight += w.in_flight.size();
    if (!w.benchmarked) continue;
    const double gflops = w.speed.measured_gflops();
    total_gflops += gflops;
    speeds.emplace_back(gflops, &w);
    const int bin = static_cast<int>(std::floor(std::log2(std::max(gflops, kFirstEdge) / kFirstEdge)));
    ++bins[static_cast<std::size_t>(std::clamp(bin, 0, kBins - 1))];
  }
  // Only the bins from the first to the last that hold a worker.
  int first = 0, last = kBins - 1;
  while (first < kBins && !bins[static_cast<std::size_t>(first)]) ++first;
  while (last >= first && !bins[static_cast<std::size_t>(last)]) --last;
  nlohmann::json histogram = nlohmann::json::array();
  for (int b = first; b <= last; ++b)
    histogram.push_back({{"from_gflops", kFirstEdge * std::pow(2.0, b)},
                         {"to_gflops", kFirstEdge * std::pow(2.0, b + 1)},
                         {"workers", bins[static_cast<std::size_t>(b)]}});
  constexpr std::size_t kExtremes = 5;
  auto extremes = [&](bool fastest) {
    const std::size_t n = std::min(kExtremes, speeds.size());
    auto order = [fastest](const auto& a, const auto& b) {
      return fastest ? a.first > b.first || (a.first == b.first && a.second->id < b.second->id)
                     : a.first < b.first || (a.first == b.first && a.second->id < b.second->id);
    };
    std::partial_sort(speeds.begin(), speeds.begin() + static_cast<std::ptrdiff_t>(n), speeds.end(), order);
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i) rows.push_back(worker_row(*speeds[i].second));
    return rows;
  };
  nlohmann::json fastest = extremes(true);
  nlohmann::json slowest = extremes(false);
  return {{"workers", fleet_.size()},
          {"by_state", by_state},
          {"total_gflops", total_gflops},
          {"groups_in_flight", in_flight},
          {"groups_done", groups_done},
          {"ops_done", ops_done},
          {"speed_histogram", std::move(histogram)},
          {"fastest", std::move(fastest)},
          {"slowest", std::move(slowest)}};
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

nlohmann::json CoordinatorImpl::status_json(const StatusQuery& query) const {
  // Workers: those matching the search, in the order asked for, one page of rows.
  const std::string search = lower(query.workers_search);
  std::vector<const WorkerState*> matching;
  for (const auto& [id, w] : fleet_.all())
    if (search.empty() || std::to_string(id) == search || lower(w.name).find(search) != std::string::npos ||
        lower(w.user_agent).find(search) != std::string::npos)
      matching.push_back(&w);
  const std::size_t worker_limit = std::min(query.workers_limit, StatusQuery::kMaxLimit);
  const std::size_t worker_begin = std::min(query.workers_offset, matching.size());
  const std::size_t worker_end = std::min(matching.size(), worker_begin + worker_limit);
  if (query.workers_order != StatusQuery::WorkerOrder::id) {
    // Unbenchmarked workers last; ties by id.
    const bool fastest = query.workers_order == StatusQuery::WorkerOrder::fastest;
    auto key = [fastest](const WorkerState* w) {
      const double gflops = w->benchmarked ? w->speed.measured_gflops() : 0;
      return fastest ? -gflops : (w->benchmarked ? gflops : std::numeric_limits<double>::infinity());
    };
    std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(worker_end), matching.end(),
                      [&](const WorkerState* a, const WorkerState* b) {
                        const double ka = key(a), kb = key(b);
                        return ka < kb || (ka == kb && a->id < b->id);
                      });
  }
  nlohmann::json workers = nlohmann::json::array();
  for (std::size_t i = worker_begin; i < worker_end; ++i) workers.push_back(worker_row(*matching[i]));

  // Graphs: newest first, one page.
  nlohmann::json graphs = nlohmann::json::array();
  const double t = now();
  const std::size_t graph_limit = std::min(query.graphs_limit, StatusQuery::kMaxLimit);
  auto graph = graphs_.rbegin();
  for (std::size_t skipped = 0; skipped < query.graphs_offset && graph != graphs_.rend(); ++skipped) ++graph;
  for (; graph != graphs_.rend() && graphs.size() < graph_limit; ++graph) {
    const auto& [id, g] = *graph;
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
                      {"verification", summary_json(verification_of(g))},
                      {"values", holdings_json(g.holdings())},
                      {"failed", std::move(failed)}});
  }
  // Quarantined identities, connected or not (an anonymous one never connects again).
  nlohmann::json quarantined = nlohmann::json::array();
  for (const TrustRecord* r : trust_.quarantined(50))
    quarantined.push_back({{"identity", r->identity}, {"wrong", r->wrong}, {"evidence", r->evidence.to_json()}});
  std::map<std::string, uint64_t> graphs_by_status{{"running", 0}, {"computed", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& [id, g] : graphs_) ++graphs_by_status[g.status()];
  const char* orders[] = {"id", "fastest", "slowest"};
  return {{"workers", std::move(workers)},
          {"workers_page", {{"offset", worker_begin},
                            {"limit", worker_limit},
                            {"matching", matching.size()},
                            {"order", orders[static_cast<int>(query.workers_order)]},
                            {"search", query.workers_search}}},
          {"fleet", fleet_json()},
          {"graphs", std::move(graphs)},
          {"graphs_page", {{"offset", query.graphs_offset}, {"limit", graph_limit}, {"total", graphs_.size()},
                           {"by_status", graphs_by_status}}},
          {"queue_depth", queue_depth()},
          {"throughput", stats_.throughput_json(t)},
          {"history", stats_.history_json()},
          {"events", stats_.events_json()},
          {"verify", verify_policy_name(options_.verify)},
          {"quarantined", std::move(quarantined)},
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
                   {"value", op.freed ? "freed" : op.has_value ? "server" : op.status == OpStatus::computed ? "worker" : ""},
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
  metric("corvid_submits_stored_total", "counter", "Submits stored (each answered `submitted` after its commit).");
  out << "corvid_submits_stored_total " << store_.submits_stored() << "\n";
  metric("corvid_submit_commits_total", "counter",
         "Store commits of submits: submits arriving together share one (group commit).");
  out << "corvid_submit_commits_total " << store_.submit_commits() << "\n";
  metric("corvid_deadlines_missed_total", "counter", "Op groups handed to another worker at their deadline.");
  out << "corvid_deadlines_missed_total " << stats_.totals.deadlines_missed << "\n";
  metric("corvid_results_rejected_total", "counter", "Results rejected (wrong group, tensor names, dtypes or shapes).");
  out << "corvid_results_rejected_total " << stats_.totals.results_rejected << "\n";
  metric("corvid_duplicate_results_total", "counter", "Groups made redundant because another worker finished first.");
  out << "corvid_duplicate_results_total " << stats_.totals.duplicates_ignored << "\n";
  if (store_.leases_graphs()) {
    metric("corvid_graphs_adopted_total", "counter", "Graphs adopted from a server whose lease expired (PostgreSQL store).");
    out << "corvid_graphs_adopted_total " << stats_.totals.graphs_adopted << "\n";
    metric("corvid_leases_lost_total", "counter", "Graphs this server lost because it stalled past its lease.");
    out << "corvid_leases_lost_total " << stats_.totals.leases_lost << "\n";
  }
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
                                            stats_.totals.verification_failed}},
      {"corvid_quarantines_total", {"Workers quarantined after repeated proven-wrong results.", stats_.totals.quarantines}},
      {"corvid_rechecked_total", {"Groups a quarantined worker delivered unreplicated, verified again by the server.",
                                  stats_.totals.rechecked}},
      {"corvid_wrong_delivered_total", {"Of those, groups found wrong (the server's values replaced them).",
                                        stats_.totals.wrong_delivered}}};
  for (const auto& [name, help] : verification) {
    metric(name, "counter", help.first);
    out << name << " " << help.second << "\n";
  }
  metric("corvid_server_verify_ms_total", "counter",
         "Time the server's own kernel spent on verification and disputes (its clock; --spot-check-budget).");
  out << "corvid_server_verify_ms_total " << budget_.spent_ms() << "\n";
  const std::pair<const char*, int64_t protocol::VerificationSummary::*> per_graph[] = {
      {"replicated", &protocol::VerificationSummary::replicated},
      {"spot_checked", &protocol::VerificationSummary::spot_checked},
      {"disagreements", &protocol::VerificationSummary::disagreements},
      {"wrong", &protocol::VerificationSummary::wrong},
      {"quarantines", &protocol::VerificationSummary::quarantines}};
  metric("corvid_graph_verification", "counter",
         "Per graph in memory: groups replicated, spot-checked, disagreements, wrong results, quarantines.");
  for (const auto& [id, g] : graphs_)
    for (const auto& [what, field] : per_graph)
      out << "corvid_graph_verification{graph=\"" << id << "\",what=\"" << what << "\"} " << g.verification.*field << "\n";
  metric("corvid_graph_values_held", "gauge",
         "Per graph in memory: computed values the server holds (memory or store), and their bytes (what=\"bytes\").");
  for (const auto& [id, g] : graphs_) {
    const ValueHoldings h = g.holdings();
    out << "corvid_graph_values_held{graph=\"" << id << "\",what=\"values\"} " << h.values << "\n";
    out << "corvid_graph_values_held{graph=\"" << id << "\",what=\"bytes\"} " << h.bytes << "\n";
    out << "corvid_graph_values_held{graph=\"" << id << "\",what=\"in_memory\"} " << h.in_memory << "\n";
    out << "corvid_graph_values_held{graph=\"" << id << "\",what=\"freed\"} " << h.freed << "\n";
  }
  metric("corvid_worker_trust", "gauge", "Share of a connected worker's groups taken without a replica (0: quarantined).");
  for (const auto& [id, w] : fleet_.all())
    if (const TrustRecord* r = trust_.of(id)) out << "corvid_worker_trust{worker=\"" << id << "\"} " << trust_.trust(*r) << "\n";
  metric("corvid_worker_ops_done", "counter", "Ops computed per connected worker.");
  for (const auto& [id, w] : fleet_.all()) out << "corvid_worker_ops_done{worker=\"" << id << "\"} " << w.ops_done << "\n";
  metric("corvid_worker_speed_gflops", "gauge", "Matmul speed the scheduler assumes per worker.");
  for (const auto& [id, w] : fleet_.all())
    out << "corvid_worker_speed_gflops{worker=\"" << id << "\"} " << w.speed.measured_gflops() << "\n";
  return out.str();
}

}  // namespace corvid::server
