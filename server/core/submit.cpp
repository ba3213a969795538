#include "server/core/submit.hpp"

#include <functional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace corvid::server {

namespace {

// One op of the submit as parsed, before sorting.
struct ParsedOp {
  std::string id;
  const OpDef* def = nullptr;
  std::vector<std::string> inputs;
  Params params = Params::object();
  const nlohmann::json* json = nullptr;
};

[[noreturn]] void refuse(const std::string& op_id, const std::string& reason) {
  throw SubmitError(op_id, "op '" + op_id + "': " + reason);
}

std::string describe(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

ParsedOp parse_op(const nlohmann::json& o, std::size_t position) {
  const std::string where = "op #" + std::to_string(position + 1);
  if (!o.is_object()) throw SubmitError("", where + " is not a JSON object: " + describe(o));
  auto id = o.find("id");
  if (id == o.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
    throw SubmitError("", where + " needs a non-empty string \"id\"");
  ParsedOp p;
  p.id = id->get<std::string>();
  p.json = &o;
  auto op = o.find("op");
  if (op == o.end() || !op->is_string()) refuse(p.id, "needs a string \"op\" (the op's name)");
  p.def = find_op(op->get<std::string>());
  if (!p.def) refuse(p.id, "unknown op '" + op->get<std::string>() + "'");
  if (auto in = o.find("inputs"); in != o.end() && !in->is_null()) {
    if (!in->is_array()) refuse(p.id, "\"inputs\" must be a list of op ids");
    for (const auto& e : *in) {
      if (!e.is_string()) refuse(p.id, "\"inputs\" must be a list of op ids, got " + describe(e));
      p.inputs.push_back(e.get<std::string>());
    }
  }
  if (auto params = o.find("params"); params != o.end() && !params->is_null()) {
    if (!params->is_object()) refuse(p.id, "\"params\" must be a JSON object");
    p.params = *params;
  }
  return p;
}

// The value of a `tensor` op without inputs: an attached tensor named by its id, else its JSON "value"
// (or params.value), converted to its "dtype" (or params.dtype) when one is given.
Tensor tensor_value(const ParsedOp& p, const Frame& frame) {
  try {
    check_params(*p.def, p.params);  // infer_op, which checks them for every other op, is not run here
  } catch (const OpError& e) {
    refuse(p.id, e.what());
  }
  const nlohmann::json& o = *p.json;
  std::optional<DType> dtype;
  const nlohmann::json* dtype_json = o.contains("dtype") ? &o["dtype"] : p.params.contains("dtype") ? &p.params["dtype"] : nullptr;
  if (dtype_json && !dtype_json->is_null()) {
    if (!dtype_json->is_string()) refuse(p.id, "tensor: \"dtype\" must be a string");
    dtype = parse_dtype(dtype_json->get<std::string>());
    if (!dtype) refuse(p.id, "tensor: unknown dtype '" + dtype_json->get<std::string>() + "'");
  }
  if (const Tensor* attached = frame.find(p.id)) return dtype && *dtype != attached->dtype() ? attached->astype(*dtype) : *attached;
  const nlohmann::json* value = o.contains("value") ? &o["value"] : p.params.contains("value") ? &p.params["value"] : nullptr;
  if (!value) refuse(p.id, "tensor: needs a \"value\" (a JSON list or an attached tensor named '" + p.id + "')");
  try {
    return tensor_from_json_value(*value, dtype);
  } catch (const std::exception& e) {
    refuse(p.id, std::string("tensor: ") + e.what());
  }
}

bool fully_known(const TensorSpec& spec) {
  for (int64_t d : spec.shape)
    if (d < 0) return false;
  return true;
}

}  // namespace

ValidatedSubmit validate_submit(const Graph& graph, const nlohmann::json& ops, const nlohmann::json& outputs,
                                const Frame& frame, std::size_t max_source_bytes) {
  if (!ops.is_array()) throw SubmitError("", "submit: \"ops\" must be a list");
  std::vector<ParsedOp> parsed;
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ParsedOp p = parse_op(ops[i], i);
    if (graph.index.count(p.id) || position.count(p.id)) refuse(p.id, "duplicate op id '" + p.id + "'");
    position.emplace(p.id, parsed.size());
    parsed.push_back(std::move(p));
  }
  // Every input must name an op of this submit or of the graph.
  std::vector<int> missing(parsed.size(), 0);  // inputs inside the submit not yet placed
  std::vector<std::vector<std::size_t>> users(parsed.size());
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    for (const auto& in : parsed[i].inputs) {
      if (auto it = position.find(in); it != position.end()) {
        missing[i]++;
        users[it->second].push_back(i);
      } else if (!graph.index.count(in)) {
        refuse(parsed[i].id, "unknown input id '" + in + "'");
      }
    }
  }
  // Kahn's algorithm, taking ops in submit order whenever several are ready.
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < parsed.size(); ++i)
    if (missing[i] == 0) ready.push(i);
  std::vector<std::size_t> order;
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (std::size_t u : users[i])
      if (--missing[u] == 0) ready.push(u);
  }
  if (order.size() < parsed.size()) {
    // Walk from the first op left over through inputs that are left over until one repeats.
    std::size_t cur = 0;
    while (missing[cur] == 0) ++cur;
    std::vector<std::size_t> path;
    std::unordered_map<std::size_t, std::size_t> seen;
    while (!seen.count(cur)) {
      seen[cur] = path.size();
      path.push_back(cur);
      for (const auto& in : parsed[cur].inputs) {
        auto it = position.find(in);
        if (it != position.end() && missing[it->second] > 0) {
          cur = it->second;
          break;
        }
      }
    }
    std::string cycle;
    for (std::size_t k = seen[cur]; k < path.size(); ++k) cycle += parsed[path[k]].id + " <- ";
    refuse(parsed[cur].id, "cycle: " + cycle + parsed[cur].id);
  }

  ValidatedSubmit out;
  const auto base = static_cast<OpIndex>(graph.ops.size());
  std::unordered_map<std::string, OpIndex> new_index;
  auto spec_of_input = [&](const std::string& id) -> const TensorSpec& {
    auto it = new_index.find(id);
    return it != new_index.end() ? out.ops[it->second - base].spec : graph.ops[graph.index.at(id)].spec;
  };
  for (std::size_t i : order) {
    const ParsedOp& p = parsed[i];
    OpNode node;
    node.id = p.id;
    node.def = p.def;
    std::vector<TensorSpec> specs;
    for (const auto& in : p.inputs) {
      auto it = new_index.find(in);
      node.inputs.push_back(it != new_index.end() ? it->second : graph.index.at(in));
      specs.push_back(spec_of_input(in));
    }
    if (p.def->name == "tensor" && p.inputs.empty()) {
      auto value = std::make_shared<const Tensor>(tensor_value(p, frame));
      node.spec = spec_of(*value);
      node.params = {{"dtype", dtype_name(value->dtype())}};
      node.status = OpStatus::computed;
      node.has_value = true;
      node.value = std::move(value);
    } else {
      node.params = p.params;
      try {
        node.spec = infer_op(*p.def, specs, node.params);
        node.cost = estimate_cost(*p.def, specs, node.spec, node.params);
        if (p.inputs.empty() && fully_known(node.spec) &&
            static_cast<std::size_t>(num_elements(node.spec.shape)) * dtype_size(node.spec.dtype) <= max_source_bytes) {
          node.value = std::make_shared<const Tensor>(run_op(*p.def, {}, node.params));
          node.status = OpStatus::computed;
          node.has_value = true;
        }
      } catch (const std::exception& e) {
        refuse(p.id, e.what());
      }
    }
    new_index.emplace(p.id, static_cast<OpIndex>(base + out.ops.size()));
    out.ops.push_back(std::move(node));
  }

  if (!outputs.is_null()) {
    if (!outputs.is_array()) throw SubmitError("", "submit: \"outputs\" must be a list of op ids");
    for (const auto& o : outputs) {
      if (!o.is_string()) throw SubmitError("", "submit: \"outputs\" must be a list of op ids, got " + describe(o));
      const auto id = o.get<std::string>();
      if (!new_index.count(id) && !graph.index.count(id)) throw SubmitError(id, "unknown output id '" + id + "'");
      out.outputs.push_back(id);
    }
  }
  return out;
}

}  // namespace corvid::server
