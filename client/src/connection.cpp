#include "corvid/connection.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdlib>
#include <fstream>
#include <thread>

namespace corvid {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {
std::optional<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string token;
  in >> token;
  if (token.empty()) return std::nullopt;
  return token;
}
}  // namespace

std::optional<std::string> find_token() {
  if (const char* env = std::getenv("CORVID_TOKEN"); env && *env) return std::string(env);
  if (const char* dir = std::getenv("CORVID_DATA_DIR"); dir && *dir)
    if (auto t = read_token_file(std::string(dir) + "/token")) return t;
  return read_token_file("corvid-data/token");
}

const char* const kNoTokenMessage =
    "no developer token: set CORVID_TOKEN, or CORVID_DATA_DIR to the server's data directory "
    "(the token is in <data dir>/token)";

std::string require_token(const std::optional<std::string>& given) {
  if (given) return *given;
  if (auto token = find_token()) return *token;
  throw NoToken();
}

std::string user_name(const std::string& fallback) {
  const char* user = std::getenv("USER");
  return user && *user ? user : fallback;
}

// One connection: its own io_context (reads run it with a deadline) and WebSocket stream.
struct Connection::Socket {
  net::io_context io;
  websocket::stream<tcp::socket> ws{io};
  beast::flat_buffer buffer;
};

Connection::Connection(ConnectionOptions options) : options_(std::move(options)) {}

Connection::~Connection() { close(); }

namespace {
// Runs the asynchronous operation `start` launched on s.io for at most `limit`; returns its
// error, or timed_out after cancelling it.
template <class Start>
beast::error_code run_bounded(net::io_context& io, tcp::socket& socket, std::chrono::milliseconds limit, Start start) {
  beast::error_code result;
  bool done = false;
  start([&](const beast::error_code& ec) {
    result = ec;
    done = true;
  });
  io.restart();
  io.run_for(limit);
  if (!done) {
    beast::error_code ignored;
    socket.cancel(ignored);
    io.restart();
    io.run();
    return net::error::timed_out;
  }
  return result;
}
constexpr std::chrono::milliseconds kConnectLimit{5000};
constexpr std::chrono::milliseconds kCloseLimit{1000};
}  // namespace

void Connection::close() {
  if (!socket_) return;
  // A polite close, but never waiting long for a server that does not answer.
  Socket& s = *socket_;
  run_bounded(s.io, s.ws.next_layer(), kCloseLimit, [&](auto done) {
    s.ws.async_close(websocket::close_code::normal, [done](const beast::error_code& ec) { done(ec); });
  });
  std::lock_guard<std::mutex> lock(socket_mutex_);
  socket_.reset();
}

void Connection::drop() {
  std::lock_guard<std::mutex> lock(socket_mutex_);
  socket_.reset();
}

void Connection::connect_once() {
  auto s = std::make_unique<Socket>();
  const ServerUrl& server = this->server();
  const std::string where = server.text();
  auto unreachable = [&](const std::string& why) {
    return ServerUnreachable("cannot reach the Corvid server at " + where + " (" + why + ")");
  };
  tcp::resolver resolver(s->io);
  beast::error_code ec;
  auto results = resolver.resolve(server.host, server.port, ec);
  if (ec) throw unreachable("cannot resolve " + server.host + ": " + ec.message());
  ec = run_bounded(s->io, s->ws.next_layer(), kConnectLimit, [&](auto done) {
    net::async_connect(s->ws.next_layer(), results,
                       [done](const beast::error_code& e, const tcp::endpoint&) { done(e); });
  });
  if (ec) throw unreachable("connect: " + ec.message());
  s->ws.next_layer().set_option(tcp::no_delay(true));
  s->ws.read_message_max(options_.max_frame_bytes);
  s->ws.binary(true);
  ec = run_bounded(s->io, s->ws.next_layer(), kConnectLimit, [&](auto done) {
    s->ws.async_handshake(server.authority(), "/ws/client", [done](const beast::error_code& e) { done(e); });
  });
  if (ec) throw unreachable("WebSocket handshake: " + ec.message());
  {
    std::lock_guard<std::mutex> lock(socket_mutex_);
    socket_ = std::move(s);
  }
  try {
    send(protocol::encode(protocol::ClientHello{kProtocolVersion, options_.token, options_.name}));
    for (;;) {
      Frame reply = read_frame(std::chrono::steady_clock::now() + kConnectLimit);
      const std::string type = protocol::type_of(reply);
      if (type == protocol::ClientWelcome::kType) return;
      if (type == protocol::ErrorReply::kType) {
        drop();
        throw ServerError("", "the server refused the connection: " +
                                  protocol::decode<protocol::ErrorReply>(std::move(reply)).error);
      }
    }
  } catch (const beast::system_error& e) {
    drop();
    throw unreachable(e.code().message());
  } catch (const RequestStopped&) {
    throw unreachable("no welcome from the server");
  } catch (const WireError& e) {
    drop();
    throw ServerError("", std::string("the server sent a frame that does not decode: ") + e.what());
  }
}

void Connection::connect_any() {
  if (options_.servers.empty()) throw std::invalid_argument("corvid: ConnectionOptions::servers is empty");
  if (options_.servers.size() == 1) return connect_once();
  std::string tried;
  for (std::size_t attempt = 0; attempt < options_.servers.size(); ++attempt) {
    try {
      return connect_once();
    } catch (const ServerUnreachable& e) {
      tried += (tried.empty() ? "" : "; ") + std::string(e.what());
      current_ = (current_ + 1) % options_.servers.size();
    }
  }
  throw ServerUnreachable("cannot reach any of the Corvid servers " + server_list_text(options_.servers) + ": " + tried);
}

void Connection::ensure_connected() {
  if (!socket_) connect_any();
}

void Connection::send(const Frame& frame) {
  if (!socket_) throw ServerUnreachable("not connected to the Corvid server at " + server().text());
  const auto bytes = encode_frame(frame);
  socket_->ws.write(net::buffer(bytes));  // throws beast::system_error when the connection is gone
}

Frame Connection::read_frame(Deadline deadline) {
  Socket& s = *socket_;
  if (interrupted_.exchange(false)) {
    drop();
    throw RequestStopped("interrupted");
  }
  s.buffer.clear();
  bool done = false;
  beast::error_code ec;
  s.ws.async_read(s.buffer, [&](const beast::error_code& e, std::size_t) {
    ec = e;
    done = true;
  });
  s.io.restart();
  if (deadline) s.io.run_until(*deadline);
  else s.io.run();
  if (!done) {
    // Deadline passed: abandon the read; a websocket stream is unusable after that.
    beast::error_code ignored;
    s.ws.next_layer().cancel(ignored);
    s.io.restart();
    s.io.run();
    drop();
    throw RequestStopped("no answer from the server before the deadline");
  }
  if (ec == net::error::operation_aborted && interrupted_) {
    drop();
    interrupted_ = false;
    throw RequestStopped("interrupted");
  }
  if (ec) throw beast::system_error(ec);
  const auto data = s.buffer.data();
  return decode_frame(static_cast<const uint8_t*>(data.data()), data.size());
}

void Connection::clear_interrupt() {
  interrupted_ = false;
  if (socket_) {
    // Run the socket cancel the interrupt posted, while no read is pending.
    socket_->io.restart();
    socket_->io.poll();
  }
}

void Connection::interrupt() {
  interrupted_ = true;
  std::lock_guard<std::mutex> lock(socket_mutex_);
  if (socket_) {
    Socket* s = socket_.get();
    net::post(s->io, [s] {
      beast::error_code ignored;
      s->ws.next_layer().cancel(ignored);
    });
  }
}

void Connection::follow_redirect(const std::string& url, const std::string& error, RedirectChain& chain,
                                 OwnerSearch& search, Deadline deadline) {
  ServerUrl owner;
  try {
    owner = parse_redirect_url(url);
  } catch (const std::invalid_argument& e) {
    throw ServerError("", error + " (cannot follow: " + e.what() + ")");
  }
  const auto index = add_server(options_.servers, owner);
  if (!index)
    throw ServerError("", error + " (cannot follow: the library keeps at most " + std::to_string(kMaxServerUrls) +
                              " server addresses)");
  close();
  current_ = *index;
  std::string last;
  try {
    connect_once();
    try {
      chain.follow(owner);
    } catch (const std::length_error& e) {
      throw ServerError("", error + " (" + e.what() + ")");
    }
    return;
  } catch (const ServerUnreachable& e) {
    last = e.what();
  }
  // The owner is gone (killed or stalled: another server adopts its graphs once its lease
  // expires): try the known servers with backoff; the one that answers next says who owns it now.
  const auto now = std::chrono::steady_clock::now();
  if (!search.ends) search.ends = now + options_.owner_search_window;
  current_ = (current_ + 1) % options_.servers.size();
  for (;;) {
    if (interrupted_.exchange(false)) throw RequestStopped("interrupted");
    if (deadline && std::chrono::steady_clock::now() >= *deadline)
      throw RequestStopped("no answer from the server before the deadline");
    if (std::chrono::steady_clock::now() >= *search.ends)
      throw ServerUnreachable(error + ", which cannot be reached, and no other server took the graph over within " +
                              std::to_string(options_.owner_search_window.count() / 1000) + " s (" + last + ")");
    std::this_thread::sleep_for(search.backoff);
    search.backoff = std::min(search.backoff * 2, std::chrono::milliseconds(2000));
    try {
      return connect_any();
    } catch (const ServerUnreachable& u) {
      last = u.what();
    }
  }
}

uint64_t Connection::request(Frame request, const std::function<bool(Frame&)>& on_frame,
                             const std::function<bool()>& on_resend, Deadline deadline) {
  ensure_connected();
  const uint64_t id = next_request_id_++;
  request.header["request_id"] = id;
  std::optional<std::string> failed_over_from;  // the server that dropped, once one did
  RedirectChain redirects(server());
  OwnerSearch owner_search;
  bool dropped = false;
  for (;;) {
    try {
      if (dropped && on_resend && !on_resend())
        throw ServerUnreachable("lost the connection to " + server().text());
      dropped = false;
      send(request);
      for (;;) {
        Frame frame = read_frame(deadline);
        const auto& h = frame.header;
        // Answers to earlier requests (a stream abandoned midway) are not this request's.
        if (h.contains("request_id") && !(h["request_id"].is_number() && h["request_id"] == id)) continue;
        if (protocol::type_of(frame) == protocol::ErrorReply::kType) {
          const std::string redirect = h.contains("redirect") && h["redirect"].is_string()
                                           ? h["redirect"].get<std::string>()
                                           : std::string();
          auto error = protocol::decode<protocol::ErrorReply>(std::move(frame));
          if (!redirect.empty()) {
            // Another server owns the graph: ask it (the loop sends the request again).
            follow_redirect(redirect, error.error, redirects, owner_search, deadline);
            break;
          }
          if (failed_over_from && *failed_over_from != server().text())
            error.error += " (from " + server().text() + ", which this request failed over to when " +
                           *failed_over_from +
                           " dropped: a graph lives on the server it was submitted to, unless the servers share "
                           "a PostgreSQL store)";
          throw ServerError(error.op_id, error.error);
        }
        if (on_frame(frame)) return id;
      }
    } catch (const beast::system_error& e) {
      // The connection dropped (server restarted or gone?): reconnect with backoff, to the next
      // server when there are several, and ask again.
      drop();
      dropped = true;
      const std::string dropped_server = server().text();
      if (!failed_over_from) failed_over_from = dropped_server;
      current_ = (current_ + 1) % options_.servers.size();
      auto give_up = std::chrono::steady_clock::now() + options_.reconnect_window;
      if (deadline && *deadline < give_up) give_up = *deadline;
      std::chrono::milliseconds backoff{100};
      std::string last = e.code().message();
      for (;;) {
        if (deadline && std::chrono::steady_clock::now() >= *deadline)
          throw RequestStopped("no answer from the server before the deadline");
        if (std::chrono::steady_clock::now() >= give_up)
          throw ServerUnreachable("lost the connection to the Corvid server at " + dropped_server +
                                  " and could not reconnect (" + last + ")");
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        try {
          connect_any();
          break;
        } catch (const ServerUnreachable& u) {
          last = u.what();
        }
      }
    } catch (const WireError& e) {
      drop();
      throw ServerError("", std::string("the server sent a frame that does not decode: ") + e.what());
    }
  }
}

}  // namespace corvid
