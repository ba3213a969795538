// The graph file format of README ("The graph file") on the client: its parser and validator
// (shared/graph_spec.hpp, the same code the server runs on a submit) and the submit frame built
// from a validated graph, shared by the `corvid` CLI and the library: a bad graph is refused
// before it travels, with a message naming the op id and the reason.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

#include "shared/graph_spec.hpp"
#include "shared/protocol.hpp"

namespace corvid {

// The `submit` frame (shared/protocol.hpp Submit) for a validated batch: tensor values travel
// as binary tensors named by op id. Without graph_id it creates a graph, and the frame gets a
// random `submit_key` so that resending it cannot create a second one.
Frame submit_frame(const GraphSpec& spec, uint64_t request_id, std::optional<uint64_t> graph_id);

}  // namespace corvid
