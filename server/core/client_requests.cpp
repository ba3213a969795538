// Developers' requests: submit (validated all or nothing, durable before `submitted`), wait
// (values or a stream of them, with progress), end (the report) and cancel.
#include <algorithm>
#include <cstdio>

#include "server/core/coordinator_impl.hpp"
#include "server/core/submit.hpp"

namespace corvid::server {

void CoordinatorImpl::client_connected(ClientId client, const std::string& owner) {
  clients_[client] = owner.empty() ? "client " + std::to_string(client) : owner;
  outbox_.send_to_client(client, protocol::encode(protocol::ClientWelcome{client}));
}

void CoordinatorImpl::client_disconnected(ClientId client) {
  // Its staged submits are still stored (their answers go nowhere); its held messages are dropped.
  held_.erase(client);
  clients_.erase(client);
  waiters_.remove_if([&](const Waiter& w) { return w.client == client; });
}

void CoordinatorImpl::client_message(ClientId client, Frame frame) {
  if (!clients_.count(client)) clients_[client] = "client " + std::to_string(client);
  if (must_hold(client, frame)) {
    held_[client].push_back(std::move(frame));
    return;
  }
  const auto id = frame.header.find("request_id");
  const protocol::RequestId request_id = id != frame.header.end() ? *id : protocol::RequestId();
  const std::string type = protocol::type_of(frame);
  try {
    if (type == protocol::Submit::kType) {
      handle_submit(client, protocol::decode<protocol::Submit>(std::move(frame)));
    } else if (type == protocol::Wait::kType) {
      handle_wait(client, protocol::decode<protocol::Wait>(std::move(frame)), false);
    } else if (type == protocol::End::kType) {
      const auto end = protocol::decode<protocol::End>(std::move(frame));
      handle_wait(client, protocol::Wait{end.request_id, end.graph_id, std::nullopt, false, false, std::nullopt}, true);
    } else if (type == protocol::CancelOps::kType) {
      handle_cancel(client, protocol::decode<protocol::CancelOps>(std::move(frame)));
    } else if (type != protocol::Heartbeat::kType) {
      send_client_error(client, request_id, "",
                        "unknown message type '" + type + "' (expected submit, wait, end, cancel or heartbeat)");
    }
  } catch (const GraphError& e) {
    send_client_error(client, request_id, e.op_id(), e.what());
  } catch (const protocol::ProtocolError& e) {
    send_client_error(client, request_id, "", e.what());
  }
  if (!options_.group_commit) store_staged();
  settle();
}

bool CoordinatorImpl::must_hold(ClientId client, const Frame& frame) const {
  if (staged_.empty() && held_.empty()) return false;
  if (staged_clients_.count(client) || held_.count(client)) return true;
  const auto graph = frame.header.find("graph_id");
  if (graph != frame.header.end() && graph->is_number_unsigned() && staged_graphs_.count(graph->get<GraphId>()))
    return true;
  const auto key = frame.header.find("submit_key");
  return key != frame.header.end() && key->is_string() && staged_keys_.count({clients_.at(client), key->get<std::string>()});
}

void CoordinatorImpl::commit_submits() {
  store_staged();
  // Held messages in arrival order per client; one may stage a submit, and the client's later
  // messages are held again behind it.
  std::map<ClientId, std::deque<Frame>> held;
  held.swap(held_);
  for (auto& [client, frames] : held) {
    for (; !frames.empty(); frames.pop_front()) {
      if (!clients_.count(client)) break;  // disconnected meanwhile
      client_message(client, std::move(frames.front()));
    }
  }
  settle();
}

void CoordinatorImpl::store_staged() {
  if (staged_.empty()) return;
  std::vector<StagedSubmit> batch;
  batch.swap(staged_);
  staged_clients_.clear();
  staged_graphs_.clear();
  staged_keys_.clear();
  std::vector<StoredSubmit> records;
  GraphId last_created = 0;
  for (StagedSubmit& staged : batch) {
    records.push_back(std::move(staged.stored));
    if (staged.fresh) last_created = std::max(last_created, staged.graph);
  }
  std::string error;
  std::size_t stored = 0;
  try {
    if (last_created) graph_ids_.raise(last_created);  // before the ids can reach anyone
    stored = store_.add_submits(records, now(), error);
  } catch (const std::exception& e) {
    error = e.what();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i < stored)
      apply_submit(batch[i]);
    else
      send_client_error(batch[i].client, batch[i].request_id, "", "the server could not store the graph: " + error);
  }
  // The ids of refused creates were never handed out (they are the batch's last ones): the next
  // create takes the first of them again, so that it is not taken for a removed graph.
  for (std::size_t i = stored; i < batch.size(); ++i) {
    if (batch[i].fresh) {
      next_graph_id_ = batch[i].graph;
      break;
    }
  }
}

void CoordinatorImpl::send_client_error(ClientId client, const protocol::RequestId& request_id, const std::string& op_id,
                                        const std::string& error) {
  outbox_.send_to_client(client, protocol::encode(protocol::ErrorReply{request_id, op_id, error}));
}

void CoordinatorImpl::send_owned_elsewhere(ClientId client, const protocol::RequestId& request_id, GraphId graph,
                                           const std::string& owner_url) {
  Frame reply = protocol::encode(protocol::ErrorReply{
      request_id, "", "graph " + std::to_string(graph) + " is owned by the server at " + owner_url});
  reply.header["redirect"] = owner_url;
  outbox_.send_to_client(client, std::move(reply));
}

std::string CoordinatorImpl::owner_elsewhere(uint64_t graph_id) {
  if (graphs_.count(graph_id) || !store_.leases_graphs()) return "";
  try {
    return store_.owner_url(graph_id);
  } catch (const std::exception&) {
    return "";  // the store is unreachable: the caller answers as for an unknown graph
  }
}

Graph* CoordinatorImpl::graph_for_request(ClientId client, GraphId id, const protocol::RequestId& request_id) {
  auto g = graphs_.find(id);
  if (g == graphs_.end() && store_.leases_graphs()) {
    // Several servers: a graph this one does not hold may be another's (or a dead one's).
    std::string owner;
    try {
      owner = store_.owner_url(id);
    } catch (const std::exception& e) {
      send_client_error(client, request_id, "", std::string("the server could not reach its store: ") + e.what());
      return nullptr;
    }
    if (!owner.empty()) {
      send_owned_elsewhere(client, request_id, id, owner);
      return nullptr;
    }
  }
  if (g == graphs_.end() && id > 0 && id < next_graph_id_) {
    char hours[32];
    std::snprintf(hours, sizeof hours, "%g", options_.keep_finished_s / 3600);
    send_client_error(client, request_id, "",
                      "graph " + std::to_string(id) + " was removed: this server keeps finished graphs for " + hours +
                          " h (--keep-finished-hours)");
    return nullptr;
  }
  if (g == graphs_.end()) {
    send_client_error(client, request_id, "", "unknown graph_id " + std::to_string(id));
    return nullptr;
  }
  return &g->second;
}

void CoordinatorImpl::handle_submit(ClientId client, protocol::Submit request) {
  const protocol::RequestId& request_id = request.request_id;
  StagedSubmit staged;
  staged.client = client;
  staged.request_id = request_id;
  Graph* graph = nullptr;
  if (!request.graph_id) {
    // A submit resent after a lost connection carries the key of the first try: answer it with
    // the graph that try created instead of creating a second one.
    if (auto known = graph_by_key_.find({clients_[client], request.submit_key});
        !request.submit_key.empty() && known != graph_by_key_.end()) {
      outbox_.send_to_client(client, protocol::encode(protocol::Submitted{request_id, known->second, 0, true}));
      return;
    }
    GraphId id = 0;
    try {
      id = store_.next_graph_id(next_graph_id_);  // this server's counter, or a shared store's sequence
    } catch (const std::exception& e) {
      send_client_error(client, request_id, "", std::string("the server could not store the graph: ") + e.what());
      return;
    }
    graph = &staged.fresh.emplace();
    graph->submit_key = request.submit_key;
    graph->id = id;
    graph->name = request.name.empty() ? "graph " + std::to_string(graph->id) : request.name;
    graph->owner = clients_[client];
    graph->created_at = unix_now();
    graph->created_ms = now();
  } else if (!(graph = graph_for_request(client, *request.graph_id, request_id))) {
    return;
  }
  try {
    staged.submit = validate_submit(*graph, std::move(request.ops), std::move(request.outputs));
  } catch (const SubmitError& e) {
    send_client_error(client, request_id, e.op_id(), e.what());
    return;
  }
  // Nothing changes in memory until the store took it (store_staged, apply_submit).
  const auto base = static_cast<OpIndex>(graph->ops.size());
  std::unordered_map<std::string, OpIndex> new_index;
  for (std::size_t i = 0; i < staged.submit.ops.size(); ++i) new_index.emplace(staged.submit.ops[i].id, base + OpIndex(i));
  for (const auto& id : request.release) {
    auto n = new_index.find(id);
    auto e = graph->index.find(id);
    if (n == new_index.end() && e == graph->index.end())
      return send_client_error(client, request_id, id,
                               "release: unknown op id '" + id + "' (not an op of graph " + std::to_string(graph->id) +
                                   " or of this submit)");
    staged.released.push_back(n != new_index.end() ? n->second : e->second);
  }
  staged.outputs = graph->outputs;
  for (const auto& id : staged.submit.outputs) {
    auto n = new_index.find(id);
    const OpIndex op = n != new_index.end() ? n->second : graph->index.at(id);
    // Only an op of an earlier submit can already be one; a new op can only be named twice here.
    const auto from = n != new_index.end() ? staged.outputs.begin() + graph->outputs.size() : staged.outputs.begin();
    if (std::find(from, staged.outputs.end(), op) == staged.outputs.end()) staged.outputs.push_back(op);
    if (n != new_index.end())
      staged.submit.ops[op - base].requested = true;
    else
      staged.existing_requested.push_back(op);
  }
  // `verify` tightens the graph's policy from these ops on (stored with them), never loosens it.
  VerifyPolicy asked = VerifyPolicy::off;
  parse_verify_policy(request.verify, asked);  // "" (off); the decoder refused anything else
  staged.verify = stricter(graph->verify, asked);
  staged.graph = graph->id;
  staged.stored = Persistence::stored_submit(*graph, staged.fresh.has_value(), base, staged.submit.ops, staged.outputs);
  staged.stored.graph.verify = staged.verify;
  if (staged.fresh) {
    next_graph_id_ = std::max(next_graph_id_, graph->id + 1);  // taken, even if the store refuses it
    if (!graph->submit_key.empty()) staged_keys_.insert({graph->owner, graph->submit_key});
  }
  staged_clients_.insert(client);
  staged_graphs_.insert(staged.graph);
  staged_.push_back(std::move(staged));
}

void CoordinatorImpl::apply_submit(StagedSubmit& staged) {
  const bool created = staged.fresh.has_value();
  Graph* graph = nullptr;
  if (created) {
    graph = &graphs_.emplace(staged.graph, std::move(*staged.fresh)).first->second;
    graph->report_ready_to(ready_graphs_);
    if (!graph->submit_key.empty()) graph_by_key_[{graph->owner, graph->submit_key}] = graph->id;
  } else {
    graph = &graphs_.at(staged.graph);  // not removed: remove_old_graphs spares staged graphs
  }
  graph->verify = staged.verify;
  graph->outputs = staged.outputs;
  const auto base = static_cast<OpIndex>(graph->ops.size());
  const std::size_t added = staged.submit.ops.size();
  for (auto& node : staged.submit.ops) {
    if (node.value) holding_values_.insert(graph->id);
    graph->add_op(std::move(node));
  }
  for (OpIndex op : staged.existing_requested) mark_requested(*graph, op);
  // New ops of a finished part: inputs that stayed on a worker are computed again; failed or
  // cancelled inputs decide the new op's fate at once.
  for (OpIndex op = base; op < graph->ops.size(); ++op) {
    OpNode& node = graph->ops[op];
    for (OpIndex in : node.inputs) {
      const OpNode& input = graph->ops[in];
      if (node.status != OpStatus::pending) break;
      if (input.status == OpStatus::failed) {
        const bool root = input.error.rfind("input op '", 0) != 0;
        apply_changes(*graph, graph->set_status(op, OpStatus::failed,
                                                root ? "input op '" + input.id + "' failed: " + input.error : input.error));
      } else if (input.status == OpStatus::cancelled) {
        apply_changes(*graph, graph->set_status(op, OpStatus::cancelled, "cancelled"));
      }
    }
    if (node.status == OpStatus::pending)
      for (OpIndex in : node.inputs) ensure_value(*graph, in);
  }
  for (OpIndex op : staged.existing_requested) ensure_value(*graph, op);
  for (OpIndex op = base; op < graph->ops.size(); ++op) graph->refresh_ready(op);
  if (added && graph->finished()) note_finished(*graph);  // only sources, or ops of failed inputs
  for (std::size_t i : staged.submit.internal) staged.released.push_back(base + OpIndex(i));
  release_ops_of_developer(*graph, staged.released);
  touched(graph->id);
  outbox_.send_to_client(staged.client, protocol::encode(protocol::Submitted{staged.request_id, graph->id, added, false}));
  if (created)
    event("graph", "graph " + std::to_string(graph->id) + " '" + graph->name + "' submitted by " + graph->owner + " (" +
                       std::to_string(added) + " ops)");
}

namespace {

// Op ids of a request as op indices of `graph`, without repeats. Throws SubmitError naming an id
// that is not an op of the graph, or, for `values`, one whose value may no longer be asked for
// (Graph::reference_problem: released).
std::vector<OpIndex> op_indices(const Graph& graph, const std::vector<std::string>& ids, bool values = false) {
  std::vector<OpIndex> out;
  std::set<OpIndex> seen;
  for (const auto& id : ids) {
    auto it = graph.index.find(id);
    if (it == graph.index.end()) throw SubmitError(id, "unknown op id '" + id + "' in graph " + std::to_string(graph.id));
    if (values)
      if (std::string problem = graph.reference_problem(it->second); !problem.empty()) throw SubmitError(id, problem);
    if (seen.insert(it->second).second) out.push_back(it->second);
  }
  return out;
}

}  // namespace

void CoordinatorImpl::handle_wait(ClientId client, const protocol::Wait& request, bool end) {
  Graph* graph = graph_for_request(client, request.graph_id, request.request_id);
  if (!graph) return;
  Waiter waiter;
  waiter.client = client;
  waiter.request_id = request.request_id;
  waiter.graph = graph->id;
  waiter.end = end;
  if (end) {
    for (OpIndex op = 0; op < graph->ops.size(); ++op) waiter.ids.push_back(op);
  } else {
    waiter.stream = request.stream;
    waiter.any = request.any;
    try {
      if (request.ids) waiter.ids = op_indices(*graph, *request.ids, true);
      if (request.track) waiter.track = op_indices(*graph, *request.track);
    } catch (const SubmitError& e) {
      return send_client_error(client, request.request_id, e.op_id(), e.what());
    }
    if (!request.ids && !graph->outputs.empty()) {
      for (OpIndex op : graph->outputs)  // released outputs are no longer anyone's
        if (!graph->ops[op].released) waiter.ids.push_back(op);
    } else if (!request.ids) {
      // No outputs named: the graph's sinks.
      for (OpIndex op = 0; op < graph->ops.size(); ++op)
        if (graph->ops[op].dependents.empty() && !graph->ops[op].released) waiter.ids.push_back(op);
    }
    for (OpIndex op : waiter.ids) {
      mark_requested(*graph, op);
      ensure_value(*graph, op);
    }
  }
  waiter.sent.assign(waiter.ids.size(), 0);
  // A wait answered at once does not wait: its answer is the only frame (no progress before it).
  if (serve_waiter(waiter)) return;
  send_progress(waiter, *graph);
  waiters_.push_back(std::move(waiter));
}

void CoordinatorImpl::handle_cancel(ClientId client, const protocol::CancelOps& request) {
  Graph* graph = graph_for_request(client, request.graph_id, request.request_id);
  if (!graph) return;
  std::vector<OpIndex> ids;
  if (request.ids) {
    try {
      ids = op_indices(*graph, *request.ids);
    } catch (const SubmitError& e) {
      return send_client_error(client, request.request_id, e.op_id(), e.what());
    }
  } else {
    for (OpIndex op = 0; op < graph->ops.size(); ++op) ids.push_back(op);
  }
  int64_t count = 0;
  for (OpIndex op : ids) {
    const OpChanges changes = graph->cancel(op);
    count += static_cast<int64_t>(changes.ops.size());
    apply_changes(*graph, changes);
  }
  cancel_finished_groups(graph->id);
  if (count) event("cancel", "graph " + std::to_string(graph->id) + ": " + std::to_string(count) + " op(s) cancelled");
  outbox_.send_to_client(client, protocol::encode(protocol::Cancelled{request.request_id, graph->id, count}));
}

protocol::OpCounts CoordinatorImpl::counts_of(const Graph& graph) const {
  auto at = [&](OpStatus s) { return static_cast<int64_t>(graph.counts[int(s)]); };
  return {at(OpStatus::pending), at(OpStatus::running), at(OpStatus::computed), at(OpStatus::failed),
          at(OpStatus::cancelled)};
}

std::vector<protocol::FailedOp> CoordinatorImpl::failed_list(const Graph& graph, const std::vector<OpIndex>& ids) const {
  std::vector<protocol::FailedOp> failed;
  for (OpIndex op : ids) {
    const OpNode& node = graph.ops[op];
    if (node.status == OpStatus::failed || node.status == OpStatus::cancelled)
      failed.push_back({node.id, node.def ? std::string(node.def->name) : "?", node.error});
  }
  return failed;
}

void CoordinatorImpl::send_progress(Waiter& waiter, const Graph& graph) {
  protocol::Progress progress{waiter.request_id, graph.id, counts_of(graph), graph.total(), false, 0, 0, 0};
  if (!fleet_.size()) progress.no_workers_s = (now() - last_worker_ms_) / 1000;
  if (!waiter.track.empty()) {
    progress.has_tracked = true;
    for (OpIndex op : waiter.track) {
      progress.tracked_running += graph.ops[op].status == OpStatus::running;
      progress.tracked_final += is_final(graph.ops[op].status);
    }
  }
  outbox_.send_to_client(waiter.client, protocol::encode(std::move(progress)));
  waiter.progress_version = graph.version;
  waiter.progress_sent_ms = now();
}

bool CoordinatorImpl::serve_waiter(Waiter& waiter) {
  auto g = graphs_.find(waiter.graph);
  if (g == graphs_.end()) return true;
  Graph& graph = g->second;
  if (waiter.stream) {
    for (std::size_t i = 0; i < waiter.ids.size(); ++i) {
      const OpIndex op = waiter.ids[i];
      const OpNode& node = graph.ops[op];
      if (waiter.sent[i] || !is_final(node.status)) continue;
      protocol::ValueUpdate update{waiter.request_id, graph.id, node.id, status_name(node.status), "", std::nullopt};
      if (node.status == OpStatus::computed) {
        auto value = value_of(graph, op);
        if (!value) {
          ensure_value(graph, op);
          continue;
        }
        update.value = *value;
      } else {
        update.error = node.error;
      }
      waiter.sent[i] = 1;
      outbox_.send_to_client(waiter.client, protocol::encode(std::move(update)));
    }
  }
  if (waiter.any) return serve_any_waiter(waiter, graph);
  while (waiter.cursor < waiter.ids.size() && is_final(graph.ops[waiter.ids[waiter.cursor]].status)) ++waiter.cursor;
  if (waiter.cursor < waiter.ids.size()) return false;
  if (waiter.stream && std::find(waiter.sent.begin(), waiter.sent.end(), 0) != waiter.sent.end()) return false;
  if (waiter.end) {
    outbox_.send_to_client(waiter.client,
                           protocol::encode(protocol::Report{waiter.request_id, graph.id, graph.status(), counts_of(graph),
                                                             graph.total(), failed_list(graph, waiter.ids),
                                                             verification_of(graph)}));
    return true;
  }
  protocol::Values values{waiter.request_id, graph.id, "computed", failed_list(graph, waiter.ids), {}};
  for (OpIndex op : waiter.ids) {
    if (graph.ops[op].status != OpStatus::computed) {
      values.status = "failed";
      continue;
    }
    if (waiter.stream) continue;
    auto value = value_of(graph, op);
    if (!value) {
      // Lost from the store: compute it again and answer later.
      ensure_value(graph, op);
      waiter.cursor = 0;
      return false;
    }
    values.values.push_back({graph.ops[op].id, *value});
  }
  outbox_.send_to_client(waiter.client, protocol::encode(std::move(values)));
  return true;
}

bool CoordinatorImpl::serve_any_waiter(Waiter& waiter, Graph& graph) {
  protocol::Values values{waiter.request_id, graph.id, "computed", {}, {}};
  std::vector<OpIndex> final;
  for (OpIndex op : waiter.ids) {
    const OpNode& node = graph.ops[op];
    if (!is_final(node.status)) continue;
    if (node.status == OpStatus::computed) {
      auto value = value_of(graph, op);
      if (!value) {
        ensure_value(graph, op);  // lost from the store: computed again, answered with a later batch
        continue;
      }
      values.values.push_back({node.id, *value});
    } else {
      values.status = "failed";
    }
    final.push_back(op);
  }
  if (final.empty()) return false;
  values.failed = failed_list(graph, final);
  outbox_.send_to_client(waiter.client, protocol::encode(std::move(values)));
  return true;
}

}  // namespace corvid::server
