#include "server/net/common.hpp"

#include <iostream>

namespace corvid::server {

void fail(beast::error_code ec, const char* what) {
  if (ec == asio::error::operation_aborted || ec == websocket::error::closed || ec == http::error::end_of_stream ||
      ec == asio::error::eof || ec == asio::error::connection_reset || ec == beast::error::timeout)
    return;
  std::cerr << "corvid-server: " << what << ": " << ec.message() << "\n";
}

}  // namespace corvid::server
