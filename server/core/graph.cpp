#include "server/core/graph.hpp"

namespace corvid::server {

const char* status_name(OpStatus status) {
  switch (status) {
    case OpStatus::pending: return "pending";
    case OpStatus::running: return "running";
    case OpStatus::computed: return "computed";
    case OpStatus::failed: return "failed";
    case OpStatus::cancelled: return "cancelled";
  }
  return "invalid";
}

bool is_final(OpStatus status) {
  return status == OpStatus::computed || status == OpStatus::failed || status == OpStatus::cancelled;
}

double value_bytes(const OpNode& node) {
  return node.value ? static_cast<double>(node.value->nbytes()) : spec_bytes(node.spec);
}

OpIndex Graph::add_op(OpNode node) {
  const auto op = static_cast<OpIndex>(ops.size());
  for (OpIndex in : node.inputs) ops[in].dependents.push_back(op);
  index.emplace(node.id, op);
  counts[int(node.status)]++;
  ops.push_back(std::move(node));
  return op;
}

void OpChanges::merge(const OpChanges& later) {
  ops.insert(ops.end(), later.ops.begin(), later.ops.end());
  finished = finished || later.finished;
}

OpChanges Graph::set_status(OpIndex op, OpStatus status, const std::string& error) {
  const bool was_finished = finished();
  OpNode& node = ops[op];
  counts[int(node.status)]--;
  counts[int(status)]++;
  node.status = status;
  node.error = error;
  ++version;
  if (status != OpStatus::pending) unready(op);
  OpChanges changes;
  changes.ops.push_back(op);
  changes.finished = !was_finished && finished();
  return changes;
}

OpChanges Graph::finalize_downstream(std::vector<OpIndex> stack, OpStatus status, const std::string& error) {
  OpChanges changes;
  while (!stack.empty()) {
    const OpIndex op = stack.back();
    stack.pop_back();
    if (is_final(ops[op].status)) continue;
    changes.merge(set_status(op, status, error));
    stack.insert(stack.end(), ops[op].dependents.begin(), ops[op].dependents.end());
  }
  return changes;
}

OpChanges Graph::fail(OpIndex root, const std::string& error) {
  OpChanges changes = set_status(root, OpStatus::failed, error);
  changes.merge(finalize_downstream(ops[root].dependents, OpStatus::failed,
                                    "input op '" + ops[root].id + "' failed: " + error));
  return changes;
}

OpChanges Graph::cancel(OpIndex root) { return finalize_downstream({root}, OpStatus::cancelled, "cancelled"); }

OpChanges Graph::retry(OpIndex op, uint64_t worker, const std::string& reason, int max_attempts) {
  OpNode& node = ops[op];
  node.avoid_worker = worker;
  if (++node.attempts >= max_attempts)
    return fail(op, "gave up after " + std::to_string(node.attempts) + " attempts (last: " + reason + ")");
  return set_status(op, OpStatus::pending);
}

OpChanges Graph::ensure_value(OpIndex root) {
  OpChanges changes;
  std::vector<OpIndex> stack{root};
  while (!stack.empty()) {
    const OpIndex op = stack.back();
    stack.pop_back();
    OpNode& node = ops[op];
    if (node.status != OpStatus::computed || node.has_value || node.freed) continue;
    changes.merge(set_status(op, OpStatus::pending));
    stack.insert(stack.end(), node.inputs.begin(), node.inputs.end());
  }
  for (OpIndex op : changes.ops) {
    refresh_ready(op);
    for (OpIndex dep : ops[op].dependents) refresh_ready(dep);
  }
  return changes;
}

bool Graph::mark_requested(OpIndex op) {
  if (ops[op].requested) return false;
  ops[op].requested = true;
  return true;
}

std::string Graph::reference_problem(OpIndex op) const {
  if (ops[op].released)
    return "op '" + ops[op].id + "' was released (submit 'release'): its value is gone";
  // A value that stayed on a worker is computed again from its inputs, which must still exist.
  std::vector<OpIndex> stack{op};
  std::set<OpIndex> seen;
  while (!stack.empty()) {
    const OpNode& node = ops[stack.back()];
    stack.pop_back();
    if (node.status != OpStatus::computed || node.has_value) continue;
    for (OpIndex in : node.inputs) {
      if (ops[in].freed)
        return "op '" + ops[op].id + "' would have to be computed again from op '" + ops[in].id +
               "', which was released (submit 'release')";
      if (seen.insert(in).second) stack.push_back(in);
    }
  }
  return "";
}

bool Graph::freeable(OpIndex op) const {
  if (!ops[op].released || ops[op].freed) return false;
  std::vector<OpIndex> stack{op};
  std::set<OpIndex> seen;
  while (!stack.empty()) {
    const OpNode& node = ops[stack.back()];
    stack.pop_back();
    for (OpIndex dep : node.dependents) {
      const OpNode& reader = ops[dep];
      if (!is_final(reader.status)) return false;
      // A reader whose value stayed on a worker is computed again from `op` if anything needs it.
      if (reader.status == OpStatus::computed && !reader.has_value && !reader.freed) {
        if (reader.requested || !reader.released) return false;  // it may be asked for: keep what makes it
        if (seen.insert(dep).second) stack.push_back(dep);
      }
    }
  }
  return true;
}

void Graph::free_value(OpIndex op) {
  OpNode& node = ops[op];
  node.value.reset();
  node.has_value = false;
  --unfreed_releases;
  node.freed = true;
}

bool Graph::inputs_available(OpIndex op) const {
  for (OpIndex in : ops[op].inputs)
    if (ops[in].status != OpStatus::computed || !ops[in].has_value) return false;
  return true;
}

void Graph::report_ready_to(ReadyGraphs& index) {
  ready_link.index = &index;
  if (ready.empty())
    index.erase(id);
  else
    index[id] = this;
}

void Graph::refresh_ready(OpIndex op) {
  if (ops[op].status == OpStatus::pending && inputs_available(op)) {
    if (ready.insert(op).second) {
      ready_cost.flops += ops[op].cost.flops;
      ready_cost.bytes += ops[op].cost.bytes;
      if (ready.size() == 1 && ready_link.index) (*ready_link.index)[id] = this;
    }
  } else {
    unready(op);
  }
}

void Graph::unready(OpIndex op) {
  if (!ready.erase(op)) return;
  ready_cost.flops -= ops[op].cost.flops;
  ready_cost.bytes -= ops[op].cost.bytes;
  if (!ready.empty()) return;
  ready_cost = {};  // no drift from floating-point sums
  if (ready_link.index) ready_link.index->erase(id);
}

ValueHoldings Graph::holdings() const {
  ValueHoldings h;
  for (const OpNode& node : ops) {
    h.freed += node.freed;
    if (node.status != OpStatus::computed || !node.has_value) continue;
    ++h.values;
    h.bytes += value_bytes(node);
    h.in_memory += node.value != nullptr;
  }
  return h;
}

std::string Graph::status() const {
  if (!finished()) return "running";
  if (counts[int(OpStatus::failed)] > 0) return "failed";
  if (counts[int(OpStatus::cancelled)] > 0) return "cancelled";
  return "computed";
}

std::string Graph::wire_name(OpIndex op) const { return std::to_string(id) + ":" + ops[op].id; }

OpSpec Graph::wire_op(OpIndex op) const {
  const OpNode& node = ops[op];
  OpSpec spec;
  spec.id = wire_name(op);
  spec.def = node.def;
  for (OpIndex in : node.inputs) spec.inputs.push_back(wire_name(in));
  spec.params = node.params;
  return spec;
}

bool parse_wire_name(const std::string& name, GraphId& graph, std::string& op_id) {
  const auto colon = name.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 19) return false;
  GraphId g = 0;
  for (std::size_t i = 0; i < colon; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    g = g * 10 + GraphId(name[i] - '0');
  }
  graph = g;
  op_id = name.substr(colon + 1);
  return true;
}

}  // namespace corvid::server
