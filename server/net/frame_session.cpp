#include "server/net/frame_session.hpp"

#include <algorithm>
#include <iostream>
#include <optional>

#include "server/net/server_state.hpp"

namespace corvid::server {
namespace {

// Bytes appended to the read buffer per read at most: a frame header may announce any length,
// so memory follows what arrives, never what is announced.
constexpr std::size_t kReadChunkBytes = 4u << 20;
// After a message larger than this, the read buffer gives its memory back.
constexpr std::size_t kKeptReadBufferBytes = 16u << 20;
// A WebSocket close reason may hold at most 123 bytes.
constexpr std::size_t kMaxCloseReasonBytes = 123;

}  // namespace

FrameSession::FrameSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : ws_(std::move(socket)), state_(std::move(state)), hello_timer_(ws_.get_executor()) {
  beast::error_code ec;
  auto endpoint = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
  remote_ = ec ? std::string("unknown peer") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

void FrameSession::run(http::request<http::string_body> request) {
  beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timeouts take over
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(http::field::server, "corvid-server"); }));
  // The frame cap is enforced in on_read, which drains an oversized message and answers it with
  // an error. (Beast's own limit closes with 1009 but, in 1.74, resets the connection before the
  // peer can read that close, so the peer would learn nothing.)
  ws_.read_message_max(0);
  // Larger frames on the wire: measured here, 4 MB messages go ~1.7x faster than with 4 KB.
  ws_.write_buffer_bytes(1u << 20);
  ws_.binary(true);
  ws_.async_accept(request, beast::bind_front_handler(&FrameSession::on_accept, shared_from_this()));
}

void FrameSession::on_accept(beast::error_code ec) {
  if (ec) return fail(ec, "websocket handshake");
  hello_timer_.expires_after(state_->config().hello_timeout);
  hello_timer_.async_wait(beast::bind_front_handler(&FrameSession::on_hello_deadline, shared_from_this()));
  do_read();
}

void FrameSession::on_hello_deadline(beast::error_code ec) {
  if (ec || hello_done_ || closing_) return;  // cancelled: the hello came, or the connection ended
  std::string error = "no hello within " + std::to_string(state_->config().hello_timeout.count()) +
                      " ms of the WebSocket handshake (--hello-timeout-ms)";
  send_error(error);
  close(websocket::close_code::policy_error, error);
}

void FrameSession::hello_completed() {
  hello_done_ = true;
  hello_timer_.cancel();
}

std::size_t FrameSession::max_message_bytes() const {
  return hello_done_ ? state_->config().max_frame_bytes
                     : std::min(kMaxHelloMessageBytes, state_->config().max_frame_bytes);
}

void FrameSession::do_read() {
  ws_.async_read_some(buffer_, std::min(ws_.read_size_hint(buffer_), kReadChunkBytes),
                      beast::bind_front_handler(&FrameSession::on_read, shared_from_this()));
}

void FrameSession::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (!closing_) fail(ec, "websocket read");  // after a close or an abort the error says nothing new
    ended_ = true;
    closing_ = true;
    hello_timer_.cancel();
    // Queued frames will never go out; the one being written must live until its handler runs.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    waiting_bytes_ = 0;
    on_closed();
    return;
  }
  // Parts of a message accumulate in buffer_ until the message is done, unless it outgrows the cap.
  const std::size_t cap = max_message_bytes();
  if (dropped_bytes_ > 0 || buffer_.size() > cap) {
    dropped_bytes_ += buffer_.size();
    buffer_.clear();
  }
  if (!ws_.is_message_done()) return do_read();

  if (closing_) {  // the close handshake is under way: nothing more is dispatched
    dropped_bytes_ = 0;
    buffer_.clear();
    return do_read();
  }
  if (dropped_bytes_ > 0) {
    std::string error = "message of " + std::to_string(dropped_bytes_) + " bytes is larger than the server's cap of " +
                        std::to_string(cap) + " bytes" +
                        (hello_done_ ? " (--max-frame-mb)" : " for a message before the hello");
    dropped_bytes_ = 0;
    if (buffer_.capacity() > kKeptReadBufferBytes) buffer_.shrink_to_fit();
    on_bad_frame(error);
  } else if (!ws_.got_binary()) {
    buffer_.clear();
    on_bad_frame("text messages are not accepted: every message must be a binary frame (see docs/protocol.md)");
  } else {
    std::optional<Frame> frame;
    std::string error;
    try {
      frame = decode_frame(static_cast<const uint8_t*>(buffer_.data().data()), buffer_.size(), max_header_bytes());
    } catch (const std::exception& e) {  // WireError by contract; anything else is malformed input too
      error = e.what();
    }
    buffer_.clear();
    if (buffer_.capacity() > kKeptReadBufferBytes) buffer_.shrink_to_fit();
    if (frame)
      on_frame(std::move(*frame));
    else
      on_bad_frame("malformed frame: " + error);
  }
  do_read();
}

void FrameSession::send(std::vector<uint8_t> bytes) {
  if (closing_) return;
  waiting_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  if (!writing_) do_write();
  const std::size_t budget = state_->config().max_frame_bytes + kSendQueueSlackBytes;
  if (waiting_bytes_ > budget)
    abort("it is not reading: " + std::to_string(waiting_bytes_) + " bytes of frames wait to be sent, over the budget of " +
          std::to_string(budget) + " bytes (--max-frame-mb + 64 MiB)");
}

void FrameSession::abort(const std::string& why) {
  std::cerr << "corvid-server: dropping the connection of " << remote_ << ": " << why << "\n";
  closing_ = true;
  // The frame being written must live until its handler runs; the others go now.
  queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
  waiting_bytes_ = 0;
  beast::get_lowest_layer(ws_).close();  // the pending (or next) read fails and ends the session
}

void FrameSession::send_error(const std::string& error) {
  send(encode_frame(protocol::encode(protocol::ErrorReply{nullptr, "", error})));
}

void FrameSession::close(websocket::close_code code, const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = websocket::close_reason(code, reason.substr(0, kMaxCloseReasonBytes));
  // A peer that does not read would hold the queued frames (and the socket) forever: past the
  // grace period the connection is dropped. The hello timer is free for this once closing.
  hello_timer_.expires_after(kCloseGrace);
  hello_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && !self->ended_)
      self->abort("it did not take the close within " + std::to_string(kCloseGrace.count()) + " ms (not reading)");
  });
  if (!writing_) do_close();
}

bool FrameSession::accept_hello(const Frame& frame) {
  const std::string type = protocol::type_of(frame);
  if (type != protocol::WorkerHello::kType) {
    note_bad_message("the first message must be a hello, not '" + type + "'");
    return false;
  }
  const std::string error = protocol::hello_version_problem(frame);
  if (error.empty()) return true;
  send_error(error);
  close(websocket::close_code::policy_error, error);
  return false;
}

void FrameSession::note_bad_message(const std::string& error) {
  send_error(error);
  if (++bad_messages_ >= kMaxBadMessages)
    close(websocket::close_code::policy_error, "too many malformed messages (" + std::to_string(bad_messages_) + ")");
}

void FrameSession::do_write() {
  writing_ = true;
  waiting_bytes_ -= queue_.front().size();
  ws_.async_write(asio::buffer(queue_.front()),
                  beast::bind_front_handler(&FrameSession::on_write, shared_from_this()));
}

void FrameSession::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ended_) return;
  if (ec) {
    fail(ec, "websocket write");
    queue_.clear();
    waiting_bytes_ = 0;
    closing_ = true;
    beast::get_lowest_layer(ws_).close();  // the pending read fails and ends the session
    return;
  }
  queue_.pop_front();
  if (!queue_.empty()) return do_write();
  if (closing_) do_close();
}

void FrameSession::do_close() {
  ws_.async_close(close_reason_, beast::bind_front_handler(&FrameSession::on_close, shared_from_this()));
}

void FrameSession::on_close(beast::error_code ec) {
  if (ec) fail(ec, "websocket close");
}

}  // namespace corvid::server
