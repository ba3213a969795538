#include "processes.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace corvid::bench {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}


}  // namespace

std::string http_get(uint16_t port, const std::string& target, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("GET " + target + ": socket failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("GET " + target + ": cannot connect to 127.0.0.1:" + std::to_string(port));
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    throw std::runtime_error("GET " + target + ": send failed");
  std::string response;
  char buffer[65536];
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0) throw std::runtime_error("GET " + target + ": timed out");
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) throw std::runtime_error("GET " + target + ": receive failed");
    if (n == 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  const auto header_end = response.find("\r\n\r\n");
  if (response.compare(0, 12, "HTTP/1.1 200") != 0 || header_end == std::string::npos)
    throw std::runtime_error("GET " + target + ": unexpected answer: " + response.substr(0, 200));
  std::string body = response.substr(header_end + 4);
  if (response.find("Transfer-Encoding: chunked") < header_end) {
    // De-chunk: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
    std::string plain;
    std::size_t pos = 0;
    for (;;) {
      const auto line_end = body.find("\r\n", pos);
      if (line_end == std::string::npos) break;
      const std::size_t size = std::stoul(body.substr(pos, line_end - pos), nullptr, 16);
      if (size == 0) break;
      plain.append(body, line_end + 2, size);
      pos = line_end + 2 + size + 2;
    }
    body = std::move(plain);
  }
  return body;
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "corvid-scheduler-bench-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Child::Child(const std::vector<std::string>& argv, const fs::path& log, bool capture_stdout) {
  int pipe_fds[2] = {-1, -1};
  if (capture_stdout && ::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log.string());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(capture_stdout ? pipe_fds[1] : log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (capture_stdout) {
    ::close(pipe_fds[1]);
    stdout_fd_ = pipe_fds[0];
  }
}

Child::~Child() {
  stop();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::string Child::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  if (stdout_fd_ < 0) throw std::logic_error("Child::read_until: stdout is not captured");
  const auto deadline = Clock::now() + timeout;
  while (read_.find(needle) == std::string::npos) {
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0)
      throw std::runtime_error("child " + std::to_string(pid_) + " did not print '" + needle + "' in time; it printed: " +
                               read_);
    char buffer[4096];
    const ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n <= 0) throw std::runtime_error("child " + std::to_string(pid_) + " exited before printing '" + needle + "'");
    read_.append(buffer, static_cast<std::size_t>(n));
  }
  return read_;
}

void Child::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

Server::Server(const std::string& binary, const std::string& policy, const std::vector<std::string>& extra_args) {
  for (const char* sub : {"data", "web", "wasm"}) fs::create_directories(dir() / sub);
  std::vector<std::string> argv{binary, "--host", "127.0.0.1", "--port", "0", "--data-dir", (dir() / "data").string(),
                                "--web-dir", (dir() / "web").string(), "--wasm-dir", (dir() / "wasm").string(),
                                "--policy", policy};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Child>(argv, dir() / "server.log", true);
  std::string startup;
  try {
    startup = process_->read_until("\n", std::chrono::seconds(30));
  } catch (const std::exception&) {
    std::ifstream log(dir() / "server.log");
    const std::string printed((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    throw std::runtime_error(binary + " did not print its startup line within 30 s (policy " + policy +
                             "); its log: " + printed.substr(0, 2000));
  }
  static const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)/)");
  std::smatch match;
  if (!std::regex_search(startup, match, listening))
    throw std::runtime_error("corvid-server's first line has no port: " + startup);
  port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
  std::ifstream in(dir() / "data" / "token");
  std::getline(in, token_);
  if (token_.empty()) throw std::runtime_error("no token in " + (dir() / "data" / "token").string());
}

nlohmann::json Server::status() const {
  return nlohmann::json::parse(http_get(port_, "/api/status", std::chrono::seconds(10)));
}

void Server::wait_for_idle_workers(std::size_t count, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    // The fleet's aggregates: /api/status lists one page of workers only.
    const auto fleet = status().at("fleet");
    const std::size_t workers = fleet.at("workers").get<std::size_t>();
    const std::size_t idle = fleet.at("by_state").at("idle").get<std::size_t>();
    if (idle == count && workers == count) return;
    if (Clock::now() > deadline)
      throw std::runtime_error("expected " + std::to_string(count) + " idle workers; the server has " +
                               std::to_string(workers) + " workers (" + fleet.at("by_state").dump() + ") after " +
                               std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

long long Server::groups_done() const { return status().at("fleet").at("groups_done").get<long long>(); }

Workers::Workers(const std::string& binary, const Server& server, const std::vector<double>& slowdowns) {
  for (std::size_t i = 0; i < slowdowns.size(); ++i) {
    std::ostringstream slowdown;
    slowdown << slowdowns[i];
    const std::string name = "bench-" + std::to_string(i) + "-" + slowdown.str() + "x";
    children_.push_back(std::make_unique<Child>(
        std::vector<std::string>{binary, "--server", server.url(), "--name", name, "--slowdown", slowdown.str(),
                                 "--benchmark-ms", "300"},
        server.dir() / (name + ".log"), false));
  }
}

}  // namespace corvid::bench
