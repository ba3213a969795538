// The `corvid` CLI's subcommands; main.cpp only parses flags and dispatches here.
#pragma once

#include <functional>
#include <string>

#include "corvid/connection.hpp"

namespace corvid::cli {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;      // the graph was refused, or an op / slice failed
inline constexpr int kExitUsage = 2;       // bad flags or unreadable file
inline constexpr int kExitUnreachable = 3; // the server could not be reached

struct SubmitArgs {
  std::string file;
  std::string server;
  bool wait = false;
  bool json = false;
};
// `corvid submit FILE.json [--wait] [--json]`: validates the graph file locally, submits it, and
// with --wait prints the outputs when every op is final. Returns the exit code.
int run_submit(const SubmitArgs& args);

struct MapArgs {
  std::string file;
  std::string server;
  bool json = false;
  double max_time_s = 0;
};
// `corvid map FILE.json [--json] [--max-time S]`: runs a map job file (README "Map jobs"),
// showing a progress bar (or JSON lines per event) and each slice's result as it arrives.
int run_map(const MapArgs& args);

// The file's text; throws std::runtime_error "cannot read FILE: reason".
std::string read_file(const std::string& path);

// What every subcommand does before it talks to the server: reads `file` and hands its text to
// `load` (which parses and checks it, throwing GraphError for a bad file), parses the server
// address and finds the developer token. Fills `connection` (owner: $USER, else "corvid-cli")
// and returns kExitOk, or prints the first problem as one line "corvid <command>: ..." on
// stderr and returns its exit code: kExitFailed for a bad file, kExitUsage for an unreadable
// one, a bad address or no token.
int prepare(const char* command, const std::string& file, const std::string& server,
            const std::function<void(const std::string& text)>& load, ConnectionOptions& connection);

}  // namespace corvid::cli
