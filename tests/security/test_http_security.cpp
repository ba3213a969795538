// The HTTP surface of a real corvid-server under attack: request targets that try to leave web/
// (every encoding, symlinks, the developer token), oversized request lines and headers, and the
// Origin and Host checks that keep other web pages (DNS rebinding included) off the server.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server_process.hpp"
#include "test_client.hpp"

using namespace corvid::test;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Requires `target` to get a 4xx whose body holds neither `secret` nor the web directory's path
// on the server's disk.
void check_refused(uint16_t port, const std::string& target, const std::string& secret, const fs::path& web_dir) {
  CAPTURE(target);
  HttpReply reply = http_get(port, target);
  CHECK(reply.result_int() >= 400);
  CHECK(reply.result_int() < 500);
  CHECK(reply.body().find(secret) == std::string::npos);
  CHECK(reply.body().find(web_dir.string()) == std::string::npos);
}

// The status of a WebSocket upgrade of `path` with these extra headers (101 when accepted).
int upgrade_status(uint16_t port, const std::string& path, std::vector<std::string> headers,
                   const std::optional<std::string>& host = std::nullopt) {
  std::vector<std::string> all = websocket_upgrade_headers();
  all.insert(all.end(), headers.begin(), headers.end());
  return http_get_with_headers(port, path, all, host).result_int();
}

}  // namespace

TEST_CASE("no target reaches a file outside web/ and wasm/, whatever its encoding") {
  TestSite site;
  fs::create_symlink(site.root() / "secret.txt", site.web_dir() / "link.txt");  // a file symlink out of web/
  fs::create_symlink(site.root(), site.web_dir() / "up");                      // a directory symlink out of web/
  fs::create_symlink("../secret.txt", site.wasm_dir() / "corvid_kernel.txt");  // out of wasm/
  ServerProcess server(site);
  std::string secret_path = (site.root() / "secret.txt").string();  // absolute, starts with '/'
  std::string encoded_secret_path;
  for (char c : secret_path) encoded_secret_path += c == '/' ? std::string("%2F") : std::string(1, c);

  std::vector<std::string> targets = {
      "/" + secret_path,                              // "//tmp/.../secret.txt": the web dir was dropped
      "//etc/passwd",
      "//proc/self/root" + secret_path,
      "//proc/self/cwd/secret.txt",
      "/%2Fetc%2Fpasswd",
      "/%2fetc/passwd",
      "/" + encoded_secret_path,
      "/..%2f..%2fsecret.txt",
      "/..%2F" + site.root().filename().string() + "%2Fsecret.txt",
      "/%5c..%5csecret.txt",
      "/index.html%00.js",
      "/%00",
      "/%c0%ae%c0%ae/secret.txt",                     // overlong UTF-8 for ".."
      "/%c0%ae%c0%ae%c0%afsecret.txt",                // ... and for '/'
      "/%e0%80%ae%e0%80%ae/secret.txt",
      "/..",
      "/./../secret.txt",
      "/./",
      "/app.js/../../secret.txt",
      "/link.txt",
      "/up/secret.txt",
      "/corvid_kernel.txt",
      "/%2e%2e/secret.txt",
      "/.%2e/secret.txt",
  };
  for (const auto& target : targets) check_refused(server.port(), target, TestSite::kSecret, site.web_dir());

  CHECK(http_get(server.port(), "/link.txt").result() == http::status::not_found);
  CHECK(http_get(server.port(), "//etc/passwd").body().find("root:") == std::string::npos);
  // What is inside still is served, through an ordinary path or a link that stays inside.
  CHECK(http_get(server.port(), "/app.js").result() == http::status::ok);
  CHECK(http_get(server.port(), "/up/web/app.js").result() == http::status::ok);
  CHECK(http_get(server.port(), "/%61pp.js").result() == http::status::ok);
}

TEST_CASE("the developer token and the database cannot be read over HTTP") {
  TestSite site;
  ServerProcess server(site);  // creates data/token and data/corvid.db
  std::string token = read_file(site.data_dir() / "token");
  REQUIRE(token.size() >= 16);
  fs::create_symlink(site.data_dir() / "token", site.web_dir() / "token.txt");
  std::string token_path = (site.data_dir() / "token").string();
  std::string relative_token = fs::relative(site.data_dir() / "token", fs::current_path()).string();

  for (const std::string& target :
       {"/" + token_path, "//proc/self/root" + token_path, "//proc/self/cwd/" + relative_token,
        "/%2F" + token_path.substr(1), "/" + (site.data_dir() / "corvid.db").string(), std::string("/token.txt"),
        std::string("/../data/token"), std::string("/..%2fdata%2ftoken")})
    check_refused(server.port(), target, token, site.web_dir());
}

TEST_CASE("a request target over 8 KiB gets 414, headers over 16 KiB get 431") {
  TestSite site;
  ServerProcess server(site);

  HttpReply long_target = http_get_with_headers(server.port(), "/" + std::string(100 * 1024, 'a'), {});
  CHECK(long_target.result_int() == 414);
  CHECK(long_target.body().find("8192") != std::string::npos);
  CHECK(http_get_with_headers(server.port(), "/" + std::string(9000, 'a'), {}).result_int() == 414);

  HttpReply long_header = http_get_with_headers(server.port(), "/", {"X-Filler: " + std::string(100 * 1024, 'b')});
  CHECK(long_header.result_int() == 431);
  CHECK(long_header.body().find("16384") != std::string::npos);
  std::vector<std::string> many_headers(2000, "X-Many: 0123456789");
  CHECK(http_get_with_headers(server.port(), "/", many_headers).result_int() == 431);

  // Below the limits, requests are served as usual.
  CHECK(http_get_with_headers(server.port(), "/" + std::string(8000, 'a'), {}).result_int() == 404);
  CHECK(http_get_with_headers(server.port(), "/", {"X-Filler: " + std::string(12 * 1024, 'c')}).result_int() == 200);
  // The server is still there for the next connection.
  CHECK(http_get(server.port(), "/").result() == http::status::ok);
}

TEST_CASE("WebSocket upgrades from a foreign Origin are refused with 403, unless --allow-origin lists it") {
  TestSite site;
  SUBCASE("the server's own origin and no origin at all") {
    ServerProcess server(site);
    std::string own = "127.0.0.1:" + std::to_string(server.port());
    std::string local = "localhost:" + std::to_string(server.port());
    for (const char* path : {"/ws/client", "/ws/worker"}) {
      CAPTURE(path);
      CHECK(upgrade_status(server.port(), path, {}) == 101);  // native clients send no Origin
      CHECK(upgrade_status(server.port(), path, {"Origin: http://" + own}) == 101);
      CHECK(upgrade_status(server.port(), path, {"Origin: https://" + own}) == 101);
      CHECK(upgrade_status(server.port(), path, {"Origin: http://" + local}, local) == 101);

      HttpReply refused = http_get_with_headers(
          server.port(), path, [&] {
            auto headers = websocket_upgrade_headers();
            headers.push_back("Origin: http://evil.example");
            return headers;
          }());
      CHECK(refused.result_int() == 403);
      CHECK(refused.body().find("http://evil.example") != std::string::npos);
      CHECK(refused.body().find("--allow-origin") != std::string::npos);
      // Same host, another port or scheme: another origin.
      CHECK(upgrade_status(server.port(), path, {"Origin: http://127.0.0.1:1"}) == 403);
      CHECK(upgrade_status(server.port(), path, {"Origin: ftp://" + own}) == 403);
      CHECK(upgrade_status(server.port(), path, {"Origin: null"}) == 403);
    }
    // A TestSocket (no Origin, like corvid-worker and libcorvid) still completes its hello.
    TestSocket worker(server.port(), "/ws/worker");
    worker.send(worker_hello("native worker"));
    CHECK(worker.receive_type("welcome").header.value("type", "") == "welcome");
  }
  SUBCASE("--allow-origin accepts the origins it lists") {
    ServerProcess server(site, {"--allow-origin", "https://app.example", "--allow-origin", "http://lab.example:8080"});
    for (const char* path : {"/ws/client", "/ws/worker"}) {
      CAPTURE(path);
      CHECK(upgrade_status(server.port(), path, {"Origin: https://app.example"}) == 101);
      CHECK(upgrade_status(server.port(), path, {"Origin: http://lab.example:8080"}) == 101);
      CHECK(upgrade_status(server.port(), path, {"Origin: http://app.example"}) == 403);
      CHECK(upgrade_status(server.port(), path, {"Origin: https://evil.example"}) == 403);
    }
  }
  SUBCASE("--allow-origin '*' accepts any origin") {
    ServerProcess server(site, {"--allow-origin", "*"});
    for (const char* path : {"/ws/client", "/ws/worker"}) {
      CAPTURE(path);
      CHECK(upgrade_status(server.port(), path, {"Origin: https://evil.example"}) == 101);
      CHECK(upgrade_status(server.port(), path, {"Origin: null"}) == 101);
    }
  }
}

TEST_CASE("a server on loopback refuses requests whose Host is not a loopback name (DNS rebinding)") {
  TestSite site;
  ServerProcess server(site);
  std::string port = std::to_string(server.port());

  for (const std::string& host : {std::string("evil.example"), "evil.example:" + port, "192.168.1.5:" + port,
                                  "localhost.evil.example:" + port, std::string("")}) {
    CAPTURE(host);
    HttpReply page = http_get_with_headers(server.port(), "/", {}, host);
    CHECK(page.result_int() == 421);
    CHECK(page.body().find(TestSite::kSecret) == std::string::npos);
    if (!host.empty()) CHECK(page.body().find(host) != std::string::npos);
    CHECK(http_get_with_headers(server.port(), "/api/status", {}, host).result_int() == 421);
    CHECK(upgrade_status(server.port(), "/ws/client", {}, host) == 421);
    CHECK(upgrade_status(server.port(), "/ws/worker", {"Origin: http://" + host}, host) == 421);
  }
  for (const std::string& host : {"localhost:" + port, std::string("localhost"), "127.0.0.1:" + port,
                                  std::string("127.0.0.1"), "[::1]:" + port, std::string("LOCALHOST:") + port}) {
    CAPTURE(host);
    CHECK(http_get_with_headers(server.port(), "/", {}, host).result_int() == 200);
    CHECK(upgrade_status(server.port(), "/ws/worker", {}, host) == 101);
  }
}
