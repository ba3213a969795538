// corvid-worker: a native headless worker. Parses flags and runs a NativeWorker.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "native_worker.hpp"

int main(int argc, char** argv) {
  CLI::App app{"corvid-worker: computes op groups for a Corvid server"};
  std::string server = corvid::default_server_url();
  std::string name = "worker-" + std::to_string(::getpid());
  double slowdown = 1;
  double benchmark_ms = 600;
  std::size_t cache_mb = 256;
  app.add_option("--server", server,
                 "server address ws://host:port, or several comma-separated to fail over between (default: "
                 "CORVID_SERVER or ws://localhost:9999)");
  app.add_option("--name", name, "name shown on the server's status page");
  app.add_option("--slowdown", slowdown, "emulate a device this many times slower (>= 1)")
      ->check(CLI::Range(1.0, 1000.0));
  app.add_option("--benchmark-ms", benchmark_ms, "time budget of the device benchmark")->check(CLI::Range(10.0, 60000.0));
  app.add_option("--cache-mb", cache_mb, "memory for tensors the server asks to keep");
  std::string worker_token_file;
  app.add_option("--worker-token", worker_token_file,
                 "file holding the operator's worker token (<data-dir>/worker-token on the server; or set "
                 "CORVID_WORKER_TOKEN): the server trusts this worker and lets it verify others");
  double lie = 0;
  std::string lie_mode = "perturb";
  app.add_option("--lie", lie,
                 "FOR TESTS AND BENCHMARKS ONLY: return wrong values (right dtype and shape) with this probability "
                 "per result, to test the server's --verify")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--lie-mode", lie_mode, "FOR TESTS ONLY: how --lie lies: zeros, perturb (+1) or sign (negated)")
      ->check(CLI::IsMember({"zeros", "perturb", "sign"}))
      ->capture_default_str();
  int lie_after = 0;
  app.add_option("--lie-after", lie_after, "FOR TESTS ONLY: --lie starts after this many honest results (earning trust first)")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help exits 0, bad usage 2
  }

  corvid::WorkerOptions options;
  try {
    options.servers = corvid::parse_server_list(server);
  } catch (const std::exception& e) {
    std::cerr << "corvid-worker: " << e.what() << "\n";
    return 2;
  }
  if (!worker_token_file.empty()) {
    std::ifstream file(worker_token_file);
    std::stringstream text;
    text << file.rdbuf();
    if (!file) {
      std::cerr << "corvid-worker: cannot read the worker token file " << worker_token_file << "\n";
      return 2;
    }
    options.worker_token = text.str();
  } else if (const char* env = std::getenv("CORVID_WORKER_TOKEN"); env && *env) {
    options.worker_token = env;
  }
  const auto blank = options.worker_token.find_last_not_of(" \t\r\n");
  options.worker_token.erase(blank == std::string::npos ? 0 : blank + 1);
  options.name = name;
  options.slowdown = slowdown;
  options.benchmark_ms = benchmark_ms;
  options.cache_bytes = cache_mb << 20;
  options.lie = lie;
  options.lie_after = lie_after;
  corvid::parse_lie_mode(lie_mode, options.lie_mode);
  boost::asio::io_context io;
  corvid::NativeWorker worker(io, options);
  return worker.run();
}
