// Test fixtures for the network tests: a temporary site (web/ and wasm/ folders with known files,
// a secret file next to them, a data folder) and a real corvid-server child process serving it
// on a free loopback port.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace corvid::test {

// A temporary directory tree, removed when destroyed:
//   root/web/{index.html,status.html,app.js,style.css}  root/wasm/{corvid_kernel.js,.wasm}
//   root/secret.txt (must never be served)  root/data/ (the server's data directory)
class TestSite {
 public:
  TestSite();
  ~TestSite();
  TestSite(const TestSite&) = delete;
  TestSite& operator=(const TestSite&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path web_dir() const { return root_ / "web"; }
  std::filesystem::path wasm_dir() const { return root_ / "wasm"; }
  std::filesystem::path data_dir() const { return root_ / "data"; }

  // The developer token the server wrote to data/token ("" before the server started).
  std::string token() const;

  static constexpr const char* kSecret = "the-secret-next-to-web";
  static const std::string& wasm_bytes();  // the content of wasm/corvid_kernel.wasm

 private:
  std::filesystem::path root_;
};

// A corvid-server child started with --host 127.0.0.1 --port 0 on a site; the port is read from
// its startup line, its stderr goes to root/server.log (copied to the test's stderr at the end).
// Killed (SIGKILL) when destroyed if still running.
class ServerProcess {
 public:
  // Starts the server and waits for its startup line. Throws std::runtime_error if the server
  // exits or stays silent for 30 s.
  explicit ServerProcess(const TestSite& site, std::vector<std::string> extra_args = {});
  // The same, with the server's command line run by `wrapper` (a command and its arguments,
  // looked up in PATH, e.g. {"prlimit", "--nofile=64:64"}), which must exec it in its own process.
  ServerProcess(const TestSite& site, std::vector<std::string> extra_args, std::vector<std::string> wrapper);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  // The server's process id (for /proc/<pid>/...); -1 once it ended.
  pid_t pid() const { return pid_; }
  // Everything the server printed on stdout before it was ready.
  const std::string& startup_output() const { return startup_; }
  // What the server has logged on stderr so far.
  std::string log() const;

  void signal(int sig);
  // Waits for the process to end (SIGKILL after 30 s) and returns its exit code, or 128 + the
  // signal that ended it.
  int wait_exit();
  // signal(sig) then wait_exit().
  int stop(int sig = SIGTERM);

 private:
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  std::string startup_;
};

}  // namespace corvid::test
