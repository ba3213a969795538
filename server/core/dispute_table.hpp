// Kernel errors that workers reported and nobody has reproduced or refuted yet (see
// docs/server-core.md): a worker's `error` of kind `kernel` fails an op only once a second worker
// reports the same error or the server's own native kernel fails the op too.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/core/graph.hpp"

namespace corvid::server {

using WorkerId = uint64_t;

// A kernel error that a worker reported for an op and that nobody has reproduced yet. The op
// fails only when a second worker reports the same error or the server's own kernel fails it
// too; until then none of the reporters gets the op again.
struct KernelDispute {
  std::string error;             // as the first worker reported it
  std::set<WorkerId> reporters;  // workers that reported a kernel error for the op
  uint64_t server_job = 0;       // the server's own kernel is computing it (0: not asked)
};

// The open disputes by op, and the rule that decides a new report. Not thread-safe.
class DisputeTable {
 public:
  using Key = std::pair<GraphId, OpIndex>;
  enum class Report {
    repeated,      // this worker had reported the op already: no news
    first,         // nobody had: the op is computed again elsewhere
    confirmed,     // another worker reported the same message: the op fails
    disagreement,  // another worker reported a different message: the server's kernel settles it
  };

  // Records that `worker` reported `message` as the kernel error of the op `key`.
  Report report(Key key, WorkerId worker, const std::string& message);
  // The open dispute of the op, or nullptr.
  KernelDispute* find(Key key);
  // True if `worker` reported a kernel error for the op that is still disputed.
  bool reported_by(Key key, WorkerId worker) const;
  // Ends the op's dispute and returns it (nullopt if there was none).
  std::optional<KernelDispute> close(Key key);
  // The server's kernel answered `job`: no dispute waits for it any more.
  void job_done(uint64_t job);
  // The disputes that the server's kernel is not settling, in op order.
  std::vector<std::pair<Key, KernelDispute*>> without_server_job();
  bool empty() const { return disputes_.empty(); }

 private:
  std::map<Key, KernelDispute> disputes_;
};

}  // namespace corvid::server
