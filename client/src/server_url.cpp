// Parsing of server addresses and lists (server_url.hpp).
#include "corvid/server_url.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "shared/protocol.hpp"

namespace corvid {

ServerUrl parse_server_url(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("bad server address '" + text + "': " + why);
  };
  std::string rest = text;
  for (const char* scheme : {"ws://", "http://"}) {
    if (rest.rfind(scheme, 0) == 0) {
      rest = rest.substr(std::string(scheme).size());
      break;
    }
  }
  if (rest.find("://") != std::string::npos) throw bad("only ws:// (or http://) is supported");
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) throw bad("expected ws://host:port without a path");
  ServerUrl url;
  const auto colon = rest.rfind(':');
  url.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (url.host.empty()) throw bad("no host");
  if (colon != std::string::npos) {
    url.port = rest.substr(colon + 1);
    if (url.port.empty() || url.port.size() > 5 || url.port.find_first_not_of("0123456789") != std::string::npos)
      throw bad("port must be a number");
    const int port = std::stoi(url.port);
    if (port < 1 || port > 65535) throw bad("port must be in 1..65535");
  }
  return url;
}

std::vector<ServerUrl> parse_server_list(const std::string& text) {
  std::vector<ServerUrl> servers;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string entry = text.substr(start, comma - start);
    if (entry.empty())
      throw std::invalid_argument("bad server list '" + text + "': an empty address (give ws://host:port,ws://host:port)");
    if (!add_server(servers, parse_server_url(entry)))
      throw std::invalid_argument("bad server list '" + text.substr(0, 200) + "': more than " +
                                  std::to_string(kMaxServerUrls) + " addresses");
    if (comma == text.size()) return servers;
    start = comma + 1;
  }
}

std::string server_list_text(const std::vector<ServerUrl>& servers) {
  std::string out;
  for (const auto& s : servers) out += (out.empty() ? "" : ", ") + s.text();
  return out;
}

std::optional<std::size_t> add_server(std::vector<ServerUrl>& servers, const ServerUrl& url) {
  for (std::size_t i = 0; i < servers.size(); ++i)
    if (servers[i] == url) return i;
  if (servers.size() >= kMaxServerUrls) return std::nullopt;
  servers.push_back(url);
  return servers.size() - 1;
}

ServerUrl parse_redirect_url(const std::string& url) {
  const std::string shown = url.substr(0, 64);
  if (const std::string problem = protocol::server_address_problem(url); !problem.empty())
    throw std::invalid_argument("the redirect address '" + shown + "' " + problem);
  if (url.rfind("wss://", 0) == 0)
    throw std::invalid_argument("the redirect address '" + shown + "' is wss://, and libcorvid speaks ws:// only");
  return parse_server_url(url);
}

void RedirectChain::follow(const ServerUrl& to) {
  if (servers_.size() > kMaxRedirects)
    throw std::length_error("gave up after " + std::to_string(kMaxRedirects) + " redirects (" + text() + " -> " +
                            to.text() + "): the servers keep naming another server as the owner");
  servers_.push_back(to);
}

std::string RedirectChain::text() const {
  std::string out;
  for (const auto& s : servers_) out += (out.empty() ? "" : " -> ") + s.text();
  return out;
}

std::string default_server_url() {
  const char* env = std::getenv("CORVID_SERVER");
  return env && *env ? std::string(env) : std::string("ws://localhost:9999");
}

}  // namespace corvid
