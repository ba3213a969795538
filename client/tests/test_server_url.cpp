#include <doctest/doctest.h>

#include <stdexcept>

#include "corvid/server_url.hpp"

using corvid::parse_server_url;

TEST_CASE("server addresses") {
  CHECK(parse_server_url("ws://localhost:9999").authority() == "localhost:9999");
  CHECK(parse_server_url("ws://127.0.0.1:4000/").authority() == "127.0.0.1:4000");
  CHECK(parse_server_url("http://example.org:80").host == "example.org");
  CHECK(parse_server_url("myhost").port == "9999");
  CHECK(parse_server_url("myhost:1234").port == "1234");
  CHECK_THROWS_WITH_AS(parse_server_url("wss://x:1"), "bad server address 'wss://x:1': only ws:// (or http://) is supported",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_server_url("ws://x:1/ws/client"), std::invalid_argument);
  CHECK_THROWS_AS(parse_server_url("ws://:1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_server_url("ws://x:99999"), std::invalid_argument);
  CHECK_THROWS_AS(parse_server_url("ws://x:abc"), std::invalid_argument);
}

TEST_CASE("server lists: comma-separated addresses, in order, each checked") {
  using corvid::parse_server_list;
  auto list = parse_server_list("ws://a:1,b:2,http://c");
  REQUIRE(list.size() == 3);
  CHECK(list[0].text() == "ws://a:1");
  CHECK(list[1].text() == "ws://b:2");
  CHECK(list[2].text() == "ws://c:9999");
  CHECK(corvid::server_list_text(list) == "ws://a:1, ws://b:2, ws://c:9999");
  CHECK(parse_server_list("ws://a:1").size() == 1);
  CHECK(parse_server_list("ws://a:1,a:1").size() == 1);  // a repeat is kept once
  CHECK_THROWS_WITH_AS(parse_server_list("ws://a:1,"),
                       "bad server list 'ws://a:1,': an empty address (give ws://host:port,ws://host:port)",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_server_list(""), std::invalid_argument);
  CHECK_THROWS_AS(parse_server_list(",ws://a:1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_server_list("ws://a:1,ws://b:1/ws/client"),
                       "bad server address 'ws://b:1/ws/client': expected ws://host:port without a path",
                       std::invalid_argument);
  std::string many;
  for (int i = 1; i <= 65; ++i) many += (i > 1 ? "," : "") + std::string("h:") + std::to_string(i);
  CHECK_THROWS_WITH_AS(parse_server_list(many), doctest::Contains("more than 64 addresses"), std::invalid_argument);
  std::vector<corvid::ServerUrl> servers = list;
  CHECK(corvid::add_server(servers, corvid::parse_server_url("b:2")) == std::optional<std::size_t>(1));
  CHECK(corvid::add_server(servers, corvid::parse_server_url("d:4")) == std::optional<std::size_t>(3));
}

TEST_CASE("redirect addresses: checked as server addresses from the network, ws:// only") {
  using corvid::parse_redirect_url;
  CHECK(parse_redirect_url("ws://10.0.0.2:9999").text() == "ws://10.0.0.2:9999");
  CHECK(parse_redirect_url("ws://owner.example/").text() == "ws://owner.example:9999");
  CHECK_THROWS_WITH_AS(parse_redirect_url("wss://owner:443"),
                       "the redirect address 'wss://owner:443' is wss://, and libcorvid speaks ws:// only",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_redirect_url("ws://owner:1/ws/client"),
                       "the redirect address 'ws://owner:1/ws/client' must be ws://host:port with no path",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_redirect_url("http://owner:1"), doctest::Contains("must start with ws:// or wss://"),
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_redirect_url("ws://own er:1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_redirect_url("ws://owner:0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_redirect_url("ws://" + std::string(400, 'h')), doctest::Contains("is longer than 300 bytes"),
                       std::invalid_argument);
}

TEST_CASE("a redirect chain stops after kMaxRedirects, naming the servers") {
  using corvid::parse_server_url;
  const auto a = parse_server_url("a:1"), b = parse_server_url("b:2");
  corvid::RedirectChain chain(a);
  for (std::size_t i = 0; i < corvid::RedirectChain::kMaxRedirects; ++i) chain.follow(i % 2 ? a : b);
  CHECK(chain.text() == "ws://a:1 -> ws://b:2 -> ws://a:1 -> ws://b:2 -> ws://a:1 -> ws://b:2");
  CHECK_THROWS_WITH_AS(chain.follow(a),
                       "gave up after 5 redirects (ws://a:1 -> ws://b:2 -> ws://a:1 -> ws://b:2 -> ws://a:1 -> "
                       "ws://b:2 -> ws://a:1): the servers keep naming another server as the owner",
                       std::length_error);
}
