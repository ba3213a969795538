// Two ways to run the server's own native kernel (the ServerKernel of coordinator.hpp), which
// settles a kernel error that only one worker has reported: on a background thread for the real
// server, or on the coordinator's own thread for tests and simulations.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "server/core/coordinator.hpp"
#include "shared/group_executor.hpp"

namespace corvid::server {

// Computes groups one at a time on its own thread, so a big group never blocks the thread that
// runs the coordinator. compute() is called from the coordinator's thread; `deliver` is called on
// the background thread and must hand the reply over to the coordinator's thread (the network
// layer posts it to its io_context, which calls Coordinator::server_kernel_done).
class BackgroundServerKernel final : public ServerKernel {
 public:
  explicit BackgroundServerKernel(std::function<void(uint64_t job, Frame reply)> deliver);
  // Waits for the group being computed, if any; groups not started are dropped.
  ~BackgroundServerKernel() override;
  BackgroundServerKernel(const BackgroundServerKernel&) = delete;
  BackgroundServerKernel& operator=(const BackgroundServerKernel&) = delete;

  void compute(uint64_t job, protocol::Assign assign) override;

 private:
  void run();

  std::function<void(uint64_t, Frame)> deliver_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<uint64_t, protocol::Assign>> jobs_;
  bool quit_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Keeps the groups it is given until the coordinator computes them itself (run_one), on its own
// thread, at the end of the call that asked. For tests (the fake clock) and simulations, whose
// callers may block. Not thread-safe.
class InlineServerKernel final : public ServerKernel {
 public:
  void compute(uint64_t job, protocol::Assign assign) override { jobs_.emplace_back(job, std::move(assign)); }
  bool idle() const { return jobs_.empty(); }
  // Computes the oldest group (there must be one) and returns its job id and reply.
  std::pair<uint64_t, Frame> run_one();

 private:
  std::deque<std::pair<uint64_t, protocol::Assign>> jobs_;
  GroupExecutor executor_{0};  // keeps nothing: every group comes with all its inputs
};

}  // namespace corvid::server
