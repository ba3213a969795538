#include "server/net/client_session.hpp"

#include <iostream>

#include "server/net/server_state.hpp"
#include "server/net/token.hpp"

namespace corvid::server {

void ClientSession::on_frame(Frame frame) {
  if (id_) return state().client_message(*id_, std::move(frame));
  if (!accept_hello(frame)) return;
  const auto hello = protocol::decode<protocol::ClientHello>(std::move(frame));
  if (!token_matches(hello.token, state().config().token)) {
    send_error("invalid token: developers need the token from the file 'token' in the server's data directory "
               "(libcorvid and corvid read it, or CORVID_TOKEN)");
    return close(websocket::close_code::policy_error, "invalid token");
  }
  hello_completed();
  id_ = state().add_client(shared_from_this(), hello.name);
  std::cerr << "corvid-server: client " << *id_ << " '" << hello.name << "' connected from " << remote() << "\n";
}

void ClientSession::on_bad_frame(const std::string& error) { note_bad_message(error); }

void ClientSession::on_closed() {
  if (!id_) return;
  std::cerr << "corvid-server: client " << *id_ << " disconnected\n";
  state().remove_client(*id_);
}

}  // namespace corvid::server
