// The server's model of developers' graphs: ops with their inferred spec and cost, their
// status, their dependents and (once computed) their values. No I/O here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "server/core/verify_policy.hpp"
#include "shared/graph_spec.hpp"
#include "shared/ops/op.hpp"
#include "shared/protocol.hpp"
#include "shared/tensor.hpp"

namespace corvid::server {

using GraphId = uint64_t;
using GroupId = uint64_t;
using OpIndex = uint32_t;  // position of an op in its graph, in submission order

enum class OpStatus : int { pending = 0, running = 1, computed = 2, failed = 3, cancelled = 4 };
inline constexpr int kOpStatusCount = 5;
const char* status_name(OpStatus status);
bool is_final(OpStatus status);

// One op of a graph. Inputs always have smaller indices (submits are topologically sorted).
struct OpNode {
  std::string id;  // the developer's op id, unique within the graph
  const OpDef* def = nullptr;
  std::vector<OpIndex> inputs;
  Params params = Params::object();
  TensorSpec spec;  // inferred output
  Cost cost;
  OpStatus status = OpStatus::pending;
  std::string error;                // why it failed
  std::vector<OpIndex> dependents;  // ops that take this one as an input
  bool requested = false;           // a graph output or waited for: its value must reach the server
  // Computed ops: the value lives in memory (value), in the store (has_value without value), or
  // nowhere (an intermediate that stayed on the worker: recomputed if it is ever needed).
  bool has_value = false;
  std::shared_ptr<const Tensor> value;
  int attempts = 0;                   // transient failures so far
  uint64_t avoid_worker = 0;          // worker that last failed it transiently (0: none)
  std::vector<GroupId> groups;        // groups currently computing it (more than one after a deadline)
  // The developer released it (submit `release`): no later op, output or wait may name it.
  bool released = false;
  // Its value was freed (memory, store, workers' copies) once nothing could need it again.
  bool freed = false;
};

// Bytes of the op's value: the tensor's when the server holds it, else its spec's (spec_bytes).
double value_bytes(const OpNode& node);

// The values a graph holds on the server (memory or store), for /api/status and /metrics.
struct ValueHoldings {
  int64_t values = 0;     // computed ops with a value on the server
  double bytes = 0;       // their bytes
  int64_t in_memory = 0;  // of them, held in memory (the rest are only in the store)
  int64_t freed = 0;      // released ops whose value was freed
};

// What a state change of a Graph did, for the coordinator to react to (persist the statuses,
// close disputes, note the graph finished, answer waiters).
struct OpChanges {
  std::vector<OpIndex> ops;  // ops whose status changed, in the order they changed (each once)
  bool finished = false;     // the graph's last unfinished op became final
  bool empty() const { return ops.empty(); }
  // Appends `later`, which happened after these changes.
  void merge(const OpChanges& later);
};

struct Graph;
// The coordinator's index of the graphs that have ready ops (id -> graph), kept by the graphs.
using ReadyGraphs = std::map<GraphId, Graph*>;

// A graph's link to the ReadyGraphs it reports to. A copy of a graph is not in the coordinator's
// map: the link is neither copied nor moved (an assigned-to graph keeps its own).
struct ReadyGraphsLink {
  ReadyGraphs* index = nullptr;
  ReadyGraphsLink() = default;
  ReadyGraphsLink(const ReadyGraphsLink&) noexcept {}
  ReadyGraphsLink& operator=(const ReadyGraphsLink&) noexcept { return *this; }
};

// A developer's graph: its ops, its outputs and the ready frontier the scheduler draws from.
// Op state changes keep counts, the ready set and `version` in step and return what changed.
struct Graph {
  GraphId id = 0;
  std::string name;
  std::string owner;
  double created_at = 0;  // unix seconds
  double created_ms = 0;  // on the coordinator's clock
  double finished_at = 0;  // unix seconds when its last op became final (0: never finished)
  // The developer's `verify` (off: none); the graph runs under the stricter of it and the server's.
  VerifyPolicy verify = VerifyPolicy::off;
  protocol::VerificationSummary verification;  // counted while it runs (its policy is filled in when shown)
  std::string submit_key;  // the client's key of the submit that created it: a resent submit finds it
  std::vector<OpNode> ops;
  std::unordered_map<std::string, OpIndex> index;  // op id -> position
  std::vector<OpIndex> outputs;                     // in the order the developer named them
  std::set<OpIndex> ready;  // pending ops whose inputs all have values: the scheduler's frontier
  Cost ready_cost;          // summed over the ready set
  int counts[kOpStatusCount] = {0, 0, 0, 0, 0};
  uint64_t version = 0;  // bumped on every status change (progress messages compare it)
  std::size_t unfreed_releases = 0;  // released ops whose value is not freed yet
  ReadyGraphsLink ready_link;         // see report_ready_to

  // From now on `index` holds this graph exactly while its ready set is not empty (refresh_ready
  // and unready keep it so). Call it again after replacing the graph wholesale (assignment);
  // take the graph out of `index` before destroying it.
  void report_ready_to(ReadyGraphs& index);

  // Appends an op (its inputs must already be in the graph) and links it to its inputs'
  // dependents. Returns its index.
  OpIndex add_op(OpNode node);
  // Sets an op's status and error, keeping counts and the ready set in step (not the
  // dependents' readiness).
  OpChanges set_status(OpIndex op, OpStatus status, const std::string& error = {});
  // Fails `root` with `error` and, transitively, its unfinished dependents with
  // "input op '<root>' failed: <error>".
  OpChanges fail(OpIndex root, const std::string& error);
  // Cancels `root` and its unfinished dependents, transitively ("cancelled").
  OpChanges cancel(OpIndex root);
  // Counts a failed attempt of `op` on `worker` (avoided next time): back to pending, or failed
  // "gave up after N attempts (last: <reason>)" once attempts reach max_attempts.
  OpChanges retry(OpIndex op, uint64_t worker, const std::string& reason, int max_attempts);
  // A computed op whose value never reached the server goes back to pending, with its value-less
  // inputs, so it is computed again; readiness of them and their dependents is refreshed.
  OpChanges ensure_value(OpIndex root);
  // Marks an op's value as wanted on the server; true if it was not marked before.
  bool mark_requested(OpIndex op);
  // Why a new op, output or wait may not name `op` ("" if it may): it was released, or its value
  // stayed on a worker and computing it again needs an op whose value was freed.
  std::string reference_problem(OpIndex op) const;
  // True when `op` is released, not freed, and no op could need its value again: every op that
  // reads it is final, and every reader whose value stayed on a worker (computing it again would
  // need `op`) is released too, transitively.
  bool freeable(OpIndex op) const;
  // Frees a freeable op's value: `value` and has_value cleared, `released` and `freed` set.
  void free_value(OpIndex op);
  // True when every input of `op` has a value on the server.
  bool inputs_available(OpIndex op) const;
  // Removes an op from the ready set (keeping ready_cost in step).
  void unready(OpIndex op);
  // Puts a pending op in the ready set if its inputs are available (and removes it otherwise).
  void refresh_ready(OpIndex op);
  bool finished() const { return counts[int(OpStatus::pending)] == 0 && counts[int(OpStatus::running)] == 0; }
  int total() const { return static_cast<int>(ops.size()); }
  ValueHoldings holdings() const;
  // "running" while any op is not final, else "failed" if one failed, "cancelled" if one was
  // cancelled, else "computed".
  std::string status() const;
  // The ids named "<graph_id>:<op_id>" that travel to workers.
  std::string wire_name(OpIndex op) const;
  // The op as it travels in an assign: its wire name, op, inputs' wire names and params.
  OpSpec wire_op(OpIndex op) const;

 private:
  // Sets `status` and `error` on the ops of `stack` that are not final, and transitively on
  // their dependents.
  OpChanges finalize_downstream(std::vector<OpIndex> stack, OpStatus status, const std::string& error);
};
// Staged submits (which hold a new graph) are kept in vectors: growing one must move, not copy.
static_assert(std::is_nothrow_move_constructible_v<Graph>, "a Graph must move without throwing");

// Splits a wire name "<graph_id>:<op_id>"; false if it is not one.
bool parse_wire_name(const std::string& name, GraphId& graph, std::string& op_id);

}  // namespace corvid::server
