// Accepts TCP connections and starts an HttpSession for each (which may become a WebSocket
// session). When the process runs out of file descriptors (or memory), it pauses accepting for
// kAcceptPause instead of spinning, and logs failed accepts at most once per kAcceptLogInterval.
// Not thread-safe: runs on the server's one io_context thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "server/net/common.hpp"

namespace corvid::server {

class ServerState;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens on `endpoint`. Throws std::runtime_error naming the endpoint and the
  // reason (e.g. "Address already in use") if it cannot.
  Listener(asio::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<ServerState> state);

  // How long accepting pauses after it failed for want of descriptors or memory.
  static constexpr std::chrono::milliseconds kAcceptPause{250};
  // Failed accepts are logged at most once per this interval, with the count since the last line.
  static constexpr std::chrono::seconds kAcceptLogInterval{5};

  // Starts accepting connections.
  void run();
  // Stops accepting; connections already open carry on.
  void stop();
  // The bound address and port (the real port when 0 was asked for).
  tcp::endpoint local_endpoint() const;

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  // Counts a failed accept, logs it if the last line is kAcceptLogInterval old, and says whether
  // the failure means the process is out of a resource (accepting must pause).
  bool note_accept_failure(beast::error_code ec);

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_timer_;
  std::chrono::steady_clock::time_point last_failure_log_{};
  std::size_t failures_unlogged_ = 0;
  std::shared_ptr<ServerState> state_;
};

}  // namespace corvid::server
