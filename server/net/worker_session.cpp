#include "server/net/worker_session.hpp"

#include <iostream>

#include "server/net/server_state.hpp"

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
  hello_completed();
  const std::string name = hello.name;
  id_ = state().add_worker(shared_from_this(), std::move(hello));
  std::cerr << "corvid-server: worker " << *id_ << " '" << name << "' connected from " << remote() << "\n";
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
