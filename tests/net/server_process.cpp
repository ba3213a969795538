#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace corvid::test {
namespace {

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

TestSite::TestSite() {
  std::string pattern = (fs::temp_directory_path() / "corvid-net-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
  fs::create_directories(web_dir());
  fs::create_directories(wasm_dir());
  write_file(web_dir() / "index.html", "<!doctype html><title>participate page of the test site</title>\n");
  write_file(web_dir() / "status.html", "<!doctype html><title>status page of the test site</title>\n");
  write_file(web_dir() / "app.js", "console.log('app');\n");
  write_file(web_dir() / "style.css", "body { color: black; }\n");
  write_file(wasm_dir() / "corvid_kernel.js", "var createCorvidKernel = null; // test kernel loader\n");
  write_file(wasm_dir() / "corvid_kernel.wasm", wasm_bytes());
  write_file(root_ / "secret.txt", kSecret);
}

std::string TestSite::token() const {
  std::ifstream in(data_dir() / "token");
  std::string token;
  in >> token;
  return token;
}

TestSite::~TestSite() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

const std::string& TestSite::wasm_bytes() {
  static const std::string bytes("\0asm\x01\0\0\0 test module", 20);
  return bytes;
}

ServerProcess::ServerProcess(const TestSite& site, std::vector<std::string> extra_args)
    : ServerProcess(site, std::move(extra_args), {}) {}

ServerProcess::ServerProcess(const TestSite& site, std::vector<std::string> extra_args,
                             std::vector<std::string> wrapper)
    : log_file_(site.root() / "server.log") {
  std::vector<std::string> args = {CORVID_SERVER_BIN, "--host", "127.0.0.1", "--port", "0",
                                   "--data-dir", site.data_dir().string(), "--web-dir", site.web_dir().string(),
                                   "--wasm-dir", site.wasm_dir().string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  args.insert(args.begin(), wrapper.begin(), wrapper.end());

  int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot create " + log_file_.string());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  ::close(log_fd);
  stdout_fd_ = pipe_fds[0];

  // Read stdout until the "listening on http://127.0.0.1:<port>/" line is complete.
  static const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)/)");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::smatch match;
  while (!std::regex_search(startup_, match, listening)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      stop(SIGKILL);
      throw std::runtime_error("corvid-server did not print its startup line within 30 s; it printed: " + startup_ +
                               log());
    }
    char buffer[4096];
    ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n <= 0) {
      int code = wait_exit();
      throw std::runtime_error("corvid-server exited with " + std::to_string(code) + " before listening; it printed: " +
                               startup_ + log());
    }
    startup_.append(buffer, static_cast<std::size_t>(n));
  }
  port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(SIGKILL);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  std::cerr << log();  // shown by ctest --output-on-failure
}

std::string ServerProcess::log() const {
  std::ifstream in(log_file_);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void ServerProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int ServerProcess::wait_exit() {
  if (pid_ <= 0) throw std::logic_error("ServerProcess::wait_exit: the server already ended");
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ServerProcess::stop(int sig) {
  signal(sig);
  return wait_exit();
}

}  // namespace corvid::test
