// One HTTP connection: reads requests one at a time (keep-alive), answers them with
// handle_request, and hands WebSocket upgrades on /ws/worker and /ws/client to a WorkerSession or
// ClientSession. Not thread-safe: runs on the server's one io_context thread.
#pragma once

#include <memory>
#include <optional>

#include "server/net/common.hpp"
#include "server/net/http_routes.hpp"

namespace corvid::server {

class ServerState;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state);

  // Starts reading the first request.
  void run();

 private:
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void upgrade();
  void send(HttpResponse response);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void do_close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<ServerState> state_;
  std::optional<http::request_parser<http::string_body>> parser_;  // a new one per request
  std::shared_ptr<void> response_;                                 // the one being written
};

}  // namespace corvid::server
