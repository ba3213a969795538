// Verification of volunteers' results (issue 10, `--verify replicate`): a group's result is only
// a candidate until a second result from a distinct worker agrees with it (shared/agreement.hpp,
// per output tensor) or the server's own kernel, whose result is authoritative, settles it.
// Meanwhile its ops stay running: nothing is delivered, counted computed or stored. This part
// owns the open checks (the candidate results of one group's ops, the replica in flight) and the
// majority rule; the coordinator (verify.cpp) wires them to workers and the server's kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/core/coordinator.hpp"
#include "server/core/graph.hpp"
#include "shared/agreement.hpp"
#include "shared/wire.hpp"

namespace corvid::server {

using WorkerId = uint64_t;
using CheckId = uint64_t;

const char* verify_policy_name(VerifyPolicy policy);
// "off" or "replicate"; false for anything else.
bool parse_verify_policy(const std::string& name, VerifyPolicy& policy);

// The majority rule, a pure function of who agrees with whom. `authoritative[i]`: result i is
// the server's own kernel's. `agree(i, j)`: results i and j agree. Results come from distinct
// workers. An authoritative result is accepted; otherwise the first of two results that agree;
// otherwise, with `cap` results or more, the ops fail; otherwise another result is needed.
struct Verdict {
  enum Kind { accept, need_more, fail } kind = need_more;
  int accepted = -1;       // with accept: the result taken
  std::vector<int> wrong;  // with accept: the results that disagree with it (their workers were wrong)
};
Verdict majority(const std::vector<bool>& authoritative, const std::function<bool(int, int)>& agree, int cap);

// How two results of the same group's outputs compare: the op with the largest difference.
struct Comparison {
  bool agree = true;
  std::string op_id;          // the developer's id of the op that differs most
  Disagreement disagreement;  // of that op
  // "op 'x': 4 values differ; largest difference ..." ("" when they agree).
  std::string describe() const;
};
Comparison compare_results(const Graph& graph, const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b);

// One result of a check: a worker's, or the server kernel's (worker 0).
struct Candidate {
  WorkerId worker = 0;
  GroupId group = 0;
  std::vector<NamedTensor> outputs;
};

// The open verification of one group's ops.
struct Check {
  CheckId id = 0;
  GraphId graph = 0;
  std::vector<OpIndex> ops;      // as in the first group, topological order
  std::vector<OpIndex> outputs;  // the outputs every replica returns
  std::vector<OpIndex> external;  // inputs from outside the group (values on the server)
  Cost cost;
  std::vector<Candidate> results;
  std::set<WorkerId> workers;   // that answered or hold a replica: a replica goes to another
  GroupId replica = 0;          // the replica in flight (a worker's group or a server job); 0: none
  bool server_replica = false;  // the replica in flight is the server's kernel
};

// The open checks, and which ops they hold (running until the check ends). Not thread-safe.
class VerificationTable {
 public:
  Check& open(GraphId graph, std::vector<OpIndex> ops, std::vector<OpIndex> outputs, std::vector<OpIndex> external,
              Cost cost);
  Check* find(CheckId id);
  // True if an open check holds this op: it stays running whatever happens to a group.
  bool holds(GraphId graph, OpIndex op) const { return held_.count({graph, op}) != 0; }
  void close(CheckId id);
  // Open checks without a replica in flight, in id order.
  std::vector<Check*> waiting();
  std::size_t size() const { return checks_.size(); }
  bool empty() const { return checks_.empty(); }

 private:
  std::map<CheckId, Check> checks_;
  std::set<std::pair<GraphId, OpIndex>> held_;
  CheckId next_id_ = 1;
};

}  // namespace corvid::server
