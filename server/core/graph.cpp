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

void Graph::set_status(OpIndex op, OpStatus status) {
  OpNode& node = ops[op];
  counts[int(node.status)]--;
  counts[int(status)]++;
  node.status = status;
  ++version;
  if (status != OpStatus::pending) unready(op);
}

bool Graph::inputs_available(OpIndex op) const {
  for (OpIndex in : ops[op].inputs)
    if (ops[in].status != OpStatus::computed || !ops[in].has_value) return false;
  return true;
}

void Graph::refresh_ready(OpIndex op) {
  if (ops[op].status == OpStatus::pending && inputs_available(op)) {
    if (ready.insert(op).second) {
      ready_cost.flops += ops[op].cost.flops;
      ready_cost.bytes += ops[op].cost.bytes;
    }
  } else {
    unready(op);
  }
}

void Graph::unready(OpIndex op) {
  if (!ready.erase(op)) return;
  ready_cost.flops -= ops[op].cost.flops;
  ready_cost.bytes -= ops[op].cost.bytes;
  if (ready.empty()) ready_cost = {};  // no drift from floating-point sums
}

std::string Graph::status() const {
  if (!finished()) return "running";
  if (counts[int(OpStatus::failed)] > 0) return "failed";
  if (counts[int(OpStatus::cancelled)] > 0) return "cancelled";
  return "computed";
}

std::string Graph::wire_name(OpIndex op) const { return std::to_string(id) + ":" + ops[op].id; }

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
