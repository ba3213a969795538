#include "graph_spec.hpp"

#include "autograd.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace corvid {

GraphError::GraphError(std::string op_id, const std::string& reason)
    : GraphError(op_id, reason, op_id.empty() ? reason : "op '" + op_id + "': " + reason) {}

GraphError::GraphError(std::string op_id, std::string reason, const std::string& message)
    : std::runtime_error(message), op_id_(std::move(op_id)), reason_(std::move(reason)) {}

GraphError GraphError::unknown_output(const std::string& id) {
  const std::string reason = "output '" + id + "' is not an op of the graph";
  return GraphError(id, reason, reason);
}

GraphError GraphError::within(const std::string& context) const {
  const std::string reason = context + reason_;
  return what() != reason_ ? GraphError(op_id_, reason) : GraphError(op_id_, reason, reason);
}

namespace {

// A piece of JSON for a message, cut short: what comes from outside may be large.
std::string describe(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

// An op id as written: a string, or an integer read as its decimal text.
std::optional<std::string> op_id_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>());
  return std::nullopt;
}

// The value of a tensor op: the attached tensor named by its id, else its JSON value, in `dtype`.
Tensor tensor_value(const OpSpec& op, const nlohmann::json& o, std::optional<DType> dtype, const Frame* attached) {
  if (const Tensor* t = attached ? attached->find(op.id) : nullptr) return dtype && *dtype != t->dtype() ? t->astype(*dtype) : *t;
  const nlohmann::json* value = o.contains("value") ? &o["value"] : nullptr;
  if (!value && op.params.contains("value")) value = &op.params["value"];
  if (!value || value->is_null()) throw GraphError(op.id, "tensor op needs a 'value'");
  try {
    return tensor_from_json_value(*value, dtype);
  } catch (const std::exception& e) {
    throw GraphError(op.id, std::string("tensor: bad value: ") + e.what());
  }
}

}  // namespace

std::vector<std::string> parse_op_ids(const nlohmann::json& ids, const std::string& what) {
  if (!ids.is_array()) throw GraphError("", "'" + what + "' must be a list of op ids");
  std::vector<std::string> out;
  for (const auto& v : ids) {
    auto id = op_id_of(v);
    if (!id) throw GraphError("", "'" + what + "' must be a list of op ids, got " + describe(v));
    out.push_back(std::move(*id));
  }
  return out;
}

OpSpec parse_op_spec(const nlohmann::json& o, const Frame* attached) {
  if (!o.is_object()) throw GraphError("", "every entry of 'ops' must be an object, got " + describe(o));
  auto id = o.contains("id") ? op_id_of(o["id"]) : std::nullopt;
  if (!id) throw GraphError("", "op without a string or integer 'id': " + describe(o));
  OpSpec op;
  op.id = std::move(*id);
  if (op.id.empty()) throw GraphError("", "op with an empty 'id'");
  if (!o.contains("op") || !o["op"].is_string()) throw GraphError(op.id, "missing string field 'op'");
  const std::string name = o["op"].get<std::string>();
  op.def = name == "grad" ? &grad_op_def() : find_op(name);  // grad is expanded by validate_graph
  if (!op.def) throw GraphError(op.id, "unknown op '" + name + "'" + op_name_hint(name));
  if (o.contains("inputs") && !o["inputs"].is_null()) {
    try {
      op.inputs = parse_op_ids(o["inputs"], "inputs");
    } catch (const GraphError& e) {
      throw GraphError(op.id, e.reason());
    }
  }
  if (o.contains("params") && !o["params"].is_null()) {
    if (!o["params"].is_object()) throw GraphError(op.id, "'params' must be an object");
    op.params = o["params"];
  }
  if (op.def->name == "tensor") {
    try {
      check_params(*op.def, op.params);  // infer_op, which checks them for every other op, is not run here
    } catch (const OpError& e) {
      throw GraphError(op.id, e.what());
    }
  }
  // A tensor's dtype (or a source's, such as zeros) may be given beside "op" or as a param.
  const nlohmann::json* dtype_json = o.contains("dtype") ? &o["dtype"] : nullptr;
  if ((!dtype_json || dtype_json->is_null()) && op.def->name == "tensor" && op.params.contains("dtype"))
    dtype_json = &op.params["dtype"];
  std::optional<DType> dtype;
  if (dtype_json && !dtype_json->is_null()) {
    if (!dtype_json->is_string() || !(dtype = parse_dtype(dtype_json->get<std::string>())))
      throw GraphError(op.id, "unknown dtype " + describe(*dtype_json) + " (use float32, float64, int32 or bool)");
  }
  if (op.def->name == "tensor") {
    op.value = tensor_value(op, o, dtype, attached);
    op.params = Params::object();
  } else {
    if (o.contains("value")) throw GraphError(op.id, "'value' is only for tensor ops");
    if (dtype && !op.params.contains("dtype")) op.params["dtype"] = std::string(dtype_name(*dtype));
  }
  return op;
}

std::vector<OpSpec> parse_op_specs(const nlohmann::json& ops, const Frame* attached) {
  if (!ops.is_array()) throw GraphError("", "'ops' must be a list of ops");
  std::vector<OpSpec> out;
  out.reserve(ops.size());
  for (const auto& o : ops) out.push_back(parse_op_spec(o, attached));
  return out;
}

GraphSpec parse_graph_json(const nlohmann::json& doc) {
  if (!doc.is_object()) throw GraphError("", "a graph file is a JSON object with 'ops'");
  GraphSpec spec;
  if (doc.contains("name")) {
    if (!doc["name"].is_string()) throw GraphError("", "'name' must be a string");
    spec.name = doc["name"].get<std::string>();
  }
  if (doc.contains("verify")) {
    const auto& v = doc["verify"];
    if (!v.is_string() || (v != "off" && v != "adaptive" && v != "replicate"))
      throw GraphError("", "'verify' must be \"off\", \"adaptive\" or \"replicate\"");
    spec.verify = v.get<std::string>();
  }
  if (!doc.contains("ops") || !doc["ops"].is_array()) throw GraphError("", "a graph file needs an 'ops' list");
  if (doc["ops"].empty()) throw GraphError("", "'ops' is empty");
  spec.ops = parse_op_specs(doc["ops"]);
  if (doc.contains("release") && !doc["release"].is_null()) spec.release = parse_op_ids(doc["release"], "release");
  if (doc.contains("outputs") && !doc["outputs"].is_null()) {
    spec.outputs = parse_op_ids(doc["outputs"], "outputs");
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

GraphSpec parse_graph_file(const std::string& text) { return parse_graph_json(parse_json_text(text)); }

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
  // Start at the op that comes first in the spec, so the message is stable.
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string text;
  for (auto i : cycle) text += spec.ops[i].id + " -> ";
  return text + spec.ops[cycle.front()].id;
}

}  // namespace

std::unordered_map<std::string, TensorSpec> validate_graph(GraphSpec& spec, const KnownSpecs& known) {
  std::unordered_map<std::string, std::size_t> pos;
  for (std::size_t i = 0; i < spec.ops.size(); ++i) {
    const auto& op = spec.ops[i];
    if (!pos.emplace(op.id, i).second || known(op.id)) throw GraphError(op.id, "duplicate op id");
  }
  for (const auto& op : spec.ops)
    for (const auto& in : op.inputs)
      if (!pos.count(in) && !known(in)) throw GraphError(op.id, "unknown input id '" + in + "'");

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
    return it != specs.end() ? it->second : *known(id);
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
    if (!specs.count(id) && !known(id)) throw GraphError::unknown_output(id);

  std::vector<OpSpec> sorted;
  sorted.reserve(n);
  for (auto i : order) sorted.push_back(std::move(spec.ops[i]));
  spec.ops = std::move(sorted);
  if (std::any_of(spec.ops.begin(), spec.ops.end(), is_grad_op)) {
    expand_grads(spec, specs, known);
    return validate_graph(spec, known);  // the expanded batch, sorted again
  }
  return specs;
}

std::unordered_map<std::string, TensorSpec> validate_graph(GraphSpec& spec,
                                                           const std::unordered_map<std::string, TensorSpec>& known) {
  return validate_graph(spec, [&known](const std::string& id) -> const TensorSpec* {
    auto it = known.find(id);
    return it != known.end() ? &it->second : nullptr;
  });
}

}  // namespace corvid
