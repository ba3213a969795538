#include "server/core/fleet.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace corvid::server {

std::vector<WorkerId> KeptHolders::of(const std::string& name) const {
  auto it = holders_.find(name);
  return it == holders_.end() ? std::vector<WorkerId>{} : it->second;
}

void KeptHolders::insert(const std::string& name, WorkerId worker) {
  std::vector<WorkerId>& workers = holders_[name];
  if (std::find(workers.begin(), workers.end(), worker) == workers.end()) workers.push_back(worker);
}

void KeptHolders::erase(const std::string& name, WorkerId worker) {
  auto it = holders_.find(name);
  if (it == holders_.end()) return;
  std::vector<WorkerId>& workers = it->second;
  workers.erase(std::remove(workers.begin(), workers.end(), worker), workers.end());
  if (workers.empty()) holders_.erase(it);
}

void KeptTensors::attach(KeptHolders& holders, WorkerId worker) {
  clear();
  holders_ = &holders;
  worker_ = worker;
}

void KeptTensors::add(const std::string& name, double bytes) {
  cache_.add(name, bytes, true);  // evictions leave the index through the LRU's hook
  if (!holders_) return;
  if (cache_.has(name))
    holders_->insert(name, worker_);
  else
    holders_->erase(name, worker_);  // too large: any earlier entry of it is gone
}

void KeptTensors::erase(const std::string& name) {
  if (!cache_.has(name)) return;
  cache_.erase(name);
  unindex(name);
}

void KeptTensors::clear() {
  if (holders_)
    for (const auto& entry : cache_.entries()) holders_->erase(entry.key, worker_);
  cache_.clear();
}

WorkerState& Fleet::connect(WorkerId id, double now_ms) {
  remove(id);
  WorkerState& w = workers_[id];
  w.id = id;
  w.kept.attach(kept_holders_, id);
  w.last_seen_ms = now_ms;
  by_last_seen_.emplace(now_ms, id);
  return w;
}

void Fleet::remove(WorkerId id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  WorkerState& w = it->second;
  w.benchmarked = false;  // takes it out of every index
  reindex(w);
  by_last_seen_.erase({w.last_seen_ms, id});
  workers_.erase(it);
}

void Fleet::seen(WorkerState& w, double now_ms) {
  if (w.last_seen_ms == now_ms) return;
  by_last_seen_.erase({w.last_seen_ms, w.id});
  w.last_seen_ms = now_ms;
  by_last_seen_.emplace(now_ms, w.id);
}

void Fleet::reindex(WorkerState& w) {
  FleetIndexEntry& e = w.indexed;
  // Out with the old entry...
  if (e.listed) {
    by_flop_.erase({e.ms_per_flop, w.id});
    by_byte_.erase({e.ms_per_byte, w.id});
    by_correction_.erase({e.correction, w.id});
  }
  if (e.free) free_by_speed_.erase({e.unit_ms, w.id});
  if (e.trusted) {
    rates_.flops_per_ms -= e.flops_per_ms;
    rates_.bytes_per_ms -= e.bytes_per_ms;
    --rates_.workers;
    if (e.free) --free_trusted_;
  }
  if (!rates_.workers) rates_ = FleetRates{};  // no rounding residue once nobody counts
  // ... in with the new.
  e = FleetIndexEntry{};
  if (!w.benchmarked || w.quarantined) return;  // a quarantined worker gets no work
  e.listed = true;
  e.correction = w.speed.correction();
  e.ms_per_flop = w.speed.estimate_ms(Cost{1, 0}, 0);
  e.ms_per_byte = w.speed.estimate_ms(Cost{0, 1}, 0);
  e.unit_ms = w.speed.estimate_ms(Cost{1e9, 1e9}, 1);
  by_flop_.emplace(e.ms_per_flop, w.id);
  by_byte_.emplace(e.ms_per_byte, w.id);
  by_correction_.emplace(e.correction, w.id);
  e.free = static_cast<int>(w.in_flight.size()) < max_in_flight_;
  if (e.free) free_by_speed_.emplace(e.unit_ms, w.id);
  e.trusted = !w.suspect;
  if (e.trusted) {
    e.flops_per_ms = 1 / e.ms_per_flop;
    e.bytes_per_ms = 1 / e.ms_per_byte;
    rates_.flops_per_ms += e.flops_per_ms;
    rates_.bytes_per_ms += e.bytes_per_ms;
    ++rates_.workers;
    if (e.free) ++free_trusted_;
  }
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
  for (auto it = by_last_seen_.begin(); it != by_last_seen_.end() && now_ms - it->first > limit_ms; ++it)
    out.push_back(it->second);
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
  reindex(*w);
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
    loads.push_back(load_of(w));
    loads.back().has_free_slot = static_cast<int>(w.in_flight.size()) < max_in_flight;
  }
  return out;
}

WorkerLoad Fleet::load_of(const WorkerState& w) const {
  // A worker that missed a deadline may never answer: until it delivers a result, it only gets
  // work nobody else can take, and nobody waits for it.
  return {w.id, &w.speed, w.suspect ? std::numeric_limits<double>::infinity() : w.busy_until_ms,
          static_cast<int>(w.in_flight.size()) < max_in_flight_};
}

std::vector<WorkerState*> Fleet::free_fastest_first(std::size_t limit) const {
  std::vector<WorkerState*> out;
  for (auto it = free_by_speed_.begin(); it != free_by_speed_.end() && out.size() < limit; ++it)
    out.push_back(const_cast<WorkerState*>(find(it->second)));
  return out;
}

WorkerState* Fleet::first_faster(const Cost& cost, int ops, double fixed_ms, double limit_ms,
                                 const std::function<bool(const WorkerState&)>& sooner) {
  if (by_flop_.empty()) return nullptr;
  // Each index orders a lower bound of estimate_ms: correction × max(flops / rate, bytes / rate)
  // + correction × per-op overhead is at least each of its three terms. Take the index whose
  // smallest bound is largest: it stops soonest.
  const double per_op = SpeedModel::kPerOpMs * ops;
  struct Choice {
    const Index* index;
    double scale;
  };
  const Choice choices[] = {{&by_flop_, cost.flops}, {&by_byte_, cost.bytes}, {&by_correction_, per_op}};
  const Choice* best = &choices[0];
  for (const Choice& c : choices)
    if (c.index->begin()->first * c.scale > best->index->begin()->first * best->scale) best = &c;
  for (const auto& [key, id] : *best->index) {
    if (fixed_ms + key * best->scale >= limit_ms) return nullptr;
    WorkerState* w = find(id);
    if (sooner(*w)) return w;
  }
  return nullptr;
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

std::vector<WorkerId> Fleet::idle(std::size_t limit) const {
  std::vector<WorkerId> out;
  for (const auto& [id, w] : workers_) {
    if (out.size() >= limit) break;
    if (w.in_flight.empty() && !w.quarantined) out.push_back(id);
  }
  return out;
}

bool Fleet::someone_else(const std::set<WorkerId>& except) const {
  // A suspect worker (it missed a deadline) is not counted on: it may never answer.
  for (const auto& [id, w] : workers_)
    if (w.benchmarked && !w.suspect && !w.quarantined && !except.count(id)) return true;
  return false;
}

}  // namespace corvid::server
