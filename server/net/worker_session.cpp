#include "server/net/worker_session.hpp"

#include <cmath>
#include <iostream>
#include <sstream>

#include "server/net/server_state.hpp"

namespace corvid::server {

void WorkerSession::on_frame(Frame frame) {
  if (id_) return state().worker_message(*id_, std::move(frame));
  if (!accept_hello(frame.header)) return;
  hello_completed();
  id_ = state().add_worker(shared_from_this(), frame.header);
  std::cerr << "corvid-server: worker " << *id_ << " '" << string_field(frame.header, "name") << "' connected from "
            << remote() << "\n";
}

std::optional<http::response<http::string_body>> WorkerSession::refuse_upgrade() {
  double retry_after_s = 0;
  if (state().admit_worker_connect(remote_address(), retry_after_s)) return std::nullopt;
  http::response<http::string_body> response{http::status::too_many_requests, 11};
  response.set(http::field::retry_after, std::to_string(static_cast<long>(std::ceil(retry_after_s))));
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  std::ostringstream body;
  body << "too many new worker connections from " << remote_address().to_string() << ": at most "
       << state().config().worker_connects_per_s << " a second (--max-worker-connects-per-s), "
       << state().config().worker_connect_burst << " at once (--worker-connect-burst); retry after "
       << response[http::field::retry_after] << " s\n";
  response.body() = body.str();
  return response;
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
