// Durable storage of graphs, ops, op states and tensor values, behind a small interface so a
// shared database can replace the embedded SQLite file when one server is no longer enough.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/graph.hpp"

namespace corvid::server {

// An op as stored: enough to rebuild the OpNode (cost and dependents are derived again).
struct StoredOp {
  OpIndex seq = 0;
  std::string id;
  std::string op;  // op table name
  std::vector<OpIndex> inputs;
  nlohmann::json params = nlohmann::json::object();
  TensorSpec spec;
  OpStatus status = OpStatus::pending;
  std::string error;
  bool requested = false;
  bool has_value = false;  // a tensor row exists
  bool released = false;   // released by the developer and its value freed (column released)
};

// A graph as stored.
struct StoredGraph {
  GraphId id = 0;
  std::string name;
  std::string owner;
  double created_at = 0;   // unix seconds
  double finished_at = 0;  // unix seconds when its last op became final (0: never finished)
  std::string submit_key;  // the client's key of the submit that created it ("" if none)
  VerifyPolicy verify = VerifyPolicy::off;  // a submit's `verify` (column verify; "" for off)
  std::vector<OpIndex> outputs;
  std::vector<StoredOp> ops;  // in seq order
};

// A worker identity's trust record as stored (table trust; verification.hpp's TrustRecord).
struct StoredTrust {
  std::string identity;
  bool operator_credential = false;
  uint64_t verified = 0;
  uint64_t wrong = 0;
  bool quarantined = false;
  std::string evidence;  // JSON (Evidence::to_json)
};

// One submit's writes, as add_ops takes them: the graph's row (created, or its outputs and verify
// updated; `graph.ops` is not used), its new ops and their values.
struct StoredSubmit {
  StoredGraph graph;
  bool create = false;
  // graph.outputs[0..earlier_outputs) were the graph's outputs before this submit (a store that
  // keeps outputs row by row writes only the rest: outputs only grow).
  std::size_t earlier_outputs = 0;
  std::vector<StoredOp> ops;
  std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> values;
};

// The writes a store queues between flushes (GraphStore::queue_*), kept alike by every store: the
// latest status of each op, values, requested ops, finish times and freed ops.
struct QueuedWrites {
  using Key = std::pair<GraphId, OpIndex>;
  std::map<Key, std::pair<OpStatus, std::string>> statuses;
  std::map<Key, std::shared_ptr<const Tensor>> values;
  std::vector<Key> requested;
  std::map<GraphId, double> finished;
  std::vector<Key> freed;  // released values to delete (their queued value is dropped)
  std::size_t bytes = 0;   // of `values`

  void value(GraphId graph, OpIndex op, std::shared_ptr<const Tensor> value);
  void free(GraphId graph, OpIndex op);
  std::size_t count() const { return statuses.size() + values.size() + requested.size() + finished.size() + freed.size(); }
  std::set<GraphId> graphs() const;  // every graph with a queued write
  void clear();
};

// Storage of graphs. Writes of new graphs and ops are durable when the call returns; state
// changes and values are queued and written in one transaction by flush() (a lost result is
// only recomputed). Not thread-safe. Throws std::runtime_error on database errors.
class GraphStore {
 public:
  virtual ~GraphStore() = default;

  // Every stored graph with its ops (values are fetched with load_value), except removed ones.
  virtual std::vector<StoredGraph> load_graphs() = 0;
  // The largest graph id ever stored, removed graphs included (0 if none): ids are never reused.
  virtual GraphId last_graph_id() = 0;
  // The id for a new graph, given the next one this server would use (`local_next`): a store
  // shared by several servers hands out ids from one sequence; an embedded one takes local_next.
  virtual GraphId next_graph_id(GraphId local_next) { return local_next; }
  // The stored value of an op, or nullopt.
  virtual std::optional<Tensor> load_value(GraphId graph, OpIndex op) = 0;

  // Durably stores a new graph (if `create`), the given ops, their values and the graph's
  // outputs, together with everything queued so far, in one transaction.
  virtual void add_ops(const StoredGraph& graph, bool create, const std::vector<StoredOp>& ops,
                       const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& values) = 0;

  // Group commit: durably stores several submits, each as add_ops would, with everything queued
  // so far. Returns how many of them, from the first, are stored; if fewer than all, `error`
  // says why the next one was refused, and none after it was stored. This default calls add_ops
  // once per submit (one transaction each); a store that can overrides it with one transaction
  // for all of them (all or none), as SQLite's does.
  virtual std::size_t add_submits(const std::vector<StoredSubmit>& submits, std::string& error);

  // Queued writes, applied by the next flush (or add_ops, add_submits).
  virtual void queue_status(GraphId graph, OpIndex op, OpStatus status, const std::string& error) = 0;
  virtual void queue_requested(GraphId graph, OpIndex op) = 0;
  virtual void queue_finished(GraphId graph, double finished_at) = 0;
  virtual void queue_value(GraphId graph, OpIndex op, std::shared_ptr<const Tensor> value) = 0;
  // The op's value was released and freed: its tensor row goes (a queued value is dropped) and
  // the op is marked released.
  virtual void queue_freed(GraphId graph, OpIndex op) = 0;
  // Bytes of values queued and not yet written (the caller flushes early when it grows).
  virtual std::size_t queued_bytes() const = 0;
  virtual std::size_t queued_count() const = 0;
  // Writes everything queued in one transaction.
  virtual void flush() = 0;
  // Writes everything queued, then deletes the graph's ops and values, keeping a row that says
  // when it was removed (so its id is not used again). Durable when the call returns.
  virtual void remove_graph(GraphId graph, double removed_at) = 0;
  // Trust records (durable on return, in one transaction), and all of them.
  virtual void save_trust(const std::vector<StoredTrust>& records) = 0;
  virtual std::vector<StoredTrust> load_trust() = 0;

  // ---- several servers on one store (postgres_store.hpp); an embedded store has none of this.
  // A store that leases graphs hands load_graphs only the graphs this server took the lease of,
  // fences every write by the lease epoch (a write for a graph whose lease was lost is dropped,
  // an add_ops to it throws), and renew_leases keeps the leases alive.
  virtual bool leases_graphs() const { return false; }
  // What a renewal changed: graphs whose lease this server lost (to drop from memory) and graphs
  // it adopted (expired leases of servers that died or stalled), loaded as load_graphs does.
  // Another live server's load as it last registered it.
  struct PeerLoad {
    std::string url;
    int64_t slots = 0;
    int64_t ready = 0;
  };
  struct LeaseChanges {
    std::vector<GraphId> lost;
    std::vector<StoredGraph> adopted;
    std::vector<PeerLoad> peers;  // the other servers that renewed within the lease time
  };
  // Records this server's load (connected slots, ops ready to run), renews its leases, adopts
  // expired ones. Throws std::runtime_error on database errors.
  virtual LeaseChanges renew_leases(int64_t slots, int64_t ready) {
    (void)slots, (void)ready;
    return {};
  }
  // The URL of the server holding the lease of `graph`, even if it expired and is not adopted
  // yet ("" if the graph has no lease or this server holds it).
  virtual std::string owner_url(GraphId graph) {
    (void)graph;
    return "";
  }
};

// The SQLite store in `path` (WAL journal), created with its schema if there is no such file.
// Throws std::runtime_error with a one-line message naming the file if it exists but is empty
// (0 bytes), is not an SQLite database, or lacks Corvid's tables (it is then left untouched).
std::unique_ptr<GraphStore> open_sqlite_store(const std::string& path);

}  // namespace corvid::server
