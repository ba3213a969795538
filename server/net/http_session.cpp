#include "server/net/http_session.hpp"

#include <chrono>

#include "server/net/client_session.hpp"
#include "server/net/server_state.hpp"
#include "server/net/worker_session.hpp"

namespace corvid::server {
namespace {

constexpr std::chrono::seconds kRequestTimeout{30};
constexpr std::size_t kMaxRequestBodyBytes = 64 * 1024;  // only GET and upgrades are served

}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)), state_(std::move(state)) {}

void HttpSession::run() { do_read(); }

void HttpSession::do_read() {
  parser_.emplace();
  parser_->body_limit(kMaxRequestBodyBytes);
  stream_.expires_after(kRequestTimeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) return do_close();
  if (ec) return fail(ec, "http read");
  if (websocket::is_upgrade(parser_->get())) return upgrade();
  send(handle_request(*state_, parser_->get()));
}

void HttpSession::upgrade() {
  const HttpRequest& request = parser_->get();
  std::string_view path = target_path(request.target());
  std::string error;
  if (!state_->running())
    error = "the server is shutting down";
  else if (path != "/ws/worker" && path != "/ws/client")
    error = "no WebSocket endpoint at " + std::string(path) + ": workers use /ws/worker, developers /ws/client";
  if (!error.empty()) {
    http::response<http::string_body> response{
        state_->running() ? http::status::not_found : http::status::service_unavailable, request.version()};
    response.set(http::field::server, "corvid-server");
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.keep_alive(false);
    response.body() = error + "\n";
    response.prepare_payload();
    return send(std::move(response));
  }
  // The session takes the socket; this HttpSession ends when the last handler lets go of it.
  if (path == "/ws/worker")
    std::make_shared<WorkerSession>(stream_.release_socket(), state_)->run(parser_->release());
  else
    std::make_shared<ClientSession>(stream_.release_socket(), state_)->run(parser_->release());
}

void HttpSession::send(HttpResponse response) {
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
  if (!keep_alive) return do_close();
  do_read();
}

void HttpSession::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace corvid::server
