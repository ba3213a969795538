#include "server/net/http_routes.hpp"

#include <charconv>
#include <exception>
#include <string>

#include "server/net/server_state.hpp"

namespace corvid::server {
namespace {

constexpr std::string_view kGraphsPrefix = "/api/graphs/";

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

HttpResponse api_response(const ServerState& state, const HttpRequest& request, std::string_view path) {
  if (path == "/api/status") return json_response(request, http::status::ok, state.status_json());
  if (path.substr(0, kGraphsPrefix.size()) == kGraphsPrefix) {
    std::string_view digits = path.substr(kGraphsPrefix.size());
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return json_response(request, http::status::bad_request,
                           {{"error", "graph id must be a decimal number, not '" + std::string(digits) + "'"}});
    nlohmann::json graph = state.graph_json(id);
    if (graph.is_null())
      return json_response(request, http::status::not_found, {{"error", "no graph " + std::to_string(id)}});
    return json_response(request, http::status::ok, graph);
  }
  return json_response(request, http::status::not_found,
                       {{"error", "no such API endpoint: " + std::string(path) +
                                      " (there are /api/status and /api/graphs/<id>)"}});
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

HttpResponse handle_request(const ServerState& state, const HttpRequest& request) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto response = error_page(request, http::status::method_not_allowed,
                               std::string(request.method_string()) + " is not supported: only GET and HEAD");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  std::string_view path = target_path(request.target());
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
