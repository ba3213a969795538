#include "corvid/graph_file.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <unordered_set>

namespace corvid {

GraphError::GraphError(std::string op_id, const std::string& reason)
    : std::runtime_error(op_id.empty() ? reason : "op '" + op_id + "': " + reason),
      op_id_(std::move(op_id)),
      reason_(reason) {}

GraphOp parse_graph_op(const nlohmann::json& o) {
  if (!o.is_object()) throw GraphError("", "every entry of 'ops' must be an object, got " + o.dump());
  if (!o.contains("id") || !(o["id"].is_string() || o["id"].is_number_integer()))
    throw GraphError("", "op without a string 'id': " + o.dump().substr(0, 120));
  GraphOp op;
  op.id = o["id"].is_string() ? o["id"].get<std::string>() : std::to_string(o["id"].get<int64_t>());
  if (op.id.empty()) throw GraphError("", "op with an empty 'id'");
  if (!o.contains("op") || !o["op"].is_string()) throw GraphError(op.id, "missing string field 'op'");
  const std::string name = o["op"].get<std::string>();
  op.def = find_op(name);
  if (!op.def) throw GraphError(op.id, "unknown op '" + name + "'");
  if (o.contains("inputs") && !o["inputs"].is_null()) {
    if (!o["inputs"].is_array()) throw GraphError(op.id, "'inputs' must be a list of op ids");
    for (const auto& in : o["inputs"]) {
      if (in.is_string()) op.inputs.push_back(in.get<std::string>());
      else if (in.is_number_integer()) op.inputs.push_back(std::to_string(in.get<int64_t>()));
      else throw GraphError(op.id, "'inputs' must be a list of op ids, got " + in.dump());
    }
  }
  if (o.contains("params") && !o["params"].is_null()) {
    if (!o["params"].is_object()) throw GraphError(op.id, "'params' must be an object");
    op.params = o["params"];
  }
  std::optional<DType> dtype;
  if (o.contains("dtype") && !o["dtype"].is_null()) {
    if (!o["dtype"].is_string() || !(dtype = parse_dtype(o["dtype"].get<std::string>())))
      throw GraphError(op.id, "unknown dtype " + o["dtype"].dump() + " (use float32, float64, int32 or bool)");
  }
  if (op.def->name == "tensor") {
    try {
      check_params(*op.def, op.params);  // infer_op, which checks them for every other op, is not run here
    } catch (const OpError& e) {
      throw GraphError(op.id, e.what());
    }
    const nlohmann::json* value = o.contains("value") ? &o["value"] : nullptr;
    if (!value && op.params.contains("value")) value = &op.params["value"];
    if (!value || value->is_null()) throw GraphError(op.id, "tensor op needs a 'value'");
    if (!dtype && op.params.contains("dtype") && op.params["dtype"].is_string())
      dtype = parse_dtype(op.params["dtype"].get<std::string>());
    try {
      op.value = tensor_from_json_value(*value, dtype);
    } catch (const std::exception& e) {
      throw GraphError(op.id, std::string("tensor: bad value: ") + e.what());
    }
    op.params = Params::object();
  } else {
    if (o.contains("value")) throw GraphError(op.id, "'value' is only for tensor ops");
    // Sources such as zeros(shape, dtype) take their dtype as a param; the top-level spelling
    // is accepted too.
    if (dtype && !op.params.contains("dtype")) op.params["dtype"] = std::string(dtype_name(*dtype));
  }
  return op;
}

GraphSpec parse_graph_json(const nlohmann::json& doc) {
  if (!doc.is_object()) throw GraphError("", "a graph file is a JSON object with 'ops'");
  GraphSpec spec;
  if (doc.contains("name")) {
    if (!doc["name"].is_string()) throw GraphError("", "'name' must be a string");
    spec.name = doc["name"].get<std::string>();
  }
  if (!doc.contains("ops") || !doc["ops"].is_array()) throw GraphError("", "a graph file needs an 'ops' list");
  if (doc["ops"].empty()) throw GraphError("", "'ops' is empty");
  for (const auto& o : doc["ops"]) spec.ops.push_back(parse_graph_op(o));
  if (doc.contains("outputs") && !doc["outputs"].is_null()) {
    if (!doc["outputs"].is_array()) throw GraphError("", "'outputs' must be a list of op ids");
    for (const auto& id : doc["outputs"]) {
      if (!id.is_string()) throw GraphError("", "'outputs' must be a list of op ids, got " + id.dump());
      spec.outputs.push_back(id.get<std::string>());
    }
  } else {
    std::unordered_set<std::string> used;
    for (const auto& op : spec.ops) used.insert(op.inputs.begin(), op.inputs.end());
    for (const auto& op : spec.ops)
      if (!used.count(op.id)) spec.outputs.push_back(op.id);
  }
  return spec;
}

nlohmann::json parse_json_text(const std::string& text) {
  try {
    return parse_json_limited(text);
  } catch (const JsonError& e) {
    throw GraphError("", e.kind() == JsonError::Kind::syntax ? "invalid JSON: " + std::string(e.what()) : e.what());
  }
}

GraphSpec parse_graph_file(const std::string& text) {
  const nlohmann::json doc = parse_json_text(text);
  return parse_graph_json(doc);
}

namespace {

// A cycle through `start` among the ops not yet ordered, as "a -> b -> a".
std::string describe_cycle(const GraphSpec& spec, const std::unordered_map<std::string, std::size_t>& pos,
                           const std::vector<bool>& placed, std::size_t start) {
  // Walk inputs that are unplaced; every unplaced op has an unplaced input, so the walk repeats.
  std::vector<std::size_t> path;
  std::unordered_map<std::size_t, std::size_t> seen;
  std::size_t cur = start;
  while (!seen.count(cur)) {
    seen[cur] = path.size();
    path.push_back(cur);
    std::size_t next = cur;
    for (const auto& in : spec.ops[cur].inputs) {
      auto it = pos.find(in);
      if (it != pos.end() && !placed[it->second]) {
        next = it->second;
        break;
      }
    }
    cur = next;
  }
  // Inputs point backwards in data flow; print the cycle in data-flow order.
  std::vector<std::size_t> cycle(path.begin() + static_cast<std::ptrdiff_t>(seen[cur]), path.end());
  std::reverse(cycle.begin(), cycle.end());
  // Start at the op that comes first in the file, so the message is stable.
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string text;
  for (auto i : cycle) text += spec.ops[i].id + " -> ";
  return text + spec.ops[cycle.front()].id;
}

}  // namespace

std::unordered_map<std::string, TensorSpec> validate_graph(GraphSpec& spec,
                                                           const std::unordered_map<std::string, TensorSpec>& known) {
  std::unordered_map<std::string, std::size_t> pos;
  for (std::size_t i = 0; i < spec.ops.size(); ++i) {
    const auto& op = spec.ops[i];
    if (!pos.emplace(op.id, i).second || known.count(op.id)) throw GraphError(op.id, "duplicate op id");
  }
  for (const auto& op : spec.ops)
    for (const auto& in : op.inputs)
      if (!pos.count(in) && !known.count(in)) throw GraphError(op.id, "unknown input id '" + in + "'");

  // Stable topological order (Kahn's algorithm, always taking the earliest ready op).
  const std::size_t n = spec.ops.size();
  std::vector<int> missing(n, 0);
  std::vector<std::vector<std::size_t>> dependents(n);
  for (std::size_t i = 0; i < n; ++i)
    for (const auto& in : spec.ops[i].inputs) {
      auto it = pos.find(in);
      if (it == pos.end()) continue;
      ++missing[i];
      dependents[it->second].push_back(i);
    }
  std::set<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i)
    if (!missing[i]) ready.insert(i);
  std::vector<std::size_t> order;
  std::vector<bool> placed(n, false);
  while (!ready.empty()) {
    const std::size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    placed[i] = true;
    for (auto d : dependents[i])
      if (--missing[d] == 0) ready.insert(d);
  }
  if (order.size() != n) {
    std::size_t first = 0;
    while (placed[first]) ++first;
    // Report an op that is on the cycle itself, not merely downstream of it.
    const std::string cycle = describe_cycle(spec, pos, placed, first);
    const std::string on_cycle = cycle.substr(0, cycle.find(" -> "));
    throw GraphError(on_cycle, "is part of a cycle: " + cycle);
  }

  std::unordered_map<std::string, TensorSpec> specs;
  auto spec_of_input = [&](const std::string& id) -> const TensorSpec& {
    auto it = specs.find(id);
    return it != specs.end() ? it->second : known.at(id);
  };
  for (auto i : order) {
    const auto& op = spec.ops[i];
    TensorSpec out;
    if (op.def->name == "tensor") {
      if (!op.value) throw GraphError(op.id, "tensor op needs a 'value'");
      if (!op.inputs.empty()) throw GraphError(op.id, "tensor: expects 0 input(s), got " + std::to_string(op.inputs.size()));
      out = spec_of(*op.value);
    } else {
      std::vector<TensorSpec> inputs;
      for (const auto& in : op.inputs) inputs.push_back(spec_of_input(in));
      try {
        out = infer_op(*op.def, inputs, op.params);
      } catch (const std::exception& e) {
        throw GraphError(op.id, e.what());
      }
    }
    specs.emplace(op.id, std::move(out));
  }
  for (const auto& id : spec.outputs)
    if (!specs.count(id) && !known.count(id)) throw GraphError("", "output '" + id + "' is not an op of the graph");

  std::vector<GraphOp> sorted;
  sorted.reserve(n);
  for (auto i : order) sorted.push_back(std::move(spec.ops[i]));
  spec.ops = std::move(sorted);
  return specs;
}

Frame submit_frame(const GraphSpec& spec, uint64_t request_id, const nlohmann::json& graph_id) {
  Frame frame;
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : spec.ops) {
    nlohmann::json o = {{"id", op.id}, {"op", op.def->name}, {"inputs", op.inputs}, {"params", op.params}};
    if (op.value) {
      o["dtype"] = dtype_name(op.value->dtype());
      frame.tensors.push_back({op.id, *op.value});
    }
    ops.push_back(std::move(o));
  }
  frame.header = {{"type", "submit"}, {"request_id", request_id}, {"name", spec.name}, {"ops", std::move(ops)},
                  {"outputs", spec.outputs}};
  if (!graph_id.is_null()) {
    frame.header["graph_id"] = graph_id;
  } else {
    // Names this creation: the same frame resent after a lost connection gets the graph the
    // first try created, not a second one.
    std::random_device random;
    char key[33];
    std::snprintf(key, sizeof key, "%08x%08x%08x%08x", random(), random(), random(), random());
    frame.header["submit_key"] = key;
  }
  return frame;
}

}  // namespace corvid
