#include "corvid/graph_file.hpp"

#include <cstdio>
#include <random>

namespace corvid {

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
