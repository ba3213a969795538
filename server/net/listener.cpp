#include "server/net/listener.hpp"

#include <stdexcept>
#include <string>

#include "server/net/http_session.hpp"

namespace corvid::server {

Listener::Listener(asio::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<ServerState> state)
    : ioc_(ioc), acceptor_(ioc), state_(std::move(state)) {
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
}

tcp::endpoint Listener::local_endpoint() const { return acceptor_.local_endpoint(); }

void Listener::do_accept() {
  acceptor_.async_accept(ioc_, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;  // stopped
  if (ec) {
    fail(ec, "accept");  // e.g. out of file descriptors: this connection is lost, later ones may not be
  } else {
    beast::error_code ignored;
    // Without TCP_NODELAY, 64 KB messages stall for tens of milliseconds (measured on loopback).
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<HttpSession>(std::move(socket), state_)->run();
  }
  if (acceptor_.is_open()) do_accept();
}

}  // namespace corvid::server
