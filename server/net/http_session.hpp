// One HTTP connection: reads requests one at a time (keep-alive), refuses oversized heads (414,
// 431) and requests from foreign hosts or origins (refuse_foreign), answers the rest with
// handle_request, and hands WebSocket upgrades on /ws/worker (rate-limited per address: 429) and
// /ws/client to a WorkerSession or ClientSession. Not thread-safe: runs on the server's one
// io_context thread.
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
  void refuse_oversized_head();
  void upgrade();
  // Writes `response`; with `linger`, a closing reply is followed by do_linger instead of do_close.
  void send(HttpResponse response, bool linger = false);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void do_close();
  // Closes our side, then reads and drops what the peer still sends (up to 1 MiB, for 2 s): a
  // socket closed with unread bytes resets the connection, and the reset can destroy the reply
  // of an oversized request before the peer reads it.
  void do_linger();
  void on_drain(beast::error_code ec, std::size_t bytes);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<ServerState> state_;
  std::optional<http::request_parser<http::string_body>> parser_;  // a new one per request
  std::shared_ptr<void> response_;                                 // the one being written
  bool linger_ = false;                                            // do_linger after response_
  std::size_t lingered_bytes_ = 0;
};

}  // namespace corvid::server
