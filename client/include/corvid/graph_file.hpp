// The graph file format of README ("The graph file") on the client: its parser and validator
// (shared/graph_spec.hpp, the same code the server runs on a submit) and the submit frame built
// from a validated graph, shared by the `corvid` CLI and the library: a bad graph is refused
// before it travels, with a message naming the op id and the reason.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

#include "shared/graph_spec.hpp"
#include "shared/wire.hpp"

namespace corvid {

// The `submit` frame for a validated batch: ops as {"id","op","inputs","params"} (plus "dtype"
// for tensor ops), tensor values attached as binary tensors named by op id. graph_id null
// creates a graph, and the frame gets a random `submit_key` so that resending it cannot create
// a second one.
Frame submit_frame(const GraphSpec& spec, uint64_t request_id, const nlohmann::json& graph_id);

}  // namespace corvid
