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
      "submit", args.file, args.server, args.out,
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
      if (args.out.json)
        std::cout << nlohmann::json{{"graph_id", graph_id}, {"status", "submitted"}, {"ops", spec.ops.size()}}.dump()
                  << "\n";
      else
        std::cout << "submitted graph " << graph_id << " (" << spec.ops.size() << " ops); `corvid wait " << graph_id
                  << "` waits for it\n";
      return kExitOk;
    }
    explain_interrupt(graph_id);
    ProgressHandler on_progress;
    if (!args.out.json)
      on_progress = [&](const Progress& p) {
        std::cerr << "\rgraph " << graph_id << ": " << p.count("computed") << " of " << p.total << " ops computed"
                  << std::flush;
      };
    const std::map<std::string, Tensor> outputs = session.wait(spec.outputs, false, on_progress).values;
    const Report report = session.end();
    if (!args.out.json) std::cerr << "\n";
    return print_outcome(graph_id, spec.outputs, outputs, report, args.out);
  } catch (const ServerUnreachable& e) {
    return fail("submit", args.out, e.what(), kExitUnreachable);
  } catch (const ServerError& e) {
    return fail("submit", args.out, args.file + ": the server refused it: " + e.what(), kExitFailed);
  }
}

}  // namespace corvid::cli
