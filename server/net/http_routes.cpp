#include "server/net/http_routes.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "server/net/server_state.hpp"
#include "server/net/token.hpp"
#include "shared/npy.hpp"

namespace corvid::server {
namespace {

constexpr std::string_view kGraphsPrefix = "/api/graphs/";
constexpr std::size_t kMaxSearchBytes = 200;  // of /api/status's workers_search

http::response<http::string_body> text_response(const HttpRequest& request, http::status status,
                                                std::string_view content_type, std::string body) {
  http::response<http::string_body> response{status, request.version()};
  response.set(http::field::server, "corvid-server");
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  if (request.method() == http::verb::head) response.body().clear();  // Content-Length stays
  return response;
}

http::response<http::string_body> error_page(const HttpRequest& request, http::status status, const std::string& message) {
  return text_response(request, status, "text/plain; charset=utf-8",
                       std::to_string(static_cast<unsigned>(status)) + " " + std::string(http::obsolete_reason(status)) +
                           ": " + message + "\n");
}

http::response<http::string_body> json_response(const HttpRequest& request, http::status status, const nlohmann::json& body) {
  return text_response(request, status, "application/json", body.dump() + "\n");
}

// 307 to the same path on the server that owns graph `graph_id` (several servers on one store),
// if another one does; nullopt otherwise.
std::optional<http::response<http::string_body>> owner_redirect(const ServerState& state, const HttpRequest& request,
                                                                 uint64_t graph_id) {
  const std::string owner = state.owner_elsewhere(graph_id);
  if (owner.empty()) return std::nullopt;
  const bool tls = owner.rfind("wss://", 0) == 0;
  const std::string location = (tls ? "https://" : "http://") + owner.substr(tls ? 6 : 5) +
                               std::string(request.target());
  http::response<http::string_body> response = json_response(
      request, http::status::temporary_redirect,
      {{"error", "graph " + std::to_string(graph_id) + " is owned by the server at " + owner}, {"redirect", owner}});
  response.set(http::field::location, location);
  return response;
}

// Whether the request carries the developer token (Authorization: Bearer <token>).
bool has_developer_token(const ServerState& state, const HttpRequest& request) {
  const std::string_view auth = request[http::field::authorization];
  const std::string_view bearer = "Bearer ";
  return auth.substr(0, bearer.size()) == bearer &&
         token_matches(std::string(auth.substr(bearer.size())), state.config().token);
}

// The 401 of an endpoint that needs the developer token: "<what> need(s) the developer token ...".
http::response<http::string_body> token_required(const HttpRequest& request, const std::string& what) {
  return json_response(request, http::status::unauthorized,
                       {{"error", what + " the developer token: send 'Authorization: Bearer <token>' (the file "
                                         "'token' in the server's data directory)"}});
}

// GET /api/graphs/<id>/values/<op id>: the developer's token (Authorization: Bearer) is required;
// the value as .npy when the request accepts application/x-npy, else as JSON (tensor_to_json).
HttpResponse value_response(const ServerState& state, const HttpRequest& request, uint64_t graph_id,
                            std::string_view escaped_op) {
  if (!has_developer_token(state, request)) return token_required(request, "values need");
  std::string error = "an empty op id";
  const auto op_id = percent_decode(escaped_op, std::string_view("\0", 1), "an escaped NUL (%00)", error);
  if (!op_id || op_id->empty())
    return json_response(request, http::status::bad_request, {{"error", "bad op id in the path: " + error}});
  std::string why;
  const auto value = state.value(graph_id, *op_id, why);
  if (!value) {
    if (auto redirect = owner_redirect(state, request, graph_id)) return std::move(*redirect);
    return json_response(request, http::status::not_found, {{"error", why}});
  }
  if (request[http::field::accept].find("application/x-npy") != std::string_view::npos)
    return text_response(request, http::status::ok, "application/x-npy", encode_npy(*value));
  return json_response(request, http::status::ok, tensor_to_json(*value));
}

// The parameters of a target's query string, in order: name and %-decoded value ('+' is a
// space). nullopt with `error` naming the parameter whose value does not decode.
std::optional<std::vector<std::pair<std::string, std::string>>> query_parameters(std::string_view target,
                                                                                 std::string& error) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::size_t mark = target.find('?');
  if (mark == std::string_view::npos) return out;
  std::string_view rest = target.substr(mark + 1);
  while (!rest.empty()) {
    const std::string_view pair = rest.substr(0, rest.find('&'));
    rest = pair.size() < rest.size() ? rest.substr(pair.size() + 1) : std::string_view();
    if (pair.empty()) continue;
    const std::string_view name = pair.substr(0, pair.find('='));
    const std::string_view raw = name.size() < pair.size() ? pair.substr(name.size() + 1) : std::string_view();
    std::string plus_as_space(raw);
    std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
    std::string why;
    auto value = percent_decode(plus_as_space, std::string_view("\0", 1), "an escaped NUL (%00)", why);
    if (!value) {
      error = "bad value of '" + std::string(name) + "': " + why;
      return std::nullopt;
    }
    out.emplace_back(std::string(name), std::move(*value));
  }
  return out;
}

// A parameter's value as a non-negative decimal number; false with `error` naming it otherwise.
bool decimal_parameter(const std::string& name, const std::string& value, std::size_t& out, std::string& error) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    error = "'" + name + "' must be a non-negative decimal number, not '" + value + "'";
    return false;
  }
  out = n;
  return true;
}

// The query of GET /api/status (StatusQuery; docs/protocol.md): workers_offset, workers_limit,
// workers_order (id, fastest, slowest), workers_search, graphs_offset, graphs_limit. Limits above
// StatusQuery::kMaxLimit are lowered to it. nullopt with `error` naming the parameter otherwise.
std::optional<StatusQuery> status_query(std::string_view target, std::string& error) {
  StatusQuery query;
  const auto parameters = query_parameters(target, error);
  if (!parameters) return std::nullopt;
  for (const auto& [name, value] : *parameters) {
    if (name == "workers_offset") {
      if (!decimal_parameter(name, value, query.workers_offset, error)) return std::nullopt;
    } else if (name == "workers_limit") {
      if (!decimal_parameter(name, value, query.workers_limit, error)) return std::nullopt;
    } else if (name == "graphs_offset") {
      if (!decimal_parameter(name, value, query.graphs_offset, error)) return std::nullopt;
    } else if (name == "graphs_limit") {
      if (!decimal_parameter(name, value, query.graphs_limit, error)) return std::nullopt;
    } else if (name == "workers_search") {
      if (value.size() > kMaxSearchBytes) {
        error = "'workers_search' is longer than " + std::to_string(kMaxSearchBytes) + " bytes";
        return std::nullopt;
      }
      query.workers_search = value;
    } else if (name == "workers_order") {
      if (value == "id") query.workers_order = StatusQuery::WorkerOrder::id;
      else if (value == "fastest") query.workers_order = StatusQuery::WorkerOrder::fastest;
      else if (value == "slowest") query.workers_order = StatusQuery::WorkerOrder::slowest;
      else {
        error = "'workers_order' must be id, fastest or slowest, not '" + value + "'";
        return std::nullopt;
      }
    } else {
      error = "unknown parameter '" + std::string(name) +
              "' (there are workers_offset, workers_limit, workers_order, workers_search, graphs_offset and graphs_limit)";
      return std::nullopt;
    }
  }
  return query;
}

// POST /api/drain?url=ws://host:port[&count=N] with the developer token: redirects up to N (default:
// every) free worker of this server to `url` (Coordinator::redirect_free_workers) and answers
// {"redirected": n, "url": url}.
HttpResponse drain_response(ServerState& state, const HttpRequest& request) {
  if (request.method() != http::verb::post) {
    auto response = json_response(request, http::status::method_not_allowed,
                                  {{"error", "/api/drain takes POST (with the developer token)"}});
    response.set(http::field::allow, "POST");
    return response;
  }
  if (!has_developer_token(state, request)) return token_required(request, "/api/drain needs");
  std::string error;
  const auto parameters = query_parameters(request.target(), error);
  std::string url;
  std::size_t count = std::numeric_limits<std::size_t>::max();
  bool has_url = false;
  for (std::size_t i = 0; parameters && error.empty() && i < parameters->size(); ++i) {
    const auto& [name, value] = (*parameters)[i];
    if (name == "url") {
      url = value;
      has_url = true;
      if (const std::string problem = protocol::server_address_problem(url); !problem.empty())
        error = "'url' " + problem;
    } else if (name == "count") {
      decimal_parameter(name, value, count, error);
    } else {
      error = "unknown parameter '" + name + "' (there are url and count)";
    }
  }
  if (error.empty() && !has_url) error = "'url' is required: the server the workers go to (ws://host:port)";
  if (!error.empty()) return json_response(request, http::status::bad_request, {{"error", "/api/drain: " + error}});
  const std::size_t redirected = state.redirect_free_workers(count, url);
  return json_response(request, http::status::ok, {{"redirected", redirected}, {"url", url}});
}

HttpResponse api_response(ServerState& state, const HttpRequest& request, std::string_view path) {
  if (path == "/api/drain") return drain_response(state, request);
  if (path == "/api/status") {
    std::string error;
    const auto query = status_query(request.target(), error);
    if (!query) return json_response(request, http::status::bad_request, {{"error", "/api/status: " + error}});
    return json_response(request, http::status::ok, state.status_json(*query));
  }
  if (path.substr(0, kGraphsPrefix.size()) == kGraphsPrefix) {
    std::string_view rest = path.substr(kGraphsPrefix.size());
    const std::string_view digits = rest.substr(0, rest.find('/'));
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return json_response(request, http::status::bad_request,
                           {{"error", "graph id must be a decimal number, not '" + std::string(digits) + "'"}});
    rest = rest.substr(digits.size());
    constexpr std::string_view kValues = "/values/";
    if (rest.substr(0, kValues.size()) == kValues) return value_response(state, request, id, rest.substr(kValues.size()));
    if (!rest.empty())
      return json_response(request, http::status::not_found,
                           {{"error", "no such API endpoint: " + std::string(path) +
                                          " (there are /api/graphs/<id> and /api/graphs/<id>/values/<op id>)"}});
    nlohmann::json graph = state.graph_json(id);
    if (graph.is_null()) {
      if (auto redirect = owner_redirect(state, request, id)) return std::move(*redirect);
      return json_response(request, http::status::not_found, {{"error", "no graph " + std::to_string(id)}});
    }
    return json_response(request, http::status::ok, graph);
  }
  return json_response(request, http::status::not_found,
                       {{"error", "no such API endpoint: " + std::string(path) +
                                      " (there are /api/status, /api/graphs/<id>, /api/graphs/<id>/values/<op id> and /api/drain)"}});
}

std::string lower_case(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The host of an authority "name[:port]" or "[v6]:port", without port or brackets, lower case.
std::string host_of(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') return lower_case(authority.substr(1, authority.find(']') - 1));
  if (std::count(authority.begin(), authority.end(), ':') == 1) authority = authority.substr(0, authority.find(':'));
  return lower_case(authority);
}

// The authority of an origin "http(s)://authority" (lower case), or "" for any other origin.
std::string authority_of(std::string_view origin) {
  std::string lower = lower_case(origin);
  for (std::string_view scheme : {"http://", "https://"})
    if (lower.rfind(scheme, 0) == 0) return lower.substr(scheme.size());
  return {};
}

bool is_loopback_name(const std::string& host) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  return host == "localhost" || (!ec && address.is_loopback());
}

bool host_allowed(const ServerConfig& config, std::string_view host_header) {
  if (!config.loopback_only) return true;
  std::string host = host_of(host_header);
  if (is_loopback_name(host)) return true;
  return std::any_of(config.allowed_origins.begin(), config.allowed_origins.end(), [&](const std::string& origin) {
    std::string authority = authority_of(origin);
    return !authority.empty() && host_of(authority) == host;
  });
}

bool origin_allowed(const ServerConfig& config, std::string_view origin, std::string_view host_header) {
  std::string lower = lower_case(origin);
  std::string authority = authority_of(lower);
  if (!authority.empty() && authority == lower_case(host_header)) return true;  // the server's own pages
  return std::any_of(config.allowed_origins.begin(), config.allowed_origins.end(),
                     [&](const std::string& allowed) { return allowed == "*" || allowed == lower; });
}

HttpResponse file_response(const ServerState& state, const HttpRequest& request) {
  StaticLookup found = state.files().lookup(request.target());
  if (found.status == 400) return error_page(request, http::status::bad_request, found.error);
  if (found.status != 200) return error_page(request, http::status::not_found, found.error);

  beast::error_code ec;
  http::file_body::value_type body;
  body.open(found.file.c_str(), beast::file_mode::scan, ec);
  if (ec) return error_page(request, http::status::not_found, "cannot read " + std::string(request.target()) + ": " + ec.message());

  auto set_headers = [&](auto& response) {
    response.set(http::field::server, "corvid-server");
    response.set(http::field::content_type, mime_type(found.file.filename().string()));
    // Pages and the kernel change with every build: the browser asks again each time.
    response.set(http::field::cache_control, "no-cache");
    response.keep_alive(request.keep_alive());
  };
  if (request.method() == http::verb::head) {  // the headers of the GET, without its body
    http::response<http::string_body> response{http::status::ok, request.version()};
    set_headers(response);
    response.content_length(body.size());
    return response;
  }
  http::response<http::file_body> response{http::status::ok, request.version()};
  set_headers(response);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

}  // namespace

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

http::response<http::string_body> closing_error(http::status status, const std::string& message) {
  http::response<http::string_body> response{status, 11};
  response.set(http::field::server, "corvid-server");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(false);
  response.body() = std::to_string(static_cast<unsigned>(status)) + " " + std::string(http::obsolete_reason(status)) +
                    ": " + message + "\n";
  response.prepare_payload();
  return response;
}

std::optional<http::response<http::string_body>> refuse_foreign(const ServerState& state, const HttpRequest& request) {
  const ServerConfig& config = state.config();
  auto host = request.find(http::field::host);
  std::string_view host_header = host == request.end() ? std::string_view() : host->value();
  if (!host_allowed(config, host_header))
    return closing_error(http::status::misdirected_request,
                         (host == request.end() ? std::string("a request without Host")
                                                : "Host '" + std::string(host_header) + "'") +
                             " is not served: this server listens on loopback only and answers to localhost, "
                             "127.0.0.1 and [::1] (another name may be a DNS-rebinding page); start it with "
                             "--host 0.0.0.0 to serve other names, or name the site with --allow-origin");
  auto origin = request.find(http::field::origin);
  if (origin == request.end() || !websocket::is_upgrade(request) || origin_allowed(config, origin->value(), host_header))
    return std::nullopt;
  return closing_error(http::status::forbidden,
                       "a WebSocket from origin '" + std::string(origin->value()) +
                           "' is refused: browsers may connect only from this server's own pages; start the server "
                           "with --allow-origin " + std::string(origin->value()) + " to let that site's pages in");
}

std::vector<std::string> parse_peers(const std::string& list) {
  std::vector<std::string> peers;
  std::size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string peer = list.substr(start, comma - start);
    if (const std::string problem = protocol::server_address_problem(peer); !problem.empty())
      throw std::invalid_argument("--peers: '" + peer + "' " + problem);
    peers.push_back(std::move(peer));
    start = comma + 1;
  }
  if (peers.size() > protocol::WorkerWelcome::kMaxServers)
    throw std::invalid_argument("--peers names " + std::to_string(peers.size()) + " servers; at most " +
                                std::to_string(protocol::WorkerWelcome::kMaxServers) + " are sent to workers");
  return peers;
}

std::string page_origin_of(const std::string& server_address) {
  const bool secure = server_address.rfind("wss://", 0) == 0;
  std::string rest = server_address.substr(secure ? 6 : 5);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  return (secure ? "https://" : "http://") + rest;
}

std::string normalize_origin(std::string_view origin) {
  std::string lower = lower_case(origin);
  if (!lower.empty() && lower.back() == '/') lower.pop_back();
  if (lower == "*" || lower == "null") return lower;
  std::string authority = authority_of(lower);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string::npos)
    throw std::invalid_argument("--allow-origin '" + std::string(origin) +
                                "' is not an origin: give *, null, or http(s)://host[:port] with no path");
  return lower;
}

HttpResponse handle_request(ServerState& state, const HttpRequest& request) {
  std::string_view path = target_path(request.target());
  if (request.method() != http::verb::get && request.method() != http::verb::head && path != "/api/drain") {
    auto response = error_page(request, http::status::method_not_allowed,
                               std::string(request.method_string()) + " is not supported: only GET and HEAD");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  try {
    if (path == "/metrics")
      return text_response(request, http::status::ok, "text/plain; version=0.0.4; charset=utf-8", state.metrics_text());
    if (path == "/api" || path.substr(0, 5) == "/api/") return api_response(state, request, path);
  } catch (const std::exception& e) {
    return error_page(request, http::status::internal_server_error, e.what());
  }
  if (path == "/ws/worker" || path == "/ws/client")
    return error_page(request, http::status::upgrade_required, std::string(path) + " speaks WebSocket only");
  return file_response(state, request);
}

}  // namespace corvid::server
