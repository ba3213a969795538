// The WebSocket side of a real corvid-server: workers and developers speaking the protocol,
// abuse that must be answered (and eventually closed) without hurting anyone else.
#include <doctest/doctest.h>

#include <fstream>
#include <tuple>
#include <vector>

#include "server_process.hpp"
#include "shared/group_executor.hpp"
#include "test_client.hpp"

using namespace corvid;
using namespace corvid::test;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// Five messages that are not valid frames, and the words their error replies must contain.
const std::vector<std::pair<std::vector<uint8_t>, std::string>>& garbage() {
  static const std::vector<std::pair<std::vector<uint8_t>, std::string>> messages = {
      {{1, 2}, "too short"},
      {{3, 0, 0, 0, '{', '{', '{', 0}, "not valid JSON"},
      {{2, 0, 0, 0, '{', '}', 0, 0}, "type"},
      {{200, 0, 0, 0, '{', '}', 0, 0}, "malformed frame"},
      {bytes_of("definitely not a frame"), "malformed frame"},
  };
  return messages;
}

void expect_error(TestSocket& socket, const std::string& words) {
  Frame reply = socket.receive();
  CHECK(reply.header["type"] == "error");
  CHECK_MESSAGE(reply.header["error"].get<std::string>().find(words) != std::string::npos, reply.header.dump());
}

// A worker that has said hello and sent its benchmark.
struct Worker {
  TestSocket socket;
  nlohmann::json welcome;
  Worker(uint16_t port, const std::string& name) : socket(port, "/ws/worker") {
    socket.send(worker_hello(name));
    welcome = socket.receive_type("welcome").header;
    socket.send(worker_benchmark());
  }
};

}  // namespace

TEST_CASE("a worker receives the assign for a client's graph and its result reaches the client") {
  TestSite site;
  ServerProcess server(site);

  Worker worker(server.port(), "net-test worker");
  CHECK(worker.welcome["worker_id"].is_number_unsigned());
  CHECK(worker.welcome["heartbeat_ms"].is_number());

  TestSocket client(server.port(), "/ws/client");
  client.send(client_hello(site.token()));
  CHECK(client.receive_type("welcome").header["client_id"].is_number_unsigned());
  client.send(submit_sum(1));
  Frame submitted = client.receive_type("submitted");
  CHECK(submitted.header["request_id"] == 1);
  CHECK(submitted.header["added"] == 3);
  uint64_t graph_id = submitted.header["graph_id"].get<uint64_t>();

  Frame assign = worker.socket.receive_type("assign");
  bool has_add = false;
  for (const auto& op : assign.header["ops"]) has_add = has_add || op["op"] == "add";
  CHECK(has_add);

  // The worker computes the group with the real kernel and answers.
  GroupExecutor executor;
  Frame result = executor.execute(assign);
  REQUIRE(result.header["type"] == "result");
  worker.socket.send(result);

  Frame wait;
  wait.header = {{"type", "wait"}, {"request_id", 2}, {"graph_id", graph_id}};
  client.send(wait);
  Frame values = client.receive_type("values");
  CHECK(values.header["status"] == "computed");
  REQUIRE(values.tensors.size() == 1);
  const Tensor& c = values.tensors[0].tensor;
  REQUIRE(c.shape() == Shape{3});
  CHECK(c.at_as_double(0) == 6);
  CHECK(c.at_as_double(1) == 24);
  CHECK(c.at_as_double(2) == 10);
}

TEST_CASE("a worker of another protocol version is refused with both versions named") {
  TestSite site;
  ServerProcess server(site);
  TestSocket socket(server.port(), "/ws/worker");
  socket.send(worker_hello("from the future", 2));
  expect_error(socket, "protocol version 2 is not supported: this server speaks protocol version 1");
  CHECK(socket.expect_close().code == 1008);
}

TEST_CASE("a worker hello with a device id or slot out of its limits is refused, and the server stays up") {
  TestSite site;
  ServerProcess server(site);
  for (const auto& [field, value, words] :
       std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"device", std::string(65, 'd'), "hello: 'device' must be at most 64 characters of A-Z, a-z, 0-9, '_' and '-'"},
           {"device", "tab one", "hello: 'device' must be at most 64 characters"},
           {"slot", 256, "hello: 'slot' must be below 256"}}) {
    TestSocket socket(server.port(), "/ws/worker");
    Frame hello = worker_hello("tab");
    hello.header[field] = value;
    socket.send(hello);
    expect_error(socket, words);
    CHECK(socket.expect_close().code == 1008);
  }
  Worker ok(server.port(), "still up");  // a well-formed worker still gets in
  CHECK(ok.welcome["worker_id"].get<uint64_t>() > 0);
}

TEST_CASE("malformed messages get error replies, five of them a close, and the server stays up") {
  TestSite site;
  ServerProcess server(site);

  SUBCASE("from a worker after its hello") {
    Worker worker(server.port(), "abuser");
    for (const auto& [bytes, words] : garbage()) {
      worker.socket.send_bytes(bytes);
      expect_error(worker.socket, words);
    }
    CHECK(worker.socket.expect_close().code == 1008);
  }
  SUBCASE("from a worker before any hello") {
    TestSocket socket(server.port(), "/ws/worker");
    socket.send_bytes(bytes_of("a text message"), false);
    expect_error(socket, "binary frame");
    Frame not_hello;
    not_hello.header = {{"type", "benchmark"}};
    socket.send(not_hello);
    expect_error(socket, "the first message must be a hello, not 'benchmark'");
    for (int i = 0; i < 3; ++i) {
      socket.send_bytes(garbage()[i].first);
      expect_error(socket, garbage()[i].second);
    }
    CHECK(socket.expect_close().code == 1008);
  }
  SUBCASE("from a client after its hello") {
    TestSocket socket(server.port(), "/ws/client");
    socket.send(client_hello(site.token()));
    socket.receive_type("welcome");
    socket.send_bytes(bytes_of("{\"type\":\"submit\"}"), false);
    expect_error(socket, "binary frame");
    for (int i = 0; i < 4; ++i) {
      socket.send_bytes(garbage()[i].first);
      expect_error(socket, garbage()[i].second);
    }
    CHECK(socket.expect_close().code == 1008);
  }

  // Everyone else is unaffected.
  Worker other(server.port(), "well-behaved");
  CHECK(other.welcome["worker_id"].is_number_unsigned());
  CHECK(http_get(server.port(), "/api/status").result() == http::status::ok);
}

TEST_CASE("messages over --max-frame-mb are drained and answered with an error, five of them a close") {
  TestSite site;
  ServerProcess server(site, {"--max-frame-mb", "1"});
  Frame big;
  big.header = {{"type", "result"}, {"group_id", 1}};
  big.tensors.push_back({"x", Tensor(DType::f32, {3, 1 << 17})});  // 1.5 MiB of tensor data
  const std::string words = "is larger than the server's cap of 1048576 bytes (--max-frame-mb)";

  SUBCASE("from a worker") {
    Worker worker(server.port(), "sends too much");
    for (int i = 0; i < 5; ++i) {
      worker.socket.send(big);
      expect_error(worker.socket, words);
    }
    CHECK(worker.socket.expect_close().code == 1008);
  }
  SUBCASE("from a client, whose connection stays usable") {
    TestSocket client(server.port(), "/ws/client");
    client.send(client_hello(site.token()));  // before the hello the cap is far lower (tests/security)
    client.receive_type("welcome");
    client.send(big);
    expect_error(client, words);
    client.send(submit_sum(1));
    CHECK(client.receive_type("submitted").header.contains("graph_id"));
  }

  Worker other(server.port(), "sends little");
  CHECK(other.welcome["worker_id"].is_number_unsigned());
}

TEST_CASE("a frame header announcing a terabyte does not make the server allocate it") {
  TestSite site;
  ServerProcess server(site);
  Worker liar(server.port(), "announces a terabyte");
  // FIN + binary, masked, 64-bit length 2^40, mask key 0, then a little of the promised payload.
  std::vector<uint8_t> forged = {0x82, 0x80 | 127, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  forged.resize(forged.size() + 4096, 0x55);
  liar.socket.send_raw_tcp(forged);

  Worker other(server.port(), "honest");
  CHECK(other.welcome["worker_id"].is_number_unsigned());
  CHECK(http_get(server.port(), "/api/status").result() == http::status::ok);
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(server.log().find("internal error") == std::string::npos);
}

TEST_CASE("developers need the token from the data directory") {
  TestSite site;
  ServerProcess server(site);
  TestSocket socket(server.port(), "/ws/client");

  SUBCASE("a wrong token") { socket.send(client_hello("0123456789abcdef0123456789abcdef")); }
  SUBCASE("no token") {
    Frame hello;
    hello.header = {{"type", "hello"}, {"version", kProtocolVersion}};
    socket.send(hello);
  }
  SUBCASE("the token as a number") {
    Frame hello = client_hello("");
    hello.header["token"] = 12345;
    socket.send(hello);
  }
  expect_error(socket, "invalid token");
  Closed closed = socket.expect_close();
  CHECK(closed.code == 1008);
  CHECK(closed.reason == "invalid token");
}

TEST_CASE("a non-hello first message from a client is an error, not a close") {
  TestSite site;
  ServerProcess server(site);
  TestSocket socket(server.port(), "/ws/client");
  socket.send(submit_sum(7));
  expect_error(socket, "the first message must be a hello, not 'submit'");
  socket.send(client_hello(site.token()));
  CHECK(socket.receive_type("welcome").header.contains("client_id"));
}

TEST_CASE("WebSocket upgrades elsewhere than /ws/worker and /ws/client are refused") {
  TestSite site;
  ServerProcess server(site);
  CHECK_THROWS_AS(TestSocket(server.port(), "/ws/other"), beast::system_error);
  CHECK_THROWS_AS(TestSocket(server.port(), "/"), beast::system_error);
}

namespace {

// POST /api/drain<query> with these extra header lines, over a fresh connection.
HttpReply post_drain(uint16_t port, const std::string& query, const std::vector<std::string>& headers) {
  std::string request = "POST /api/drain" + query + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nContent-Length: 0\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  return raw_http_exchange(port, request + "\r\n");
}

std::string error_of(const HttpReply& reply) { return nlohmann::json::parse(reply.body())["error"].get<std::string>(); }

}  // namespace

TEST_CASE("--peers reach workers in the welcome, and a drain redirects free workers with a normal close") {
  TestSite site;
  ServerProcess server(site, {"--peers", "ws://127.0.0.1:1,wss://peer.example", "--verify", "off"});
  // The busy worker takes the graph's one group: a drain leaves it where it is.
  Worker busy(server.port(), "busy");
  CHECK(busy.welcome["servers"] == nlohmann::json({"ws://127.0.0.1:1", "wss://peer.example"}));
  TestSocket client(server.port(), "/ws/client");
  client.send(client_hello(site.token()));
  client.receive_type("welcome");
  client.send(submit_sum(1));
  client.receive_type("submitted");
  busy.socket.receive_type("assign");
  Worker idle(server.port(), "idle");
  Worker* free_one = &idle;

  const std::string auth = "Authorization: Bearer " + site.token();
  HttpReply no_token = post_drain(server.port(), "?url=ws://127.0.0.1:2", {});
  CHECK(no_token.result() == http::status::unauthorized);
  CHECK(error_of(no_token).find("/api/drain needs the developer token") == 0);
  CHECK(post_drain(server.port(), "?url=ws://127.0.0.1:2", {"Authorization: Bearer wrong"}).result() ==
        http::status::unauthorized);
  HttpReply get = http_get(server.port(), "/api/drain?url=ws://127.0.0.1:2");
  CHECK(get.result() == http::status::method_not_allowed);
  CHECK(get[http::field::allow] == "POST");
  HttpReply bad_url = post_drain(server.port(), "?url=http://127.0.0.1:2", {auth});
  CHECK(bad_url.result() == http::status::bad_request);
  CHECK(error_of(bad_url) == "/api/drain: 'url' must start with ws:// or wss:// and name a host");
  CHECK(error_of(post_drain(server.port(), "", {auth})) ==
        "/api/drain: 'url' is required: the server the workers go to (ws://host:port)");
  CHECK(error_of(post_drain(server.port(), "?url=ws://h&count=x", {auth})) ==
        "/api/drain: 'count' must be a non-negative decimal number, not 'x'");
  CHECK(error_of(post_drain(server.port(), "?url=ws://h&shard=1", {auth})) ==
        "/api/drain: unknown parameter 'shard' (there are url and count)");

  HttpReply drained = post_drain(server.port(), "?url=ws%3A%2F%2F127.0.0.1%3A2", {auth});
  REQUIRE(drained.result() == http::status::ok);
  CHECK(nlohmann::json::parse(drained.body()) == nlohmann::json({{"redirected", 1}, {"url", "ws://127.0.0.1:2"}}));
  Frame redirect = free_one->socket.receive_type("redirect");
  CHECK(redirect.header["url"] == "ws://127.0.0.1:2");
  CHECK(free_one->socket.expect_close().code == 1000);
  // Pages of the peers may open /ws/worker here (a page failing over from its own server).
  auto upgrade_from = [&](const std::string& origin) {
    std::vector<std::string> headers = websocket_upgrade_headers();
    headers.push_back("Origin: " + origin);
    return http_get_with_headers(server.port(), "/ws/worker", headers).result();
  };
  CHECK(upgrade_from("http://127.0.0.1:1") == http::status::switching_protocols);
  CHECK(upgrade_from("https://peer.example") == http::status::switching_protocols);
  CHECK(upgrade_from("http://elsewhere.example") == http::status::forbidden);
  // The holder stays.
  CHECK(nlohmann::json::parse(http_get(server.port(), "/api/status").body())["workers"].size() == 1);
}
