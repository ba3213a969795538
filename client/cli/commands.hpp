// The `corvid` CLI's subcommands; main.cpp only parses flags and dispatches here.
#pragma once

#include <functional>
#include <string>

#include <cstdint>
#include <map>
#include <vector>

#include "corvid/connection.hpp"
#include "corvid/session.hpp"
#include "shared/tensor.hpp"

namespace corvid::cli {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;      // the graph was refused, or an op / slice failed
inline constexpr int kExitUsage = 2;       // bad flags or unreadable file
inline constexpr int kExitUnreachable = 3; // the server could not be reached

// How a command prints: for people, or one JSON object on stdout (errors too); values in full
// or summarised as NumPy does.
struct Output {
  bool json = false;
  bool full = false;
};

struct SubmitArgs {
  std::string file;
  std::string server;
  bool wait = false;
  Output out;
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

// A command on one graph of the server: `corvid wait N`, `result N`, `cancel N`, `status [N]`,
// `workers` (graph_id 0: none given).
struct GraphArgs {
  uint64_t graph_id = 0;
  std::string server;
  std::string npy_dir;  // result --npy: write each value as DIR/<id>.npy
  Output out;
};
// `corvid wait N`: progress, then the values and the report as `submit --wait` prints them.
int run_wait(const GraphArgs& args);
// `corvid result N [--npy DIR]`: the values of a finished graph (or why there are none yet).
int run_result(const GraphArgs& args);
// `corvid cancel N`: cancels the ops not final yet.
int run_cancel(const GraphArgs& args);
// `corvid status [N]`: the server's graphs, or one graph's counts and failed ops.
int run_status(const GraphArgs& args);
// `corvid workers`: the connected workers with their speed and record.
int run_workers(const GraphArgs& args);

// Prints a graph's values and report (outputs in `order`) as `submit --wait` does; returns
// kExitOk when the graph computed, else kExitFailed.
int print_outcome(uint64_t graph_id, const std::vector<std::string>& order, const std::map<std::string, Tensor>& values,
                  const Report& report, const Output& out);
// Prints `message` as the command's error on stderr ("corvid <command>: message") and, with
// --json, also as JSON on stdout ({"error": message, "exit_code": code}); returns `code`.
int fail(const char* command, const Output& out, const std::string& message, int code);
// While a command waits for graph `graph_id`: Ctrl-C prints how to reattach and exits 130.
void explain_interrupt(uint64_t graph_id);
// The server's address and (unless `token` is false: the HTTP views need none) the developer
// token, into `connection`; kExitOk, or the error printed.
int connect_options(const char* command, const std::string& server, const Output& out, ConnectionOptions& connection,
                    bool token = true);
// GET `target` from the server's HTTP side; the body. Throws ServerUnreachable when it cannot
// connect, std::runtime_error for a status other than 200.
std::string http_get(const ServerUrl& server, const std::string& target);

// The file's text; throws std::runtime_error "cannot read FILE: reason".
std::string read_file(const std::string& path);

// What every subcommand does before it talks to the server: reads `file` and hands its text to
// `load` (which parses and checks it, throwing GraphError for a bad file), parses the server
// address and finds the developer token. Fills `connection` (owner: $USER, else "corvid-cli")
// and returns kExitOk, or prints the first problem with fail() and returns its exit code: kExitFailed for a bad file, kExitUsage for an unreadable
// one, a bad address or no token.
int prepare(const char* command, const std::string& file, const std::string& server, const Output& out,
            const std::function<void(const std::string& text)>& load, ConnectionOptions& connection);

}  // namespace corvid::cli
