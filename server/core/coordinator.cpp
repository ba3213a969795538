#include "server/core/coordinator.hpp"

#include "server/core/graph_store.hpp"

namespace corvid::server {
namespace {
// Placeholder while the real coordinator is written: welcomes workers, answers nothing else.
class CoordinatorImpl final : public Coordinator {
 public:
  CoordinatorImpl(const std::string& data_dir, const Clock& clock, Outbox& outbox, CoordinatorOptions options)
      : clock_(clock), outbox_(outbox), options_(options), store_(open_sqlite_store(data_dir + "/corvid.db")) {}
  void client_connected(ClientId, const std::string&) override {}
  void client_message(ClientId, Frame) override {}
  void client_disconnected(ClientId) override {}
  void worker_connected(WorkerId worker, const nlohmann::json&) override {
    Frame f;
    f.header = {{"type", "welcome"}, {"worker_id", worker}, {"heartbeat_ms", options_.heartbeat_ms}};
    outbox_.send_to_worker(worker, std::move(f));
  }
  void worker_message(WorkerId, Frame) override {}
  void worker_malformed(WorkerId, const std::string&) override {}
  void worker_disconnected(WorkerId) override {}
  void tick() override { store_->flush(); }
  nlohmann::json status_json() const override { return nlohmann::json::object(); }
  nlohmann::json graph_json(uint64_t) const override { return nullptr; }
  std::string metrics_text() const override { return ""; }

 private:
  const Clock& clock_;
  Outbox& outbox_;
  CoordinatorOptions options_;
  std::unique_ptr<GraphStore> store_;
};
}  // namespace

std::unique_ptr<Coordinator> make_coordinator(const std::string& data_dir, const Clock& clock, Outbox& outbox,
                                              CoordinatorOptions options) {
  return std::make_unique<CoordinatorImpl>(data_dir, clock, outbox, options);
}
}  // namespace corvid::server
