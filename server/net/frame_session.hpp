// A WebSocket connection that speaks Corvid frames (docs/protocol.md): binary messages read one
// at a time (at most the message cap is kept: kMaxHelloMessageBytes before the hello, the frame
// cap after it; a longer message is drained and answered with an error) and decoded with the
// shared codec, replies written through a single-writer queue of bounded size. A connection that
// has not completed its hello by the hello deadline is closed.
// WorkerSession and ClientSession derive from it and decide what a decoded frame means.
// Not thread-safe: everything runs on the server's one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/net/common.hpp"
#include "shared/protocol.hpp"
#include "shared/wire.hpp"

namespace corvid::server {

class ServerState;

class FrameSession : public std::enable_shared_from_this<FrameSession> {
 public:
  FrameSession(tcp::socket&& socket, std::shared_ptr<ServerState> state);
  virtual ~FrameSession() = default;
  FrameSession(const FrameSession&) = delete;
  FrameSession& operator=(const FrameSession&) = delete;

  // Largest message a connection may send before its hello completes: a hello is tiny, but a
  // worker's lists the tensors it still keeps ("cached"): some 10,000 short names fit.
  static constexpr std::size_t kMaxHelloMessageBytes = 256u << 10;
  // Bytes of frames waiting behind the one being written that a connection may have, beyond the
  // frame cap; past frame cap + this, the peer is taken as not reading and the connection ends.
  static constexpr std::size_t kSendQueueSlackBytes = 64u << 20;

  // Completes the WebSocket handshake for `request` (the HTTP upgrade) and starts reading.
  void run(http::request<http::string_body> request);

  // Queues an encoded frame; frames go out in order. Dropped once the session is closing. If the
  // frames waiting behind the one being written pass the send budget (frame cap plus
  // kSendQueueSlackBytes), the peer is not reading: the connection is dropped, with one log line.
  void send(std::vector<uint8_t> bytes);
  // Queues an `error` message (shared/protocol.hpp ErrorReply) with this text.
  void send_error(const std::string& error);
  // Closes the connection with `code` and `reason` once the queued frames are written; a peer
  // that has not taken the close within kCloseGrace (it is not reading) is dropped.
  void close(websocket::close_code code, const std::string& reason);
  static constexpr std::chrono::milliseconds kCloseGrace{5000};

  // "1.2.3.4:5678", for logs.
  const std::string& remote() const { return remote_; }

 protected:
  // Malformed messages a connection may send before it is closed (docs/protocol.md).
  static constexpr int kMaxBadMessages = 5;

  // Whether `frame` is a hello of this server's protocol version. If not, it answers: a message
  // that is not a hello counts as a bad message; a wrong version gets an error and a close (1008).
  bool accept_hello(const Frame& frame);

  // Replies with `error` and counts it; the kMaxBadMessages-th closes the connection (1008).
  void note_bad_message(const std::string& error);
  // The hello succeeded: the hello deadline no longer applies and messages may reach the frame cap.
  void hello_completed();

  // The longest JSON header this endpoint accepts; a longer one is refused before it is parsed.
  virtual std::size_t max_header_bytes() const { return kMaxHeaderBytes; }

  // A frame that decoded. Called once per message, in order.
  virtual void on_frame(Frame frame) = 0;
  // A message that is not a frame (text, too large, or a decode error); `error` says why.
  virtual void on_bad_frame(const std::string& error) = 0;
  // The connection is over (closed by either side or failed). Called exactly once, and only if
  // the handshake succeeded; no callback follows it.
  virtual void on_closed() = 0;

  ServerState& state() { return *state_; }

 private:
  void on_accept(beast::error_code ec);
  void on_hello_deadline(beast::error_code ec);
  // The largest message kept now: kMaxHelloMessageBytes before the hello, the frame cap after.
  std::size_t max_message_bytes() const;
  // Drops the connection without a close handshake (the peer is not reading) and frees the queue.
  void abort(const std::string& why);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_close();
  void on_close(beast::error_code ec);

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<ServerState> state_;
  std::string remote_;
  asio::steady_timer hello_timer_;  // the hello deadline (handshake to hello_completed()), then the close grace
  bool hello_done_ = false;
  beast::flat_buffer buffer_;    // the message being read
  std::size_t dropped_bytes_ = 0;  // of a message over the message cap, which is drained, not kept
  std::deque<std::vector<uint8_t>> queue_;  // front() is being written while writing_
  std::size_t waiting_bytes_ = 0;           // in queue_, not counting the frame being written
  bool writing_ = false;
  bool closing_ = false;
  bool ended_ = false;
  int bad_messages_ = 0;
  websocket::close_reason close_reason_;
};

}  // namespace corvid::server
