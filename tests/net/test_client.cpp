#include "test_client.hpp"

#include <chrono>
#include <stdexcept>

namespace corvid::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kTimeout{20};

// Runs `start(handler)` on `ioc` until the handler has been called (other handlers, such as the
// WebSocket's idle timer, may stay pending); returns its error code.
template <class Start>
beast::error_code run_on(asio::io_context& ioc, Start&& start) {
  beast::error_code result;
  bool done = false;
  start([&](beast::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  ioc.restart();
  while (!done && ioc.run_one() > 0) {
  }
  return result;
}

}  // namespace

HttpReply http_request(uint16_t port, http::verb method, const std::string& target) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(kTimeout);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  if (auto ec = run_on(ioc, [&](auto handler) { stream.async_connect(endpoint, handler); }))
    throw beast::system_error(ec, "http connect");
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::connection, "close");
  if (auto ec = run_on(ioc, [&](auto handler) { http::async_write(stream, request, handler); }))
    throw beast::system_error(ec, "http write");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);  // a HEAD reply announces a body it does not send
  parser.body_limit(64u << 20);
  if (auto ec = run_on(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); }))
    throw beast::system_error(ec, "http read " + target);
  return parser.release();
}

HttpReply raw_http_exchange(uint16_t port, const std::string& request) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(kTimeout);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  if (auto ec = run_on(ioc, [&](auto handler) { stream.async_connect(endpoint, handler); }))
    throw beast::system_error(ec, "http connect");
  if (auto ec = run_on(ioc, [&](auto handler) { asio::async_write(stream, asio::buffer(request), handler); }))
    throw beast::system_error(ec, "raw http write");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  if (auto ec = run_on(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); }))
    throw beast::system_error(ec, "raw http read");
  return parser.release();
}

HttpReply http_get_with_headers(uint16_t port, const std::string& target, const std::vector<std::string>& headers,
                                const std::optional<std::string>& host) {
  std::string request = "GET " + target + " HTTP/1.1\r\n";
  std::string host_value = host.value_or("127.0.0.1:" + std::to_string(port));
  if (!host_value.empty()) request += "Host: " + host_value + "\r\n";
  bool has_connection = false;
  for (const auto& header : headers) {
    request += header + "\r\n";
    has_connection = has_connection || beast::iequals(header.substr(0, 11), "Connection:");
  }
  request += has_connection ? "\r\n" : "Connection: close\r\n\r\n";
  return raw_http_exchange(port, request);
}

std::vector<std::string> websocket_upgrade_headers() {
  return {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13"};
}

TestSocket::TestSocket(uint16_t port, const std::string& path) : ws_(ioc_) {
  auto& tcp_stream = beast::get_lowest_layer(ws_);
  tcp_stream.expires_after(kTimeout);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  if (auto ec = run([&](auto handler) { tcp_stream.async_connect(endpoint, handler); }))
    throw beast::system_error(ec, "websocket connect");
  tcp_stream.socket().set_option(tcp::no_delay(true));
  tcp_stream.expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = kTimeout;
  timeouts.idle_timeout = kTimeout;
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  ws_.read_message_max(512u << 20);
  if (auto ec = run([&](auto handler) { ws_.async_handshake("127.0.0.1:" + std::to_string(port), path, handler); }))
    throw beast::system_error(ec, "websocket handshake on " + path);
}

template <class Start>
beast::error_code TestSocket::run(Start&& start) {
  return run_on(ioc_, std::forward<Start>(start));
}

void TestSocket::send(const Frame& frame) { send_bytes(encode_frame(frame)); }

void TestSocket::send_bytes(const std::vector<uint8_t>& bytes, bool binary) {
  ws_.binary(binary);
  if (auto ec = run([&](auto handler) { ws_.async_write(asio::buffer(bytes), handler); }))
    throw beast::system_error(ec, "websocket write");
}

void TestSocket::send_raw_tcp(const std::vector<uint8_t>& bytes) {
  auto& stream = beast::get_lowest_layer(ws_);
  stream.expires_after(kTimeout);
  auto ec = run([&](auto handler) { asio::async_write(stream, asio::buffer(bytes), handler); });
  stream.expires_never();
  if (ec) throw beast::system_error(ec, "raw tcp write");
}

std::variant<Frame, Closed> TestSocket::receive_or_close() {
  buffer_.clear();
  beast::error_code ec = run([&](auto handler) { ws_.async_read(buffer_, handler); });
  if (ec == websocket::error::closed) return Closed{ws_.reason().code, std::string(ws_.reason().reason.c_str())};
  if (ec) throw beast::system_error(ec, "websocket read");
  if (!ws_.got_binary()) throw std::runtime_error("the server sent a text message");
  return decode_frame(static_cast<const uint8_t*>(buffer_.data().data()), buffer_.size());
}

Frame TestSocket::receive() {
  auto event = receive_or_close();
  if (auto* closed = std::get_if<Closed>(&event))
    throw std::runtime_error("the server closed the connection (" + std::to_string(closed->code) + " " +
                             closed->reason + ") instead of sending a message");
  return std::get<Frame>(std::move(event));
}

Frame TestSocket::receive_type(const std::string& type) {
  for (;;) {
    Frame frame = receive();
    std::string got = frame.header.value("type", "");
    if (got == type) return frame;
    if (got != "heartbeat" && got != "progress")
      throw std::runtime_error("expected a '" + type + "' message, got " + frame.header.dump());
  }
}

Closed TestSocket::expect_close() {
  auto event = receive_or_close();
  if (auto* frame = std::get_if<Frame>(&event))
    throw std::runtime_error("expected the server to close the connection, got " + frame->header.dump());
  return std::get<Closed>(event);
}

Frame worker_hello(const std::string& name, int version) {
  Frame frame;
  frame.header = {{"type", "hello"}, {"version", version}, {"name", name}, {"user_agent", "corvid net test"}};
  return frame;
}

Frame client_hello(const std::string& token, const std::string& name) {
  Frame frame;
  frame.header = {{"type", "hello"}, {"version", kProtocolVersion}, {"token", token}, {"name", name}};
  return frame;
}

Frame submit_sum(int request_id) {
  Frame frame;
  frame.header = {{"type", "submit"},
                  {"request_id", request_id},
                  {"name", "net-test sum"},
                  {"ops", {{{"id", "a"}, {"op", "tensor"}, {"value", {1, 2, 3}}},
                           {{"id", "b"}, {"op", "tensor"}, {"value", {5, 22, 7}}},
                           {{"id", "c"}, {"op", "add"}, {"inputs", {"a", "b"}}}}},
                  {"outputs", {"c"}}};
  return frame;
}

Frame worker_benchmark() {
  Frame frame;
  frame.header = {{"type", "benchmark"},   {"matmul_gflops", 10.0}, {"elementwise_gbs", 5.0},
                  {"reduce_gbs", 5.0},     {"duration_ms", 100.0}};
  return frame;
}

}  // namespace corvid::test
