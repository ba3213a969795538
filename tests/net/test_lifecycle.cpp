// A real corvid-server's life: the developer token it creates, a graceful SIGTERM that closes
// connections and the store, and a restart on the same data directory; submits committed
// together that survive a SIGKILL.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "test_client.hpp"

using namespace corvid;
using namespace corvid::test;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the token is created once with mode 0600, printed, and reused after a restart") {
  TestSite site;
  std::string token;
  {
    ServerProcess server(site);
    auto token_file = site.data_dir() / "token";
    CHECK(server.startup_output().find("developer token in " + token_file.string()) != std::string::npos);
    struct stat info {};
    REQUIRE(::stat(token_file.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    token = read_file(token_file);
    CHECK(std::regex_match(token, std::regex("[0-9a-f]{32}\n")));
    CHECK(server.stop(SIGTERM) == 0);
  }
  ServerProcess again(site);
  CHECK(read_file(site.data_dir() / "token") == token);
  TestSocket client(again.port(), "/ws/client");
  client.send(client_hello(token.substr(0, 32)));
  CHECK(client.receive_type("welcome").header.contains("client_id"));
}

TEST_CASE("SIGTERM closes connections with 1001, exits 0, and a restart still has the graph") {
  TestSite site;
  uint64_t graph_id = 0;
  {
    ServerProcess server(site);
    std::string token = read_file(site.data_dir() / "token").substr(0, 32);
    TestSocket client(server.port(), "/ws/client");
    client.send(client_hello(token));
    client.receive_type("welcome");
    Frame submit;
    submit.header = {{"type", "submit"},
                     {"request_id", 1},
                     {"name", "survives a restart"},
                     {"ops", {{{"id", "x"}, {"op", "tensor"}, {"value", {1.5, 2.5}}},
                              {{"id", "y"}, {"op", "neg"}, {"inputs", {"x"}}}}},
                     {"outputs", {"y"}}};
    client.send(submit);
    graph_id = client.receive_type("submitted").header["graph_id"].get<uint64_t>();

    server.signal(SIGTERM);
    Closed closed = client.expect_close();
    CHECK(closed.code == 1001);
    CHECK(closed.reason == "server shutting down");
    CHECK(server.wait_exit() == 0);
  }
  ServerProcess again(site);
  HttpReply graph = http_get(again.port(), "/api/graphs/" + std::to_string(graph_id));
  REQUIRE(graph.result() == http::status::ok);
  auto json = nlohmann::json::parse(graph.body());
  CHECK(json["name"] == "survives a restart");
  CHECK(json["ops"].size() == 2);
}

TEST_CASE("submits arriving together share one commit, each is answered after it, and all survive SIGKILL") {
  // The server is stopped (SIGSTOP) while 16 developers send a submit each, so that it reads them
  // in one turn of its event loop; once answered, it is killed without warning.
  constexpr int kDevelopers = 16;
  TestSite site;
  std::vector<uint64_t> graph_ids;
  {
    ServerProcess server(site);
    const std::string token = read_file(site.data_dir() / "token").substr(0, 32);
    std::vector<std::unique_ptr<TestSocket>> developers;
    for (int k = 0; k < kDevelopers; ++k) {
      developers.push_back(std::make_unique<TestSocket>(server.port(), "/ws/client"));
      developers.back()->send(client_hello(token, "dev" + std::to_string(k)));
      developers.back()->receive_type("welcome");
    }
    server.signal(SIGSTOP);
    for (int k = 0; k < kDevelopers; ++k) {
      Frame submit;
      submit.header = {{"type", "submit"},
                       {"request_id", k},
                       {"name", "durable " + std::to_string(k)},
                       {"ops", {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0 * k, 2.0}}},
                                {{"id", "y"}, {"op", "neg"}, {"inputs", {"x"}}}}},
                       {"outputs", {"y"}}};
      developers[k]->send(submit);
    }
    server.signal(SIGCONT);
    for (auto& developer : developers)
      graph_ids.push_back(developer->receive_type("submitted").header["graph_id"].get<uint64_t>());
    const std::string metrics = http_get(server.port(), "/metrics").body();
    auto counter = [&](const std::string& name) {
      std::smatch m;
      REQUIRE(std::regex_search(metrics, m, std::regex("\n" + name + " ([0-9]+)\n")));
      return std::stoi(m[1]);
    };
    CHECK(counter("corvid_submits_stored_total") == kDevelopers);
    const int commits = counter("corvid_submit_commits_total");
    MESSAGE(kDevelopers << " submits in " << commits << " commit(s)");
    CHECK(commits < kDevelopers);
    CHECK(server.stop(SIGKILL) == 128 + SIGKILL);
  }
  std::sort(graph_ids.begin(), graph_ids.end());
  CHECK(std::unique(graph_ids.begin(), graph_ids.end()) == graph_ids.end());
  ServerProcess again(site);
  for (uint64_t id : graph_ids) {
    HttpReply graph = http_get(again.port(), "/api/graphs/" + std::to_string(id));
    REQUIRE(graph.result() == http::status::ok);
    auto json = nlohmann::json::parse(graph.body());
    CHECK(json["name"].get<std::string>().rfind("durable ", 0) == 0);
    CHECK(json["ops"].size() == 2);
  }
}
