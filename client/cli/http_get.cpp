// A GET of the server's HTTP side for the commands that read /api/status and /api/graphs/N.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "commands.hpp"

namespace corvid::cli {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::string http_get(const ServerUrl& server, const std::string& target) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  try {
    tcp::resolver resolver(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(server.host, server.port));
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, server.authority());
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    auto response = parser.release();
    if (response.result() != http::status::ok)
      throw std::runtime_error("GET " + target + ": HTTP " + std::to_string(response.result_int()) + ": " +
                               response.body().substr(0, 300));
    return response.body();
  } catch (const beast::system_error& e) {
    throw ServerUnreachable("cannot reach the Corvid server at http://" + server.authority() + " (" +
                            e.code().message() + ")");
  }
}

}  // namespace corvid::cli
