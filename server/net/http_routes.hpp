// The answers to plain HTTP requests: the pages and kernel files, /api/status, /api/graphs/<id>
// and /metrics. Knows nothing about sockets (WebSocket upgrades are routed by HttpSession).
#pragma once

#include <variant>

#include "server/net/common.hpp"

namespace corvid::server {

class ServerState;

using HttpRequest = http::request<http::string_body>;
// A file is sent from disk as it is read; everything else is built in memory.
using HttpResponse = std::variant<http::response<http::string_body>, http::response<http::file_body>>;

// Builds the response to `request`: GET and HEAD only (405 otherwise), 400 for a target that
// tries to leave the web directory, 404 with a message naming the missing path, 500 with the
// reason if the Coordinator fails. Keep-alive follows the request.
HttpResponse handle_request(const ServerState& state, const HttpRequest& request);

// The target without its query string ("/api/status?x=1" -> "/api/status").
std::string_view target_path(std::string_view target);

}  // namespace corvid::server
