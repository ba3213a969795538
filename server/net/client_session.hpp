// A developer on /ws/client (libcorvid, the corvid CLI). Its first message must be a hello of
// this protocol version carrying the server's token; after that every frame goes to the
// Coordinator. The session counts malformed frames and closes after kMaxBadMessages of them.
#pragma once

#include <optional>

#include "server/core/coordinator.hpp"
#include "server/net/frame_session.hpp"

namespace corvid::server {

class ClientSession final : public FrameSession {
 public:
  using FrameSession::FrameSession;

 private:
  void on_frame(Frame frame) override;
  void on_bad_frame(const std::string& error) override;
  void on_closed() override;

  std::optional<ClientId> id_;  // set by a hello with the right token
};

}  // namespace corvid::server
