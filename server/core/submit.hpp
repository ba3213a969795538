// Validation of a developer's submit: the ops of the graph file format checked all or nothing by
// the shared parser and validator (shared/graph_spec.hpp: unknown op, unknown input id, duplicate
// id, cycle, arity, params, shapes) and turned into OpNodes with their inferred specs and costs.
// Pure: no store, no network.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/graph.hpp"
#include "shared/graph_spec.hpp"

namespace corvid::server {

// A submit was refused; op_id names the op to blame (empty when the submit as a whole is bad).
class SubmitError : public std::runtime_error {
 public:
  SubmitError(std::string op_id, const std::string& message) : std::runtime_error(message), op_id_(std::move(op_id)) {}
  const std::string& op_id() const { return op_id_; }

 private:
  std::string op_id_;
};

// The ops of a submit, ready to be appended to the graph in this order.
struct ValidatedSubmit {
  // Topologically sorted. Inputs index the graph as it will be once these ops are appended
  // after its existing ones. Sources (`tensor` ops and zero-input ops like zeros or
  // random_uniform whose output is at most max_source_bytes) are already computed here, on the
  // server: their value must be stored anyway and computing them is cheap.
  std::vector<OpNode> ops;
  std::vector<std::string> outputs;  // the submit's output ids (new or existing ops)
  // Positions in `ops` of the ops the expansion of grad ops added (the backward pass, ids
  // "<g>#n"): the developer never named them, so they are released from the start.
  std::vector<std::size_t> internal;
};

// Validates the ops of a submit (parsed by protocol::decode<Submit>, values of `tensor` ops
// included) and its outputs (none: no new outputs) against `graph` (the ops already in it, or an
// empty graph) with validate_graph. Throws SubmitError naming the first bad op and the reason
// (the GraphError's message), or an earlier op that may no longer be referenced
// (Graph::reference_problem: released).
ValidatedSubmit validate_submit(const Graph& graph, std::vector<OpSpec> ops,
                                std::optional<std::vector<std::string>> outputs, std::size_t max_source_bytes = 4u << 20);

}  // namespace corvid::server
