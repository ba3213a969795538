// `corvid submit`: the graph file through local validation, the server, and back.
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "corvid/connection.hpp"
#include "corvid/graph.hpp"
#include "corvid/graph_file.hpp"

namespace corvid::cli {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

// The server's final word on a graph: its status and failed ops (repeats `end` until no op is
// pending or running).
nlohmann::json final_report(Connection& connection, uint64_t graph_id) {
  for (;;) {
    nlohmann::json report;
    connection.request(Frame{{{"type", "end"}, {"graph_id", graph_id}}, {}}, [&](const Frame& reply) {
      if (reply.header["type"] != "report") return false;
      report = reply.header;
      return true;
    });
    const auto counts = report.value("counts", nlohmann::json::object());
    const int open = counts.value("pending", 0) + counts.value("running", 0);
    if (report.value("status", std::string()) != "running" && open == 0) return report;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int run_submit(const SubmitArgs& args) {
  GraphSpec spec;
  try {
    spec = parse_graph_file(read_file(args.file));
    validate_graph(spec);
  } catch (const GraphError& e) {
    std::cerr << "corvid submit: " << args.file << ": " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "corvid submit: " << e.what() << "\n";
    return kExitUsage;
  }
  if (spec.name.empty()) spec.name = args.file;

  ConnectionOptions options;
  try {
    options.server = parse_server_url(args.server);
  } catch (const std::exception& e) {
    std::cerr << "corvid submit: " << e.what() << "\n";
    return kExitUsage;
  }
  auto token = find_token();
  if (!token) {
    std::cerr << "corvid submit: " << kNoTokenMessage << "\n";
    return kExitUsage;
  }
  options.token = *token;
  const char* user = std::getenv("USER");
  options.name = user && *user ? user : "corvid-cli";

  try {
    Connection connection(options);
    uint64_t graph_id = 0;
    connection.request(submit_frame(spec, 0, nullptr), [&](const Frame& reply) {
      if (reply.header["type"] != "submitted") return false;
      graph_id = reply.header.value("graph_id", uint64_t{0});
      return true;
    });
    if (!args.wait) {
      if (args.json)
        std::cout << nlohmann::json{{"graph_id", graph_id}, {"status", "submitted"}, {"ops", spec.ops.size()}}.dump()
                  << "\n";
      else
        std::cout << "submitted graph " << graph_id << " (" << spec.ops.size() << " ops)\n";
      return kExitOk;
    }

    const bool show_progress = !args.json;
    std::map<std::string, Tensor> outputs;
    connection.request(
        Frame{{{"type", "wait"}, {"graph_id", graph_id}, {"ids", spec.outputs}, {"stream", false}}, {}},
        [&](const Frame& reply) {
          const std::string type = reply.header["type"];
          if (type == "progress" && show_progress) {
            const auto counts = reply.header.value("counts", nlohmann::json::object());
            std::cerr << "\rgraph " << graph_id << ": " << counts.value("computed", 0) << " of "
                      << reply.header.value("total", 0) << " ops computed" << std::flush;
          }
          if (type != "values") return false;
          for (const auto& nt : reply.tensors) outputs[nt.name] = nt.tensor;
          return true;
        });
    const nlohmann::json report = final_report(connection, graph_id);
    if (show_progress) std::cerr << "\n";
    const bool ok = report.value("status", std::string()) == "computed";
    const nlohmann::json failed = report.value("failed", nlohmann::json::array());
    if (args.json) {
      nlohmann::json out = {{"graph_id", graph_id}, {"status", ok ? "computed" : "failed"}};
      out["outputs"] = nlohmann::json::object();
      for (const auto& id : spec.outputs) {
        auto it = outputs.find(id);
        if (it != outputs.end()) out["outputs"][id] = tensor_to_json(it->second);
      }
      out["failed"] = nlohmann::json::array();
      for (const auto& f : failed)
        out["failed"].push_back({{"id", f.value("id", "")}, {"op", f.value("op", "")}, {"error", f.value("error", "")}});
      std::cout << out.dump() << "\n";
    } else {
      const auto counts = report.value("counts", nlohmann::json::object());
      std::cout << "graph " << graph_id << ": " << (ok ? "computed" : "failed") << ", " << counts.value("computed", 0)
                << " of " << report.value("total", 0) << " ops computed\n";
      for (const auto& id : spec.outputs) {
        auto it = outputs.find(id);
        if (it == outputs.end()) continue;
        std::cout << id << " = " << dtype_name(it->second.dtype()) << shape_string(it->second.shape()) << " "
                  << it->second << "\n";
      }
      for (const auto& f : failed)
        std::cout << "failed: op '" << f.value("id", "") << "' (" << f.value("op", "") << "): " << f.value("error", "")
                  << "\n";
    }
    return ok ? kExitOk : kExitFailed;
  } catch (const ServerUnreachable& e) {
    std::cerr << "corvid submit: " << e.what() << "\n";
    return kExitUnreachable;
  } catch (const ServerError& e) {
    std::cerr << "corvid submit: " << args.file << ": the server refused it: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace corvid::cli
