// Runs op groups on a worker (native or WebAssembly): turns an "assign" frame into a "result"
// or "error" frame, and keeps tensors the server asked it to keep so they need not travel again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lru_cache.hpp"
#include "ops/op.hpp"
#include "wire.hpp"

namespace corvid {

// One op of a group: its id (unique within the graph), op name, input ids and params.
struct GroupOp {
  std::string id;
  const OpDef* op = nullptr;
  std::vector<std::string> inputs;
  Params params = Params::object();
};

// An op group as the server assigns it. Ops are in topological order; an input id is either an
// earlier op of the group, a tensor attached to the frame, or a tensor the worker keeps.
struct OpGroup {
  uint64_t group_id = 0;
  std::vector<GroupOp> ops;
  std::vector<std::string> outputs;  // ids whose values go back to the server
  std::vector<std::string> keep;     // ids (inputs or outputs) the worker should keep for later groups
};

// Parses the header of an "assign" frame:
//   {"type":"assign","group_id":N,"ops":[{"id","op","inputs":[...],"params":{...}}],
//    "outputs":[ids],"keep":[ids]}
// Throws WireError naming the bad field (unknown op, duplicate id, empty group, ...).
OpGroup parse_group(const nlohmann::json& header);
// The header of an "assign" frame for `group` (the inverse of parse_group).
nlohmann::json group_header(const OpGroup& group);

// Executes groups and owns the worker's tensor cache. Not thread-safe: one per worker thread.
class GroupExecutor {
 public:
  // cache_bytes bounds the kept tensors; the least recently used go first.
  explicit GroupExecutor(std::size_t cache_bytes = 256u << 20) : cache_(static_cast<double>(cache_bytes)) {}

  // Handles one decoded "assign" frame and returns the reply frame:
  //   {"type":"result","group_id":N,"compute_ms":x,"op_ms":{id:ms}} with the output tensors, or
  //   {"type":"error","group_id":N,"op_id":id,"error":"<op>: <reason>","kind":"kernel"|"missing_input"|"malformed"}.
  // Never throws for bad input: every problem becomes an error frame.
  Frame execute(const Frame& assign);

  // Names of the tensors currently kept, most recently used first, as many as fit in
  // kMaxCachedNamesBytes (reported to the server in a reconnecting hello, which must stay under
  // the server's cap for a message before the hello; a name left out is only sent again).
  std::vector<std::string> cached_names() const;
  static constexpr std::size_t kMaxCachedNamesBytes = 64u << 10;
  std::size_t cached_bytes() const { return static_cast<std::size_t>(cache_.bytes()); }

 private:
  void keep(const std::string& name, const Tensor& t);
  const Tensor* cached(const std::string& name);

  LruCache<Tensor> cache_;  // kept tensors by name
};

}  // namespace corvid
