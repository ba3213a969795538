#include "server/net/listener.hpp"

#include <iostream>
#include <stdexcept>
#include <string>

#include "server/net/http_session.hpp"

namespace corvid::server {

Listener::Listener(asio::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<ServerState> state)
    : ioc_(ioc), acceptor_(ioc), pause_timer_(ioc), state_(std::move(state)) {
  auto check = [&](beast::error_code ec, const char* step) {
    if (ec)
      throw std::runtime_error(std::string("cannot listen on ") + endpoint.address().to_string() + ":" +
                               std::to_string(endpoint.port()) + " (" + step + "): " + ec.message());
  };
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  check(ec, "open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  check(ec, "reuse_address");
  acceptor_.bind(endpoint, ec);
  check(ec, "bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  check(ec, "listen");
}

void Listener::run() { do_accept(); }

void Listener::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
  pause_timer_.cancel();
}

tcp::endpoint Listener::local_endpoint() const { return acceptor_.local_endpoint(); }

void Listener::do_accept() {
  acceptor_.async_accept(ioc_, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;  // stopped
  if (ec) {
    if (note_accept_failure(ec)) {
      // The connection stays in the backlog; accepting again at once would fail the same way.
      pause_timer_.expires_after(kAcceptPause);
      pause_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && self->acceptor_.is_open()) self->do_accept();
      });
      return;
    }
  } else {
    beast::error_code ignored;
    // Without TCP_NODELAY, 64 KB messages stall for tens of milliseconds (measured on loopback).
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<HttpSession>(std::move(socket), state_)->run();
  }
  if (acceptor_.is_open()) do_accept();
}

bool Listener::note_accept_failure(beast::error_code ec) {
  const bool out_of_resources = ec == asio::error::no_descriptors ||
                                ec == beast::errc::too_many_files_open_in_system ||
                                ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
  ++failures_unlogged_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_failure_log_ >= kAcceptLogInterval) {
    std::cerr << "corvid-server: accept failed: " << ec.message() << " (" << failures_unlogged_
              << " failure(s) since the last such line";
    if (out_of_resources) std::cerr << "; accepting pauses " << kAcceptPause.count() << " ms after each";
    std::cerr << ")\n";
    last_failure_log_ = now;
    failures_unlogged_ = 0;
  }
  return out_of_resources;
}

}  // namespace corvid::server
