// corvid-server: parses the command line, prepares the data directory and the developer token,
// then runs the network layer and the Coordinator on one io_context thread until SIGINT or
// SIGTERM, when it stops accepting, closes the store cleanly and exits 0.
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/core/postgres_store.hpp"
#include "server/core/verification.hpp"
#include "server/net/http_routes.hpp"
#include "server/net/listener.hpp"
#include "server/net/server_state.hpp"
#include "server/net/token.hpp"

namespace fs = std::filesystem;
using namespace corvid::server;

namespace {

// Time the WebSockets get to finish their close handshakes after a signal.
constexpr std::chrono::milliseconds kShutdownGrace{500};

void warn_if_missing(const fs::path& file, const char* what) {
  std::error_code ec;
  if (!fs::exists(file, ec)) std::cerr << "corvid-server: warning: " << what << " " << file.string() << " does not exist\n";
}

// Raises the soft limit on open files to the hard limit (each connection takes one) and returns
// the limit in force; a failure to raise it is logged and the old limit kept.
rlim_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      limit = raised;
    else
      std::cerr << "corvid-server: warning: cannot raise the open file limit to " << limit.rlim_max << "\n";
  }
  return limit.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"corvid-server: serves the Participate page, schedules op groups to workers, keeps graphs in SQLite"};
  std::string host = "0.0.0.0";
  uint16_t port = 9999;
  std::string data_dir = "./corvid-data";
  std::string web_dir = CORVID_WEB_DIR;
  std::string wasm_dir = CORVID_WASM_DIR;
  std::string policy_name = "eft";
  unsigned max_frame_mb = 256;
  CoordinatorOptions options;
  ServerConfig config;
  unsigned hello_timeout_ms = static_cast<unsigned>(config.hello_timeout.count());

  app.add_option("--host", host,
                 "address to listen on; 0.0.0.0 (all interfaces) lets phones and laptops on the LAN participate, "
                 "127.0.0.1 keeps the server to this machine")
      ->capture_default_str();
  app.add_option("--port", port, "TCP port for HTTP and WebSocket (0: any free port)")->capture_default_str();
  std::vector<std::string> allowed_origins;
  app.add_option("--allow-origin", allowed_origins,
                 "a web origin (https://host[:port]) whose pages may open /ws/worker and /ws/client besides this "
                 "server's own; repeatable; * allows any. On a loopback --host, its host name is also accepted in Host");
  std::string peers;
  app.add_option("--peers", peers,
                 "other servers of this fleet, comma-separated ws://host:port addresses: sent to every worker for "
                 "failover (corvid-worker and the Participate page move to them when this server is gone); their "
                 "pages may also open /ws/worker and /ws/client here, as with --allow-origin");
  app.add_option("--data-dir", data_dir, "directory for the SQLite store (corvid.db) and the developer token")
      ->capture_default_str();
  app.add_option("--store", options.store,
                 "where graphs, trust records and tokens are kept: empty for the SQLite file corvid.db in --data-dir "
                 "(one server), or a PostgreSQL URI (postgresql://user@host:port/db) shared by several servers, "
                 "which then share graph ids and tokens (see README: several servers)")
      ->capture_default_str();
  app.add_option("--lease-ms", options.lease_ms,
                 "with a PostgreSQL --store: a graph belongs to the server holding its lease, renewed every third of "
                 "this; when a server stops renewing (killed, stalled), another adopts its graphs once the lease "
                 "expired, so failover takes between this and about 1.33 times this")
      ->check(CLI::Range(300.0, 3600000.0))
      ->capture_default_str();
  app.add_option("--advertise-url", options.advertise_url,
                 "with a PostgreSQL --store: the URL (ws://host:port) other servers send developers and workers to "
                 "for this server's graphs; default ws://<--host or this machine's first LAN address>:<port>");
  app.add_option("--web-dir", web_dir, "directory of the web pages served at /")->capture_default_str();
  app.add_option("--wasm-dir", wasm_dir, "directory holding the built corvid_kernel.js and corvid_kernel.wasm")
      ->capture_default_str();
  app.add_option("--policy", policy_name, "scheduling policy: eft (earliest finish time) or round-robin (baseline)")
      ->check(CLI::IsMember({"eft", "round-robin"}))
      ->capture_default_str();
  std::string verify_name = "adaptive";
  app.add_option("--verify", verify_name,
                 "verification of volunteers' results: off (one worker's result is taken), replicate (a group's "
                 "result is taken once two distinct workers agree, or the server's own kernel settles it) or "
                 "adaptive (every group of an untrusted worker is replicated, a falling share of a trusted one's; "
                 "workers earn trust by verified results); a developer's submit may tighten it")
      ->check(CLI::IsMember({"off", "replicate", "adaptive"}))
      ->capture_default_str();
  app.add_option("--verify-floor", options.verify_floor,
                 "adaptive: the smallest share of a trusted worker's groups that is still replicated")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--spot-check-budget", options.spot_check_budget,
                 "share of one core the server's own kernel may spend recomputing accepted groups (spot checks, "
                 "tie-breaks), measured on the server's clock; 0: none")
      ->check(CLI::Range(0.0, 64.0))
      ->capture_default_str();
  app.add_option("--spot-check-rate", options.spot_check_rate,
                 "share of accepted groups drawn for a spot check (run only within --spot-check-budget)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--max-frame-mb", max_frame_mb, "largest WebSocket message accepted, in MiB")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_option("--hello-timeout-ms", hello_timeout_ms,
                 "an upgraded WebSocket that has not completed its hello this long after the handshake is closed")
      ->check(CLI::Range(1u, 3600000u))
      ->capture_default_str();
  app.add_option("--max-worker-connects-per-s", config.worker_connects_per_s,
                 "new worker connections accepted per remote address and second (more get 429); 0: no limit")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--worker-connect-burst", config.worker_connect_burst,
                 "new worker connections one address may open at once before --max-worker-connects-per-s applies")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  app.add_option("--heartbeat-ms", options.heartbeat_ms,
                 "heartbeat period asked of workers; one silent for 3 periods is dropped")
      ->check(CLI::Range(100.0, 3600000.0))
      ->capture_default_str();
  double keep_finished_hours = options.keep_finished_s / 3600;
  app.add_option("--keep-finished-hours", keep_finished_hours,
                 "finished graphs (ops and values) are removed from memory and the store this long after their "
                 "last op finished; 0 keeps them forever")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options.keep_finished_s = keep_finished_hours * 3600;
  parse_verify_policy(verify_name, options.verify);
  options.policy = policy_name == "round-robin" ? SchedulingPolicy::round_robin : SchedulingPolicy::earliest_finish;

  try {
    beast::error_code ec;
    auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) throw std::runtime_error("--host " + host + " is not an IP address (" + ec.message() + ")");

    fs::create_directories(data_dir);
    config.data_dir = fs::canonical(data_dir);
    config.web_dir = fs::absolute(web_dir);
    config.wasm_dir = fs::absolute(wasm_dir);
    config.token_file = config.data_dir / "token";
    config.token = load_or_create_token(config.token_file);
    const fs::path worker_token_file = config.data_dir / "worker-token";
    config.worker_token = load_or_create_token(worker_token_file);
    if (is_postgres_url(options.store)) {
      // Servers on one database answer with one token: the first server's, kept in the database.
      const std::string token = shared_secret(options.store, "developer-token", config.token);
      const std::string worker_token = shared_secret(options.store, "worker-token", config.worker_token);
      if (token != config.token) replace_token_file(config.token_file, config.token = token);
      if (worker_token != config.worker_token) replace_token_file(worker_token_file, config.worker_token = worker_token);
    }
    config.max_frame_bytes = std::size_t{max_frame_mb} << 20;
    for (const auto& origin : allowed_origins) config.allowed_origins.push_back(normalize_origin(origin));
    options.peers = parse_peers(peers);
    for (const auto& peer : options.peers) config.allowed_origins.push_back(normalize_origin(page_origin_of(peer)));
    config.loopback_only = address.is_loopback();
    config.hello_timeout = std::chrono::milliseconds(hello_timeout_ms);
    const rlim_t open_file_limit = raise_open_file_limit();
    warn_if_missing(config.web_dir / "index.html", "the Participate page");
    if (!fs::exists(config.wasm_dir / "corvid_kernel.wasm") && !fs::exists(config.web_dir / "corvid_kernel.wasm"))
      warn_if_missing(config.wasm_dir / "corvid_kernel.wasm", "the kernel (build the wasm preset)");

    asio::io_context ioc{1};
    // Installed before the startup line is printed: a signal from then on means a clean stop.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    auto state = std::make_shared<ServerState>(ioc, config);
    auto listener = std::make_shared<Listener>(ioc, tcp::endpoint{address, port}, state);
    if (options.advertise_url.empty()) {
      std::string reachable = host;
      if (address.is_unspecified()) {
        const auto lan = lan_addresses();
        reachable = lan.empty() ? "127.0.0.1" : lan.front().substr(0, lan.front().find(' '));
      }
      options.advertise_url = "ws://" + reachable + ":" + std::to_string(listener->local_endpoint().port());
    }
    if (const std::string problem = corvid::protocol::server_address_problem(options.advertise_url);
        is_postgres_url(options.store) && !problem.empty())
      throw std::runtime_error("--advertise-url " + options.advertise_url + ": " + problem);
    state->start(options);
    listener->run();

    auto bound = listener->local_endpoint();
    std::cout << "corvid-server: listening on http://" << bound.address().to_string() << ":" << bound.port() << "/";
    if (address.is_unspecified()) {
      std::cout << " (here: http://localhost:" << bound.port() << "/)";
      const auto lan = lan_addresses();
      for (const auto& a : lan) {
        const auto space = a.find(' ');
        std::cout << "\ncorvid-server: other devices: http://" << a.substr(0, space) << ":" << bound.port() << "/"
                  << a.substr(space);
      }
      if (lan.empty()) std::cout << "\ncorvid-server: other devices: no network address found besides loopback";
    }
    std::cout << "\ncorvid-server: data directory " << config.data_dir.string()
              << "\ncorvid-server: store "
              << (options.store.empty() ? (config.data_dir / "corvid.db").string()
                                        : redacted_url(options.store) + " (shared; this server is " +
                                              options.advertise_url + ")")
              << "\ncorvid-server: developer token in " << config.token_file.string()
              << "\ncorvid-server: worker token (trusted workers) in " << worker_token_file.string()
              << "\ncorvid-server: verification " << verify_policy_name(options.verify)
              << "\ncorvid-server: pages from " << config.web_dir.string() << ", kernel from "
              << config.wasm_dir.string() << "\ncorvid-server: open file limit " << open_file_limit
              << " (RLIMIT_NOFILE, raised to the hard limit; each connection takes one)" << std::endl;

    asio::steady_timer grace(ioc);
    signals.async_wait([&](beast::error_code ec, int signal) {
      if (ec) return;
      std::cerr << "corvid-server: " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down\n";
      listener->stop();
      state->shutdown();
      grace.expires_after(kShutdownGrace);
      grace.async_wait([&](beast::error_code) { ioc.stop(); });
      signals.async_wait([&](beast::error_code ec, int) {  // a second signal: stop now
        if (!ec) ioc.stop();
      });
    });
    // A handler that throws ends only the connection it served (it was already guarded against
    // its input): the error is logged and the server carries on.
    for (;;) {
      try {
        ioc.run();
        break;
      } catch (const std::exception& e) {
        std::cerr << "corvid-server: internal error, the connection concerned is dropped: " << e.what() << "\n";
      }
    }
    std::cerr << "corvid-server: stopped\n";
  } catch (const std::exception& e) {
    std::cerr << "corvid-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
