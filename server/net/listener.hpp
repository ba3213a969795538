// Accepts TCP connections and starts an HttpSession for each (which may become a WebSocket
// session). Not thread-safe: runs on the server's one io_context thread.
#pragma once

#include <memory>

#include "server/net/common.hpp"

namespace corvid::server {

class ServerState;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens on `endpoint`. Throws std::runtime_error naming the endpoint and the
  // reason (e.g. "Address already in use") if it cannot.
  Listener(asio::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<ServerState> state);

  // Starts accepting connections.
  void run();
  // Stops accepting; connections already open carry on.
  void stop();
  // The bound address and port (the real port when 0 was asked for).
  tcp::endpoint local_endpoint() const;

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<ServerState> state_;
};

}  // namespace corvid::server
