// Hostile workers and a damaged data directory against the real corvid-server: a worker that
// answers every group with a kernel error cannot fail an op, and a corvid.db that is empty or
// not Corvid's stops the server at start instead of giving graph ids out again from 1.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "server_process.hpp"
#include "shared/group_executor.hpp"
#include "test_client.hpp"

using namespace corvid;
using namespace corvid::test;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

// A worker that has said hello and sent a benchmark, and whose benchmark the server has taken
// (a heartbeat sent after it has been answered).
struct Worker {
  TestSocket socket;
  Worker(uint16_t port, const std::string& name, double gflops) : socket(port, "/ws/worker") {
    socket.send(worker_hello(name));
    socket.receive_type("welcome");
    Frame bench = worker_benchmark();
    bench.header["matmul_gflops"] = gflops;
    bench.header["elementwise_gbs"] = gflops;
    socket.send(bench);
    socket.send(Frame{{{"type", "heartbeat"}, {"t", 0}}, {}});
    CHECK(socket.receive().header["type"] == "heartbeat");
  }
};

// The liar: answers `assign` with a kernel error for the group's last op.
void answer_with_kernel_error(Worker& liar, const Frame& assign) {
  Frame error;
  error.header = {{"type", "error"},
                  {"group_id", assign.header["group_id"]},
                  {"op_id", assign.header["ops"].back()["id"]},
                  {"kind", "kernel"},
                  {"error", "add: invented failure"}};
  liar.socket.send(error);
}

// A developer connected with the token, who submitted submit_sum and gets its graph id.
struct Developer {
  TestSocket socket;
  uint64_t graph_id = 0;
  Developer(uint16_t port, const TestSite& site) : socket(port, "/ws/client") {
    socket.send(client_hello(site.token()));
    socket.receive_type("welcome");
    socket.send(submit_sum(1));
    graph_id = socket.receive_type("submitted").header["graph_id"].get<uint64_t>();
  }
  // Waits for the graph and checks c = [6, 24, 10].
  void expect_sum() {
    Frame wait;
    wait.header = {{"type", "wait"}, {"request_id", 2}, {"graph_id", graph_id}};
    socket.send(wait);
    Frame values = socket.receive_type("values");
    CHECK_MESSAGE(values.header["status"] == "computed", values.header.dump());
    REQUIRE(values.tensors.size() == 1);
    const Tensor& c = values.tensors[0].tensor;
    CHECK(c.at_as_double(0) == 6);
    CHECK(c.at_as_double(1) == 24);
    CHECK(c.at_as_double(2) == 10);
  }
};

uint64_t failures_of(uint16_t port, const std::string& worker_name) {
  auto status = nlohmann::json::parse(http_get(port, "/api/status").body());
  for (const auto& w : status["workers"])
    if (w["name"] == worker_name) return w["failures"].get<uint64_t>();
  FAIL("worker '" << worker_name << "' is not in /api/status");
  return 0;
}

// The message ServerProcess throws when the server exits before listening ("" if it started).
std::string start_refusal(const TestSite& site) {
  try {
    ServerProcess server(site);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a worker that answers every group with a kernel error does not fail the op, and an honest worker computes it") {
  TestSite site;
  ServerProcess server(site);
  Worker liar(server.port(), "liar", 1000);  // claims to be fast, so it gets the group first
  Developer developer(server.port(), site);
  Frame assign = liar.socket.receive_type("assign");
  Worker honest(server.port(), "honest", 10);
  answer_with_kernel_error(liar, assign);

  GroupExecutor executor;
  Frame retry = honest.socket.receive_type("assign");
  Frame result = executor.execute(retry);
  REQUIRE(result.header["type"] == "result");
  honest.socket.send(result);
  developer.expect_sum();
  CHECK(failures_of(server.port(), "liar") == 1);
  CHECK(failures_of(server.port(), "honest") == 0);
}

TEST_CASE("a lone worker's kernel error is settled by the server's own kernel, which computes the op") {
  TestSite site;
  ServerProcess server(site);
  Worker liar(server.port(), "liar", 10);
  Developer developer(server.port(), site);
  answer_with_kernel_error(liar, liar.socket.receive_type("assign"));
  developer.expect_sum();
  CHECK(failures_of(server.port(), "liar") == 1);
}

TEST_CASE("a 0-byte corvid.db is refused at start with the file named") {
  TestSite site;
  fs::create_directories(site.data_dir());
  write_file(site.data_dir() / "corvid.db", "");
  const std::string refusal = start_refusal(site);
  CHECK_MESSAGE(refusal.find("exited with 1") != std::string::npos, refusal);
  CHECK_MESSAGE(refusal.find((fs::canonical(site.data_dir()) / "corvid.db").string() + " is empty") != std::string::npos,
                refusal);
}

TEST_CASE("a corvid.db of random bytes is refused at start with the file named") {
  TestSite site;
  fs::create_directories(site.data_dir());
  std::string garbage;
  for (int i = 0; i < 65536; ++i) garbage.push_back(static_cast<char>((i * 2654435761u) >> 13));
  write_file(site.data_dir() / "corvid.db", garbage);
  const std::string refusal = start_refusal(site);
  CHECK_MESSAGE(refusal.find("exited with 1") != std::string::npos, refusal);
  CHECK_MESSAGE(refusal.find((fs::canonical(site.data_dir()) / "corvid.db").string() + " is not a Corvid database") !=
                    std::string::npos,
                refusal);
}

TEST_CASE("graph ids do not repeat after corvid.db is truncated: start is refused, and without the file ids go on") {
  TestSite site;
  {
    ServerProcess server(site);
    for (uint64_t expected = 1; expected <= 2; ++expected) {
      Developer developer(server.port(), site);
      CHECK(developer.graph_id == expected);
    }
    CHECK(server.stop() == 0);
  }
  const fs::path db = site.data_dir() / "corvid.db";
  fs::resize_file(db, 0);
  CHECK(start_refusal(site).find("is empty") != std::string::npos);

  // The operator moves the damaged file away: the server starts with an empty store, and the
  // ids it gives out are still new.
  fs::remove(db);
  ServerProcess server(site);
  Developer developer(server.port(), site);
  CHECK(developer.graph_id == 3);
}
