// Where Corvid servers listen, parsed from the --server flag or CORVID_SERVER: one address, or a
// comma-separated list that clients fail over between.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace corvid {

// "ws://host:port" split into its parts. Plain value type.
struct ServerUrl {
  std::string host = "localhost";
  std::string port = "9999";

  // "host:port" for the WebSocket handshake's Host header and for messages.
  std::string authority() const { return host + ":" + port; }
  // "ws://host:port", as messages name a server.
  std::string text() const { return "ws://" + authority(); }
  bool operator==(const ServerUrl& other) const { return host == other.host && port == other.port; }
};

// Server addresses a client keeps at most (given ones, and those servers named).
inline constexpr std::size_t kMaxServerUrls = 64;

// Accepts "ws://host:port", "http://host:port", "host:port" or "host" (port 9999), with an
// optional trailing "/". Throws std::invalid_argument naming the text for anything else
// (wss://, a path, an empty host, a port that is not a number in 1..65535).
ServerUrl parse_server_url(const std::string& text);

// A comma-separated list of addresses, each as parse_server_url accepts it ("ws://a:1,ws://b:2"),
// in the order they are tried; a repeated address is kept once. Throws std::invalid_argument
// naming the entry that is bad or empty, or when there are more than kMaxServerUrls.
std::vector<ServerUrl> parse_server_list(const std::string& text);

// "ws://a:1, ws://b:2": the addresses for a message.
std::string server_list_text(const std::vector<ServerUrl>& servers);

// Adds `url` to `servers` unless it is there already or the list holds kMaxServerUrls; returns
// its index in the list, or nullopt when it was not added for want of room.
std::optional<std::size_t> add_server(std::vector<ServerUrl>& servers, const ServerUrl& url);

// The server a `redirect` in an error reply names (a server address from the network), checked by
// protocol::server_address_problem. Throws std::invalid_argument naming the problem, and for a
// wss:// address (libcorvid speaks ws:// only).
ServerUrl parse_redirect_url(const std::string& url);

// The servers one request was redirected to, in order: stops a request that servers keep sending
// round (two servers naming each other as a graph's owner). Plain value type.
class RedirectChain {
 public:
  // Redirects one request follows at most.
  static constexpr std::size_t kMaxRedirects = 5;
  // `first`: the server the request went to first.
  explicit RedirectChain(ServerUrl first) : servers_{std::move(first)} {}
  // Records a redirect to `to`. Throws std::length_error naming the chain (text()) when the
  // request has already followed kMaxRedirects.
  void follow(const ServerUrl& to);
  // "ws://a:1 -> ws://b:2 -> ...": the servers in the order the request went to them.
  std::string text() const;

 private:
  std::vector<ServerUrl> servers_;
};

// CORVID_SERVER if set and non-empty, else "ws://localhost:9999".
std::string default_server_url();

}  // namespace corvid
