// corvid: the developer CLI (submit a graph file, run a map job).
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "corvid/server_url.hpp"

int main(int argc, char** argv) {
  CLI::App app{"corvid: submit graphs and map jobs to a Corvid server"};
  app.require_subcommand(1);
  std::string server = corvid::default_server_url();
  app.add_option("--server", server, "server address, ws://host:port (default: CORVID_SERVER or ws://localhost:9999)");

  corvid::cli::SubmitArgs submit;
  auto* sub = app.add_subcommand("submit", "submit a graph file (see README: The graph file)");
  sub->add_option("file", submit.file, "graph file (JSON)")->required();
  sub->add_flag("--wait", submit.wait, "wait until every op is final and print the outputs");
  sub->add_flag("--json", submit.json, "print the result as one JSON object");
  sub->add_option("--server", server, "server address, ws://host:port");

  corvid::cli::MapArgs map;
  auto* mp = app.add_subcommand("map", "run a map job file: a template applied to many slices (README: Map jobs)");
  mp->add_option("file", map.file, "map job file (JSON)")->required();
  mp->add_flag("--json", map.json, "print one JSON line per event instead of a progress bar");
  mp->add_option("--max-time", map.max_time_s, "stop after this many seconds, keeping the results so far")
      ->check(CLI::NonNegativeNumber);
  mp->add_option("--server", server, "server address, ws://host:port");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : corvid::cli::kExitUsage;  // --help exits 0, bad usage 2
  }
  if (sub->parsed()) {
    submit.server = server;
    return corvid::cli::run_submit(submit);
  }
  map.server = server;
  return corvid::cli::run_map(map);
}
