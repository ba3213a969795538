#include "server/core/persistence.hpp"

namespace corvid::server {

StoredOp Persistence::stored_op(const OpNode& node, OpIndex seq) {
  StoredOp op;
  op.seq = seq;
  op.id = node.id;
  op.op = std::string(node.def->name);
  op.inputs = node.inputs;
  op.params = node.params;
  op.spec = node.spec;
  op.status = node.status;
  op.error = node.error;
  op.requested = node.requested;
  op.has_value = node.has_value;
  op.released = node.freed;
  return op;
}

OpNode Persistence::node_of(const StoredOp& op, const Graph& graph) {
  OpNode node;
  node.id = op.id;
  node.def = find_op(op.op);
  node.inputs = op.inputs;
  node.params = op.params;
  node.spec = op.spec;
  node.status = op.status == OpStatus::running ? OpStatus::pending : op.status;
  node.error = op.error;
  node.requested = op.requested;
  node.has_value = op.status == OpStatus::computed && op.has_value && !op.released;
  node.released = node.freed = op.released;
  if (!node.def && !is_final(node.status)) {
    node.status = OpStatus::failed;
    node.error = "op '" + op.op + "' is not known to this server version";
  }
  if (node.def) {
    std::vector<TensorSpec> specs;
    for (OpIndex in : node.inputs) specs.push_back(graph.ops[in].spec);
    try {
      node.cost = estimate_cost(*node.def, specs, node.spec, node.params);
    } catch (const std::exception&) {
      node.cost = {};
    }
  }
  return node;
}

std::vector<Graph> Persistence::load(double now_ms, double unix_now) {
  std::vector<Graph> graphs;
  for (StoredGraph& stored : store_->load_graphs()) graphs.push_back(rebuild(stored, now_ms, unix_now));
  return graphs;
}

Persistence::Leases Persistence::renew_leases(int64_t slots, int64_t ready, double now_ms, double unix_now) {
  GraphStore::LeaseChanges changes = store_->renew_leases(slots, ready);
  Leases leases;
  leases.lost = std::move(changes.lost);
  leases.peers = std::move(changes.peers);
  for (StoredGraph& stored : changes.adopted) leases.adopted.push_back(rebuild(stored, now_ms, unix_now));
  return leases;
}

Graph Persistence::rebuild(StoredGraph& stored, double now_ms, double unix_now) {
  Graph g;
  g.id = stored.id;
  g.name = stored.name;
  g.owner = stored.owner;
  g.created_at = stored.created_at;
  g.created_ms = now_ms - (unix_now - stored.created_at) * 1000.0;
  g.finished_at = stored.finished_at;
  g.submit_key = stored.submit_key;
  g.verify = stored.verify;
  for (const StoredOp& op : stored.ops) {
    bool inputs_ok = op.seq == g.ops.size();
    for (OpIndex in : op.inputs) inputs_ok = inputs_ok && in < g.ops.size();
    if (!inputs_ok) break;  // a damaged row: keep the consistent prefix
    g.add_op(node_of(op, g));
  }
  for (OpIndex out : stored.outputs)
    if (out < g.ops.size()) g.outputs.push_back(out);
  // Pending ops whose inputs stayed on a worker need those inputs computed again.
  for (OpIndex op = 0; op < g.ops.size(); ++op) {
    if (g.ops[op].status != OpStatus::pending) continue;
    for (OpIndex in : g.ops[op].inputs) record(g, g.ensure_value(in));
  }
  for (OpIndex op = 0; op < g.ops.size(); ++op) {
    if (g.ops[op].requested) record(g, g.ensure_value(op));
    g.refresh_ready(op);
  }
  return g;
}

StoredSubmit Persistence::stored_submit(const Graph& graph, bool create, OpIndex base, const std::vector<OpNode>& ops,
                                       const std::vector<OpIndex>& outputs) {
  StoredSubmit submit;
  submit.create = create;
  StoredGraph& record = submit.graph;
  record.id = graph.id;
  record.name = graph.name;
  record.owner = graph.owner;
  record.created_at = graph.created_at;
  record.submit_key = graph.submit_key;
  record.verify = graph.verify;
  record.outputs = outputs;
  submit.earlier_outputs = graph.outputs.size();  // `graph` is as it was before the submit
  for (std::size_t i = 0; i < ops.size(); ++i) {
    submit.ops.push_back(stored_op(ops[i], base + OpIndex(i)));
    if (ops[i].value) submit.values.emplace_back(base + OpIndex(i), ops[i].value);
  }
  return submit;
}

std::size_t Persistence::add_submits(const std::vector<StoredSubmit>& submits, double now_ms, std::string& error) {
  if (submits.empty()) return 0;
  const std::size_t stored = store_->add_submits(submits, error);
  if (stored) last_flush_ms_ = now_ms;  // the queued writes went with them
  submits_stored_ += stored;
  ++submit_commits_;
  return stored;
}

void Persistence::record(const Graph& graph, const OpChanges& changes) {
  for (OpIndex op : changes.ops) {
    const OpNode& node = graph.ops[op];
    if (node.status != OpStatus::running) store_->queue_status(graph.id, op, node.status, node.error);
  }
}

std::shared_ptr<const Tensor> Persistence::load_value(const Graph& graph, OpIndex op) {
  auto stored = store_->load_value(graph.id, op);
  return stored ? std::make_shared<const Tensor>(std::move(*stored)) : nullptr;
}

void Persistence::flush(double now_ms) {
  store_->flush();
  last_flush_ms_ = now_ms;
}

void Persistence::save_trust(const std::vector<TrustRecord>& records) {
  std::vector<StoredTrust> stored;
  for (const TrustRecord& r : records)
    stored.push_back({r.identity, r.operator_credential, r.verified, r.wrong, r.quarantined, r.evidence.to_json().dump()});
  store_->save_trust(stored);
}

std::vector<TrustRecord> Persistence::load_trust() {
  std::vector<TrustRecord> out;
  for (const StoredTrust& s : store_->load_trust()) {
    TrustRecord r;
    r.identity = s.identity;
    r.operator_credential = s.operator_credential;
    r.verified = s.verified;
    r.wrong = s.wrong;
    r.quarantined = s.quarantined;
    r.evidence = Evidence::from_json(nlohmann::json::parse(s.evidence, nullptr, false));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace corvid::server
