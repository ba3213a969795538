// A worker on /ws/worker (a browser tab or corvid-worker; no token; HttpSession rate-limits new
// connections per address before the upgrade reaches it). Its first message must be a hello of
// this protocol version; after that every frame goes to the Coordinator, which answers it and
// counts abuse. Before the hello, the session itself counts malformed messages.
#pragma once

#include <optional>

#include "server/core/coordinator.hpp"
#include "server/net/frame_session.hpp"

namespace corvid::server {

class WorkerSession final : public FrameSession {
 public:
  using FrameSession::FrameSession;

  // The longest header a worker may send after its hello (a result of a 4096-op group with long
  // op ids takes about 1 MiB); far below a developer's, since anyone may connect as a worker.
  static constexpr std::size_t kMaxWorkerHeaderBytes = 4u << 20;

 private:
  std::size_t max_header_bytes() const override { return kMaxWorkerHeaderBytes; }
  void on_frame(Frame frame) override;
  void on_bad_frame(const std::string& error) override;
  void on_closed() override;

  std::optional<WorkerId> id_;  // set by a valid hello
};

}  // namespace corvid::server
