// The coordinator's durable side over a GraphStore: restart (graphs rebuilt from the store), the
// mapping between ops in memory and stored ops, the queued writes of state changes and values,
// and when they are flushed.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/core/graph.hpp"
#include "server/core/graph_store.hpp"
#include "server/core/verification.hpp"

namespace corvid::server {

// Owns the store. Submits are durable before they are answered; state changes and values are
// queued and flushed at least every kFlushPeriodMs, or earlier once kFlushBytes are queued (a
// result lost in a crash is only computed again). Not thread-safe; store errors throw
// std::runtime_error as GraphStore's do.
class Persistence {
 public:
  static constexpr double kFlushPeriodMs = 50;
  static constexpr std::size_t kFlushBytes = 64u << 20;

  Persistence(std::unique_ptr<GraphStore> store, double now_ms) : store_(std::move(store)), last_flush_ms_(now_ms) {}

  // Restart: every stored graph rebuilt, running ops pending again, pending ops whose inputs
  // stayed on a worker (and requested ops without a value) set to compute them again, with
  // those changes queued. created_ms is placed on the coordinator's clock from `now_ms` and
  // `unix_now`. A damaged op row ends its graph's ops (the consistent prefix is kept).
  std::vector<Graph> load(double now_ms, double unix_now);

  // Several servers on one store (GraphStore::leases_graphs): renew_leases records the load and
  // renews the leases, and returns the graphs lost (to drop) and adopted (rebuilt as load does).
  struct Leases {
    std::vector<GraphId> lost;
    std::vector<Graph> adopted;
    std::vector<GraphStore::PeerLoad> peers;
  };
  bool leases_graphs() const { return store_->leases_graphs(); }
  Leases renew_leases(int64_t slots, int64_t ready, double now_ms, double unix_now);
  std::string owner_url(GraphId graph) { return store_->owner_url(graph); }
  // The largest graph id ever stored, removed graphs included.
  GraphId last_graph_id() { return store_->last_graph_id(); }
  // The id for a new graph (GraphStore::next_graph_id).
  GraphId next_graph_id(GraphId local_next) { return store_->next_graph_id(local_next); }

  // The writes of a submit: the ops graph.ops[base..] (`ops`), their values, the graph itself if
  // `create`, and the graph's `outputs` (graph.outputs followed by the submit's new ones).
  static StoredSubmit stored_submit(const Graph& graph, bool create, OpIndex base, const std::vector<OpNode>& ops,
                                    const std::vector<OpIndex>& outputs);
  // Group commit: durably stores the submits with everything queued so far, in one store
  // transaction if the store can (GraphStore::add_submits). Returns how many, from the first,
  // are stored; for the others `error` says why not.
  std::size_t add_submits(const std::vector<StoredSubmit>& submits, double now_ms, std::string& error);
  // Submits stored, and the add_submits calls that stored them (for /metrics: their ratio is
  // the size of a group commit).
  uint64_t submits_stored() const { return submits_stored_; }
  uint64_t submit_commits() const { return submit_commits_; }
  // Queues the statuses of the changed ops (running is not stored: after a restart every
  // running op is pending again anyway).
  void record(const Graph& graph, const OpChanges& changes);
  void record_requested(const Graph& graph, OpIndex op) { store_->queue_requested(graph.id, op); }
  void record_finished(const Graph& graph) { store_->queue_finished(graph.id, graph.finished_at); }
  void record_value(const Graph& graph, OpIndex op) { store_->queue_value(graph.id, op, graph.ops[op].value); }
  // The op was released and its value freed (it stays released after a restart).
  void record_freed(const Graph& graph, OpIndex op) { store_->queue_freed(graph.id, op); }
  // The stored value of an op, or nullptr.
  std::shared_ptr<const Tensor> load_value(const Graph& graph, OpIndex op);
  // Removes a graph's ops and values for good (durable on return).
  void remove_graph(GraphId graph, double unix_now) { store_->remove_graph(graph, unix_now); }

  // Trust records (verification.hpp): written at once; all of them at restart (a record whose
  // evidence does not parse keeps none).
  void save_trust(const std::vector<TrustRecord>& records);
  std::vector<TrustRecord> load_trust();

  // True when queued writes should reach the store now: the period passed, or too much is queued.
  bool flush_due(double now_ms) const { return now_ms - last_flush_ms_ >= kFlushPeriodMs || too_much_queued(); }
  bool too_much_queued() const { return store_->queued_bytes() > kFlushBytes; }
  void flush(double now_ms);

  // The op as stored, at position `seq` of its graph.
  static StoredOp stored_op(const OpNode& node, OpIndex seq);
  // The op rebuilt from its stored form, its cost estimated again (`graph` holds its inputs).
  static OpNode node_of(const StoredOp& op, const Graph& graph);

 private:
  // A stored graph rebuilt in memory (see load).
  Graph rebuild(StoredGraph& stored, double now_ms, double unix_now);

  std::unique_ptr<GraphStore> store_;
  double last_flush_ms_;
  uint64_t submits_stored_ = 0;
  uint64_t submit_commits_ = 0;
};

}  // namespace corvid::server
