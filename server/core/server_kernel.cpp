#include "server/core/server_kernel.hpp"

namespace corvid::server {

BackgroundServerKernel::BackgroundServerKernel(std::function<void(uint64_t, Frame)> deliver)
    : deliver_(std::move(deliver)), thread_([this] { run(); }) {}

BackgroundServerKernel::~BackgroundServerKernel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BackgroundServerKernel::compute(uint64_t job, protocol::Assign assign) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.emplace_back(job, std::move(assign));
  }
  wake_.notify_one();
}

void BackgroundServerKernel::run() {
  GroupExecutor executor(0);  // keeps nothing: every group comes with all its inputs
  for (;;) {
    std::pair<uint64_t, protocol::Assign> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return quit_ || !jobs_.empty(); });
      if (quit_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    deliver_(job.first, executor.execute(std::move(job.second)));
  }
}

std::pair<uint64_t, Frame> InlineServerKernel::run_one() {
  auto job = std::move(jobs_.front());
  jobs_.pop_front();
  return {job.first, executor_.execute(std::move(job.second))};
}

}  // namespace corvid::server
