// What the subcommands share before they talk to the server: the file, the address, the token.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "shared/graph_spec.hpp"

namespace corvid::cli {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int prepare(const char* command, const std::string& file, const std::string& server,
            const std::function<void(const std::string& text)>& load, ConnectionOptions& connection) {
  const std::string prefix = std::string("corvid ") + command + ": ";
  try {
    load(read_file(file));
  } catch (const GraphError& e) {
    std::cerr << prefix << file << ": " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  }
  try {
    connection.server = parse_server_url(server);
    connection.token = require_token();
  } catch (const std::exception& e) {  // std::invalid_argument or NoToken
    std::cerr << prefix << e.what() << "\n";
    return kExitUsage;
  }
  connection.name = user_name("corvid-cli");
  return kExitOk;
}

}  // namespace corvid::cli
