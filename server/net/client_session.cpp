#include "server/net/client_session.hpp"

#include <iostream>

#include "server/net/server_state.hpp"
#include "server/net/token.hpp"

namespace corvid::server {

void ClientSession::on_frame(Frame frame) {
  if (id_) return state().client_message(*id_, std::move(frame));
  if (!accept_hello(frame.header)) return;
  if (!token_matches(string_field(frame.header, "token"), state().config().token)) {
    send_error("invalid token: developers need the token from the file 'token' in the server's data directory "
               "(libcorvid and corvid read it, or CORVID_TOKEN)");
    return close(websocket::close_code::policy_error, "invalid token");
  }
  hello_completed();
  std::string owner = string_field(frame.header, "name");
  id_ = state().add_client(shared_from_this(), owner);
  std::cerr << "corvid-server: client " << *id_ << " '" << owner << "' connected from " << remote() << "\n";
}

void ClientSession::on_bad_frame(const std::string& error) { note_bad_message(error); }

void ClientSession::on_closed() {
  if (!id_) return;
  std::cerr << "corvid-server: client " << *id_ << " disconnected\n";
  state().remove_client(*id_);
}

}  // namespace corvid::server
