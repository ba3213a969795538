#include "server/net/server_state.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <vector>

#include "server/core/server_kernel.hpp"
#include "server/net/frame_session.hpp"

namespace corvid::server {
namespace {

constexpr std::chrono::milliseconds kTickPeriod{50};

}  // namespace

ServerState::ServerState(asio::io_context& ioc, ServerConfig config)
    : config_(std::move(config)),
      files_(config_.web_dir, config_.wasm_dir),
      worker_connects_(config_.worker_connects_per_s, config_.worker_connect_burst),
      tick_timer_(ioc) {}

ServerState::~ServerState() = default;

void ServerState::start(const CoordinatorOptions& options) {
  // Replies come back on the kernel's thread and are posted to the io thread.
  kernel_ = std::make_unique<BackgroundServerKernel>(
      [weak = weak_from_this(), io = tick_timer_.get_executor()](uint64_t job, Frame reply) {
        asio::post(io, [weak, job, reply = std::move(reply)]() mutable {
          if (auto self = weak.lock())
            self->guarded("server_kernel_done", nullptr, [&](Coordinator& c) { c.server_kernel_done(job, std::move(reply)); });
        });
      });
  CoordinatorOptions with_group_commit = options;
  with_group_commit.group_commit = true;  // commit_soon() commits the submits of each turn together
  coordinator_ = make_coordinator(config_.data_dir.string(), *this, *this, with_group_commit, kernel_.get());
  do_tick();
}

void ServerState::shutdown() {
  tick_timer_.cancel();
  // Submits read in this turn are stored and answered before the connections close.
  guarded("commit_submits", nullptr, [](Coordinator& c) { c.commit_submits(); });
  coordinator_.reset();
  kernel_.reset();  // after the group being computed, if any
  std::vector<std::shared_ptr<FrameSession>> open;
  for (const Sessions* sessions : {&workers_, &clients_})
    for (const auto& [id, weak] : *sessions)
      if (auto session = weak.lock()) open.push_back(std::move(session));
  for (const auto& session : open) session->close(websocket::close_code::going_away, "server shutting down");
}

bool ServerState::admit_worker_connect(const asio::ip::address& address, double& retry_after_s) {
  return worker_connects_.admit(address, std::chrono::steady_clock::now(), retry_after_s);
}

void ServerState::do_tick() {
  tick_timer_.expires_after(kTickPeriod);
  tick_timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_tick(ec); });
}

void ServerState::on_tick(beast::error_code ec) {
  if (ec || !coordinator_) return;
  guarded("tick", nullptr, [](Coordinator& c) { c.tick(); });
  do_tick();
}

template <class Fn>
void ServerState::guarded(const char* what, const std::shared_ptr<FrameSession>& reply_to, Fn&& fn) {
  if (!coordinator_) return;
  try {
    fn(*coordinator_);
  } catch (const std::exception& e) {
    std::cerr << "corvid-server: internal error in " << what << ": " << e.what() << "\n";
    if (reply_to) reply_to->send_error(std::string("internal server error: ") + e.what());
  }
}

std::shared_ptr<FrameSession> ServerState::find(const Sessions& sessions, uint64_t id) {
  auto it = sessions.find(id);
  return it == sessions.end() ? nullptr : it->second.lock();
}

WorkerId ServerState::add_worker(const std::shared_ptr<FrameSession>& session, const protocol::WorkerHello& hello,
                                 bool operator_credential) {
  WorkerId id = next_worker_++;
  workers_[id] = session;
  guarded("worker_connected", session, [&](Coordinator& c) { c.worker_connected(id, hello, operator_credential); });
  return id;
}

void ServerState::worker_message(WorkerId worker, Frame frame) {
  guarded("worker_message", find(workers_, worker), [&](Coordinator& c) { c.worker_message(worker, std::move(frame)); });
}

void ServerState::worker_malformed(WorkerId worker, const std::string& error) {
  guarded("worker_malformed", find(workers_, worker), [&](Coordinator& c) { c.worker_malformed(worker, error); });
}

void ServerState::remove_worker(WorkerId worker) {
  workers_.erase(worker);
  guarded("worker_disconnected", nullptr, [&](Coordinator& c) { c.worker_disconnected(worker); });
}

ClientId ServerState::add_client(const std::shared_ptr<FrameSession>& session, const std::string& owner) {
  ClientId id = next_client_++;
  clients_[id] = session;
  guarded("client_connected", session, [&](Coordinator& c) { c.client_connected(id, owner); });
  return id;
}

void ServerState::client_message(ClientId client, Frame frame) {
  guarded("client_message", find(clients_, client), [&](Coordinator& c) { c.client_message(client, std::move(frame)); });
  commit_soon();
}

void ServerState::commit_soon() {
  if (commit_posted_ || !coordinator_ || !coordinator_->submits_waiting()) return;
  commit_posted_ = true;
  asio::post(tick_timer_.get_executor(), [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->on_commit();
  });
}

void ServerState::on_commit() {
  commit_posted_ = false;
  guarded("commit_submits", nullptr, [](Coordinator& c) { c.commit_submits(); });
  commit_soon();  // held messages handled by the commit may have staged new submits
}

void ServerState::remove_client(ClientId client) {
  clients_.erase(client);
  guarded("client_disconnected", nullptr, [&](Coordinator& c) { c.client_disconnected(client); });
}

const Coordinator& ServerState::coordinator_or_throw() const {
  if (!coordinator_) throw std::runtime_error("the server is shutting down");
  return *coordinator_;
}

nlohmann::json ServerState::status_json(const StatusQuery& query) const {
  return coordinator_or_throw().status_json(query);
}

nlohmann::json ServerState::graph_json(uint64_t graph_id) const { return coordinator_or_throw().graph_json(graph_id); }

std::shared_ptr<const Tensor> ServerState::value(uint64_t graph_id, const std::string& op_id, std::string& why) const {
  if (!coordinator_) throw std::runtime_error("the server is shutting down");
  return coordinator_->value(graph_id, op_id, why);
}

std::string ServerState::owner_elsewhere(uint64_t graph_id) const {
  if (!coordinator_) throw std::runtime_error("the server is shutting down");
  return coordinator_->owner_elsewhere(graph_id);
}

std::string ServerState::metrics_text() const { return coordinator_or_throw().metrics_text(); }

std::size_t ServerState::redirect_free_workers(std::size_t count, const std::string& url) {
  if (!coordinator_) throw std::runtime_error("the server is shutting down");
  return coordinator_->redirect_free_workers(count, url);
}

void ServerState::send_to_worker(WorkerId worker, Frame frame) {
  if (auto session = find(workers_, worker)) session->send(encode_frame(frame));
}

void ServerState::send_to_client(ClientId client, Frame frame) {
  if (auto session = find(clients_, client)) session->send(encode_frame(frame));
}

void ServerState::close_worker(WorkerId worker, const std::string& reason) {
  if (auto session = find(workers_, worker)) session->close(websocket::close_code::policy_error, reason);
}

void ServerState::part_worker(WorkerId worker, const std::string& reason) {
  if (auto session = find(workers_, worker)) session->close(websocket::close_code::normal, reason);
}

double ServerState::now_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
}

double ConnectRateLimit::tokens_at(const Bucket& bucket, std::chrono::steady_clock::time_point now) const {
  double refilled = std::chrono::duration<double>(now - bucket.updated).count() * rate_per_s_;
  return std::min(burst_, bucket.tokens + refilled);
}

bool ConnectRateLimit::admit(const asio::ip::address& address, std::chrono::steady_clock::time_point now,
                             double& retry_after_s) {
  if (rate_per_s_ <= 0) return true;
  if (buckets_.size() >= prune_above_) {
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = tokens_at(it->second, now) >= burst_ ? buckets_.erase(it) : std::next(it);
    prune_above_ = std::max<std::size_t>(1024, 2 * buckets_.size());
  }
  Bucket& bucket = buckets_.try_emplace(address.to_string(), Bucket{burst_, now}).first->second;
  bucket.tokens = tokens_at(bucket, now);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return true;
  }
  retry_after_s = (1 - bucket.tokens) / rate_per_s_;
  return false;
}

}  // namespace corvid::server
