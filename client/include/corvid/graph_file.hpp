// The graph file format of README ("The graph file") and its local validation with the op
// table, shared by the `corvid` CLI and the library: a bad graph is refused before it travels,
// with a message naming the op id and the reason.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/ops/op.hpp"
#include "shared/wire.hpp"

namespace corvid {

// A graph that cannot be submitted. op_id() names the op to blame ("" when the problem is not
// one op's, e.g. invalid JSON); what() is the full message, "op 'c': add: cannot broadcast ...".
class GraphError : public std::runtime_error {
 public:
  GraphError(std::string op_id, const std::string& reason);
  const std::string& op_id() const { return op_id_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string op_id_;
  std::string reason_;
};

// One op as the developer wrote it. Source tensors carry their value (sent as a binary tensor).
struct GraphOp {
  std::string id;
  const OpDef* def = nullptr;  // resolved from the name or alias
  std::vector<std::string> inputs;
  Params params = Params::object();
  std::optional<Tensor> value;  // for "tensor" ops
};

// A graph (or a batch of ops added to an existing graph).
struct GraphSpec {
  std::string name;
  std::vector<GraphOp> ops;
  std::vector<std::string> outputs;
};

// Parses JSON text within the default JsonLimits (shared/json_limits.hpp); throws GraphError
// "invalid JSON: <where and why>" or naming the limit ("JSON nested deeper than 64 levels").
nlohmann::json parse_json_text(const std::string& text);

// Parses the text of a graph file; throws GraphError for invalid JSON or a malformed op
// (missing id, unknown op name, bad value). Does not check inputs, cycles or shapes: see
// validate_graph. "outputs" defaults to the ops no other op uses.
GraphSpec parse_graph_file(const std::string& text);
GraphSpec parse_graph_json(const nlohmann::json& doc);
// Parses one op object of the format ({"id","op","inputs","params","value","dtype"}).
GraphOp parse_graph_op(const nlohmann::json& op);

// Checks the ops against each other and the op table: unique ids, inputs that name an op of
// the spec or of `known` (ops submitted earlier), no cycle, the right arity, valid params and
// compatible shapes; outputs must name ops. Reorders spec.ops topologically (stable) and
// returns the inferred spec of every op of the batch. Throws GraphError naming the op.
std::unordered_map<std::string, TensorSpec> validate_graph(
    GraphSpec& spec, const std::unordered_map<std::string, TensorSpec>& known = {});

// The `submit` frame for a validated batch: ops as {"id","op","inputs","params"} (plus "dtype"
// for tensor ops), tensor values attached as binary tensors named by op id. graph_id null
// creates a graph, and the frame gets a random `submit_key` so that resending it cannot create
// a second one.
Frame submit_frame(const GraphSpec& spec, uint64_t request_id, const nlohmann::json& graph_id);

}  // namespace corvid
