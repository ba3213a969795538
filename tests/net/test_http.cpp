// The HTTP side of a real corvid-server: pages, kernel files, the operator endpoints, errors.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "test_client.hpp"

using namespace corvid::test;

TEST_CASE("pages and kernel files are served with their MIME types") {
  TestSite site;
  ServerProcess server(site);

  HttpReply index = http_get(server.port(), "/");
  CHECK(index.result() == http::status::ok);
  CHECK(index[http::field::content_type] == "text/html; charset=utf-8");
  CHECK(index.body().find("participate page of the test site") != std::string::npos);

  HttpReply status = http_get(server.port(), "/status");
  CHECK(status.result() == http::status::ok);
  CHECK(status.body().find("status page of the test site") != std::string::npos);

  HttpReply script = http_get(server.port(), "/app.js?v=3");
  CHECK(script.result() == http::status::ok);
  CHECK(script[http::field::content_type] == "text/javascript; charset=utf-8");
  CHECK(http_get(server.port(), "/style.css")[http::field::content_type] == "text/css; charset=utf-8");

  HttpReply wasm = http_get(server.port(), "/corvid_kernel.wasm");
  CHECK(wasm.result() == http::status::ok);
  CHECK(wasm[http::field::content_type] == "application/wasm");
  CHECK(wasm.body() == TestSite::wasm_bytes());
  HttpReply loader = http_get(server.port(), "/corvid_kernel.js");
  CHECK(loader.result() == http::status::ok);
  CHECK(loader.body().find("test kernel loader") != std::string::npos);

  HttpReply head = http_request(server.port(), http::verb::head, "/corvid_kernel.wasm");
  CHECK(head.result() == http::status::ok);
  CHECK(head[http::field::content_length] == std::to_string(TestSite::wasm_bytes().size()));
  CHECK(head.body().empty());
}

TEST_CASE("missing files get 404, paths leaving web/ get 400, other methods 405") {
  TestSite site;
  ServerProcess server(site);

  HttpReply missing = http_get(server.port(), "/missing.js");
  CHECK(missing.result() == http::status::not_found);
  CHECK(missing.body().find("no such file: /missing.js") != std::string::npos);
  CHECK(http_get(server.port(), "/ws/").result() == http::status::not_found);

  for (const char* target : {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/app/../../secret.txt",
                             "/..%5csecret.txt", "/x%00.html", "/%zz"}) {
    CAPTURE(target);
    HttpReply reply = http_get(server.port(), target);
    CHECK(reply.result() == http::status::bad_request);
    CHECK(reply.body().find(TestSite::kSecret) == std::string::npos);
  }

  HttpReply post = http_request(server.port(), http::verb::post, "/");
  CHECK(post.result() == http::status::method_not_allowed);
  CHECK(post[http::field::allow] == "GET, HEAD");
  CHECK(post.body().find("POST is not supported") != std::string::npos);

  CHECK(http_get(server.port(), "/ws/worker").result() == http::status::upgrade_required);
}

TEST_CASE("/api/status, /api/graphs/<id> and /metrics answer from the coordinator") {
  TestSite site;
  ServerProcess server(site, {"--policy", "round-robin"});

  HttpReply status = http_get(server.port(), "/api/status");
  REQUIRE(status.result() == http::status::ok);
  CHECK(status[http::field::content_type] == "application/json");
  auto json = nlohmann::json::parse(status.body());
  CHECK(json["workers"].is_array());
  CHECK(json["graphs"].is_array());
  CHECK(json.contains("queue_depth"));
  CHECK(json["throughput"].contains("ops_per_s"));
  CHECK(json["policy"] == "round-robin");

  HttpReply no_graph = http_get(server.port(), "/api/graphs/424242");
  CHECK(no_graph.result() == http::status::not_found);
  CHECK(nlohmann::json::parse(no_graph.body())["error"] == "no graph 424242");
  HttpReply bad_id = http_get(server.port(), "/api/graphs/12abc");
  CHECK(bad_id.result() == http::status::bad_request);
  CHECK(nlohmann::json::parse(bad_id.body())["error"].get<std::string>().find("'12abc'") != std::string::npos);
  CHECK(http_get(server.port(), "/api/nothing").result() == http::status::not_found);

  HttpReply metrics = http_get(server.port(), "/metrics");
  CHECK(metrics.result() == http::status::ok);
  CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body().find("# TYPE ") != std::string::npos);
}
