// What the subcommands share: the file, the address, the token, errors, the outcome of a graph.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "corvid/graph.hpp"
#include "shared/graph_spec.hpp"

namespace corvid::cli {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int fail(const char* command, const Output& out, const std::string& message, int code) {
  std::cerr << "corvid " << command << ": " << message << "\n";
  if (out.json) std::cout << nlohmann::json{{"error", message}, {"exit_code", code}}.dump() << "\n";
  return code;
}

int connect_options(const char* command, const std::string& server, const Output& out, ConnectionOptions& connection,
                    bool token) {
  try {
    connection.servers = parse_server_list(server);
    if (token) connection.token = require_token();
  } catch (const std::exception& e) {  // std::invalid_argument or NoToken
    return fail(command, out, e.what(), kExitUsage);
  }
  connection.name = user_name("corvid-cli");
  return kExitOk;
}

int prepare(const char* command, const std::string& file, const std::string& server, const Output& out,
            const std::function<void(const std::string& text)>& load, ConnectionOptions& connection) {
  try {
    load(read_file(file));
  } catch (const GraphError& e) {
    return fail(command, out, file + ": " + e.what(), kExitFailed);
  } catch (const std::exception& e) {
    return fail(command, out, e.what(), kExitUsage);
  }
  return connect_options(command, server, out, connection);
}

namespace {
char interrupt_message[200];
std::size_t interrupt_length = 0;
void on_interrupt(int) {
  [[maybe_unused]] const auto written = ::write(2, interrupt_message, interrupt_length);
  ::_exit(130);
}
}  // namespace

void explain_interrupt(uint64_t graph_id) {
  const int n = std::snprintf(interrupt_message, sizeof interrupt_message,
                              "\ninterrupted: graph %llu keeps running on the server; `corvid wait %llu` waits for it "
                              "again, `corvid cancel %llu` stops it\n",
                              static_cast<unsigned long long>(graph_id), static_cast<unsigned long long>(graph_id),
                              static_cast<unsigned long long>(graph_id));
  interrupt_length = n > 0 ? std::min<std::size_t>(static_cast<std::size_t>(n), sizeof interrupt_message - 1) : 0;
  std::signal(SIGINT, on_interrupt);
}

int print_outcome(uint64_t graph_id, const std::vector<std::string>& order, const std::map<std::string, Tensor>& values,
                  const Report& report, const Output& out) {
  const bool ok = report.ok();
  if (out.json) {
    nlohmann::json result = {{"graph_id", graph_id}, {"status", ok ? "computed" : "failed"}};
    result["outputs"] = nlohmann::json::object();
    for (const auto& id : order) {
      auto it = values.find(id);
      if (it != values.end()) result["outputs"][id] = tensor_to_json(it->second);
    }
    result["failed"] = nlohmann::json::array();
    for (const auto& f : report.failed) result["failed"].push_back({{"id", f.id}, {"op", f.op}, {"error", f.error}});
    if (const auto& v = report.verification)
      result["verification"] = {{"policy", v->policy},         {"replicated", v->replicated},
                                {"spot_checked", v->spot_checked}, {"disagreements", v->disagreements},
                                {"wrong", v->wrong},           {"quarantines", v->quarantines}};
    std::cout << result.dump() << "\n";
  } else {
    std::cout << "graph " << graph_id << ": " << (ok ? "computed" : "failed") << ", " << report.count("computed")
              << " of " << report.total << " ops computed\n";
    for (const auto& id : order) {
      auto it = values.find(id);
      if (it == values.end()) continue;
      std::cout << id << " = " << dtype_name(it->second.dtype()) << shape_string(it->second.shape()) << " ";
      if (out.full)
        std::cout << it->second;
      else
        print_tensor(std::cout, it->second);
      std::cout << "\n";
    }
    for (const auto& f : report.failed) std::cout << "failed: op '" << f.id << "' (" << f.op << "): " << f.error << "\n";
  }
  return ok ? kExitOk : kExitFailed;
}

}  // namespace corvid::cli
