// The commands on a graph already on the server (wait, result, cancel, status) and on its fleet
// (workers): a Session for the WebSocket requests, GET /api/... for the views.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "corvid/graph.hpp"
#include "shared/npy.hpp"

namespace corvid::cli {

namespace {

// Runs `body`, turning the library's errors into the command's exit codes.
int guarded(const char* command, const Output& out, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ServerUnreachable& e) {
    return fail(command, out, e.what(), kExitUnreachable);
  } catch (const ServerError& e) {
    return fail(command, out, e.what(), kExitFailed);
  } catch (const std::exception& e) {
    return fail(command, out, e.what(), kExitFailed);
  }
}

// The values as keys in order (the server returns a graph's outputs; a map sorts them by id).
std::vector<std::string> keys_of(const std::map<std::string, Tensor>& values) {
  std::vector<std::string> keys;
  for (const auto& [id, value] : values) keys.push_back(id);
  return keys;
}

// A tensor as a NumPy .npy file.
void write_npy(const std::filesystem::path& path, const Tensor& t) {
  std::ofstream file(path, std::ios::binary);
  file << encode_npy(t);
  if (!file) throw std::runtime_error("cannot write " + path.string());
}

// A graph of GET /api/graphs/N: its ops by status.
std::map<std::string, int> op_counts(const nlohmann::json& graph) {
  std::map<std::string, int> counts;
  for (const auto& op : graph["ops"]) ++counts[op.value("status", "")];
  return counts;
}

// GET `target` of the first of the servers that answers; ServerUnreachable naming each otherwise.
nlohmann::json get_json(const ConnectionOptions& options, const std::string& target) {
  std::string tried;
  for (const auto& server : options.servers) {
    try {
      return nlohmann::json::parse(http_get(server, target));
    } catch (const ServerUnreachable& e) {
      if (options.servers.size() == 1) throw;
      tried += (tried.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  throw ServerUnreachable("cannot reach any of the Corvid servers " + server_list_text(options.servers) + ": " + tried);
}

}  // namespace

int run_wait(const GraphArgs& args) {
  ConnectionOptions options;
  if (int code = connect_options("wait", args.server, args.out, options); code != kExitOk) return code;
  return guarded("wait", args.out, [&] {
    Session session(options, args.graph_id);
    explain_interrupt(args.graph_id);
    ProgressHandler on_progress;
    if (!args.out.json)
      on_progress = [&](const Progress& p) {
        std::cerr << "\rgraph " << args.graph_id << ": " << p.count("computed") << " of " << p.total << " ops computed"
                  << std::flush;
      };
    const auto values = session.wait({}, false, on_progress).values;
    const Report report = session.end();
    if (!args.out.json) std::cerr << "\n";
    return print_outcome(args.graph_id, keys_of(values), values, report, args.out);
  });
}

int run_result(const GraphArgs& args) {
  ConnectionOptions options;
  if (int code = connect_options("result", args.server, args.out, options); code != kExitOk) return code;
  return guarded("result", args.out, [&] {
    const nlohmann::json graph = get_json(options, "/api/graphs/" + std::to_string(args.graph_id));
    if (graph.value("status", "") == "running") {
      auto counts = op_counts(graph);
      const int final_ops = static_cast<int>(graph["ops"].size()) - counts["pending"] - counts["running"];
      return fail("result", args.out,
                  "graph " + std::to_string(args.graph_id) + " is still running (" + std::to_string(final_ops) + " of " +
                      std::to_string(graph["ops"].size()) + " ops final); `corvid wait " +
                      std::to_string(args.graph_id) + "` waits for it",
                  kExitFailed);
    }
    Session session(options, args.graph_id);
    const auto values = session.wait({}).values;
    const Report report = session.end();
    if (!args.npy_dir.empty()) {
      std::filesystem::create_directories(args.npy_dir);
      for (const auto& [id, value] : values) write_npy(std::filesystem::path(args.npy_dir) / (id + ".npy"), value);
    }
    return print_outcome(args.graph_id, keys_of(values), values, report, args.out);
  });
}

int run_cancel(const GraphArgs& args) {
  ConnectionOptions options;
  if (int code = connect_options("cancel", args.server, args.out, options); code != kExitOk) return code;
  return guarded("cancel", args.out, [&] {
    const int count = Session(options, args.graph_id).cancel();
    if (args.out.json)
      std::cout << nlohmann::json{{"graph_id", args.graph_id}, {"cancelled", count}}.dump() << "\n";
    else
      std::cout << "graph " << args.graph_id << ": " << count << " op(s) cancelled\n";
    return kExitOk;
  });
}

int run_status(const GraphArgs& args) {
  ConnectionOptions options;
  if (int code = connect_options("status", args.server, args.out, options, false); code != kExitOk) return code;
  return guarded("status", args.out, [&] {
    if (args.graph_id) {
      const nlohmann::json graph = get_json(options, "/api/graphs/" + std::to_string(args.graph_id));
      if (args.out.json) {
        std::cout << graph.dump() << "\n";
        return kExitOk;
      }
      auto counts = op_counts(graph);
      std::cout << "graph " << args.graph_id << " '" << graph.value("name", "") << "': " << graph.value("status", "")
                << ", " << counts["computed"] << " of " << graph["ops"].size() << " ops computed";
      for (const char* s : {"running", "pending", "failed", "cancelled"})
        if (counts[s]) std::cout << ", " << counts[s] << " " << s;
      std::cout << "\n";
      for (const auto& op : graph["ops"])
        if (op.value("status", "") == "failed")
          std::cout << "failed: op '" << op.value("id", "") << "' (" << op.value("op", "") << "): " << op.value("error", "")
                    << "\n";
      return kExitOk;
    }
    const nlohmann::json status = get_json(options, "/api/status");
    if (args.out.json) {
      std::cout << status["graphs"].dump() << "\n";
      return kExitOk;
    }
    if (status["graphs"].empty()) std::cout << "no graphs on the server\n";
    for (const auto& g : status["graphs"]) {
      const auto& counts = g["counts"];
      std::cout << "graph " << g.value("id", 0) << " '" << g.value("name", "") << "' by " << g.value("owner", "") << ": "
                << g.value("status", "") << ", " << counts.value("computed", 0) << " of " << g.value("total", 0)
                << " ops computed";
      if (counts.value("failed", 0)) std::cout << ", " << counts.value("failed", 0) << " failed";
      std::cout << "\n";
    }
    return kExitOk;
  });
}

int run_workers(const GraphArgs& args) {
  ConnectionOptions options;
  if (int code = connect_options("workers", args.server, args.out, options, false); code != kExitOk) return code;
  return guarded("workers", args.out, [&] {
    const nlohmann::json status = get_json(options, "/api/status");
    if (args.out.json) {
      std::cout << status["workers"].dump() << "\n";
      return kExitOk;
    }
    if (status["workers"].empty())
      std::cout << "no worker is connected: volunteers open http://" << options.servers.front().authority()
                << "/ and click Participate\n";
    for (const auto& w : status["workers"]) {
      std::cout << "worker " << w.value("id", 0) << " '" << w.value("name", "") << "': " << w.value("state", "") << ", "
                << std::fixed << std::setprecision(1) << w.value("score_gflops", 0.0) << " GFLOPS benchmarked, "
                << w.value("groups_done", 0) << " groups done, " << w.value("failures", 0) << " failures\n";
    }
    return kExitOk;
  });
}

}  // namespace corvid::cli
