// Reverse-mode differentiation of graph-file graphs: the `grad` op ({"op": "grad", "inputs":
// ["loss", "w"]}, the gradient of the scalar `loss` with respect to `w`) and its expansion into
// ordinary ops of the table, so that the backward pass is computed by workers like any other
// work. validate_graph (graph_spec.cpp) calls expand_grads, so every front end (library, CLI,
// server) submits the same expanded ops. Plain C++ (built to WebAssembly too).
//
// Ids: the ops of the backward pass of one loss are named "<g>#1", "<g>#2", ... where <g> is
// the id of the first grad op of that loss in the batch; an id already taken in the batch or by
// an earlier op is skipped. Each grad op's id names the op that yields its value (the last op of
// the gradient, renamed, or an identity `pos` when that op is shared).
//
// Limits of this slice: the loss must be an op of the same batch as its grad; w may be an op
// submitted earlier, but gradients flow only through ops of this batch (earlier ops are
// constants). Every value the gradient flows through must have a known shape, and gradients of
// gradients are refused. A gradient has its value's dtype (a float64 contribution to a float32
// value is cast back).
#pragma once

#include <string_view>

#include "graph_spec.hpp"

namespace corvid {

// The definition `grad` parses to. It is not a row of the op table (it has no kernel and never
// reaches a worker); parse_op_spec resolves the name "grad" to it. Its inference checks that
// the loss is a float with one element and w a float, and gives w's dtype and shape.
const OpDef& grad_op_def();

// True if the op is a `grad` op.
bool is_grad_op(const OpSpec& op);

// True if `op_name` (a row of the op table) has a gradient rule for at least one input.
bool has_gradient(std::string_view op_name);

// Replaces the grad ops of `spec` (validated and in topological order; `specs` holds the inferred
// spec of every op of the batch, `known` those of earlier ops) by the ops of one backward pass per
// loss, appended after the batch's ops. The result must be validated again (validate_graph does).
// Throws GraphError naming the op to blame: an op on a gradient's path without a gradient rule
// ("op 'am': argmax has no gradient (needed for grad 'dw')"), or the grad op for a limit above.
void expand_grads(GraphSpec& spec, const std::unordered_map<std::string, TensorSpec>& specs, const KnownSpecs& known);

}  // namespace corvid
