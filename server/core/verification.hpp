// Verification of volunteers' results (issue 10, `--verify replicate|adaptive`): a group's result
// is only a candidate until a second result from a distinct worker agrees with it
// (shared/agreement.hpp, per output tensor) or the server's own kernel, whose result is
// authoritative, settles it. Meanwhile its ops stay running: nothing is delivered, counted
// computed or stored. This part owns the open checks (the candidate results of one group's ops,
// the replica in flight), the majority rule, the workers' earned trust (TrustTable: which groups
// `adaptive` replicates, quarantine) and the server kernel's budget for spot checks; the
// coordinator (verify.cpp) wires them to workers and the server's kernel.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/coordinator.hpp"
#include "server/core/graph.hpp"
#include "shared/agreement.hpp"
#include "shared/wire.hpp"

namespace corvid::server {

using WorkerId = uint64_t;
using CheckId = uint64_t;

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

// The tolerance two replicas of `op` (result dtype `dtype`) are compared with: the op family's
// (shared/agreement.hpp), except that an op that copies values (movement, transpose) is as
// exact as the ops it copies from, which may have computed them in the same group.
Tolerance replica_tolerance(const Graph& graph, OpIndex op, DType dtype);

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
  std::set<std::string> devices;  // the devices (tabs) of those workers: a replica goes to another device
  GroupId replica = 0;          // the replica in flight (a worker's group or a server job); 0: none
  bool server_replica = false;  // the replica in flight is the server's kernel
  bool spot_checked = false;    // the server's kernel was asked (spot check or tie-break): once per check
  bool server_next = false;     // a spot check or tie-break: the next replica is the server's kernel, once it is idle
};

// Where a proven-wrong result differed: what /status shows of a quarantined worker.
struct Evidence {
  GraphId graph = 0;
  GroupId group = 0;
  std::string op;          // the developer's op id that differs most
  double difference = 0;   // the largest difference of that op
  std::string detail;      // Comparison::describe()
  nlohmann::json to_json() const;
  // The evidence of to_json()'s output; empty for anything else (a damaged store row).
  static Evidence from_json(const nlohmann::json& j);
};

// What the server knows of one worker identity (docs/design.md, "Earned trust"). An identity is
// "operator:<name>" for a worker that presented the operator's worker token, or "anonymous:<run>-
// <worker id>" for any other connection: never reused, so a reconnect starts untrusted.
struct TrustRecord {
  std::string identity;
  bool operator_credential = false;  // a worker token: trusted from the start
  uint64_t verified = 0;             // consecutive results verified (agreed with the accepted one)
  uint64_t wrong = 0;                // results proven wrong, ever
  bool quarantined = false;
  Evidence evidence;                 // of its last proven-wrong result (when wrong > 0)
};

// A group a trusted worker delivered without a replica: verified again if it is quarantined.
struct Unverified {
  GraphId graph = 0;
  GroupId group = 0;
  std::vector<OpIndex> ops, outputs, external;
};

// Earned trust (BOINC's adaptive replication), keyed by worker identity; connected workers are
// bound to their identity. Not thread-safe.
class TrustTable {
 public:
  // Consecutive verified results before any is taken alone, times (1 + wrong)²: a worker once
  // proven wrong must show a far longer honest run (80, then 180) to be trusted again.
  static constexpr uint64_t kTrustedAfter = 20;
  static constexpr double kTrustScale = 10;          // trusted: replicated with (kTrustScale / verified)²
  static constexpr uint64_t kQuarantineAfter = 3;    // proven-wrong results before quarantine
  static constexpr std::size_t kUnverifiedMemory = 128;  // unreplicated deliveries remembered per identity

  explicit TrustTable(double floor) : floor_(floor) {}
  // Records from the store (quarantined identities and operators' workers).
  void load(std::vector<TrustRecord> records);
  // Binds a connected worker to its identity (a new record, untrusted, unless the identity is known).
  TrustRecord& bind(WorkerId worker, const std::string& identity, bool operator_credential);
  // The worker left. An anonymous identity is never bound again: its record is forgotten unless
  // it is quarantined (kept as evidence).
  void unbind(WorkerId worker);
  TrustRecord* of(WorkerId worker);
  const TrustRecord* of(WorkerId worker) const;
  // The probability that a result of this record is replicated under `adaptive`: 1 until
  // kTrustedAfter × (1 + wrong)² consecutive verified results, then (kTrustScale / verified)²,
  // never below the floor; 0 for an operator's worker (the server's spot checks still apply).
  double replication_probability(const TrustRecord& r) const;
  // 1 - replication_probability: the share of its results taken alone (0 when quarantined).
  double trust(const TrustRecord& r) const { return r.quarantined ? 0 : 1 - replication_probability(r); }
  // A result of `worker` agreed with the accepted one.
  void verified(WorkerId worker);
  // A result of `worker` was proven wrong: its trust resets. True if it is now quarantined
  // (the kQuarantineAfter-th time).
  bool proven_wrong(WorkerId worker, const Evidence& evidence);
  // A group `worker` delivered without a replica; remembered (the oldest forgotten beyond
  // kUnverifiedMemory), since a liar that earned trust lies between verified results too.
  void delivered_unverified(WorkerId worker, Unverified group);
  // Its remembered unreplicated deliveries, forgotten here.
  std::vector<Unverified> take_unverified(WorkerId worker);
  // Records changed since the last call that the store keeps: operators' and quarantined ones.
  std::vector<TrustRecord> take_changed();
  // Records from a store shared with other servers: an identity quarantined there is quarantined
  // here too (its record, evidence included, replaces this one's). Returns the connected workers
  // bound to identities quarantined by this call.
  std::vector<WorkerId> merge_quarantined(std::vector<TrustRecord> stored);
  // Quarantined identities, most recent first, at most `limit`.
  std::vector<const TrustRecord*> quarantined(std::size_t limit) const;

 private:
  void changed(const TrustRecord& r);
  double floor_;
  std::map<std::string, TrustRecord> records_;
  std::map<WorkerId, std::string> bound_;
  std::map<std::string, std::deque<Unverified>> unverified_;
  std::set<std::string> changed_;
  std::deque<std::string> quarantine_order_;
};

// The server kernel's compute time for verification against a share of one core: spot checks
// and tie-breaks are drawn only while the time spent stays within share × (elapsed + kBurstMs),
// and start one at a time, when no server job is in flight (a job's cost is known when it ends).
class ServerBudget {
 public:
  static constexpr double kBurstMs = 2000;
  ServerBudget(double share, double start_ms) : share_(share), start_ms_(start_ms) {}
  bool allows(double now_ms) const { return spent_ms_ < share_ * (now_ms - start_ms_ + kBurstMs); }
  bool idle() const { return in_flight_ == 0; }
  // A job was handed to the server's kernel; its reply came after `ms` of the kernel's time.
  void started() { ++in_flight_; }
  void finished(double ms) {
    --in_flight_;
    spent_ms_ += ms;
  }
  double spent_ms() const { return spent_ms_; }

 private:
  double share_;
  double start_ms_;
  double spent_ms_ = 0;
  int in_flight_ = 0;
};

// A quarantined worker's unreplicated delivery being recomputed by the server's own kernel.
struct Recheck {
  std::string identity;
  Unverified group;
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
  std::map<CheckId, Check>& all() { return checks_; }
  // Server-kernel jobs re-verifying a quarantined worker's deliveries, by job id.
  std::map<uint64_t, Recheck> rechecks;

 private:
  std::map<CheckId, Check> checks_;
  std::set<std::pair<GraphId, OpIndex>> held_;
  CheckId next_id_ = 1;
};

}  // namespace corvid::server
