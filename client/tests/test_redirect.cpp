// How libcorvid's Connection follows `redirect` answers from servers that misbehave: two servers
// naming each other, a wss:// owner, an owner that cannot be reached. The servers here are
// hostile peers on real sockets (real corvid-servers never loop: tests/integration pg_redirect
// covers the redirects they send).
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <string>
#include <thread>

#include "corvid/connection.hpp"

namespace {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

// A peer on a free local port that welcomes every developer and answers each request with an
// `error` whose `redirect` is `target` (set before requests are made). Serves one connection at a
// time, on its own thread.
class RedirectingPeer {
 public:
  RedirectingPeer() : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~RedirectingPeer() {
    stopping_ = true;
    tcp::socket wake(io_);
    boost::system::error_code ignored;
    wake.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::string target;
  std::atomic<int> requests{0};

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      try {
        websocket::stream<tcp::socket> ws(std::move(socket));
        ws.binary(true);
        ws.accept();
        for (bool welcomed = false;;) {
          boost::beast::flat_buffer buffer;
          ws.read(buffer);
          const auto data = buffer.data();
          const corvid::Frame request = corvid::decode_frame(static_cast<const uint8_t*>(data.data()), data.size());
          corvid::Frame reply;
          if (!welcomed) {
            reply = corvid::protocol::encode(corvid::protocol::ClientWelcome{1});
            welcomed = true;
          } else {
            ++requests;
            reply = corvid::protocol::encode(corvid::protocol::ErrorReply{
                request.header["request_id"], "", "graph 7 is owned by the server at " + target});
            reply.header["redirect"] = target;
          }
          const auto bytes = corvid::encode_frame(reply);
          ws.write(net::buffer(bytes));
        }
      } catch (const std::exception&) {
        // The client closed or dropped the connection: serve the next one.
      }
    }
  }
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

corvid::ConnectionOptions options_for(const std::string& servers) {
  corvid::ConnectionOptions options;
  options.servers = corvid::parse_server_list(servers);
  options.token = "t";
  options.name = "redirect-test";
  return options;
}

// A wait for the outputs of graph 7.
corvid::Frame wait_request() {
  return corvid::protocol::encode(corvid::protocol::Wait{nullptr, 7, std::nullopt, false, false, std::nullopt});
}

}  // namespace

TEST_CASE("two servers naming each other as the owner: the request stops after 5 redirects" * doctest::timeout(30)) {
  RedirectingPeer a, b;
  a.target = b.url();
  b.target = a.url();
  corvid::Connection connection(options_for(a.url()));
  CHECK_THROWS_WITH_AS(connection.request(wait_request(), [](corvid::Frame&) { return true; }),
                       doctest::Contains(("gave up after 5 redirects (" + a.url() + " -> " + b.url() + " -> " + a.url()).c_str()),
                       corvid::ServerError);
  CHECK(a.requests + b.requests == 6);
  CHECK(connection.options().servers.size() == 2);  // b was added to the servers it knows
}

TEST_CASE("a redirect to wss:// or to an address that is not a server's is refused, naming it" * doctest::timeout(30)) {
  RedirectingPeer a;
  for (const std::string& target : {std::string("wss://owner.example:443"), std::string("ws://owner:1/ws/client"),
                                    std::string("ws://own er:1")}) {
    a.target = target;
    corvid::Connection connection(options_for(a.url()));
    CHECK_THROWS_WITH_AS(connection.request(wait_request(), [](corvid::Frame&) { return true; }),
                         doctest::Contains(("graph 7 is owned by the server at " + target +
                                            " (cannot follow: the redirect address '" + target + "'")
                                               .c_str()),
                         corvid::ServerError);
    CHECK(connection.options().servers.size() == 1);
  }
}

TEST_CASE("an owner that cannot be reached is searched for through the known servers, for owner_search_window" *
          doctest::timeout(30)) {
  RedirectingPeer a;
  std::string dead;
  {
    RedirectingPeer gone;  // a port that was a server's and is closed now
    dead = gone.url();
  }
  a.target = dead;
  auto options = options_for(a.url());
  options.owner_search_window = std::chrono::milliseconds(1000);
  corvid::Connection connection(options);
  CHECK_THROWS_WITH_AS(connection.request(wait_request(), [](corvid::Frame&) { return true; }),
                       doctest::Contains(("graph 7 is owned by the server at " + dead +
                                          ", which cannot be reached, and no other server took the graph over within 1 s")
                                             .c_str()),
                       corvid::ServerUnreachable);
  // a was asked again between the pauses (100, 200, 400 ms ...), not once per redirect only.
  CHECK(a.requests >= 3);
}
