// Connection budgets of a real corvid-server (docs/protocol.md, "Limits"): the hello deadline, the
// message cap before a hello, the send budget of a peer that stops reading, the per-address rate
// of new worker connections, and accepting when the process runs out of file descriptors.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "test_client.hpp"

using namespace corvid;
using namespace corvid::test;
using namespace std::chrono_literals;

namespace {

// The resident memory of process `pid` in KiB (VmRSS of /proc/<pid>/status).
long resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  throw std::runtime_error("no VmRSS for process " + std::to_string(pid));
}

// Waits up to `limit` for `condition()` to hold; returns whether it did.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A WebSocket frame as a client sends it: FIN + binary, masked with the key 0 (so the payload
// goes as is), with the length in the shortest form, followed by `payload_size` bytes.
std::vector<uint8_t> client_frame_header(uint64_t payload_size) {
  std::vector<uint8_t> header = {0x82};
  if (payload_size < 126) {
    header.push_back(static_cast<uint8_t>(0x80 | payload_size));
  } else if (payload_size < 65536) {
    header.insert(header.end(), {0x80 | 126, static_cast<uint8_t>(payload_size >> 8), static_cast<uint8_t>(payload_size)});
  } else {
    header.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) header.push_back(static_cast<uint8_t>(payload_size >> shift));
  }
  header.insert(header.end(), 4, 0);  // mask key
  return header;
}

// A blocking TCP connection to 127.0.0.1 for peers that misbehave below what TestSocket allows:
// it upgrades by hand, sends frames, and reads nothing unless asked. Every call gives up after 20 s.
class RawConnection {
 public:
  // Connects; a receive_buffer_bytes above 0 shrinks the socket's receive buffer first.
  explicit RawConnection(uint16_t port, int receive_buffer_bytes = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (receive_buffer_bytes > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    timeval timeout{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes`; false once the server has broken the connection (reset, closed).
  // Throws if the send times out.
  bool send_all(const std::vector<uint8_t>& bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) throw std::runtime_error("send timed out");
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Sends `frame` as one masked binary WebSocket message; false as send_all.
  bool send_frame(const Frame& frame) {
    std::vector<uint8_t> payload = encode_frame(frame);
    std::vector<uint8_t> message = client_frame_header(payload.size());
    message.insert(message.end(), payload.begin(), payload.end());
    return send_all(message);
  }

  // Sends a WebSocket upgrade for `path` and returns the reply: its head (status line and
  // headers) and, when it announces a Content-Length, its body. Throws if the reply does not come.
  std::string upgrade(const std::string& path, uint16_t port) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!send_all({request.begin(), request.end()})) throw std::runtime_error("upgrade: connection broken");
    std::string reply;
    while (reply.size() < 4 || reply.compare(reply.size() - 4, 4, "\r\n\r\n") != 0) reply += read_byte();
    auto length_at = reply.find("Content-Length: ");
    if (length_at != std::string::npos)
      for (long left = std::stol(reply.substr(length_at + 16)); left > 0; --left) reply += read_byte();
    return reply;
  }

 private:
  char read_byte() {
    char c = 0;
    if (::recv(fd_, &c, 1, 0) != 1) throw std::runtime_error("the server sent no complete reply");
    return c;
  }

  int fd_;
};

Frame header_frame(nlohmann::json header) {
  Frame frame;
  frame.header = std::move(header);
  return frame;
}

}  // namespace

TEST_CASE("an upgraded WebSocket that sends no hello is closed with 1008 once --hello-timeout-ms passes") {
  TestSite site;
  ServerProcess server(site, {"--hello-timeout-ms", "300"});
  for (const char* path : {"/ws/worker", "/ws/client"}) {
    CAPTURE(path);
    auto opened = std::chrono::steady_clock::now();
    TestSocket silent(server.port(), path);
    Frame error = silent.receive();
    CHECK(error.header["type"] == "error");
    CHECK_MESSAGE(error.header["error"].get<std::string>().find("no hello within 300 ms") != std::string::npos,
                  error.header.dump());
    Closed closed = silent.expect_close();
    auto waited = std::chrono::steady_clock::now() - opened;
    CHECK(closed.code == 1008);
    CHECK_MESSAGE(closed.reason.find("(--hello-timeout-ms)") != std::string::npos, closed.reason);
    CHECK(waited >= 250ms);
    CHECK(waited < 5s);
  }
  // A connection that said hello outlives the deadline.
  TestSocket worker(server.port(), "/ws/worker");
  worker.send(worker_hello("says hello in time"));
  worker.receive_type("welcome");
  std::this_thread::sleep_for(600ms);
  worker.send(header_frame({{"type", "heartbeat"}, {"t", 1}}));
  CHECK(worker.receive().header["type"] == "heartbeat");
}

TEST_CASE("before its hello a connection may send 256 KiB in a message, and more is drained, not held, and refused") {
  TestSite site;
  ServerProcess server(site);  // the frame cap stays at its default, 256 MiB
  const std::string cap_words = "larger than the server's cap of 262144 bytes for a message before the hello";

  SUBCASE("a 1 MB message, from a worker and from a developer, gets the cap error; the hello still works") {
    for (const char* path : {"/ws/worker", "/ws/client"}) {
      CAPTURE(path);
      TestSocket socket(server.port(), path);
      socket.send_bytes(std::vector<uint8_t>(1000000, 7));
      Frame reply = socket.receive();
      CHECK(reply.header["type"] == "error");
      CHECK_MESSAGE(reply.header["error"].get<std::string>().find("message of 1000000 bytes is " + cap_words) !=
                        std::string::npos,
                    reply.header.dump());
      socket.send(std::string(path) == "/ws/worker" ? worker_hello("after the cap") : client_hello(site.token()));
      CHECK(socket.receive_type("welcome").header.is_object());
    }
  }
  SUBCASE("64 MiB of a 100 MiB message in flight leave the server's memory as it was") {
    TestSocket worker(server.port(), "/ws/worker");
    const uint64_t announced = 100u << 20;
    long before = resident_kib(server.pid());
    worker.send_raw_tcp(client_frame_header(announced));
    const std::vector<uint8_t> chunk(1u << 20, 0x55);
    for (int i = 0; i < 64; ++i) worker.send_raw_tcp(chunk);
    std::this_thread::sleep_for(300ms);
    long during = resident_kib(server.pid());
    CHECK_MESSAGE(during - before < 16 * 1024, "resident memory grew by " << (during - before) << " KiB");
    for (int i = 64; i < 100; ++i) worker.send_raw_tcp(chunk);
    Frame reply = worker.receive();
    CHECK_MESSAGE(reply.header["error"].get<std::string>().find("message of 104857600 bytes is " + cap_words) !=
                      std::string::npos,
                  reply.header.dump());
    worker.send(worker_hello("after the cap"));
    CHECK(worker.receive_type("welcome").header.is_object());
  }
}

TEST_CASE("a developer that stops reading is dropped once its unsent replies pass the send budget, memory bounded") {
  TestSite site;
  ServerProcess server(site, {"--max-frame-mb", "1"});  // send budget: 1 MiB + 64 MiB
  RawConnection peer(server.port(), 4096);              // a tiny receive buffer, never read
  REQUIRE(peer.upgrade("/ws/client", server.port()).rfind("HTTP/1.1 101", 0) == 0);
  const long before = resident_kib(server.pid());
  REQUIRE(peer.send_frame(client_hello(site.token())));
  // A 4 MB source the server computes at submission: every wait for it is answered with 4 MB.
  REQUIRE(peer.send_frame(header_frame({{"type", "submit"},
                                        {"request_id", 1},
                                        {"name", "four megabytes"},
                                        {"ops", {{{"id", "o"}, {"op", "ones"}, {"params", {{"shape", {1000000}}}}}}},
                                        {"outputs", {"o"}}})));
  // 150 waits would queue 600 MB of replies; the first graph of a new data directory is graph 1.
  for (int i = 0; i < 150; ++i)
    if (!peer.send_frame(header_frame({{"type", "wait"}, {"request_id", 2 + i}, {"graph_id", 1}, {"ids", {"o"}}})))
      break;

  CHECK(eventually([&] { return server.log().find("is not reading") != std::string::npos; }, 20s));
  CHECK(server.log().find("dropping the connection of 127.0.0.1:") != std::string::npos);
  const long after = resident_kib(server.pid());
  CHECK_MESSAGE(after - before < 200 * 1024, "resident memory grew by " << (after - before) << " KiB");
  // The server has closed the socket: sending more soon fails.
  const Frame wait = header_frame({{"type", "wait"}, {"request_id", 1000}, {"graph_id", 1}, {"ids", {"o"}}});
  CHECK(eventually([&] { return !peer.send_frame(wait); }, 10s));
  CHECK(http_get(server.port(), "/api/status").result() == http::status::ok);
}

TEST_CASE("a worker that stops reading is closed and its queued groups freed, memory bounded") {
  TestSite site;
  // Send budget 1 MiB + 64 MiB; a worker silent for 3 x 300 ms is dropped.
  ServerProcess server(site, {"--max-frame-mb", "1", "--heartbeat-ms", "300"});
  RawConnection worker(server.port(), 4096);  // a tiny receive buffer, never read after the upgrade
  REQUIRE(worker.upgrade("/ws/worker", server.port()).rfind("HTTP/1.1 101", 0) == 0);
  REQUIRE(worker.send_frame(worker_hello("deaf")));
  REQUIRE(worker.send_frame(worker_benchmark()));
  const long before = resident_kib(server.pid());
  RawConnection developer(server.port());
  REQUIRE(developer.upgrade("/ws/client", server.port()).rfind("HTTP/1.1 101", 0) == 0);
  REQUIRE(developer.send_frame(client_hello(site.token())));
  // 40 sources of 4 MB the server computes at submission, each negated by the worker: its groups
  // carry up to 64 MB of inputs each, which it never reads.
  nlohmann::json ops = nlohmann::json::array();
  for (int i = 0; i < 40; ++i) {
    ops.push_back({{"id", "x" + std::to_string(i)}, {"op", "ones"}, {"params", {{"shape", {1000000}}}}});
    ops.push_back({{"id", "y" + std::to_string(i)}, {"op", "neg"}, {"inputs", {"x" + std::to_string(i)}}});
  }
  REQUIRE(developer.send_frame(header_frame({{"type", "submit"}, {"request_id", 1}, {"name", "deaf worker"}, {"ops", ops}})));

  // Dropped for silence (or for its queue passing the budget), then its socket is closed: it does
  // not take the close, so after the grace the connection is dropped with its queued frames.
  CHECK(eventually([&] {
    return nlohmann::json::parse(http_get(server.port(), "/api/status").body()).at("fleet").at("workers") == 0;
  }, 10s));
  CHECK(eventually([&] { return server.log().find("dropping the connection of 127.0.0.1:") != std::string::npos; }, 20s));
  const long after = resident_kib(server.pid());
  // The 160 MB of sources stay in the graph; the queued copies of the assigns are gone.
  CHECK_MESSAGE(after - before < 250 * 1024, "resident memory grew by " << (after - before) << " KiB");
  CHECK(eventually([&] { return !worker.send_frame(header_frame({{"type", "heartbeat"}, {"t", 2}})); }, 10s));
}

TEST_CASE("worker connections from one address past --worker-connect-burst and --max-worker-connects-per-s get 429") {
  TestSite site;
  ServerProcess server(site, {"--max-worker-connects-per-s", "1", "--worker-connect-burst", "3"});
  std::vector<std::unique_ptr<RawConnection>> open;
  auto upgrade = [&](const std::string& path) {
    open.push_back(std::make_unique<RawConnection>(server.port()));
    return open.back()->upgrade(path, server.port());
  };
  for (int i = 0; i < 3; ++i) CHECK(upgrade("/ws/worker").rfind("HTTP/1.1 101", 0) == 0);
  std::string refused = upgrade("/ws/worker");
  CHECK_MESSAGE(refused.rfind("HTTP/1.1 429", 0) == 0, refused);
  CHECK_MESSAGE(refused.find("Retry-After: 1\r\n") != std::string::npos, refused);
  CHECK_MESSAGE(refused.find("--max-worker-connects-per-s") != std::string::npos, refused);
  // Developers are not counted.
  for (int i = 0; i < 5; ++i) CHECK(upgrade("/ws/client").rfind("HTTP/1.1 101", 0) == 0);
  // A second later the bucket holds a token again.
  std::this_thread::sleep_for(1100ms);
  CHECK(upgrade("/ws/worker").rfind("HTTP/1.1 101", 0) == 0);
}

TEST_CASE("by default, 30 workers may connect at once from one address (examples and tests start many)") {
  TestSite site;
  ServerProcess server(site);
  std::vector<std::unique_ptr<TestSocket>> workers;
  for (int i = 0; i < 30; ++i) {
    workers.push_back(std::make_unique<TestSocket>(server.port(), "/ws/worker"));
    workers.back()->send(worker_hello("worker " + std::to_string(i)));
    CHECK(workers.back()->receive_type("welcome").header.is_object());
  }
}

TEST_CASE("out of file descriptors the server pauses accepting, logs little, and serves again once they free up") {
  TestSite site;
  ServerProcess server(site, {}, {"prlimit", "--nofile=64:64"});
  CHECK_MESSAGE(server.startup_output().find("open file limit 64 ") != std::string::npos, server.startup_output());
  std::vector<std::unique_ptr<RawConnection>> idle;  // more than the server has descriptors for
  for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  REQUIRE(eventually([&] { return server.log().find("Too many open files") != std::string::npos; }, 10s));
  const std::size_t logged = server.log().size();
  std::this_thread::sleep_for(2s);
  CHECK_MESSAGE(server.log().size() - logged < 2048, "the log grew by " << server.log().size() - logged << " bytes");
  idle.clear();
  CHECK(http_get(server.port(), "/api/status").result() == http::status::ok);
}
