// Hostile JSON against the real server (issue 9, findings 2 and 3): headers nested far past the
// 64-level limit from developers and from workers, headers longer than a worker may send, and
// headers whose parsed form would be much larger than their text. Each gets an error naming the
// limit, the server keeps serving, and its peak memory stays a small multiple of what was sent.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>

#include "server_process.hpp"
#include "test_client.hpp"

using namespace corvid;
using namespace corvid::test;

namespace {

constexpr std::size_t kDeep = 50000;  // levels of nesting in the hostile headers
const std::string kTooDeep = "JSON nested deeper than 64 levels";

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
std::string nested_objects(std::size_t depth) {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += "{\"k\":";
  return text + "0" + std::string(depth, '}');
}
// "[x,x,...,x]" of `count` elements.
std::string list_of(std::size_t count, const std::string& x) {
  std::string text = "[" + x;
  text.reserve(count * (x.size() + 1) + 2);
  for (std::size_t i = 1; i < count; ++i) text += "," + x;
  return text + "]";
}

// A binary frame whose header is exactly `header`: hostile headers are written as text, since
// building them as nlohmann::json would recurse in this process too.
std::vector<uint8_t> frame_with_header(const std::string& header) {
  std::vector<uint8_t> bytes(4 + header.size(), 0);
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(len >> (8 * i));
  std::copy(header.begin(), header.end(), bytes.begin() + 4);
  bytes.resize((bytes.size() + 7) / 8 * 8, 0);
  return bytes;
}

// Peak resident memory of process `pid` (VmHWM of /proc/<pid>/status), in bytes.
std::size_t peak_memory_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  FAIL("no VmHWM in /proc/" << pid << "/status");
  return 0;
}

void expect_error_naming(TestSocket& socket, const std::string& words) {
  const Frame reply = socket.receive();
  CHECK(reply.header["type"] == "error");
  CHECK_MESSAGE(reply.header.value("error", "").find(words) != std::string::npos, reply.header.dump());
}

// A developer connection that has said hello.
struct Developer {
  TestSocket socket;
  Developer(uint16_t port, const TestSite& site) : socket(port, "/ws/client") {
    socket.send(client_hello(site.token()));
    socket.receive_type("welcome");
  }
};

// A worker connection that has said hello and sent its benchmark.
struct Worker {
  TestSocket socket;
  explicit Worker(uint16_t port) : socket(port, "/ws/worker") {
    socket.send(worker_hello("json-limits worker"));
    socket.receive_type("welcome");
    socket.send(worker_benchmark());
  }
};

// The server still serves: /api/status answers, and a developer's tensor comes back computed.
void expect_still_serving(const ServerProcess& server, const TestSite& site) {
  REQUIRE(http_get(server.port(), "/api/status").result() == http::status::ok);
  Developer developer(server.port(), site);
  Frame submit;
  submit.header = {{"type", "submit"},
                   {"request_id", 1},
                   {"name", "after hostile JSON"},
                   {"ops", {{{"id", "a"}, {"op", "tensor"}, {"value", {1, 2, 3}}}}},
                   {"outputs", {"a"}}};
  developer.socket.send(submit);
  const auto graph_id = developer.socket.receive_type("submitted").header["graph_id"];
  Frame wait;
  wait.header = {{"type", "wait"}, {"request_id", 2}, {"graph_id", graph_id}};
  developer.socket.send(wait);
  const Frame values = developer.socket.receive_type("values");
  CHECK(values.header["status"] == "computed");
  REQUIRE(values.tensors.size() == 1);
  CHECK(values.tensors[0].tensor.data<int32_t>()[2] == 3);
}

// Sends `header` and returns the server's growth in peak memory (bytes) once its reply arrived,
// which must name `words` and come within `seconds` of the send.
std::size_t growth_for(const ServerProcess& server, TestSocket& socket, const std::string& header,
                       const std::string& words, double seconds) {
  const std::size_t before = peak_memory_bytes(server.pid());
  const auto start = std::chrono::steady_clock::now();
  socket.send_bytes(frame_with_header(header));
  expect_error_naming(socket, words);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_MESSAGE(elapsed < seconds, "the refusal took " << elapsed << " s");
  const std::size_t growth = peak_memory_bytes(server.pid()) - before;
  MESSAGE(header.size() << " bytes of header: server peak memory grew by " << growth << " bytes in " << elapsed << " s");
  return growth;
}

}  // namespace

TEST_CASE("developer headers nested 50,000 deep are refused naming the depth limit, and the server serves on") {
  TestSite site;
  ServerProcess server(site);
  const std::string tensor_a = R"({"id":"a","op":"tensor","value":[1,2]})";
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"a tensor value", R"({"type":"submit","request_id":1,"ops":[{"id":"a","op":"tensor","value":)" +
                             nested_arrays(kDeep) + "}]}"},
      {"params", R"({"type":"submit","request_id":2,"ops":[)" + tensor_a +
                     R"(,{"id":"s","op":"sum","inputs":["a"],"params":{"axis":)" + nested_objects(kDeep) + "}}]}"},
      {"request_id", R"({"type":"submit","request_id":)" + nested_arrays(kDeep) + R"(,"ops":[)" + tensor_a + "]}"},
  };
  for (const auto& [what, header] : headers) {
    CAPTURE(what);
    Developer developer(server.port(), site);
    developer.socket.send_bytes(frame_with_header(header));
    expect_error_naming(developer.socket, kTooDeep);
  }
  expect_still_serving(server, site);
}

TEST_CASE("worker headers nested 50,000 deep are refused naming the depth limit, and the server serves on") {
  TestSite site;
  ServerProcess server(site);
  SUBCASE("in a hello") {
    TestSocket socket(server.port(), "/ws/worker");
    socket.send_bytes(frame_with_header(R"({"type":"hello","version":1,"name":"deep","cached":)" + nested_arrays(kDeep) + "}"));
    expect_error_naming(socket, kTooDeep);
  }
  SUBCASE("in a result") {
    Worker worker(server.port());
    worker.socket.send_bytes(frame_with_header(R"({"type":"result","group_id":1,"compute_ms":1,"op_ms":)" +
                                               nested_objects(kDeep) + "}"));
    expect_error_naming(worker.socket, kTooDeep);
  }
  expect_still_serving(server, site);
}

TEST_CASE("a worker's 50 MB header of nested brackets is refused at once, with bounded memory") {
  TestSite site;
  ServerProcess server(site);
  Worker worker(server.port());
  const std::size_t size = 50u << 20;
  const std::string header = R"({"type":"result","group_id":)" + std::string(size, '[');
  const std::size_t growth = growth_for(server, worker.socket, header, "longer than the limit of 4194304 bytes", 5.0);
  CHECK(growth < 3 * size);  // the message itself is buffered; parsing it took 38x (1.9 GB)
  expect_still_serving(server, site);
}

TEST_CASE("a developer's 50 MB header of nested brackets is refused at once, with bounded memory") {
  TestSite site;
  ServerProcess server(site);
  Developer developer(server.port(), site);
  const std::size_t size = 50u << 20;
  const std::string header = R"({"type":"submit","request_id":1,"ops":)" + std::string(size, '[');
  const std::size_t growth = growth_for(server, developer.socket, header, kTooDeep, 5.0);
  CHECK(growth < 3 * size);
  expect_still_serving(server, site);
}

TEST_CASE("wide headers cost a small multiple of their size: a worker's 20 MB list is refused before parsing") {
  TestSite site;
  ServerProcess server(site);
  Worker worker(server.port());
  const std::string header = R"({"type":"result","group_id":1,"op_ms":)" + list_of(10u << 20, "0") + "}";
  const std::size_t growth = growth_for(server, worker.socket, header, "longer than the limit of 4194304 bytes", 5.0);
  CHECK(growth < 3 * header.size());
  expect_still_serving(server, site);
}

TEST_CASE("wide headers cost a small multiple of their size: a developer's 20 MB of empty objects is refused early") {
  TestSite site;
  ServerProcess server(site);
  Developer developer(server.port(), site);
  const std::string header = R"({"type":"submit","request_id":1,"ops":)" + list_of(7u << 20, "{}") + "}";
  const std::size_t growth = growth_for(server, developer.socket, header, "JSON too dense", 5.0);
  CHECK(growth < 3 * header.size());  // parsed in full, [{},...] takes about 27 bytes a byte
  expect_still_serving(server, site);
}
