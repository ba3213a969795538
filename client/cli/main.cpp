// corvid: the developer CLI: submit a graph file, run a map job, and follow a graph's life on
// the server (wait, result, status, cancel) and its workers.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.hpp"
#include "corvid/server_url.hpp"
#include "shared/ops/op.hpp"
#include "shared/wire.hpp"

namespace {

const std::vector<std::string> kCommands = {"submit", "map", "wait", "result", "status", "cancel", "workers"};

// A subcommand of a graph on the server: `corvid <name> N` (N optional for status).
CLI::App* graph_command(CLI::App& app, const char* name, const char* help, corvid::cli::GraphArgs& args,
                        std::string& server, bool id_required) {
  auto* cmd = app.add_subcommand(name, help);
  auto* id = cmd->add_option("graph", args.graph_id, "graph id (from `corvid submit` or `corvid status`)");
  if (id_required) id->required();
  cmd->add_flag("--json", args.out.json, "print one JSON object (errors too)");
  cmd->add_option("--server", server, "server address ws://host:port, or several comma-separated");
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace corvid::cli;
  // A mistyped command gets a suggestion rather than CLI11's generic complaint.
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(kCommands.begin(), kCommands.end(), argv[1]) == kCommands.end()) {
    const std::string near = corvid::closest_name(argv[1], kCommands);
    std::cerr << "corvid: unknown command '" << argv[1] << "'"
              << (near.empty() ? "" : "; did you mean '" + near + "'?") << " (corvid --help lists them)\n";
    return kExitUsage;
  }
  CLI::App app{"corvid: submit graphs and map jobs to a Corvid server, and follow them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "corvid " CORVID_VERSION " (wire protocol " + std::to_string(corvid::kProtocolVersion) + ")");
  std::string server = corvid::default_server_url();
  app.add_option("--server", server, "server address ws://host:port, or several comma-separated to fail over between (default: CORVID_SERVER or ws://localhost:9999)");

  SubmitArgs submit;
  auto* sub = app.add_subcommand("submit", "submit a graph file (see README: The graph file)");
  sub->add_option("file", submit.file, "graph file (JSON)")->required();
  sub->add_flag("--wait", submit.wait, "wait until every op is final and print the outputs");
  sub->add_flag("--json", submit.out.json, "print the result as one JSON object (errors too)");
  sub->add_flag("--full", submit.out.full, "print large values in full instead of summarised");
  sub->add_option("--server", server, "server address ws://host:port, or several comma-separated");

  MapArgs map;
  auto* mp = app.add_subcommand("map", "run a map job file: a template applied to many slices (README: Map jobs)");
  mp->add_option("file", map.file, "map job file (JSON)")->required();
  mp->add_flag("--json", map.json, "print one JSON line per event instead of a progress bar");
  mp->add_option("--max-time", map.max_time_s, "stop after this many seconds, keeping the results so far")
      ->check(CLI::NonNegativeNumber);
  mp->add_option("--server", server, "server address ws://host:port, or several comma-separated");

  GraphArgs graph;
  auto* wait = graph_command(app, "wait", "wait for a graph's outputs, with progress, and print them", graph, server, true);
  wait->add_flag("--full", graph.out.full, "print large values in full");
  auto* result = graph_command(app, "result", "print the outputs of a finished graph", graph, server, true);
  result->add_flag("--full", graph.out.full, "print large values in full");
  result->add_option("--npy", graph.npy_dir, "also write each output as DIR/<id>.npy");
  auto* status = graph_command(app, "status", "the server's graphs, or one graph's ops by status", graph, server, false);
  auto* cancel = graph_command(app, "cancel", "cancel a graph's ops that are not final yet", graph, server, true);
  auto* workers = app.add_subcommand("workers", "the workers connected to the server");
  workers->add_flag("--json", graph.out.json, "print one JSON list");
  workers->add_option("--server", server, "server address ws://host:port, or several comma-separated");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;  // --help and --version exit 0, bad usage 2
  }
  submit.server = map.server = graph.server = server;
  if (sub->parsed()) return run_submit(submit);
  if (mp->parsed()) return run_map(map);
  if (wait->parsed()) return run_wait(graph);
  if (result->parsed()) return run_result(graph);
  if (status->parsed()) return run_status(graph);
  if (cancel->parsed()) return run_cancel(graph);
  return run_workers(graph);
}
