// The coordinator's wiring (see coordinator_impl.hpp): construction and restart, group outcomes,
// reactions to op state changes, settle and tick.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "server/core/coordinator_impl.hpp"
#include "server/core/postgres_store.hpp"

namespace corvid::server {

namespace {

constexpr double kRemovalPeriodMs = 10000;  // how often finished graphs are checked for removal

// The PostgreSQL store `store` names, or else the SQLite store in data_dir (created if missing).
std::unique_ptr<GraphStore> open_store(const std::string& data_dir, const CoordinatorOptions& options) {
  const std::string& store = options.store;
  if (is_postgres_url(store)) return open_postgres_store(store, {options.lease_ms, options.advertise_url});
  if (!store.empty()) throw std::runtime_error("--store " + redacted_url(store) + " is not a postgresql:// URI");
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + data_dir + ": " + ec.message());
  return open_sqlite_store((std::filesystem::path(data_dir) / "corvid.db").string());
}

double system_unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------- construction and restart

CoordinatorImpl::CoordinatorImpl(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                 CoordinatorOptions options, ServerKernel* kernel)
    : clock_(clock),
      outbox_(outbox),
      options_(options),
      graph_ids_(data_dir),
      own_kernel_(kernel ? nullptr : std::make_unique<InlineServerKernel>()),
      kernel_(kernel ? *kernel : *own_kernel_),
      clock_at_start_(clock.now_ms()),
      unix_at_start_(system_unix_now()),
      store_(open_store(data_dir, options), clock_at_start_),
      stats_(clock_at_start_),
      // Group ids differ across restarts, so a result for a group of an earlier run is never
      // taken for one of this run.
      groups_(static_cast<GroupId>(unix_at_start_ * 1000) * 1000),
      trust_(options.verify_floor),
      budget_(options.spot_check_budget, clock_at_start_),
      rng_(options.seed ? options.seed : std::random_device{}()) {
  last_worker_ms_ = clock_at_start_;
  last_server_done_ms_ = clock_at_start_;
  trust_.load(store_.load_trust());
  load_from_store();
  // Ids continue after the mark even if corvid.db lost graphs; a mark behind the store (or none,
  // from an older server) catches up at once.
  next_graph_id_ = std::max(next_graph_id_, graph_ids_.last() + 1);
  graph_ids_.raise(next_graph_id_ - 1);
}

CoordinatorImpl::~CoordinatorImpl() = default;

void CoordinatorImpl::load_from_store() {
  int resumed = 0;
  for (Graph& loaded : store_.load(now(), unix_now())) {
    Graph& g = graphs_[loaded.id] = std::move(loaded);
    g.report_ready_to(ready_graphs_);
    if (!g.submit_key.empty()) graph_by_key_[{g.owner, g.submit_key}] = g.id;
    next_graph_id_ = std::max(next_graph_id_, g.id + 1);
    if (g.finished()) continue;
    ++resumed;
    touched(g.id);
  }
  next_graph_id_ = std::max(next_graph_id_, store_.last_graph_id() + 1);  // removed graphs' ids too
  if (resumed) event("restart", "resumed " + std::to_string(resumed) + " unfinished graph(s) from the store");
}

// ---------------------------------------------------------------- group outcomes

void CoordinatorImpl::remove_group(GroupRecord& group) {
  const GroupId gid = group.id;
  const WorkerId worker = group.worker;
  auto graph = graphs_.find(group.graph);
  if (graph != graphs_.end()) {
    for (OpIndex op : group.ops) {
      auto& gs = graph->second.ops[op].groups;
      gs.erase(std::remove(gs.begin(), gs.end(), gid), gs.end());
    }
  }
  groups_.erase(gid);
  fleet_.finish_group(worker, gid, now(), groups_);
}

uint64_t CoordinatorImpl::apply_result(Graph& graph, const std::vector<OpIndex>& ops, std::vector<NamedTensor>& outputs,
                                       const std::vector<OpIndex>& keep, KeptTensors* kept_by) {
  std::unordered_map<std::string, Tensor*> values;
  for (auto& nt : outputs) values.emplace(nt.name, &nt.tensor);
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
      store_.record_value(graph, op);
      if (kept_by && std::find(keep.begin(), keep.end(), op) != keep.end()) kept_by->add(v->first, value_bytes(node));
    }
    apply_changes(graph, graph.set_status(op, OpStatus::computed));
    losers.insert(node.groups.begin(), node.groups.end());
    ++computed;
  }
  stats_.computed(now(), computed);
  for (GroupId loser : losers) {
    ++stats_.totals.duplicates_ignored;
    cancel_group(loser);
  }
  // Wake the dependents of ops whose value reached the server.
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
  if (store_.too_much_queued()) flush_store();
  return computed;
}

void CoordinatorImpl::requeue_group(GroupId gid, const std::string& reason, bool transient) {
  GroupRecord* found = groups_.find(gid);
  if (!found) return;
  const GroupRecord group = *found;
  remove_group(*found);
  auto g = graphs_.find(group.graph);
  if (g == graphs_.end()) return;
  Graph& graph = g->second;
  if (group.check) return replica_lost(group);
  if (group.expired) return;  // its ops were already handed on at the deadline
  for (OpIndex op : group.ops) {
    // Ops a verification check holds keep their candidate result: they stay running.
    if (graph.ops[op].status != OpStatus::running || checks_.holds(graph.id, op)) continue;
    if (transient) retry_op(graph, op, group.worker, reason);
    else apply_changes(graph, graph.set_status(op, OpStatus::pending));
  }
  for (OpIndex op : group.ops) graph.refresh_ready(op);
  touched(graph.id);
}

void CoordinatorImpl::cancel_group(GroupId gid) {
  const GroupRecord* group = groups_.find(gid);
  if (!group) return;
  const WorkerId worker = group->worker;
  if (fleet_.find(worker)) {
    fleet_.note_cancelled(worker, gid);
    outbox_.send_to_worker(worker, protocol::encode(protocol::CancelGroup{gid}));
  }
  requeue_group(gid, "cancelled", false);
}

void CoordinatorImpl::expire_group(GroupRecord& group) {
  group.expired = true;
  ++stats_.totals.deadlines_missed;
  if (WorkerState* w = fleet_.find(group.worker)) {
    ++w->failures;
    w->suspect = true;
    // It is slower than believed by at least the slack; measurements will correct this.
    w->speed.penalize(options_.deadline_slack);
    Fleet::refresh_busy_until(*w, now(), groups_);
    fleet_.reindex(*w);
  }
  Graph& graph = graphs_.at(group.graph);
  event("deadline", "group " + std::to_string(group.id) + " of graph " + std::to_string(graph.id) + " missed its deadline on worker " +
                        std::to_string(group.worker) + "; handing its " + std::to_string(group.ops.size()) +
                        " op(s) to another worker");
  if (group.check) return replica_lost(group);  // another replica; a late answer still counts
  for (OpIndex op : group.ops)
    if (graph.ops[op].status == OpStatus::running && !checks_.holds(graph.id, op))
      retry_op(graph, op, group.worker, "missed its deadline");
  for (OpIndex op : group.ops) graph.refresh_ready(op);
  touched(graph.id);
}

void CoordinatorImpl::cancel_finished_groups(GraphId graph_id) {
  for (GroupId gid : groups_.finished_in(graphs_.at(graph_id))) cancel_group(gid);
}

// ---------------------------------------------------------------- op state

void CoordinatorImpl::apply_changes(Graph& graph, const OpChanges& changes) {
  if (changes.empty()) return;
  store_.record(graph, changes);
  if (!disputes_.empty()) {
    for (OpIndex op : changes.ops)
      if (is_final(graph.ops[op].status)) close_dispute(graph, op, graph.ops[op].status == OpStatus::computed);
  }
  if (changes.finished) note_finished(graph);
  if (graph.unfreed_releases) free_released(graph, changes.ops);
  touched(graph.id);
}

void CoordinatorImpl::release_ops_of_developer(Graph& graph, const std::vector<OpIndex>& ops) {
  for (OpIndex op : ops) {
    OpNode& node = graph.ops[op];
    if (node.released) continue;
    node.released = true;
    ++graph.unfreed_releases;
  }
  free_released(graph, ops);
}

void CoordinatorImpl::free_released(Graph& graph, const std::vector<OpIndex>& ops) {
  std::set<OpIndex> waited;  // a waiter answered later still reads them
  for (const Waiter& w : waiters_)
    if (w.graph == graph.id) waited.insert(w.ids.begin(), w.ids.end());
  std::map<WorkerId, std::vector<std::string>> forget;
  std::vector<OpIndex> stack(ops.begin(), ops.end());
  const std::set<OpIndex> given(ops.begin(), ops.end());
  std::set<OpIndex> seen = given;
  while (!stack.empty() && graph.unfreed_releases) {
    const OpIndex op = stack.back();
    stack.pop_back();
    const OpNode& node = graph.ops[op];
    if (graph.freeable(op) && !waited.count(op)) {
      graph.free_value(op);
      store_.record_freed(graph, op);
      const std::string name = graph.wire_name(op);
      for (WorkerId id : fleet_.keeping(name)) {
        fleet_.find(id)->kept.erase(name);
        forget[id].push_back(name);
      }
    }
    // The inputs of a final op may be freeable now; through a value that stayed on a worker (or
    // was freed), theirs too.
    if ((given.count(op) && is_final(node.status)) || (node.status == OpStatus::computed && !node.has_value))
      for (OpIndex in : node.inputs)
        if (seen.insert(in).second) stack.push_back(in);
  }
  for (auto& [id, names] : forget) outbox_.send_to_worker(id, protocol::encode(protocol::Release{{}, std::move(names)}));
}

void CoordinatorImpl::note_finished(Graph& graph) {
  graph.finished_at = unix_now();
  store_.record_finished(graph);
}

std::shared_ptr<const Tensor> CoordinatorImpl::value_of(Graph& graph, OpIndex op) {
  OpNode& node = graph.ops[op];
  if (node.value || !node.has_value) return node.value;
  if (auto stored = store_.load_value(graph, op)) {
    node.value = std::move(stored);
    holding_values_.insert(graph.id);
  } else {
    node.has_value = false;  // lost: computed again when needed
  }
  return node.value;
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
      if (touched.count(it->graph) && serve_waiter(*it)) {
        const Waiter served = std::move(*it);
        it = waiters_.erase(it);
        auto g = graphs_.find(served.graph);  // released ops it named may be freed now
        if (g != graphs_.end() && g->second.unfreed_releases) free_released(g->second, served.ids);
      } else {
        ++it;
      }
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
  for (WorkerId id : fleet_.silent(t, 3 * options_.heartbeat_ms)) {
    event("heartbeat", "worker " + std::to_string(id) + " silent for " +
                           std::to_string(static_cast<int>(t - fleet_.find(id)->last_seen_ms)) + " ms");
    drop_worker(id, "no heartbeat");
    outbox_.close_worker(id, "no message for " + std::to_string(static_cast<int>(3 * options_.heartbeat_ms)) + " ms");
  }
  for (GroupRecord* group : groups_.past_deadline(t)) expire_group(*group);
  if (fleet_.size()) last_worker_ms_ = t;
  for (auto& waiter : waiters_) {
    auto g = graphs_.find(waiter.graph);
    if (g == graphs_.end()) continue;
    // Progress when something changed, and every second while no worker is connected (the
    // developer is told that nobody computes).
    const bool changed = g->second.version != waiter.progress_version;
    if ((changed && t - waiter.progress_sent_ms >= 200) || (!fleet_.size() && t - waiter.progress_sent_ms >= 1000))
      send_progress(waiter, g->second);
  }
  stats_.tick(t, unix_now(), queue_depth());
  if (store_.flush_due(t)) {
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
  if (store_.leases_graphs() && t - last_lease_renewal_ms_ >= options_.lease_ms / 3) renew_leases();
  settle();
}

void CoordinatorImpl::renew_leases() {
  last_lease_renewal_ms_ = now();
  Persistence::Leases leases;
  try {
    leases = store_.renew_leases(static_cast<int64_t>(fleet_.size()), queue_depth(), now(), unix_now());
  } catch (const std::exception& e) {
    event("store", std::string("could not renew the leases: ") + e.what());
    return;
  }
  for (GraphId id : leases.lost) drop_lost_graph(id);
  for (Graph& adopted : leases.adopted) {
    const GraphId id = adopted.id;
    if (graphs_.count(id)) continue;
    event("adopted", "graph " + std::to_string(id) + " '" + adopted.name + "' adopted from a server whose lease expired");
    ++stats_.totals.graphs_adopted;
    Graph& g = graphs_[id] = std::move(adopted);
    g.report_ready_to(ready_graphs_);
    if (!g.submit_key.empty()) graph_by_key_[{g.owner, g.submit_key}] = id;
    touched(id);
  }
  // Quarantines decided by the other servers (trust records are shared through the store).
  try {
    for (WorkerId worker : trust_.merge_quarantined(store_.load_trust())) {
      event("quarantine", "worker " + std::to_string(worker) + " is quarantined by another server of this store");
      isolate(worker);
    }
  } catch (const std::exception& e) {
    event("store", std::string("could not read the shared trust records: ") + e.what());
  }
  registry_peers_.clear();
  for (const GraphStore::PeerLoad& peer : leases.peers)
    if (protocol::server_address_problem(peer.url).empty()) registry_peers_.push_back(peer.url);
  rebalance(leases.peers);
}

std::vector<std::string> CoordinatorImpl::welcome_servers() const {
  std::vector<std::string> servers = options_.peers;
  for (const std::string& url : registry_peers_) {
    if (servers.size() >= protocol::WorkerWelcome::kMaxServers) break;
    if (std::find(servers.begin(), servers.end(), url) == servers.end()) servers.push_back(url);
  }
  return servers;
}

void CoordinatorImpl::rebalance(const std::vector<GraphStore::PeerLoad>& peers) {
  // Idle workers here with no work here: half of them (at least one) go to the server with the
  // largest backlog, if it has more ready ops than slots to run them. Each server decides alone,
  // once per renewal, so a fleet moves gradually and never toward a server without a backlog.
  if (peers.empty() || queue_depth() > 0) return;
  const GraphStore::PeerLoad& busiest = peers.front();
  if (busiest.ready <= busiest.slots) return;
  const std::size_t idle = fleet_.idle(fleet_.size()).size();
  if (idle == 0) return;
  const auto wanted = static_cast<std::size_t>(busiest.ready - busiest.slots);
  try {
    redirect_free_workers(std::min({wanted, std::max<std::size_t>(1, idle / 2)}), busiest.url);
  } catch (const protocol::ProtocolError& e) {
    event("redirect", "server " + busiest.url + " has a backlog but its URL cannot be sent to workers: " + e.what());
  }
}

void CoordinatorImpl::drop_lost_graph(GraphId id) {
  auto found = graphs_.find(id);
  if (found == graphs_.end()) return;
  Graph& graph = found->second;
  ++stats_.totals.leases_lost;
  event("lease", "lost the lease of graph " + std::to_string(id) + " '" + graph.name +
                     "' (this server stalled past it): another server carries it on, this one drops it");
  // Developers waiting here are sent to the new owner; nothing of the graph is written any more
  // (the store fences it), its groups are called back from the workers.
  const std::string owner = store_.owner_url(id);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->graph != id) {
      ++it;
      continue;
    }
    send_owned_elsewhere(it->client, it->request_id, id, owner);
    it = waiters_.erase(it);
  }
  for (OpIndex op = 0; op < graph.ops.size(); ++op) apply_changes(graph, graph.cancel(op));
  cancel_finished_groups(id);
  forget_graph(id);
}

void CoordinatorImpl::forget_graph(GraphId id) {
  const Graph& graph = graphs_.at(id);
  graph_by_key_.erase({graph.owner, graph.submit_key});
  ready_graphs_.erase(id);  // before the graph goes: the index points at it
  graphs_.erase(id);
  holding_values_.erase(id);
  touched_.erase(id);
}

void CoordinatorImpl::remove_old_graphs() {
  last_removal_ms_ = now();
  if (options_.keep_finished_s <= 0) return;
  const double cutoff = unix_now() - options_.keep_finished_s;
  // A graph someone waits for, or that a group still refers to (a late answer may come), stays.
  std::set<GraphId> in_use = groups_.graphs_in_use();
  for (const auto& w : waiters_) in_use.insert(w.graph);
  in_use.insert(staged_graphs_.begin(), staged_graphs_.end());  // a submit waits for its commit
  std::vector<GraphId> old;
  for (const auto& [id, g] : graphs_)
    if (g.finished() && g.finished_at > 0 && g.finished_at < cutoff && !in_use.count(id)) old.push_back(id);
  for (GraphId id : old) {
    try {
      store_.remove_graph(id, unix_now());
    } catch (const std::exception& e) {
      event("store", "could not remove graph " + std::to_string(id) + ": " + e.what());
      return;
    }
    const Graph& g = graphs_.at(id);
    event("removed", "graph " + std::to_string(id) + " '" + g.name + "' removed, finished " +
                         std::to_string(static_cast<int>((unix_now() - g.finished_at) / 3600)) + " h ago");
    forget_graph(id);
  }
}

std::unique_ptr<Coordinator> make_coordinator(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                              CoordinatorOptions options, ServerKernel* kernel) {
  return std::make_unique<CoordinatorImpl>(data_dir, clock, outbox, options, kernel);
}

}  // namespace corvid::server
