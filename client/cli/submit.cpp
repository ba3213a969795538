// `corvid submit`: the graph file through local validation, then a Session: submit, and with
// --wait the outputs and the end report.
#include <iostream>

#include "commands.hpp"
#include "corvid/graph.hpp"
#include "corvid/session.hpp"

namespace corvid::cli {

int run_submit(const SubmitArgs& args) {
  GraphSpec spec;
  ConnectionOptions options;
  const int setup = prepare(
      "submit", args.file, args.server,
      [&](const std::string& text) {
        spec = parse_graph_file(text);
        validate_graph(spec);
      },
      options);
  if (setup != kExitOk) return setup;
  if (spec.name.empty()) spec.name = args.file;

  try {
    Session session(options);
    const uint64_t graph_id = session.submit(spec).graph_id;
    if (!args.wait) {
      if (args.json)
        std::cout << nlohmann::json{{"graph_id", graph_id}, {"status", "submitted"}, {"ops", spec.ops.size()}}.dump()
                  << "\n";
      else
        std::cout << "submitted graph " << graph_id << " (" << spec.ops.size() << " ops)\n";
      return kExitOk;
    }

    const bool show_progress = !args.json;
    ProgressHandler on_progress;
    if (show_progress)
      on_progress = [&](const Progress& p) {
        std::cerr << "\rgraph " << graph_id << ": " << p.count("computed") << " of " << p.total << " ops computed"
                  << std::flush;
      };
    const std::map<std::string, Tensor> outputs = session.wait(spec.outputs, false, on_progress).values;
    const Report report = session.end();
    if (show_progress) std::cerr << "\n";
    const bool ok = report.ok();
    if (args.json) {
      nlohmann::json out = {{"graph_id", graph_id}, {"status", ok ? "computed" : "failed"}};
      out["outputs"] = nlohmann::json::object();
      for (const auto& id : spec.outputs) {
        auto it = outputs.find(id);
        if (it != outputs.end()) out["outputs"][id] = tensor_to_json(it->second);
      }
      out["failed"] = nlohmann::json::array();
      for (const auto& f : report.failed) out["failed"].push_back({{"id", f.id}, {"op", f.op}, {"error", f.error}});
      std::cout << out.dump() << "\n";
    } else {
      std::cout << "graph " << graph_id << ": " << (ok ? "computed" : "failed") << ", " << report.count("computed")
                << " of " << report.total << " ops computed\n";
      for (const auto& id : spec.outputs) {
        auto it = outputs.find(id);
        if (it == outputs.end()) continue;
        std::cout << id << " = " << dtype_name(it->second.dtype()) << shape_string(it->second.shape()) << " "
                  << it->second << "\n";
      }
      for (const auto& f : report.failed)
        std::cout << "failed: op '" << f.id << "' (" << f.op << "): " << f.error << "\n";
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
