// Blocking clients for the network tests: plain HTTP requests and a WebSocket that speaks Corvid
// frames. Every operation gives up after a timeout, so a server that stays silent fails the test
// (with a message) instead of hanging it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "shared/wire.hpp"

namespace corvid::test {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

using HttpReply = http::response<http::string_body>;

// Sends one request with this exact target (no normalisation: "/../x" goes out as is) and
// returns the reply. Throws on connection errors or after 20 s.
HttpReply http_request(uint16_t port, http::verb method, const std::string& target);
inline HttpReply http_get(uint16_t port, const std::string& target) { return http_request(port, http::verb::get, target); }

// Writes `request` byte for byte (request line, headers, blank line: nothing is added or checked)
// to a new connection to 127.0.0.1 and returns the reply; a 101 reply to an upgrade ends there.
// Throws if the connection fails or breaks before a whole reply (a reset included), or after 20 s.
HttpReply raw_http_exchange(uint16_t port, const std::string& request);
// A GET of `target` with these extra header lines ("Name: value"), Connection: close unless they
// have a Connection line, and Host: 127.0.0.1:<port> unless `host` is given ("" leaves Host
// out), sent by raw_http_exchange.
HttpReply http_get_with_headers(uint16_t port, const std::string& target, const std::vector<std::string>& headers,
                                const std::optional<std::string>& host = std::nullopt);
// The header lines of a WebSocket upgrade (Upgrade, Connection, Sec-WebSocket-Key and -Version),
// for http_get_with_headers: a 101 reply means the server accepted the handshake.
std::vector<std::string> websocket_upgrade_headers();

// How the server ended a WebSocket connection.
struct Closed {
  int code = 0;
  std::string reason;
};

// A WebSocket connection to /ws/worker or /ws/client on 127.0.0.1.
class TestSocket {
 public:
  // Connects and completes the handshake. Throws beast::system_error if either fails.
  TestSocket(uint16_t port, const std::string& path);

  void send(const Frame& frame);
  // Sends raw message bytes, as a binary or a text message.
  void send_bytes(const std::vector<uint8_t>& bytes, bool binary = true);
  // Writes bytes straight to the TCP connection, under the WebSocket framing (to forge frames).
  void send_raw_tcp(const std::vector<uint8_t>& bytes);

  // The next message, decoded, or how the connection closed. Throws if nothing arrives in 20 s
  // or the connection breaks without a close.
  std::variant<Frame, Closed> receive_or_close();
  // The next message; throws if the connection closed instead.
  Frame receive();
  // The next message whose type is `type`, skipping heartbeats and progress reports; throws on
  // any other message or a close.
  Frame receive_type(const std::string& type);
  // Requires the next event to be the server closing the connection, and returns how.
  Closed expect_close();

 private:
  // Starts an asynchronous operation through `start(handler)`, runs it to completion, returns its error.
  template <class Start>
  beast::error_code run(Start&& start);

  boost::asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
};

// Frames of the protocol that several tests send.
Frame worker_hello(const std::string& name, int version = kProtocolVersion);
Frame client_hello(const std::string& token, const std::string& name = "net-test");
// A bench result that makes the worker eligible for work.
Frame worker_benchmark();
// A developer's submit of a = [1, 2, 3], b = [5, 22, 7], c = a + b, with c as the output.
Frame submit_sum(int request_id);

}  // namespace corvid::test
