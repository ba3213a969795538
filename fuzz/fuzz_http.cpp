// libFuzzer target for the HTTP request target handling: StaticFiles::lookup
// (server/net/static_files.cpp) and the route dispatch handle_request
// (server/net/http_routes.cpp), without sockets. The input is a raw HTTP request, parsed with
// Beast's parser as an HttpSession does; if it does not parse, the whole input is given to
// StaticFiles::lookup as a target. Whatever the target, a file lookup may only answer with a
// regular file inside the web or wasm directory: anything else (a path traversal) is a crash.
//
// The target serves a small web/ and wasm/ made at start in a temporary directory, next to a
// secret file and with a symlink out of web/, and a Coordinator with an empty store.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "server/net/http_routes.hpp"
#include "server/net/server_state.hpp"

using namespace corvid::server;
namespace fs = std::filesystem;

namespace {

struct Site {
  fs::path root;
  asio::io_context ioc;  // never run: the tick timer it holds never fires
  std::shared_ptr<ServerState> state;
};

Site* site = nullptr;

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void remove_site() {
  if (!site) return;
  site->state->shutdown();
  fs::remove_all(site->root);
}

// True if `file` resolves to a regular file inside `dir`.
bool inside(const fs::path& file, const fs::path& dir) {
  std::error_code ec;
  fs::path resolved = fs::canonical(file, ec);
  if (ec || !fs::is_regular_file(resolved, ec)) return false;
  fs::path base = fs::canonical(dir);
  auto [base_end, at] = std::mismatch(base.begin(), base.end(), resolved.begin(), resolved.end());
  return base_end == base.end() && at != resolved.end();
}

void check_lookup(std::string_view target) {
  StaticLookup found = site->state->files().lookup(target);
  if (found.status != 200) return;
  if (inside(found.file, site->state->config().web_dir) || inside(found.file, site->state->config().wasm_dir)) return;
  std::cerr << "fuzz_http: target '" << target << "' serves " << found.file << ", outside web/ and wasm/\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  site = new Site;
  site->root = fs::temp_directory_path() / ("corvid-fuzz-http-" + std::to_string(::getpid()));
  fs::remove_all(site->root);
  ServerConfig config;
  config.data_dir = site->root / "data";
  config.web_dir = site->root / "web";
  config.wasm_dir = site->root / "wasm";
  write_file(config.web_dir / "index.html", "<p>index</p>");
  write_file(config.web_dir / "status.html", "<p>status</p>");
  write_file(config.web_dir / "app.js", "// app");
  write_file(config.web_dir / "sub" / "page.css", "p {}");
  write_file(config.wasm_dir / "corvid_kernel.js", "// kernel");
  write_file(config.wasm_dir / "corvid_kernel.wasm", "wasm");
  write_file(config.wasm_dir / "other.txt", "not served");
  write_file(site->root / "secret", "secret");
  fs::create_directory_symlink(site->root, config.web_dir / "up");
  fs::create_symlink(site->root / "secret", config.web_dir / "secret.txt");
  site->state = std::make_shared<ServerState>(site->ioc, config);
  site->state->start(CoordinatorOptions{});
  std::atexit(remove_site);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  beast::error_code ec;
  parser.put(asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) {
    check_lookup(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
  }
  const HttpRequest& request = parser.get();
  check_lookup(request.target());
  handle_request(*site->state, request);
  return 0;
}
