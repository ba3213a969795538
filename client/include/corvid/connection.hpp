// A developer's connection to /ws/client: synchronous Beast WebSocket, token hello, and
// requests that survive a server restart or loss (reconnect with backoff, to the next of its
// servers when it has several, then send the request again).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "corvid/server_url.hpp"
#include "shared/protocol.hpp"
#include "shared/wire.hpp"

namespace corvid {

// The server could not be reached (one line, for people: "cannot reach the Corvid server at ...").
class ServerUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server refused a request. op_id() names the op to blame when there is one.
class ServerError : public std::runtime_error {
 public:
  // The message is prefixed with "op '<id>': " unless the server already wrote it that way.
  ServerError(std::string op_id, const std::string& message)
      : std::runtime_error(op_id.empty() || message.rfind("op '" + op_id + "'", 0) == 0 ? message
                                                                                     : "op '" + op_id + "': " + message),
        op_id_(std::move(op_id)) {}
  const std::string& op_id() const { return op_id_; }

 private:
  std::string op_id_;
};

// A request did not complete before its deadline, or was interrupted; the connection was dropped
// (the next request reconnects).
class RequestStopped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The developer token: CORVID_TOKEN, else the file token in $CORVID_DATA_DIR, else
// ./corvid-data/token. Returns nullopt when none is found.
std::optional<std::string> find_token();
// What to tell a developer when find_token() finds none: "no developer token: set ...".
extern const char* const kNoTokenMessage;

// No developer token was given or found; what() is kNoTokenMessage. A ServerError, as the
// library has always reported it, so programs that catch ServerError keep working.
class NoToken : public ServerError {
 public:
  NoToken() : ServerError("", kNoTokenMessage) {}
};
// `given` when set, else find_token(); throws NoToken when there is none.
std::string require_token(const std::optional<std::string>& given = std::nullopt);
// The owner name a developer connection shows on the status page: $USER, else `fallback`.
std::string user_name(const std::string& fallback);

struct ConnectionOptions {
  // The servers to try, in order (at least one): a connection goes to the first that answers, and
  // after a drop to the next (parse_server_list).
  std::vector<ServerUrl> servers;
  std::string token;
  std::string name;  // shown as the graph owner
  // How long a lost connection is retried (with backoff from 100 ms to 2 s) before giving up.
  std::chrono::milliseconds reconnect_window{120000};
  // How long a request whose graph's owner (named by a `redirect` answer) cannot be reached keeps
  // failing over through the known servers, with backoff, until one answers for the graph: 3 x the
  // server's default --lease-ms (10 s), as another server adopts a dead owner's graphs within
  // about 1.33 x the lease.
  std::chrono::milliseconds owner_search_window{30000};
  std::size_t max_frame_bytes = 1024u << 20;
};

// One developer session. Not thread-safe: use from one thread.
class Connection {
 public:
  explicit Connection(ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects and says hello if not connected yet, trying each server once from the current
  // one. Throws ServerUnreachable naming every address tried (and why) when none can be
  // reached, ServerError when one refuses the hello (bad token).
  void ensure_connected();

  // Sends `request` (its header gets a fresh request_id) and hands every frame that comes back to
  // `on_frame` (which may move its tensors out) until it returns true. An `error` frame for this request throws ServerError. If
  // the connection drops, reconnects with backoff (within reconnect_window) and sends the request
  // again, so a request must be safe to repeat (wait, end, cancel) or be handled by `on_resend`,
  // which is called before a repeat and may return false to give up (ServerUnreachable). A drop
  // fails over to the next server; an error from a server the request failed over to says so
  // (that server may not know the request's graph). An `error` naming the graph's owner
  // (`redirect`, several servers on one store) is followed: the request goes to that server
  // (added to the known ones) and is sent again, at most RedirectChain::kMaxRedirects times
  // (then ServerError naming the chain); a redirect that is not a ws:// server address throws
  // ServerError. When the owner named cannot be reached, the request fails over through the
  // known servers with backoff until one answers for the graph, for at most owner_search_window
  // (then ServerUnreachable).
  // With a deadline, or after interrupt(), throws RequestStopped when it passes. Returns the
  // request_id used last.
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  uint64_t request(Frame request, const std::function<bool(Frame&)>& on_frame,
                   const std::function<bool()>& on_resend = {}, Deadline deadline = std::nullopt);

  // Makes a request() blocked in another thread stop with RequestStopped. Thread-safe.
  void interrupt();
  // Forgets an interrupt() that arrived after the request it was meant for had finished. Call
  // from the thread that makes requests.
  void clear_interrupt();

  // Sends a frame without waiting for an answer (e.g. cancel while streaming). Throws
  // ServerUnreachable if the connection is down.
  void send(const Frame& frame);

  // Closes the connection politely (further calls reconnect).
  void close();

  const ConnectionOptions& options() const { return options_; }
  // The server connected to, or the one tried next.
  const ServerUrl& server() const { return options_.servers.at(current_); }

 private:
  struct Socket;  // the io_context and WebSocket of one connection
  // Connects to server() and says hello.
  void connect_once();
  // connect_once() to each server in turn from server(), once; the error names every address.
  void connect_any();
  Frame read_frame(Deadline deadline = std::nullopt);
  // When the owner a redirect named cannot be reached: the time the search for a server that
  // answers for the graph gives up, and the next pause between tries.
  struct OwnerSearch {
    std::optional<std::chrono::steady_clock::time_point> ends;
    std::chrono::milliseconds backoff{100};
  };
  // Connects to the server `url` names for the request that got `error` (follows `chain`), or,
  // when it cannot be reached, to another known server after a pause (`search`). Throws as
  // request() documents.
  void follow_redirect(const std::string& url, const std::string& error, RedirectChain& chain, OwnerSearch& search,
                       Deadline deadline);
  void drop();

  ConnectionOptions options_;
  std::unique_ptr<Socket> socket_;  // replaced only by the requesting thread, under socket_mutex_
  std::mutex socket_mutex_;         // lets interrupt() reach the socket from another thread
  std::size_t current_ = 0;  // index of server() in options_.servers
  uint64_t next_request_id_ = 1;
  std::atomic<bool> interrupted_{false};
};

}  // namespace corvid
