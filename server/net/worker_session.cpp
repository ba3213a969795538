#include "server/net/worker_session.hpp"

#include <iostream>

#include "server/net/server_state.hpp"
#include "server/net/token.hpp"

namespace corvid::server {

void WorkerSession::on_frame(Frame frame) {
  if (id_) return state().worker_message(*id_, std::move(frame));
  if (!accept_hello(frame)) return;
  protocol::WorkerHello hello;
  try {
    hello = protocol::decode<protocol::WorkerHello>(std::move(frame));
  } catch (const protocol::ProtocolError& e) {  // e.g. a device id or slot out of its limits
    send_error(e.what());
    close(websocket::close_code::policy_error, e.what());
    return;
  }
  // A worker token is optional; one that is presented must be the operator's (a typo is said, not
  // silently taken for an untrusted worker).
  const bool operator_credential = !hello.worker_token.empty();
  if (operator_credential && !token_matches(hello.worker_token, state().config().worker_token)) {
    send_error("invalid worker_token: a trusted worker needs the token from the file 'worker-token' in the server's "
               "data directory (corvid-worker --worker-token FILE, or CORVID_WORKER_TOKEN); without one it "
               "connects untrusted");
    return close(websocket::close_code::policy_error, "invalid worker token");
  }
  hello.worker_token.clear();  // the core never sees the secret
  hello_completed();
  const std::string name = hello.name;
  id_ = state().add_worker(shared_from_this(), std::move(hello), operator_credential);
  std::cerr << "corvid-server: worker " << *id_ << " '" << name << "' connected from " << remote()
            << (operator_credential ? " (worker token: trusted)" : "") << "\n";
}

void WorkerSession::on_bad_frame(const std::string& error) {
  if (!id_) return note_bad_message(error);
  // After the hello the Coordinator counts abuse (with its own protocol errors) and closes.
  send_error(error);
  state().worker_malformed(*id_, error);
}

void WorkerSession::on_closed() {
  if (!id_) return;
  std::cerr << "corvid-server: worker " << *id_ << " disconnected\n";
  state().remove_worker(*id_);
}

}  // namespace corvid::server
