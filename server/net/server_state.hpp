// What every session of the server shares: its configuration, the Coordinator (the core, which
// is not thread-safe: the server runs one io_context thread and every call below happens on it),
// and the registry of live WebSocket sessions through which the Coordinator's Outbox sends.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/coordinator.hpp"
#include "server/net/common.hpp"
#include "shared/protocol.hpp"
#include "server/net/static_files.hpp"

namespace corvid::server {

class FrameSession;

struct ServerConfig {
  std::filesystem::path data_dir;
  std::filesystem::path web_dir;
  std::filesystem::path wasm_dir;
  std::filesystem::path token_file;
  std::string token;                         // what /ws/client hellos must present
  std::string worker_token;                  // what a trusted worker's hello presents (worker-token file)
  std::size_t max_frame_bytes = 256u << 20;  // a larger message is drained and answered with an error
  std::vector<std::string> allowed_origins;  // --allow-origin, as normalize_origin gives them ("*": any)
  bool loopback_only = false;                // listening on a loopback address: Host must name it
  std::chrono::milliseconds hello_timeout{10000};  // an upgraded connection without a hello by then is closed
  double worker_connects_per_s = 10;  // new /ws/worker connections per remote address and second (0: no limit)
  double worker_connect_burst = 40;   // ... of which this many may come at once
};

// A token bucket per remote address: each admitted connection takes a token, tokens come back at
// `rate_per_s` up to `burst`. Addresses whose bucket has refilled are forgotten, so memory follows
// the addresses seen in the last burst / rate seconds. Not thread-safe.
class ConnectRateLimit {
 public:
  // rate_per_s 0 admits everything.
  ConnectRateLimit(double rate_per_s, double burst) : rate_per_s_(rate_per_s), burst_(burst) {}
  // Whether a new connection from `address` at `now` is admitted (and takes a token). If not,
  // `retry_after_s` is set to the seconds until a token is back.
  bool admit(const asio::ip::address& address, std::chrono::steady_clock::time_point now, double& retry_after_s);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
  };
  // The bucket's tokens at `now` (refilled since it was updated).
  double tokens_at(const Bucket& bucket, std::chrono::steady_clock::time_point now) const;

  double rate_per_s_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;  // by address, as text
  std::size_t prune_above_ = 1024;                   // bucket count that makes admit() forget full buckets
};

// Sessions join and leave here, and the Coordinator reaches them through the Outbox interface.
// Every call into the Coordinator is guarded: an exception it throws is logged and answered
// with an error frame to the session concerned, never allowed to stop the server.
class ServerState final : public Outbox, public Clock, public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(asio::io_context& ioc, ServerConfig config);
  ~ServerState() override;

  // Opens the Coordinator (and its store in config().data_dir) and starts calling its tick()
  // every 50 ms. Throws std::runtime_error if the store cannot be opened.
  void start(const CoordinatorOptions& options);
  // Destroys the Coordinator, so that its store closes cleanly, and closes every WebSocket with
  // 1001 (going away). Sessions that end afterwards no longer reach the Coordinator.
  void shutdown();
  bool running() const { return coordinator_ != nullptr; }

  const ServerConfig& config() const { return config_; }
  const StaticFiles& files() const { return files_; }

  // Whether a new /ws/worker connection from `address` is within --max-worker-connects-per-s;
  // if not, `retry_after_s` says when one will be.
  bool admit_worker_connect(const asio::ip::address& address, double& retry_after_s);

  // Workers, after a valid hello: registers the session, tells the Coordinator, returns the id.
  WorkerId add_worker(const std::shared_ptr<FrameSession>& session, const protocol::WorkerHello& hello,
                      bool operator_credential);
  void worker_message(WorkerId worker, Frame frame);
  void worker_malformed(WorkerId worker, const std::string& error);
  void remove_worker(WorkerId worker);

  // Developers, after a hello with the right token.
  ClientId add_client(const std::shared_ptr<FrameSession>& session, const std::string& owner);
  void client_message(ClientId client, Frame frame);
  void remove_client(ClientId client);

  // The operator endpoints. Throw std::runtime_error while the server is shutting down.
  nlohmann::json status_json(const StatusQuery& query = {}) const;
  nlohmann::json graph_json(uint64_t graph_id) const;
  // Coordinator::value (the coordinator may load the value from the store).
  std::shared_ptr<const Tensor> value(uint64_t graph_id, const std::string& op_id, std::string& why) const;
  // Coordinator::owner_elsewhere.
  std::string owner_elsewhere(uint64_t graph_id) const;
  std::string metrics_text() const;
  // POST /api/drain: Coordinator::redirect_free_workers (`url` already valid). Throws
  // std::runtime_error while the server is shutting down.
  std::size_t redirect_free_workers(std::size_t count, const std::string& url);

  // Outbox: frames for a session that has gone are dropped.
  void send_to_worker(WorkerId worker, Frame frame) override;
  void send_to_client(ClientId client, Frame frame) override;
  void close_worker(WorkerId worker, const std::string& reason) override;
  void part_worker(WorkerId worker, const std::string& reason) override;

  // Clock: milliseconds since the server started, on the steady clock.
  double now_ms() const override;

 private:
  using Sessions = std::unordered_map<uint64_t, std::weak_ptr<FrameSession>>;

  void do_tick();
  void on_tick(beast::error_code ec);
  // Group commit: once a turn of the event loop has left submits waiting, one posted handler
  // (queued behind the turn's other handlers) commits them all (Coordinator::commit_submits).
  void commit_soon();
  void on_commit();
  // Runs fn(coordinator) unless shut down; an exception is logged and, if `reply_to` is set,
  // answered with an error frame.
  template <class Fn>
  void guarded(const char* what, const std::shared_ptr<FrameSession>& reply_to, Fn&& fn);
  const Coordinator& coordinator_or_throw() const;
  // The live session with this id, or null.
  static std::shared_ptr<FrameSession> find(const Sessions& sessions, uint64_t id);

  ServerConfig config_;
  StaticFiles files_;
  ConnectRateLimit worker_connects_;
  asio::steady_timer tick_timer_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // The server's own kernel settling disputed kernel errors off the io thread; declared before
  // the Coordinator, which uses it, so that it outlives it.
  std::unique_ptr<ServerKernel> kernel_;
  std::unique_ptr<Coordinator> coordinator_;
  Sessions workers_;
  Sessions clients_;
  WorkerId next_worker_ = 1;
  ClientId next_client_ = 1;
  bool commit_posted_ = false;
};

}  // namespace corvid::server
