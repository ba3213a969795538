#include "corvid/server_url.hpp"

#include <cstdlib>
#include <stdexcept>

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

std::string default_server_url() {
  const char* env = std::getenv("CORVID_SERVER");
  return env && *env ? std::string(env) : std::string("ws://localhost:9999");
}

}  // namespace corvid
