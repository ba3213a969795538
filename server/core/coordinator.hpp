// The contract between the server's network layer (server/net: Beast sessions, which only
// decode frames and translate them into calls) and its core (server/core: graphs, scheduler,
// store; plain C++ with no Asio, testable with a fake clock and a fake outbox).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/verify_policy.hpp"
#include "shared/protocol.hpp"
#include "shared/wire.hpp"

namespace corvid::server {

using WorkerId = uint64_t;
using ClientId = uint64_t;

// Milliseconds on a monotonic clock. Tests pass a fake one they advance by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_ms() const = 0;
};

// Where the core's messages go. The network layer implements it; tests record the calls.
// Calls happen on the thread that called into the Coordinator.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send_to_worker(WorkerId worker, Frame frame) = 0;
  virtual void send_to_client(ClientId client, Frame frame) = 0;
  // Asks the network layer to close a connection (abuse, protocol violation, heartbeat lost).
  virtual void close_worker(WorkerId worker, const std::string& reason) = 0;
  // Closes a worker's connection normally (WebSocket 1000) after the frames sent before it: the
  // worker leaves at the server's request (a redirect), not for misbehaving. The default closes
  // it as close_worker does (tests, simulations).
  virtual void part_worker(WorkerId worker, const std::string& reason) { close_worker(worker, reason); }
};

// The server's own native kernel, which settles a kernel error that only one worker has reported
// (see docs/server-core.md). compute() must return at once: the network layer computes on a
// background thread (BackgroundServerKernel), and the reply reaches the coordinator later through
// Coordinator::server_kernel_done on the coordinator's thread, never from within compute().
class ServerKernel {
 public:
  virtual ~ServerKernel() = default;
  // Starts computing `assign`, with every input attached; `job` names the reply.
  virtual void compute(uint64_t job, protocol::Assign assign) = 0;
};

enum class SchedulingPolicy { earliest_finish, round_robin };


struct CoordinatorOptions {
  SchedulingPolicy policy = SchedulingPolicy::earliest_finish;
  int max_in_flight_per_worker = 2;
  double target_group_ms = 20;       // size groups to about this much work on the chosen worker
  double deadline_slack = 4;         // deadline = estimate × slack, at least deadline_floor_ms
  double deadline_floor_ms = 2000;
  int max_attempts = 3;              // transient failures before an op fails
  double heartbeat_ms = 5000;        // a worker silent for 3 × this is dropped
  double keep_finished_s = 24 * 3600;  // finished graphs are removed this long after (0: never)
  VerifyPolicy verify = VerifyPolicy::adaptive;  // a graph's submit may tighten it, never loosen it
  int verify_cap = 4;  // results of a group that never agree before its ops fail
  // `adaptive`: a trusted worker's groups are replicated with a probability falling with its
  // record, never below this floor (TrustTable).
  double verify_floor = 0.05;
  // Spot checks: the server's own kernel recomputes about this share of accepted groups, within
  // `spot_check_budget` (a share of one core, measured on the clock) of its compute time.
  double spot_check_rate = 0.1;
  double spot_check_budget = 0.1;
  uint64_t seed = 0;  // of the replication and spot-check draws (0: from std::random_device)
  // Group commit: a valid submit waits for commit_submits(), which the caller makes once per turn
  // of its event loop, so that the submits of one turn share one store transaction. false: each
  // call that accepts a submit commits and answers it before returning.
  bool group_commit = false;
  // Where graphs are kept: "" for the SQLite file corvid.db in the data directory, or a
  // PostgreSQL URI (postgresql://...) shared by several servers (postgres_store.hpp).
  std::string store;
  // With a PostgreSQL store: how long a server's lease of its graphs lasts (renewed every third
  // of it; another server adopts the graphs of one silent for longer), and the URL (ws://host:port)
  // developers asking this server about a graph another one owns are sent to.
  double lease_ms = 10000;
  std::string advertise_url;
  // Other servers of this fleet (--peers), sent in every worker's welcome for failover: at most
  // WorkerWelcome::kMaxServers valid server addresses.
  std::vector<std::string> peers;
};

// Which rows GET /api/status returns (docs/protocol.md); its aggregates always cover every
// worker and graph. Parsed from the query string by the network layer.
struct StatusQuery {
  static constexpr std::size_t kMaxLimit = 1000;  // rows of one page at most
  enum class WorkerOrder { id, fastest, slowest };
  std::size_t workers_offset = 0, workers_limit = 100;
  WorkerOrder workers_order = WorkerOrder::id;
  std::string workers_search;  // case-insensitive part of the name or user agent, or the id; "": all
  std::size_t graphs_offset = 0, graphs_limit = 50;  // newest first
};

// Everything the server does, minus the sockets. Not thread-safe: the network layer calls it
// from one thread (the server runs a single-threaded io_context).
class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // Developers. `owner` is the name from the client's hello. The core answers every request
  // through Outbox::send_to_client (see docs/protocol.md for the messages).
  virtual void client_connected(ClientId client, const std::string& owner) = 0;
  virtual void client_message(ClientId client, Frame frame) = 0;
  virtual void client_disconnected(ClientId client) = 0;

  // Workers. worker_connected gets the decoded hello and sends `welcome`; `operator_credential`:
  // the network layer matched hello.worker_token with the operator's worker token (the worker is
  // trusted under `adaptive`; the token itself is not looked at here). Messages after that
  // (benchmark, result, error, release, heartbeat) go to worker_message; any message that is not
  // valid gets an error reply, and repeated abuse a close_worker.
  virtual void worker_connected(WorkerId worker, const protocol::WorkerHello& hello, bool operator_credential) = 0;
  virtual void worker_message(WorkerId worker, Frame frame) = 0;
  // A frame from this worker failed to decode (the network layer already replied with the error).
  virtual void worker_malformed(WorkerId worker, const std::string& error) = 0;
  virtual void worker_disconnected(WorkerId worker) = 0;

  // Sends up to `count` free workers (connected, not quarantined, no group in flight) to another
  // server: each gets a `redirect` to `url`, is forgotten, and its connection is closed normally.
  // Returns how many were sent. Throws protocol::ProtocolError naming the problem if `url` is not
  // a valid server address (protocol::server_address_problem).
  virtual std::size_t redirect_free_workers(std::size_t count, const std::string& url) = 0;

  // The reply of the ServerKernel to compute(job, ...): a `result` or an `error` frame, as
  // GroupExecutor::execute returns them.
  virtual void server_kernel_done(uint64_t job, Frame reply) = 0;

  // Group commit (CoordinatorOptions::group_commit): the submits accepted since the last call are
  // stored in one store transaction, then each is answered (`submitted`, or an error naming why
  // the store refused it): a developer hears `submitted` only once its graph is durable. Messages
  // that arrived meanwhile from a client with a submit waiting, or naming a graph with one, were
  // held and are handled now, in order (they may leave new submits waiting).
  virtual void commit_submits() = 0;
  // Whether submits wait for commit_submits().
  virtual bool submits_waiting() const = 0;

  // Deadlines, heartbeats, statistics history; call about every 50 ms.
  virtual void tick() = 0;

  // Operators: the JSON of GET /api/status (aggregates, and the page of workers and graphs
  // `query` asks for) and /api/graphs/<id> (null if no such graph), and the text of GET
  // /metrics. Formats in docs/protocol.md.
  virtual nlohmann::json status_json(const StatusQuery& query = {}) const = 0;
  virtual nlohmann::json graph_json(uint64_t graph_id) const = 0;
  virtual std::string metrics_text() const = 0;
  // Developers over HTTP (GET /api/graphs/<id>/values/<op id>): the value of a computed op, or
  // nullptr with `why` ("no graph 7", "no op 'x' in graph 7", "op 'x' is running", ...).
  virtual std::shared_ptr<const Tensor> value(uint64_t graph_id, const std::string& op_id, std::string& why) = 0;
  // Several servers on one store: the URL (ws://host:port) of the server that owns a graph this
  // one does not hold; "" if this server holds it, nobody does, or the store is not shared.
  virtual std::string owner_elsewhere(uint64_t graph_id) = 0;
};

// The coordinator with its SQLite store in `data_dir` (created if missing; file corvid.db, WAL),
// or the PostgreSQL store options.store names, and its graph id mark (file last-graph-id, see graph_id_mark.hpp). Unfinished graphs in the
// store are resumed: their running ops go back to pending. `kernel` settles disputed kernel
// errors; without one (tests, simulations) the coordinator computes them itself on the calling
// thread at the end of the call that needed it. Throws std::runtime_error, with a one-line
// message naming the file, if corvid.db exists but is empty or not a Corvid database, if the mark
// is damaged, or if either cannot be opened.
std::unique_ptr<Coordinator> make_coordinator(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                              CoordinatorOptions options = {}, ServerKernel* kernel = nullptr);

}  // namespace corvid::server
