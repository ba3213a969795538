// The Coordinator's implementation: a wiring class over parts that own their state and are
// tested alone: the workers (Fleet, fleet.hpp), the groups in flight (GroupTable,
// group_table.hpp), op state changes (Graph methods returning OpChanges, graph.hpp), the store
// side (Persistence, persistence.hpp), open kernel disputes (DisputeTable, dispute_table.hpp) and
// the operators' numbers (Statistics, statistics.hpp). Its own state is what joins them: the
// graphs and the developers' waiters. Its source files: coordinator.cpp (restart, group outcomes,
// reactions to op state changes, settle, tick), worker_messages.cpp (workers' messages; on_result
// is the path of one result), dispatch.cpp (scheduling), kernel_disputes.cpp (a worker's kernel
// error, settled by a second worker or the server's own kernel), client_requests.cpp (submit,
// wait, end, cancel) and operator_views.cpp (/api/status, /api/graphs, /metrics).
#pragma once

#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "server/core/coordinator.hpp"
#include "server/core/dispute_table.hpp"
#include "server/core/fleet.hpp"
#include "server/core/graph.hpp"
#include "server/core/graph_id_mark.hpp"
#include "server/core/group_table.hpp"
#include "server/core/persistence.hpp"
#include "server/core/scheduler.hpp"
#include "server/core/server_kernel.hpp"
#include "server/core/statistics.hpp"
#include "server/core/submit.hpp"
#include "server/core/verification.hpp"

namespace corvid::server {

// A developer's pending `wait` or `end`.
struct Waiter {
  ClientId client = 0;
  protocol::RequestId request_id;
  GraphId graph = 0;
  std::vector<OpIndex> ids;
  std::vector<OpIndex> track;    // ops whose running and final counts go into progress frames
  bool stream = false;
  bool any = false;              // answer once one id is final, with every id final by then
  bool end = false;              // answer with a report instead of values
  std::vector<char> sent;        // stream mode: `value` already sent for ids[i]
  std::size_t cursor = 0;        // ids before it are final
  uint64_t progress_version = ~uint64_t{0};
  double progress_sent_ms = -1e18;
};

// A valid submit waiting for its commit (Coordinator::commit_submits).
struct StagedSubmit {
  ClientId client = 0;
  protocol::RequestId request_id;
  std::optional<Graph> fresh;  // the graph it creates (without ops yet), or none: it extends `graph`
  GraphId graph = 0;
  ValidatedSubmit submit;      // the new ops, appended to the graph once stored
  std::vector<OpIndex> outputs;             // the graph's outputs with this submit's
  std::vector<OpIndex> existing_requested;  // earlier ops this submit names as outputs
  std::vector<OpIndex> released;            // the submit's `release`: ops of the graph or of this submit
  VerifyPolicy verify = VerifyPolicy::off;  // the graph's policy with this submit's `verify`
  StoredSubmit stored;                      // what the store writes
};

// See Coordinator. Not thread-safe.
class CoordinatorImpl final : public Coordinator {
 public:
  CoordinatorImpl(const std::string& data_dir, const Clock& clock, Outbox& outbox, CoordinatorOptions options,
                  ServerKernel* kernel);
  ~CoordinatorImpl() override;

  void client_connected(ClientId client, const std::string& owner) override;
  void client_message(ClientId client, Frame frame) override;
  void client_disconnected(ClientId client) override;
  void worker_connected(WorkerId worker, const protocol::WorkerHello& hello, bool operator_credential) override;
  void worker_message(WorkerId worker, Frame frame) override;
  void worker_malformed(WorkerId worker, const std::string& error) override;
  void worker_disconnected(WorkerId worker) override;
  std::size_t redirect_free_workers(std::size_t count, const std::string& url) override;
  void server_kernel_done(uint64_t job, Frame reply) override;
  void commit_submits() override;
  bool submits_waiting() const override { return !staged_.empty(); }
  void tick() override;
  nlohmann::json status_json(const StatusQuery& query = {}) const override;
  nlohmann::json graph_json(uint64_t graph_id) const override;
  std::shared_ptr<const Tensor> value(uint64_t graph_id, const std::string& op_id, std::string& why) override;
  std::string owner_elsewhere(uint64_t graph_id) override;
  std::string metrics_text() const override;

 private:
  // ---- coordinator.cpp ----
  // Restart: the graphs Persistence rebuilds from the store, with their submit keys and ids.
  void load_from_store();
  double now() const { return clock_.now_ms(); }
  double unix_now() const { return unix_at_start_ + (now() - clock_at_start_) / 1000.0; }
  void event(const std::string& kind, const std::string& message) { stats_.event(unix_now(), kind, message); }

  void on_benchmark(WorkerState& w, const protocol::Benchmark& benchmark);
  // The path of one result: receive, check, complete, persist, wake dependents (waiters are
  // answered by settle() after the call).
  void on_result(WorkerState& w, protocol::Result result);
  void on_worker_error(WorkerState& w, const protocol::WorkerError& error);
  // What is wrong with a result's `outputs` as the reply to `group` ("" if nothing): the output
  // names, dtypes and shapes must be exactly the group's.
  std::string result_problem(const Graph& graph, const GroupRecord& group, const std::vector<NamedTensor>& outputs) const;
  // The group's compute time on the server's clock: from when the worker could start it (the
  // assign was sent, or its previous reply arrived, whichever is later) to `result`, less the
  // estimated transfer of inputs and outputs and the round trip. compute_ms is not trusted.
  double measured_compute_ms(const WorkerState& w, const GroupRecord& group, const std::vector<NamedTensor>& outputs) const;
  void on_release(WorkerState& w, const protocol::Release& release);
  // Replies `error`, counts it, and closes the worker after Fleet::kMaxProtocolErrors. False if closed.
  bool protocol_error(WorkerState& w, const std::string& error, bool reply = true);
  // Forgets a worker and hands its groups to others (counting a transient failure for them).
  void drop_worker(WorkerId worker, const std::string& reason);
  // A group that is in flight on `w`, or nullptr (quietly for recently cancelled ones: `cancelled`).
  GroupRecord* group_of(WorkerState& w, GroupId group, bool& cancelled);
  // The group a worker's `type` message (result, error) names, as group_of. A group not assigned
  // to w (`unassigned`) is a protocol error "<type>: group N is not assigned to this worker".
  GroupRecord* named_group(WorkerState& w, GroupId group, const char* type, bool& cancelled, bool& unassigned);

  // ---- dispatch.cpp ----
  // Free workers asked per dispatch round, fastest first (see dispatch()).
  static constexpr std::size_t kDispatchCandidates = 8;
  // Hands ready ops to free workers until none takes any; costs the graphs and the few workers
  // asked, not the fleet.
  void dispatch();
  bool has_ready_work() const;
  // The graphs with ready ops in the order they are offered work (developers take turns, and each
  // developer's graphs take turns, so a developer with many graphs gets no more than the others),
  // and the ready work they hold in all. One pass over the graphs with ready ops.
  struct ReadyWork {
    std::vector<Graph*> order;
    Cost cost;
    int ops = 0;
  };
  ReadyWork ready_work();
  // Offers w a group from the graphs of `ready`, in order; false if none fits, or if the group
  // should wait for a worker that would finish it sooner (then `sooner` is that one).
  // `may_wait` false: w takes its group even if another worker would finish it sooner.
  bool try_assign(WorkerState& w, const ReadyWork& ready, WorkerState*& sooner, bool may_wait = true);
  // Sends the group (a replica for `check` when not 0); false (and nothing sent) if an input
  // value turned out to be lost.
  bool assign(WorkerState& w, Graph& graph, const GroupPlan& plan, uint64_t check = 0);
  double input_bytes_on(const WorkerState& w, const GroupPlan& plan) const;

  // ---- coordinator.cpp: group outcomes ----
  // Stores the values of `result` for `ops` that are not final yet and marks them computed,
  // cancelling other groups computing them and waking their dependents; outputs in `keep` are
  // noted as kept by `kept_by`. Returns how many ops became computed.
  uint64_t apply_result(Graph& graph, const std::vector<OpIndex>& ops, std::vector<NamedTensor>& outputs,
                        const std::vector<OpIndex>& keep, KeptTensors* kept_by);
  // Removes a group; its ops it alone was computing go back to pending, and with `transient`
  // count a failed attempt (failing the op with `reason` after max_attempts).
  void requeue_group(GroupId group, const std::string& reason, bool transient);
  // Removes a group whose ops another group finished (or that were cancelled), telling its worker.
  void cancel_group(GroupId group);
  void expire_group(GroupRecord& group);
  // Unlinks a group from its worker and its ops and forgets it.
  void remove_group(GroupRecord& group);
  // Cancels groups all of whose ops are final.
  void cancel_finished_groups(GraphId graph);

  // ---- kernel_disputes.cpp ----
  // Worker w reported `message` for `op`: the op fails if another worker reported the same;
  // otherwise it is computed again elsewhere (never on w), and by the server's own kernel when
  // the reporters disagree.
  void dispute_kernel_error(WorkerState& w, Graph& graph, OpIndex op, const std::string& message);
  // Starts the server's own kernel on the disputed op and the inputs it needs that have no value.
  void start_server_settlement(Graph& graph, OpIndex op, KernelDispute& dispute);
  // Hands the group `rec` (graph, ops and outputs set; its id is assigned here) with every input
  // value attached to the server's own kernel; returns the job id that names the reply.
  uint64_t compute_on_server(GroupRecord rec, const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& inputs);
  // Disputes that no connected worker other than their reporters (and not suspect) could settle
  // go to the server's kernel.
  void settle_orphaned_disputes();
  // The op became final: its dispute ends; if it was computed, every reporter's error was false
  // and counts as a failure of that worker.
  void close_dispute(Graph& graph, OpIndex op, bool computed);
  // True if worker w reported a kernel error for this op that is still disputed.
  bool reported_by(const Graph& graph, OpIndex op, WorkerId w) const;

  // ---- coordinator.cpp: op state ----
  // Reacts to a state change of `graph`: queues the new statuses for the store, ends the
  // disputes of ops that became final, notes the graph finished, and touches it.
  void apply_changes(Graph& graph, const OpChanges& changes);
  void fail_op(Graph& graph, OpIndex op, const std::string& error) { apply_changes(graph, graph.fail(op, error)); }
  void retry_op(Graph& graph, OpIndex op, WorkerId worker, const std::string& reason) {
    apply_changes(graph, graph.retry(op, worker, reason, options_.max_attempts));
  }
  void ensure_value(Graph& graph, OpIndex op) { apply_changes(graph, graph.ensure_value(op)); }
  void mark_requested(Graph& graph, OpIndex op) {
    if (graph.mark_requested(op)) store_.record_requested(graph, op);
  }
  // Marks the ops the developer released (submit `release`) and frees those nothing needs any more.
  void release_ops_of_developer(Graph& graph, const std::vector<OpIndex>& ops);
  // Frees the values of released ops among `ops` and their inputs that nothing can need any more
  // (Graph::freeable) and no waiter names: in memory, in the store, and on the workers that keep
  // them (a `release` naming the tensors). Walks up from `ops` through values that stayed on
  // workers, so passing the ops that just became final finds every op they made freeable.
  void free_released(Graph& graph, const std::vector<OpIndex>& ops);
  // Records (in memory and in the store) that the graph's last op just became final.
  void note_finished(Graph& graph);
  // Removes graphs finished more than keep_finished_s ago that nobody uses any more.
  void remove_old_graphs();
  // Drops every trace of graph `id` (which must be held) from memory: the graph, its indexes
  // (submit key, ready graphs) and its held values. Its store rows are the caller's business.
  void forget_graph(GraphId id);
  // Several servers on one store: renews this server's leases, drops the graphs it lost, takes
  // in the graphs it adopted (every third of the lease time, from tick).
  void renew_leases();
  void drop_lost_graph(GraphId id);
  // Sends idle workers toward the peer with the largest backlog (see renew_leases).
  void rebalance(const std::vector<GraphStore::PeerLoad>& peers);
  // The servers a worker's welcome names: --peers, then the live servers of a shared store.
  std::vector<std::string> welcome_servers() const;
  // The value of a computed op from memory or the store; nullptr if it has none.
  std::shared_ptr<const Tensor> value_of(Graph& graph, OpIndex op);
  void touched(GraphId graph) { touched_.insert(graph); }
  // After each entry point: answers waiters of touched graphs, then dispatches ready work.
  void settle();
  void flush_store() {
    store_.flush(now());
    save_trust();
  }

  // ---- verify.cpp: `--verify replicate|adaptive` (verification.hpp) ----
  // How a worker's first result of a group is taken: alone, replicated, or spot-checked by the
  // server's own kernel (a draw under `adaptive` and for spot checks).
  enum class Verification { none, replicate, spot_check };
  Verification verification_for(const Graph& graph, const WorkerState& w);
  // The graph's policy: the server's, tightened by the developer's `verify`.
  VerifyPolicy policy_of(const Graph& graph) const { return stricter(graph.verify, options_.verify); }
  // True with probability `p` (the coordinator's seeded generator).
  bool draw(double p);
  // A spot check is drawn (spot_check_rate) and the server's budget allows it.
  bool spot_check_due();
  // A valid result of `done` to verify: a first result opens a check (its ops stay running;
  // `how` is replicate or spot_check), a replica's joins its check; the majority rule decides.
  void verify_result(WorkerState& w, Graph& graph, const GroupRecord& done, std::vector<NamedTensor> outputs,
                     Verification how);
  // Ops of a group that will not be verified go back to pending (unless final, held by a check
  // or in another group) and are computed again.
  void release_ops(Graph& graph, const std::vector<OpIndex>& ops);
  // Closes a check without a verdict: its ops are computed again.
  void abandon(Check& check, Graph& graph);
  // Accepts, fails or asks for another replica, by the majority rule; an accepted result may
  // first go to the server's kernel as a spot check.
  void decide(Check& check);
  // The replica `group` of a check will not answer (dropped, expired, released, rejected).
  void replica_lost(const GroupRecord& group);
  // Hands the checks that need a replica to a free worker that has not answered them, or to
  // the server's own kernel when no such worker is connected or results disagreed (budget
  // allowing).
  void dispatch_replicas();
  void start_server_replica(Check& check, Graph& graph);
  void server_replica_done(const GroupRecord& job, Frame reply);
  // Counts a result proven wrong against its worker, with the evidence in the events; true if
  // the worker is to be quarantined now.
  bool blame(const Check& check, const Candidate& wrong, const Candidate& right, const Comparison& how);
  // Quarantine (docs/design.md, "Earned trust"): the worker gets no work, its groups in flight
  // and candidate results are discarded, and its unreplicated deliveries since its last
  // verified result are recomputed by the server's own kernel (recheck_done).
  void quarantine(WorkerId worker);
  // What quarantine does to a connected worker whose identity is now quarantined (here or by
  // another server of a shared store): no work, its unverified results dropped and rechecked.
  void isolate(WorkerId worker);
  void recheck_done(const GroupRecord& job, Frame reply);
  // Inputs of `ops` from outside them, in first-use order.
  std::vector<OpIndex> external_inputs(const Graph& graph, const std::vector<OpIndex>& ops) const;
  // Trust records that changed go to the store (with each flush, and at once on quarantine).
  void save_trust();

  // ---- client_requests.cpp ----
  // Validates a submit and stages it for the next commit (or answers it with an error).
  void handle_submit(ClientId client, protocol::Submit request);
  // Whether a client's message must wait for the commit: the client has a submit waiting or
  // held messages (its messages keep their order), or the message names a graph, or a submit key
  // of its owner, that a waiting submit creates or extends.
  bool must_hold(ClientId client, const Frame& frame) const;
  // Stores the staged submits (one transaction) and answers each; the stored ones join their graphs.
  void store_staged();
  // A stored submit joins its graph in memory: ops added, inputs' fates applied, answered.
  void apply_submit(StagedSubmit& staged);
  // A `wait`, or with `end` an `end` (its request_id and graph_id in `request`).
  void handle_wait(ClientId client, const protocol::Wait& request, bool end);
  void handle_cancel(ClientId client, const protocol::CancelOps& request);
  // Answers a request about a graph that the server at `owner_url` owns (docs/protocol.md: an
  // `error` with `redirect`).
  void send_owned_elsewhere(ClientId client, const protocol::RequestId& request_id, GraphId graph,
                            const std::string& owner_url);
  void send_client_error(ClientId client, const protocol::RequestId& request_id, const std::string& op_id,
                         const std::string& error);
  // The graph a request names, or nullptr after answering the developer why there is none.
  Graph* graph_for_request(ClientId client, GraphId id, const protocol::RequestId& request_id);
  // Answers a waiter if it is done (true), streaming `value`s as ids become final.
  bool serve_waiter(Waiter& waiter);
  // An `any` waiter: answered (true) once one of its ids is final, with every id final by then.
  bool serve_any_waiter(Waiter& waiter, Graph& graph);
  void send_progress(Waiter& waiter, const Graph& graph);
  // The failed and cancelled ops among `ids`, with their errors.
  std::vector<protocol::FailedOp> failed_list(const Graph& graph, const std::vector<OpIndex>& ids) const;
  protocol::OpCounts counts_of(const Graph& graph) const;

  // ---- operator_views.cpp ----
  int64_t queue_depth() const;
  // The graph's verification summary, its policy filled in (reports, /api/status, /metrics).
  protocol::VerificationSummary verification_of(const Graph& graph) const;
  // /api/status's row of one worker, and its `fleet` aggregates (counts by state, a speed
  // histogram, the fastest and slowest).
  nlohmann::json worker_row(const WorkerState& w) const;
  nlohmann::json fleet_json() const;
  // "benchmarking", "idle", "busy" or "stalled" (a group past its deadline).
  std::string worker_state(const WorkerState& w) const;

  const Clock& clock_;
  Outbox& outbox_;
  CoordinatorOptions options_;
  GraphIdMark graph_ids_;                            // ids are raised here before they are handed out
  std::unique_ptr<InlineServerKernel> own_kernel_;   // when no ServerKernel was given
  ServerKernel& kernel_;
  double clock_at_start_ = 0;
  double unix_at_start_ = 0;
  Persistence store_;
  Statistics stats_;
  GroupTable groups_;
  Fleet fleet_{options_.max_in_flight_per_worker};
  LinkModel link_;
  DisputeTable disputes_;
  VerificationTable checks_;
  TrustTable trust_;
  ServerBudget budget_;            // the server kernel's time for verification
  double last_server_done_ms_ = 0;  // when its last job ended: a queued job's time starts there
  std::mt19937_64 rng_;

  std::map<GraphId, Graph> graphs_;
  ReadyGraphs ready_graphs_;  // the graphs_ with ready ops (Graph::report_ready_to): dispatch scans only these
  std::map<std::pair<std::string, std::string>, GraphId> graph_by_key_;  // (owner, submit_key) -> graph
  GraphId next_graph_id_ = 1;
  std::string owner_cursor_;                   // the developer served last: the next group is another's
  std::map<std::string, GraphId> graph_cursor_;  // per developer, the graph served last
  std::map<ClientId, std::string> clients_;
  std::list<Waiter> waiters_;
  // Group commit: submits waiting for commit_submits(), what they touch, and the messages held
  // behind them (at most what one turn of the network layer's event loop reads: it reads one
  // message per connection at a time).
  std::vector<StagedSubmit> staged_;
  std::set<ClientId> staged_clients_;
  std::set<GraphId> staged_graphs_;
  std::set<std::pair<std::string, std::string>> staged_keys_;  // (owner, submit_key) of staged creates
  std::map<ClientId, std::deque<Frame>> held_;
  std::set<GraphId> touched_;
  std::set<GraphId> holding_values_;  // graphs with values in memory (finished ones release them)
  bool settling_ = false;
  double last_removal_ms_ = 0;
  double last_lease_renewal_ms_ = 0;
  // The other live servers on a shared store (their --advertise-url, from the last renewal):
  // sent in workers' welcomes after --peers, for failover.
  std::vector<std::string> registry_peers_;
  double last_worker_ms_ = 0;  // when a worker was last connected (or the start): progress says how long none is
};

}  // namespace corvid::server
