// The answers to plain HTTP requests: the pages and kernel files, /api/status, /api/graphs/<id>
// and /metrics. Knows nothing about sockets (WebSocket upgrades are routed by HttpSession).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/net/common.hpp"

namespace corvid::server {

class ServerState;

using HttpRequest = http::request<http::string_body>;
// A file is sent from disk as it is read; everything else is built in memory.
using HttpResponse = std::variant<http::response<http::string_body>, http::response<http::file_body>>;

// Builds the response to `request`: GET and HEAD only (405 otherwise), but for POST /api/drain
// (the operator's drain: free workers are redirected, see docs/protocol.md); 400 for a target
// that tries to leave the web directory, 404 with a message naming the missing path, 500 with the
// reason if the Coordinator fails. Keep-alive follows the request.
HttpResponse handle_request(ServerState& state, const HttpRequest& request);

// --peers "ws://a:1,ws://b:2": the addresses, each checked by protocol::server_address_problem,
// at most WorkerWelcome::kMaxServers. Throws std::invalid_argument naming the bad one.
std::vector<std::string> parse_peers(const std::string& list);
// The web origin of the pages a server at `server_address` (ws:// or wss://) serves: http:// or https://.
std::string page_origin_of(const std::string& server_address);

// The target without its query string ("/api/status?x=1" -> "/api/status").
std::string_view target_path(std::string_view target);

// A plain-text error that closes the connection: "<code> <reason>: <message>\n".
http::response<http::string_body> closing_error(http::status status, const std::string& message);

// The refusal of a request that comes from somewhere this server does not serve, or nullopt:
// - 421 when the server listens on loopback only and Host is neither a loopback name
//   (localhost, 127.0.0.1, [::1], any port) nor the host of an --allow-origin origin, which is
//   what a page reaching the server by DNS rebinding sends;
// - 403 for a WebSocket upgrade whose Origin is neither the server's own (http or https with the
//   request's Host) nor listed by --allow-origin ("*": any). No Origin (a native client) passes.
std::optional<http::response<http::string_body>> refuse_foreign(const ServerState& state, const HttpRequest& request);

// An --allow-origin value in the form it is compared in: "*", "null", or "http(s)://host[:port]"
// in lower case without a trailing '/'. Throws std::invalid_argument naming the value otherwise.
std::string normalize_origin(std::string_view origin);

}  // namespace corvid::server
