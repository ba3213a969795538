#include "server/core/fleet.hpp"

#include <algorithm>
#include <limits>

namespace corvid::server {

WorkerState& Fleet::connect(WorkerId id) {
  WorkerState& w = workers_[id];
  w = WorkerState{};
  w.id = id;
  return w;
}

WorkerState* Fleet::find(WorkerId id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

const WorkerState* Fleet::find(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<WorkerId> Fleet::silent(double now_ms, double limit_ms) const {
  std::vector<WorkerId> out;
  for (const auto& [id, w] : workers_)
    if (now_ms - w.last_seen_ms > limit_ms) out.push_back(id);
  return out;
}

void Fleet::note_cancelled(WorkerId id, GroupId group) {
  WorkerState* w = find(id);
  if (!w) return;
  w->cancelled.push_back(group);
  while (w->cancelled.size() > kCancelledMemory) w->cancelled.pop_front();
}

bool Fleet::recently_cancelled(const WorkerState& w, GroupId group) {
  return std::find(w.cancelled.begin(), w.cancelled.end(), group) != w.cancelled.end();
}

void Fleet::finish_group(WorkerId id, GroupId group, double now_ms, const GroupTable& groups) {
  WorkerState* w = find(id);
  if (!w) return;
  w->in_flight.erase(std::remove(w->in_flight.begin(), w->in_flight.end(), group), w->in_flight.end());
  refresh_busy_until(*w, now_ms, groups);
}

void Fleet::refresh_busy_until(WorkerState& w, double now_ms, const GroupTable& groups) {
  w.busy_until_ms = groups.after_live(now_ms, w.in_flight);
}

std::vector<WorkerState*> Fleet::eligible(int max_in_flight, std::vector<WorkerLoad>& loads) {
  std::vector<WorkerState*> out;
  loads.clear();
  for (auto& [id, w] : workers_) {
    if (!w.benchmarked || w.quarantined) continue;
    out.push_back(&w);
    // A worker that missed a deadline may never answer: until it delivers a result, it only
    // gets work nobody else can take, and nobody waits for it.
    loads.push_back({id, &w.speed, w.suspect ? std::numeric_limits<double>::infinity() : w.busy_until_ms,
                     static_cast<int>(w.in_flight.size()) < max_in_flight});
  }
  return out;
}

SpeedModel Fleet::average_speed() const {
  double gflops = 0, gbs = 0;
  int n_workers = 0;
  for (const auto& [id, other] : workers_) {
    if (!other.benchmarked) continue;
    gflops += other.benchmark.matmul_gflops;
    gbs += other.benchmark.elementwise_gbs;
    ++n_workers;
  }
  SpeedModel sizing;
  sizing.set_benchmark(gflops / n_workers, gbs / n_workers);
  return sizing;
}

bool Fleet::someone_else(const std::set<WorkerId>& except) const {
  // A suspect worker (it missed a deadline) is not counted on: it may never answer.
  for (const auto& [id, w] : workers_)
    if (w.benchmarked && !w.suspect && !w.quarantined && !except.count(id)) return true;
  return false;
}

}  // namespace corvid::server
