// Runs op groups on a worker (native or WebAssembly): turns an "assign" into a "result" or
// "error" (shared/protocol.hpp), and keeps tensors the server asked it to keep so they need not travel again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lru_cache.hpp"
#include "ops/op.hpp"
#include "protocol.hpp"
#include "wire.hpp"

namespace corvid {

// Executes groups and owns the worker's tensor cache. Not thread-safe: one per worker thread.
class GroupExecutor {
 public:
  // cache_bytes bounds the kept tensors; the least recently used go first.
  explicit GroupExecutor(std::size_t cache_bytes = 256u << 20) : cache_(static_cast<double>(cache_bytes)) {}

  // Handles one decoded "assign" frame and returns the reply frame (shared/protocol.hpp): a
  // `result` with the output tensors, or an `error` naming the op and its kind (kernel,
  // missing_input, or malformed for a frame that is not a valid assign). Never throws for bad
  // input: every problem becomes an error frame.
  Frame execute(Frame assign);
  // The same for an assign already decoded.
  Frame execute(protocol::Assign group);

  // Names of the tensors currently kept, most recently used first, as many as fit in
  // kMaxCachedNamesBytes (reported to the server in a reconnecting hello, which must stay under
  // the server's cap for a message before the hello; a name left out is only sent again).
  std::vector<std::string> cached_names() const;
  static constexpr std::size_t kMaxCachedNamesBytes = 64u << 10;
  std::size_t cached_bytes() const { return static_cast<std::size_t>(cache_.bytes()); }
  // Drops the kept tensors with these names (a server's `release`); unknown names are ignored.
  void forget(const std::vector<std::string>& names);

 private:
  void keep(const std::string& name, const Tensor& t);
  const Tensor* cached(const std::string& name);

  LruCache<Tensor> cache_;  // kept tensors by name
};

}  // namespace corvid
