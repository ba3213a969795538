// The graph file format of README ("The graph file"): {"name", "ops": [{"id", "op", "inputs",
// "params", "value", "dtype"}], "outputs"}. The one parser, validator and topological sort of it,
// used by the `corvid` CLI and the library before a graph travels and by the server when a
// `submit` frame (the same shape) arrives: a bad graph is refused with a message naming the op id
// and the reason. Plain C++ and nlohmann json only (built to WebAssembly too).
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops/op.hpp"
#include "wire.hpp"

namespace corvid {

// A graph that cannot be submitted. op_id() names the op to blame ("" when the problem is not
// one op's, e.g. invalid JSON); what() is the full message, "op 'c': add: cannot broadcast ...".
class GraphError : public std::runtime_error {
 public:
  GraphError(std::string op_id, const std::string& reason);
  // An output that names no op: op_id() is the output's id, what() "output 'x' is not an op of
  // the graph" (it is not the op's own fault, so the message does not start with "op 'x'").
  static GraphError unknown_output(const std::string& id);
  // The same error with `context` put before its reason ("slice 3: "), the message in the same form.
  GraphError within(const std::string& context) const;
  const std::string& op_id() const { return op_id_; }
  const std::string& reason() const { return reason_; }

 private:
  GraphError(std::string op_id, std::string reason, const std::string& message);
  std::string op_id_;
  std::string reason_;
};

// One op of the format. Ids are strings; integer ids (of "id", "inputs" and "outputs") are read
// as their decimal text. Source tensors carry their value (sent as a binary tensor).
struct OpSpec {
  std::string id;
  const OpDef* def = nullptr;  // resolved from the name or alias
  std::vector<std::string> inputs;
  Params params = Params::object();  // for "tensor" ops empty: value and dtype are in `value`
  std::optional<Tensor> value;       // for "tensor" ops
};

// A graph (or a batch of ops added to an existing graph).
struct GraphSpec {
  std::string name;
  std::vector<OpSpec> ops;
  std::vector<std::string> outputs;
  // "adaptive" or "replicate": the server verifies the graph's results at least this strictly,
  // whatever its `--verify` (a graph may tighten the server's policy, never loosen it). "" or
  // "off": the server's.
  std::string verify;
  // Op ids (earlier ops of the graph, or these) whose values will never be referenced again: the
  // server frees them once every op reading them is final (docs/protocol.md, submit `release`).
  std::vector<std::string> release;
};

// Parses JSON text within the default JsonLimits (shared/json_limits.hpp); throws GraphError
// "invalid JSON: <where and why>" or naming the limit ("JSON nested deeper than 64 levels").
nlohmann::json parse_json_text(const std::string& text);

// Parses one op object; the name "grad" resolves to grad_op_def() (shared/autograd.hpp). A "tensor" op's value is the tensor of `attached` named by its id if
// there is one (converted to "dtype" when given), else its JSON "value" (or params.value). Throws
// GraphError for a malformed op (missing id, unknown op name, bad params of a tensor, bad value).
OpSpec parse_op_spec(const nlohmann::json& op, const Frame* attached = nullptr);
// Parses a JSON list of op objects with parse_op_spec.
std::vector<OpSpec> parse_op_specs(const nlohmann::json& ops, const Frame* attached = nullptr);
// Parses a JSON list of op ids (strings or integers); `what` names the list in the message.
std::vector<std::string> parse_op_ids(const nlohmann::json& ids, const std::string& what);

// Parses the text (or JSON) of a graph file; throws GraphError for invalid JSON or a malformed op.
// Does not check inputs, cycles or shapes: see validate_graph. "outputs" defaults to the ops no
// other op uses.
GraphSpec parse_graph_file(const std::string& text);
GraphSpec parse_graph_json(const nlohmann::json& doc);

// The spec of an op submitted earlier, or nullptr when no op has this id.
using KnownSpecs = std::function<const TensorSpec*(const std::string& id)>;

// Checks the ops against each other and the op table: unique ids, inputs that name an op of
// the spec or of `known` (ops submitted earlier), no cycle ("op 'b': is part of a cycle: b -> c
// -> b", in data-flow order from the op first in the spec), the right arity, valid params and
// compatible shapes; outputs must name ops. Reorders spec.ops topologically (stable: among ready
// ops the earliest first) and returns the inferred spec of every op of the batch. `grad` ops are
// then replaced by the ops of their backward passes (shared/autograd.hpp) and the batch is
// validated and sorted again, so no grad op leaves validate_graph. Throws GraphError naming the op.
std::unordered_map<std::string, TensorSpec> validate_graph(GraphSpec& spec, const KnownSpecs& known);
std::unordered_map<std::string, TensorSpec> validate_graph(
    GraphSpec& spec, const std::unordered_map<std::string, TensorSpec>& known = {});

}  // namespace corvid
