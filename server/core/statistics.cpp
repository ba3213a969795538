#include "server/core/statistics.hpp"

#include <algorithm>

namespace corvid::server {

void Statistics::computed(double now_ms, uint64_t ops) {
  totals.ops_computed += ops;
  recent_.emplace_back(now_ms, ops);
}

void Statistics::event(double unix_t, const std::string& kind, const std::string& message) {
  events_.push_back({unix_t, kind, message});
  while (events_.size() > kMaxEvents) events_.pop_front();
}

void Statistics::tick(double now_ms, double unix_now, int64_t queue_depth) {
  while (!recent_.empty() && recent_.front().first < now_ms - kWindowMs) recent_.pop_front();
  if (now_ms - last_history_ms_ < 1000) return;
  const double seconds = (now_ms - last_history_ms_) / 1000.0;
  HistoryPoint p;
  p.t = unix_now;
  p.ops_per_s = seconds > 0 ? static_cast<double>(totals.ops_computed - ops_at_last_history_) / seconds : 0;
  p.queue_depth = queue_depth;
  history_.push_back(p);
  while (history_.size() > kHistoryPoints) history_.pop_front();
  last_history_ms_ = now_ms;
  ops_at_last_history_ = totals.ops_computed;
}

nlohmann::json Statistics::throughput_json(double now_ms) const {
  double ops = 0, groups = 0;
  for (const auto& [ms, n] : recent_) {
    if (ms < now_ms - kWindowMs) continue;
    ops += static_cast<double>(n);
    groups += 1;
  }
  const double window_s = std::min(kWindowMs / 1000, std::max(1.0, (now_ms - start_ms_) / 1000.0));
  return {{"ops_per_s", ops / window_s}, {"groups_per_s", groups / window_s}};
}

nlohmann::json Statistics::history_json() const {
  nlohmann::json history = nlohmann::json::array();
  for (const auto& p : history_) history.push_back({{"t", p.t}, {"ops_per_s", p.ops_per_s}, {"queue_depth", p.queue_depth}});
  return history;
}

nlohmann::json Statistics::events_json() const {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : events_) events.push_back({{"t", e.t}, {"kind", e.kind}, {"message", e.message}});
  return events;
}

}  // namespace corvid::server
