// Child processes for the networked scheduler benchmark: a real corvid-server on a free loopback
// port with a temporary data directory, real corvid-worker processes connected to it, and a
// small HTTP GET for the server's /api/status.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace corvid::bench {

// A plain HTTP/1.1 GET on 127.0.0.1:port with Connection: close; returns the body. Throws
// std::runtime_error when it fails or `timeout` passes.
std::string http_get(uint16_t port, const std::string& target, std::chrono::milliseconds timeout);

// A temporary directory (data/, web/, wasm/ and the children's logs), removed when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One child process; SIGTERM, then SIGKILL after a grace period, when destroyed.
class Child {
 public:
  // Starts argv[0] with argv; stdout goes to a pipe (read with read_until) when capture_stdout,
  // otherwise with stderr to `log`. Throws std::runtime_error if fork/exec fails.
  Child(const std::vector<std::string>& argv, const std::filesystem::path& log, bool capture_stdout);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads stdout until `needle` appeared and returns everything read; throws if the child exits
  // or `timeout` passes first.
  std::string read_until(const std::string& needle, std::chrono::milliseconds timeout);
  // Ends the child (SIGTERM, SIGKILL after `grace`) and reaps it.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string read_;
};

// A corvid-server child with its own data directory, started on 127.0.0.1 with --port 0.
class Server {
 public:
  // Starts `binary` with --policy `policy` (eft or round-robin) and `extra_args`, and waits (at
  // most 30 s) for its startup line; reads the developer token from <data-dir>/token.
  Server(const std::string& binary, const std::string& policy, const std::vector<std::string>& extra_args = {});
  uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  const std::string& token() const { return token_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  pid_t pid() const { return process_->pid(); }
  // GET /api/status (bounded by a 10 s timeout); throws std::runtime_error on failure.
  nlohmann::json status() const;
  // Waits until exactly `count` workers are connected and past their benchmark (state idle);
  // throws std::runtime_error naming what it saw after `timeout`.
  void wait_for_idle_workers(std::size_t count, std::chrono::milliseconds timeout) const;
  // Sum of groups_done over the connected workers.
  long long groups_done() const;

 private:
  TempDir dir_;
  std::unique_ptr<Child> process_;
  uint16_t port_ = 0;
  std::string token_;
};

// corvid-worker children connected to a server, one per slowdown factor.
class Workers {
 public:
  Workers(const std::string& binary, const Server& server, const std::vector<double>& slowdowns);
  std::size_t size() const { return children_.size(); }

 private:
  std::vector<std::unique_ptr<Child>> children_;
};

}  // namespace corvid::bench
