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
