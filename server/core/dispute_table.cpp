#include "server/core/dispute_table.hpp"

namespace corvid::server {

DisputeTable::Report DisputeTable::report(Key key, WorkerId worker, const std::string& message) {
  KernelDispute& dispute = disputes_[key];
  if (dispute.reporters.count(worker)) return Report::repeated;
  const bool earlier = !dispute.reporters.empty();
  dispute.reporters.insert(worker);
  if (!earlier) {
    dispute.error = message;
    return Report::first;
  }
  return dispute.error == message ? Report::confirmed : Report::disagreement;
}

KernelDispute* DisputeTable::find(Key key) {
  auto it = disputes_.find(key);
  return it == disputes_.end() ? nullptr : &it->second;
}

bool DisputeTable::reported_by(Key key, WorkerId worker) const {
  if (disputes_.empty()) return false;
  auto it = disputes_.find(key);
  return it != disputes_.end() && it->second.reporters.count(worker) != 0;
}

std::optional<KernelDispute> DisputeTable::close(Key key) {
  auto node = disputes_.extract(key);
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

void DisputeTable::job_done(uint64_t job) {
  for (auto& [key, dispute] : disputes_)
    if (dispute.server_job == job) dispute.server_job = 0;
}

std::vector<std::pair<DisputeTable::Key, KernelDispute*>> DisputeTable::without_server_job() {
  std::vector<std::pair<Key, KernelDispute*>> out;
  for (auto& [key, dispute] : disputes_)
    if (!dispute.server_job) out.emplace_back(key, &dispute);
  return out;
}

}  // namespace corvid::server
