// Developers' requests: submit (validated all or nothing, durable before `submitted`), wait
// (values or a stream of them, with progress), end (the report) and cancel.
#include <algorithm>
#include <cstdio>

#include "server/core/coordinator_impl.hpp"
#include "server/core/submit.hpp"

namespace corvid::server {

namespace {

// graph_id as a JSON number or a string of digits.
bool parse_graph_id(const nlohmann::json& v, GraphId& out) {
  if (v.is_number_unsigned()) {
    out = v.get<GraphId>();
    return true;
  }
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  out = std::stoull(s);
  return true;
}

}  // namespace

void CoordinatorImpl::client_connected(ClientId client, const std::string& owner) {
  clients_[client] = owner.empty() ? "client " + std::to_string(client) : owner;
  Frame welcome;
  welcome.header = {{"type", "welcome"}, {"client_id", client}};
  outbox_.send_to_client(client, std::move(welcome));
}

void CoordinatorImpl::client_disconnected(ClientId client) {
  clients_.erase(client);
  waiters_.remove_if([&](const Waiter& w) { return w.client == client; });
}

void CoordinatorImpl::client_message(ClientId client, Frame frame) {
  if (!clients_.count(client)) clients_[client] = "client " + std::to_string(client);
  const auto& h = frame.header;
  const nlohmann::json request_id = h.contains("request_id") ? h["request_id"] : nlohmann::json();
  const std::string type = h.contains("type") && h["type"].is_string() ? h["type"].get<std::string>() : "";
  if (type == "submit")
    handle_submit(client, frame, request_id);
  else if (type == "wait")
    handle_wait(client, h, request_id, false);
  else if (type == "end")
    handle_wait(client, h, request_id, true);
  else if (type == "cancel")
    handle_cancel(client, h, request_id);
  else if (type != "heartbeat")
    send_client_error(client, request_id, "",
                      "unknown message type '" + type + "' (expected submit, wait, end, cancel or heartbeat)");
  settle();
}

void CoordinatorImpl::send_client_error(ClientId client, const nlohmann::json& request_id, const std::string& op_id,
                                        const std::string& error) {
  Frame f;
  f.header = {{"type", "error"}, {"error", error}};
  if (!request_id.is_null()) f.header["request_id"] = request_id;
  if (!op_id.empty()) f.header["op_id"] = op_id;
  outbox_.send_to_client(client, std::move(f));
}

Graph* CoordinatorImpl::graph_for_request(ClientId client, const nlohmann::json& header,
                                          const nlohmann::json& request_id) {
  GraphId id = 0;
  auto it = header.find("graph_id");
  if (it == header.end() || !parse_graph_id(*it, id)) {
    send_client_error(client, request_id, "", "'graph_id' is required (a graph id from `submitted`)");
    return nullptr;
  }
  auto g = graphs_.find(id);
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

void CoordinatorImpl::handle_submit(ClientId client, const Frame& frame, const nlohmann::json& request_id) {
  const auto& h = frame.header;
  Graph fresh;
  Graph* graph = &fresh;
  const bool create = !h.contains("graph_id") || h["graph_id"].is_null();
  if (create) {
    // A submit resent after a lost connection carries the key of the first try: answer it with
    // the graph that try created instead of creating a second one.
    if (auto k = h.find("submit_key"); k != h.end() && k->is_string()) fresh.submit_key = k->get<std::string>();
    if (fresh.submit_key.size() > 128)
      return send_client_error(client, request_id, "", "'submit_key' is longer than 128 characters");
    if (auto known = graph_by_key_.find({clients_[client], fresh.submit_key});
        !fresh.submit_key.empty() && known != graph_by_key_.end()) {
      Frame reply;
      reply.header = {{"type", "submitted"}, {"graph_id", known->second}, {"added", 0}, {"repeated", true}};
      if (!request_id.is_null()) reply.header["request_id"] = request_id;
      outbox_.send_to_client(client, std::move(reply));
      return;
    }
    fresh.id = next_graph_id_;
    fresh.name = h.contains("name") && h["name"].is_string() ? h["name"].get<std::string>() : "";
    if (fresh.name.empty()) fresh.name = "graph " + std::to_string(fresh.id);
    fresh.owner = clients_[client];
    fresh.created_at = unix_now();
    fresh.created_ms = now();
  } else if (!(graph = graph_for_request(client, h, request_id))) {
    return;
  }
  ValidatedSubmit submit;
  try {
    submit = validate_submit(*graph, h.contains("ops") ? h["ops"] : nlohmann::json::array(),
                             h.contains("outputs") ? h["outputs"] : nlohmann::json(), frame);
  } catch (const SubmitError& e) {
    send_client_error(client, request_id, e.op_id(), e.what());
    return;
  }
  // Durable first: nothing changes in memory unless the store took it.
  const auto base = static_cast<OpIndex>(graph->ops.size());
  std::unordered_map<std::string, OpIndex> new_index;
  for (std::size_t i = 0; i < submit.ops.size(); ++i) new_index.emplace(submit.ops[i].id, base + OpIndex(i));
  std::vector<OpIndex> outputs = graph->outputs;
  std::vector<OpIndex> existing_requested;
  for (const auto& id : submit.outputs) {
    auto n = new_index.find(id);
    const OpIndex op = n != new_index.end() ? n->second : graph->index.at(id);
    if (std::find(outputs.begin(), outputs.end(), op) == outputs.end()) outputs.push_back(op);
    if (n != new_index.end())
      submit.ops[op - base].requested = true;
    else
      existing_requested.push_back(op);
  }
  try {
    if (create) graph_ids_.raise(graph->id);  // before the id can reach anyone
    store_.add_ops(*graph, create, base, submit.ops, outputs, now());
  } catch (const std::exception& e) {
    send_client_error(client, request_id, "", std::string("the server could not store the graph: ") + e.what());
    return;
  }
  if (create) {
    graph = &graphs_.emplace(fresh.id, std::move(fresh)).first->second;
    next_graph_id_ = graph->id + 1;
    if (!graph->submit_key.empty()) graph_by_key_[{graph->owner, graph->submit_key}] = graph->id;
  }
  graph->outputs = outputs;
  const std::size_t added = submit.ops.size();
  for (auto& node : submit.ops) {
    if (node.value) holding_values_.insert(graph->id);
    graph->add_op(std::move(node));
  }
  for (OpIndex op : existing_requested) mark_requested(*graph, op);
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
  for (OpIndex op : existing_requested) ensure_value(*graph, op);
  for (OpIndex op = base; op < graph->ops.size(); ++op) graph->refresh_ready(op);
  if (added && graph->finished()) note_finished(*graph);  // only sources, or ops of failed inputs
  touched(graph->id);
  Frame reply;
  reply.header = {{"type", "submitted"}, {"graph_id", graph->id}, {"added", added}};
  if (!request_id.is_null()) reply.header["request_id"] = request_id;
  outbox_.send_to_client(client, std::move(reply));
  if (create)
    event("graph", "graph " + std::to_string(graph->id) + " '" + graph->name + "' submitted by " + graph->owner + " (" +
                       std::to_string(added) + " ops)");
}

namespace {

// An op-id list of a request parsed into op indices, without repeats. Throws SubmitError naming
// the offending id when `ids` is not a list of op ids of `graph`.
std::vector<OpIndex> parse_op_ids(const Graph& graph, const nlohmann::json& ids, const char* field) {
  const std::string not_list = std::string("'") + field + "' must be a list of op ids";
  if (!ids.is_array()) throw SubmitError("", not_list);
  std::vector<OpIndex> out;
  std::set<OpIndex> seen;
  for (const auto& id : ids) {
    if (!id.is_string()) throw SubmitError("", not_list);
    auto it = graph.index.find(id.get<std::string>());
    if (it == graph.index.end())
      throw SubmitError(id.get<std::string>(),
                        "unknown op id '" + id.get<std::string>() + "' in graph " + std::to_string(graph.id));
    if (seen.insert(it->second).second) out.push_back(it->second);
  }
  return out;
}

}  // namespace

void CoordinatorImpl::handle_wait(ClientId client, const nlohmann::json& header, const nlohmann::json& request_id,
                                  bool end) {
  Graph* graph = graph_for_request(client, header, request_id);
  if (!graph) return;
  Waiter waiter;
  waiter.client = client;
  waiter.request_id = request_id;
  waiter.graph = graph->id;
  waiter.end = end;
  if (end) {
    for (OpIndex op = 0; op < graph->ops.size(); ++op) waiter.ids.push_back(op);
  } else {
    if (auto s = header.find("stream"); s != header.end() && s->is_boolean()) waiter.stream = s->get<bool>();
    if (auto a = header.find("any"); a != header.end() && a->is_boolean()) waiter.any = a->get<bool>() && !waiter.stream;
    const auto ids = header.find("ids");
    const auto track = header.find("track");
    const bool ids_given = ids != header.end() && !ids->is_null();
    try {
      if (ids_given) waiter.ids = parse_op_ids(*graph, *ids, "ids");
      if (track != header.end() && !track->is_null()) waiter.track = parse_op_ids(*graph, *track, "track");
    } catch (const SubmitError& e) {
      return send_client_error(client, request_id, e.op_id(), e.what());
    }
    if (!ids_given && !graph->outputs.empty()) {
      waiter.ids = graph->outputs;
    } else if (!ids_given) {
      // No outputs named: the graph's sinks.
      for (OpIndex op = 0; op < graph->ops.size(); ++op)
        if (graph->ops[op].dependents.empty()) waiter.ids.push_back(op);
    }
    for (OpIndex op : waiter.ids) {
      mark_requested(*graph, op);
      ensure_value(*graph, op);
    }
  }
  waiter.sent.assign(waiter.ids.size(), 0);
  send_progress(waiter, *graph);
  if (!serve_waiter(waiter)) waiters_.push_back(std::move(waiter));
}

void CoordinatorImpl::handle_cancel(ClientId client, const nlohmann::json& header, const nlohmann::json& request_id) {
  Graph* graph = graph_for_request(client, header, request_id);
  if (!graph) return;
  std::vector<OpIndex> ids;
  auto it = header.find("ids");
  if (it != header.end() && !it->is_null()) {
    try {
      ids = parse_op_ids(*graph, *it, "ids");
    } catch (const SubmitError& e) {
      return send_client_error(client, request_id, e.op_id(), e.what());
    }
  } else {
    for (OpIndex op = 0; op < graph->ops.size(); ++op) ids.push_back(op);
  }
  int count = 0;
  for (OpIndex op : ids) {
    const OpChanges changes = graph->cancel(op);
    count += static_cast<int>(changes.ops.size());
    apply_changes(*graph, changes);
  }
  cancel_finished_groups(graph->id);
  if (count) event("cancel", "graph " + std::to_string(graph->id) + ": " + std::to_string(count) + " op(s) cancelled");
  Frame reply;
  reply.header = {{"type", "cancelled"}, {"graph_id", graph->id}, {"count", count}};
  if (!request_id.is_null()) reply.header["request_id"] = request_id;
  outbox_.send_to_client(client, std::move(reply));
}

nlohmann::json CoordinatorImpl::counts_json(const Graph& graph) const {
  nlohmann::json counts = nlohmann::json::object();
  for (int s = 0; s < kOpStatusCount; ++s) counts[status_name(static_cast<OpStatus>(s))] = graph.counts[s];
  return counts;
}

nlohmann::json CoordinatorImpl::failed_list(const Graph& graph, const std::vector<OpIndex>& ids) const {
  nlohmann::json failed = nlohmann::json::array();
  for (OpIndex op : ids) {
    const OpNode& node = graph.ops[op];
    if (node.status == OpStatus::failed || node.status == OpStatus::cancelled)
      failed.push_back({{"id", node.id}, {"op", node.def ? std::string(node.def->name) : "?"}, {"error", node.error}});
  }
  return failed;
}

void CoordinatorImpl::send_progress(Waiter& waiter, const Graph& graph) {
  Frame f;
  f.header = {{"type", "progress"}, {"graph_id", graph.id}, {"counts", counts_json(graph)}, {"total", graph.total()}};
  if (!waiter.track.empty()) {
    int running = 0, final = 0;
    for (OpIndex op : waiter.track) {
      running += graph.ops[op].status == OpStatus::running;
      final += is_final(graph.ops[op].status);
    }
    f.header["tracked"] = {{"running", running}, {"final", final}};
  }
  if (!waiter.request_id.is_null()) f.header["request_id"] = waiter.request_id;
  outbox_.send_to_client(waiter.client, std::move(f));
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
      Frame f;
      f.header = {{"type", "value"}, {"graph_id", graph.id}, {"id", node.id}, {"status", status_name(node.status)}};
      if (!waiter.request_id.is_null()) f.header["request_id"] = waiter.request_id;
      if (node.status == OpStatus::computed) {
        auto value = value_of(graph, op);
        if (!value) {
          ensure_value(graph, op);
          continue;
        }
        f.tensors.push_back({node.id, *value});
      } else {
        f.header["error"] = node.error;
      }
      waiter.sent[i] = 1;
      outbox_.send_to_client(waiter.client, std::move(f));
    }
  }
  if (waiter.any) return serve_any_waiter(waiter, graph);
  while (waiter.cursor < waiter.ids.size() && is_final(graph.ops[waiter.ids[waiter.cursor]].status)) ++waiter.cursor;
  if (waiter.cursor < waiter.ids.size()) return false;
  if (waiter.stream && std::find(waiter.sent.begin(), waiter.sent.end(), 0) != waiter.sent.end()) return false;
  Frame f;
  if (waiter.end) {
    f.header = {{"type", "report"}, {"graph_id", graph.id}, {"status", graph.status()},
                {"counts", counts_json(graph)}, {"total", graph.total()}, {"failed", failed_list(graph, waiter.ids)}};
  } else {
    bool all_computed = true;
    for (OpIndex op : waiter.ids) {
      if (graph.ops[op].status != OpStatus::computed) {
        all_computed = false;
        continue;
      }
      if (waiter.stream) continue;
      auto value = value_of(graph, op);
      if (!value) {
        // Lost from the store: compute it again and answer later.
        ensure_value(graph, op);
        waiter.cursor = 0;
        f.tensors.clear();
        return false;
      }
      f.tensors.push_back({graph.ops[op].id, *value});
    }
    f.header = {{"type", "values"}, {"graph_id", graph.id}, {"status", all_computed ? "computed" : "failed"},
                {"failed", failed_list(graph, waiter.ids)}};
  }
  if (!waiter.request_id.is_null()) f.header["request_id"] = waiter.request_id;
  outbox_.send_to_client(waiter.client, std::move(f));
  return true;
}

bool CoordinatorImpl::serve_any_waiter(Waiter& waiter, Graph& graph) {
  Frame f;
  std::vector<OpIndex> final;
  bool all_computed = true;
  for (OpIndex op : waiter.ids) {
    const OpNode& node = graph.ops[op];
    if (!is_final(node.status)) continue;
    if (node.status == OpStatus::computed) {
      auto value = value_of(graph, op);
      if (!value) {
        ensure_value(graph, op);  // lost from the store: computed again, answered with a later batch
        continue;
      }
      f.tensors.push_back({node.id, *value});
    } else {
      all_computed = false;
    }
    final.push_back(op);
  }
  if (final.empty()) return false;
  f.header = {{"type", "values"}, {"graph_id", graph.id}, {"status", all_computed ? "computed" : "failed"},
              {"failed", failed_list(graph, final)}};
  if (!waiter.request_id.is_null()) f.header["request_id"] = waiter.request_id;
  outbox_.send_to_client(waiter.client, std::move(f));
  return true;
}

}  // namespace corvid::server
