#include "corvid/graph_file.hpp"

#include <cstdio>
#include <random>

namespace corvid {

Frame submit_frame(const GraphSpec& spec, uint64_t request_id, std::optional<uint64_t> graph_id) {
  protocol::Submit submit{request_id, graph_id, spec.name, spec.ops, spec.outputs, "", spec.verify, spec.release};
  if (!graph_id) {
    // Names this creation: the same frame resent after a lost connection gets the graph the
    // first try created, not a second one.
    std::random_device random;
    char key[33];
    std::snprintf(key, sizeof key, "%08x%08x%08x%08x", random(), random(), random(), random());
    submit.submit_key = key;
  }
  return protocol::encode(std::move(submit));
}

}  // namespace corvid
