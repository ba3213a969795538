// The native headless worker: connects to /ws/worker, benchmarks this device, computes the op
// groups the server assigns with the shared kernel (GroupExecutor), and reconnects by itself:
// to the next of its servers when one is gone, to the one a `redirect` names when told to.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "corvid/server_url.hpp"
#include "lie.hpp"
#include "shared/device_benchmark.hpp"
#include "shared/group_executor.hpp"
#include "shared/protocol.hpp"

namespace corvid {

struct WorkerOptions {
  // The servers to work for, tried in order (at least one); the welcome's `servers` and
  // redirects add more (up to kMaxServerUrls).
  std::vector<ServerUrl> servers;
  std::string name;
  double slowdown = 1;            // >= 1: sleep (slowdown - 1) × compute time after each group
  double benchmark_ms = 600;      // budget of the device benchmark
  std::size_t cache_bytes = 256u << 20;
  std::size_t max_frame_bytes = 512u << 20;
  std::string worker_token;  // the operator's worker token ("": an untrusted volunteer)
  // Tests and benchmarks only (lie.hpp): wrong values with this probability per result.
  double lie = 0;
  LieMode lie_mode = LieMode::perturb;
  int lie_after = 0;  // honest results before it starts lying
};

// One worker process. Networking runs on the io_context's thread (async Beast, single writer
// queue); groups are computed on a separate compute thread so heartbeats keep flowing while a
// group runs. Not copyable; run() blocks until stop() or a signal ends it.
class NativeWorker {
 public:
  NativeWorker(boost::asio::io_context& io, WorkerOptions options);
  ~NativeWorker();
  NativeWorker(const NativeWorker&) = delete;
  NativeWorker& operator=(const NativeWorker&) = delete;

  // Benchmarks the device, then connects and serves until stop(). Returns the process exit code.
  int run();
  // Releases the groups not yet computed to the server, closes the connection and ends run().
  // Safe to call from the io_context's thread (the signal handler runs there).
  void stop();

 private:
  struct Link;  // one WebSocket connection attempt
  struct Job {
    uint64_t epoch = 0;  // the connection the group came on; results for an older one are dropped
    uint64_t group_id = 0;
    protocol::Assign assign;
    std::vector<std::string> forget;  // a server's `release` (group_id 0, no assign): kept tensors to drop
  };

  const ServerUrl& server() const { return options_.servers[current_]; }
  void connect();
  void schedule_reconnect(const std::string& why);
  // Adds the addresses a server named (welcome's servers, a redirect's url); returns the index of
  // `url`, or nullopt (logged) for one the worker cannot use (wss://) or has no room for.
  std::optional<std::size_t> learn_server(const std::string& url);
  void on_connected(std::shared_ptr<Link> link);
  void read(std::shared_ptr<Link> link);
  void on_message(std::shared_ptr<Link> link, Frame frame);
  void send(const std::shared_ptr<Link>& link, Frame frame);
  void write_next(std::shared_ptr<Link> link);
  void heartbeat(std::shared_ptr<Link> link);
  void lost(std::shared_ptr<Link> link, const std::string& why);
  void close_and_finish(std::shared_ptr<Link> link);

  void compute_loop();
  // Queued groups not yet started plus the one being computed, for release on stop.
  std::vector<uint64_t> held_groups();

  boost::asio::io_context& io_;
  WorkerOptions options_;
  DeviceScore score_;
  std::shared_ptr<Link> link_;
  uint64_t epoch_ = 0;
  std::optional<uint64_t> worker_id_;  // from the last welcome, sent as resume_id on reconnect
  std::size_t current_ = 0;                 // index of server() in options_.servers
  std::optional<std::size_t> redirect_to_;  // a redirect's server: the next connection goes there
  double backoff_ms_ = 100;
  bool stopping_ = false;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::signal_set signals_;

  // Shared with the compute thread.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::optional<uint64_t> running_group_;
  bool running_cancelled_ = false;
  bool quit_ = false;
  std::vector<std::string> cached_names_;  // snapshot of the executor's cache after each group
  GroupExecutor executor_;                  // used only on the compute thread
  Liar liar_;                               // used only on the compute thread
  std::thread compute_;
};

}  // namespace corvid
