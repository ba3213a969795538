#include "server/net/http_session.hpp"

#include <chrono>
#include <cmath>

#include "server/net/client_session.hpp"
#include "server/net/server_state.hpp"
#include "server/net/worker_session.hpp"

namespace corvid::server {
namespace {

constexpr std::chrono::seconds kRequestTimeout{30};
constexpr std::size_t kMaxRequestBodyBytes = 64 * 1024;  // only GET and upgrades are served
// Limits of a request's head (docs/protocol.md): a longer target gets 414, a longer head 431.
// Pages, APIs and upgrades need far less; the head limit is what Beast's parser buffers.
constexpr std::size_t kMaxTargetBytes = 8 * 1024;
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;  // request line and every header field
// After refusing an oversized request, what is read and dropped of its rest before closing.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kLingerBytes = 1 << 20;

http::response<http::string_body> target_too_long() {
  return closing_error(http::status::uri_too_long,
                       "the request target is longer than " + std::to_string(kMaxTargetBytes) + " bytes");
}

}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)), state_(std::move(state)) {}

void HttpSession::run() { do_read(); }

void HttpSession::do_read() {
  parser_.emplace();
  parser_->body_limit(kMaxRequestBodyBytes);
  parser_->header_limit(kMaxHeaderBytes);
  stream_.expires_after(kRequestTimeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) return do_close();
  if (ec == http::error::header_limit) return refuse_oversized_head();
  if (ec) return fail(ec, "http read");
  const HttpRequest& request = parser_->get();
  if (request.target().size() > kMaxTargetBytes) return send(target_too_long(), true);
  if (auto refusal = refuse_foreign(*state_, request)) return send(std::move(*refusal));
  if (websocket::is_upgrade(request)) return upgrade();
  send(handle_request(*state_, request));
}

void HttpSession::refuse_oversized_head() {
  // The parser stopped at kMaxHeaderBytes. It has the target once the request line is complete:
  // no target means a request line longer than the whole limit.
  std::string_view target = parser_->get().target();
  if (target.empty() || target.size() > kMaxTargetBytes) return send(target_too_long(), true);
  send(closing_error(http::status::request_header_fields_too_large,
                     "the request line and headers are longer than " + std::to_string(kMaxHeaderBytes) + " bytes"),
       true);
}

void HttpSession::upgrade() {
  const HttpRequest& request = parser_->get();
  std::string_view path = target_path(request.target());
  std::string error;
  if (!state_->running())
    error = "the server is shutting down";
  else if (path != "/ws/worker" && path != "/ws/client")
    error = "no WebSocket endpoint at " + std::string(path) + ": workers use /ws/worker, developers /ws/client";
  if (!error.empty())
    return send(closing_error(state_->running() ? http::status::not_found : http::status::service_unavailable, error));
  if (path == "/ws/worker") {
    beast::error_code ec;
    const asio::ip::address address = stream_.socket().remote_endpoint(ec).address();
    double retry_after_s = 0;
    if (!ec && !state_->admit_worker_connect(address, retry_after_s)) {
      const std::string retry_after = std::to_string(static_cast<long>(std::ceil(retry_after_s)));
      auto response = closing_error(
          http::status::too_many_requests,
          "too many new worker connections from " + address.to_string() + ": at most " +
              std::to_string(state_->config().worker_connects_per_s) + " a second (--max-worker-connects-per-s), " +
              std::to_string(state_->config().worker_connect_burst) + " at once (--worker-connect-burst); retry after " +
              retry_after + " s");
      response.set(http::field::retry_after, retry_after);
      return send(std::move(response));
    }
  }
  // The session takes the socket; this HttpSession ends when the last handler lets go of it.
  if (path == "/ws/worker")
    std::make_shared<WorkerSession>(stream_.release_socket(), state_)->run(parser_->release());
  else
    std::make_shared<ClientSession>(stream_.release_socket(), state_)->run(parser_->release());
}

void HttpSession::send(HttpResponse response, bool linger) {
  linger_ = linger;
  std::visit(
      [this](auto& message) {
        using Message = std::decay_t<decltype(message)>;
        auto owned = std::make_shared<Message>(std::move(message));
        response_ = owned;
        http::async_write(stream_, *owned,
                          beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), owned->keep_alive()));
      },
      response);
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (ec) return fail(ec, "http write");
  response_.reset();
  if (!keep_alive) return linger_ ? do_linger() : do_close();
  do_read();
}

void HttpSession::do_linger() {
  do_close();
  buffer_.clear();
  stream_.expires_after(kLingerTime);
  on_drain({}, 0);
}

void HttpSession::on_drain(beast::error_code ec, std::size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ > kLingerBytes) return;  // the socket closes with the session
  stream_.async_read_some(buffer_.prepare(64 * 1024),
                          beast::bind_front_handler(&HttpSession::on_drain, shared_from_this()));
}

void HttpSession::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace corvid::server
