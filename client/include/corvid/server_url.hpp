// Where a Corvid server listens, parsed from the --server flag or CORVID_SERVER.
#pragma once

#include <string>

namespace corvid {

// "ws://host:port" split into its parts. Plain value type.
struct ServerUrl {
  std::string host = "localhost";
  std::string port = "9999";

  // "host:port" for the WebSocket handshake's Host header and for messages.
  std::string authority() const { return host + ":" + port; }
};

// Accepts "ws://host:port", "http://host:port", "host:port" or "host" (port 9999), with an
// optional trailing "/". Throws std::invalid_argument naming the text for anything else
// (wss://, a path, an empty host, a port that is not a number in 1..65535).
ServerUrl parse_server_url(const std::string& text);

// CORVID_SERVER if set and non-empty, else "ws://localhost:9999".
std::string default_server_url();

}  // namespace corvid
