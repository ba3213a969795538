// The Boost.Beast and Asio headers the network layer uses, and the short names it uses them by.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corvid::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

// Logs a failed asynchronous operation to stderr, except the ones that only mean "this
// connection is over" (operation_aborted, a closed WebSocket, end of stream, a peer that
// went away or went silent past its timeout).
void fail(beast::error_code ec, const char* what);

// Decodes the %XX escapes of a request path. Refuses (nullopt, with `error` set) a truncated or
// non-hex escape ("bad %-escape") and an escape that decodes to a byte of `refused`
// (`refused_error`).
std::optional<std::string> percent_decode(std::string_view s, std::string_view refused, const char* refused_error,
                                          std::string& error);

// This machine's IPv4 addresses on interfaces that are up, other than loopback, as
// "192.168.1.20 (eth0)": where other devices on the network reach the server.
std::vector<std::string> lan_addresses();

}  // namespace corvid::server
