#include "server/core/submit.hpp"

#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace corvid::server {

namespace {

bool fully_known(const TensorSpec& spec) {
  for (int64_t d : spec.shape)
    if (d < 0) return false;
  return true;
}

// Throws SubmitError naming `blamed` if the earlier op `op` may no longer be referenced.
void reject_reference(const Graph& graph, OpIndex op, const std::string& blamed) {
  const std::string problem = graph.reference_problem(op);
  if (!problem.empty())
    throw SubmitError(blamed, blamed == graph.ops[op].id ? problem : "op '" + blamed + "': input " + problem);
}

}  // namespace

ValidatedSubmit validate_submit(const Graph& graph, std::vector<OpSpec> ops,
                                std::optional<std::vector<std::string>> outputs, std::size_t max_source_bytes) {
  auto earlier = [&graph](const std::string& id) -> const TensorSpec* {
    auto it = graph.index.find(id);
    return it != graph.index.end() ? &graph.ops[it->second].spec : nullptr;
  };
  GraphSpec spec;
  std::unordered_map<std::string, TensorSpec> specs;
  std::unordered_set<std::string> named;  // the developer's op ids
  for (const auto& op : ops) named.insert(op.id);
  try {
    spec.ops = std::move(ops);
    if (outputs) spec.outputs = std::move(*outputs);
    specs = validate_graph(spec, earlier);  // now in topological order
  } catch (const GraphError& e) {
    throw SubmitError(e.op_id(), e.what());
  }

  ValidatedSubmit out;
  const auto base = static_cast<OpIndex>(graph.ops.size());
  std::unordered_map<std::string, OpIndex> new_index;
  for (auto& op : spec.ops) {
    OpNode node;
    node.id = op.id;
    node.def = op.def;
    node.spec = specs.at(op.id);
    std::vector<TensorSpec> inputs;
    for (const auto& in : op.inputs) {
      auto it = new_index.find(in);
      if (it == new_index.end()) reject_reference(graph, graph.index.at(in), op.id);
      node.inputs.push_back(it != new_index.end() ? it->second : graph.index.at(in));
      inputs.push_back(it != new_index.end() ? specs.at(in) : *earlier(in));
    }
    if (op.value) {  // a `tensor` op
      node.params = {{"dtype", dtype_name(op.value->dtype())}};
      node.status = OpStatus::computed;
      node.has_value = true;
      node.value = std::make_shared<const Tensor>(std::move(*op.value));
    } else {
      node.params = std::move(op.params);
      try {
        node.cost = estimate_cost(*op.def, inputs, node.spec, node.params);
        if (op.inputs.empty() && fully_known(node.spec) &&
            static_cast<std::size_t>(num_elements(node.spec.shape)) * dtype_size(node.spec.dtype) <= max_source_bytes) {
          node.value = std::make_shared<const Tensor>(run_op(*op.def, {}, node.params));
          node.status = OpStatus::computed;
          node.has_value = true;
        }
      } catch (const std::exception& e) {
        throw SubmitError(op.id, "op '" + op.id + "': " + e.what());
      }
    }
    if (!named.count(op.id)) out.internal.push_back(out.ops.size());
    new_index.emplace(op.id, static_cast<OpIndex>(base + out.ops.size()));
    out.ops.push_back(std::move(node));
  }
  for (const auto& id : spec.outputs)
    if (!new_index.count(id)) reject_reference(graph, graph.index.at(id), id);
  out.outputs = std::move(spec.outputs);
  return out;
}

}  // namespace corvid::server
