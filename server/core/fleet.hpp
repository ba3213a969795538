// The connected workers: who they are, how fast they are believed to be, what they are busy
// with, what they keep, and how they behave (protocol errors, silence, missed deadlines).
#pragma once

#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/group_table.hpp"
#include "server/core/scheduler.hpp"
#include "shared/device_benchmark.hpp"
#include "shared/lru_cache.hpp"

namespace corvid::server {

// Which connected workers' KeptTensors hold each tensor name: the reverse of the mirrors, changed
// only by KeptTensors as its own entries come and go (added, erased, evicted, cleared,
// destroyed), so it cannot drift from them.
class KeptHolders {
 public:
  // The workers whose mirror holds `name` (empty if none); the cost is in the number of holders.
  std::vector<WorkerId> of(const std::string& name) const;
  // Names held by at least one worker.
  std::size_t names() const { return holders_.size(); }

 private:
  friend class KeptTensors;
  void insert(const std::string& name, WorkerId worker);
  void erase(const std::string& name, WorkerId worker);

  std::unordered_map<std::string, std::vector<WorkerId>> holders_;  // few holders each
};

// The server's guess of which tensors a worker keeps (from `keep` lists and hello's `cached`),
// mirroring the worker's bounded LRU cache. A wrong guess costs one missing_input retry. Once
// attached to a KeptHolders (Fleet::connect does), every change shows in it; neither copied nor
// moved, since the LRU's eviction hook and the index refer to it.
class KeptTensors {
 public:
  static constexpr double kBudgetBytes = 192e6;  // below the workers' default 256 MB cache
  KeptTensors() : cache_(kBudgetBytes, [this](const std::string& name) { unindex(name); }) {}
  KeptTensors(const KeptTensors&) = delete;
  KeptTensors& operator=(const KeptTensors&) = delete;
  ~KeptTensors() { clear(); }

  // Empties the mirror and reports its entries to `holders` as worker `worker`'s from now on;
  // `holders` must outlive it.
  void attach(KeptHolders& holders, WorkerId worker);
  bool has(const std::string& name) const { return cache_.has(name); }
  // Makes `name` the most recently used, if it is held.
  void touch(const std::string& name) { cache_.touch(name); }
  // Holds `name` (`bytes` large) as the most recently used, evicting the least recently used
  // beyond the budget; a value larger than the budget is not held.
  void add(const std::string& name, double bytes);
  void erase(const std::string& name);
  void clear();
  std::size_t size() const { return cache_.size(); }
  bool empty() const { return cache_.size() == 0; }
  const std::list<LruCache<bool>::Entry>& entries() const { return cache_.entries(); }

 private:
  void unindex(const std::string& name) {
    if (holders_) holders_->erase(name, worker_);
  }

  LruCache<bool> cache_;
  KeptHolders* holders_ = nullptr;
  WorkerId worker_ = 0;
};

// Where a worker stands in the Fleet's indexes (what reindex() inserted, so it can take it out).
struct FleetIndexEntry {
  bool listed = false;       // benchmarked: in the speed indexes and the fleet's rates
  bool free = false;         // ... and with a free slot: in the free index
  bool trusted = false;      // ... and not suspect: counted in the rates and free_trusted
  double unit_ms = 0;        // estimate_ms of a unit cost (1e9 flops and bytes, one op)
  double ms_per_flop = 0, ms_per_byte = 0, correction = 0;
  double flops_per_ms = 0, bytes_per_ms = 0;  // as counted in the fleet's rates
};

// A connected worker.
struct WorkerState {
  WorkerId id = 0;
  std::string name;
  std::string user_agent;
  std::string device;            // the device it is a compute slot of ("": a device of its own)
  std::optional<uint64_t> slot;  // its slot on that device
  double connected_at = 0;  // unix seconds
  double last_seen_ms = 0;
  bool benchmarked = false;
  DeviceScore benchmark;  // as the worker reported it (when benchmarked)
  SpeedModel speed;
  double busy_until_ms = 0;
  double last_reply_ms = 0;          // when its last result or error for a group arrived
  double reported_compute_ms = 0;    // the sum of the compute_ms it reported: shown, never trusted
  std::vector<GroupId> in_flight;   // includes expired groups still owed
  std::deque<GroupId> cancelled;    // recently cancelled groups: their results are ignored quietly
  int protocol_errors = 0;
  bool suspect = false;  // missed a deadline and has not delivered a result since
  bool quarantined = false;  // proven wrong repeatedly (verification.hpp): it gets no work
  uint64_t groups_done = 0, ops_done = 0, failures = 0;
  KeptTensors kept;
  FleetIndexEntry indexed;  // kept by Fleet::reindex
};



// The workers by id, and the bookkeeping about them that needs no graph: protocol-error counts,
// heartbeats, recently cancelled groups, busy-until estimates and the scheduler's view of their
// loads. Indexes keep dispatch and heartbeats from scanning the fleet: free workers by speed,
// all benchmarked workers by three lower bounds of their estimates, the summed speed, and workers
// by the time of their last message. Whoever changes a worker's benchmarked, quarantined, speed, suspect or
// in_flight calls reindex() after. Not thread-safe.
class Fleet {
 public:
  static constexpr int kMaxProtocolErrors = 5;
  static constexpr std::size_t kCancelledMemory = 256;  // recently cancelled groups remembered per worker

  // `max_in_flight`: groups a worker may hold at once (a worker with fewer has a free slot).
  explicit Fleet(int max_in_flight = 2) : max_in_flight_(max_in_flight) {}

  // A fresh state for a worker that said hello at `now_ms` (replacing any earlier one with this id).
  WorkerState& connect(WorkerId id, double now_ms = 0);
  // The worker, or nullptr if it is not connected (or was dropped).
  WorkerState* find(WorkerId id);
  const WorkerState* find(WorkerId id) const;
  void remove(WorkerId id);
  // Brings the indexes in step with w's benchmarked, speed, suspect and in_flight.
  void reindex(WorkerState& w);
  // Notes a message from w at `now_ms` (heartbeat bookkeeping).
  void seen(WorkerState& w, double now_ms);
  std::size_t size() const { return workers_.size(); }
  std::map<WorkerId, WorkerState>& all() { return workers_; }
  const std::map<WorkerId, WorkerState>& all() const { return workers_; }

  // Counts a protocol error of `w`; true once it has made kMaxProtocolErrors (close it then).
  static bool protocol_error_limit_reached(WorkerState& w) { return ++w.protocol_errors >= kMaxProtocolErrors; }
  // Workers whose last message is more than `limit_ms` before `now_ms`, oldest first; the cost
  // is in the number found, not the fleet's size.
  std::vector<WorkerId> silent(double now_ms, double limit_ms) const;
  // Remembers that `group` was cancelled on worker `id`, so its late result is ignored quietly.
  void note_cancelled(WorkerId id, GroupId group);
  static bool recently_cancelled(const WorkerState& w, GroupId group);
  // Unlinks `group` from the worker's in-flight list and refreshes its busy-until estimate.
  void finish_group(WorkerId id, GroupId group, double now_ms, const GroupTable& groups);
  // Busy until now plus the estimates of its live groups.
  static void refresh_busy_until(WorkerState& w, double now_ms, const GroupTable& groups);

  // Benchmarked workers (who may get work; not quarantined ones), in id order, and their loads
  // for the scheduler. A suspect worker is busy forever: it only gets work nobody else can take.
  // Scans the fleet: for the round-robin baseline and verification replicas.
  std::vector<WorkerState*> eligible(int max_in_flight, std::vector<WorkerLoad>& loads);
  // What the finish-time rule knows about w (a suspect worker is busy forever).
  WorkerLoad load_of(const WorkerState& w) const;

  // Up to `limit` benchmarked workers with a free slot, fastest first (by the estimate of a unit cost).
  std::vector<WorkerState*> free_fastest_first(std::size_t limit) const;
  // Benchmarked workers with a free slot that are not suspect.
  std::size_t free_trusted() const { return free_trusted_; }
  // Benchmarked workers (the number eligible() would return).
  std::size_t benchmarked() const { return by_flop_.size(); }
  // The summed speed of the benchmarked workers that are not suspect.
  const FleetRates& rates() const { return rates_; }
  // The first benchmarked worker w for which `sooner(w)` holds among those whose estimate for
  // `cost` (over `ops` ops) plus `fixed_ms` could be below `limit_ms`, or nullptr. Workers are
  // visited in the order of a lower bound (per flop, per byte or per-op overhead: whichever
  // bounds tighter) and the visit stops once the bound reaches the limit, so it costs the number
  // of workers that could be as fast, not the fleet.
  WorkerState* first_faster(const Cost& cost, int ops, double fixed_ms, double limit_ms,
                            const std::function<bool(const WorkerState&)>& sooner);
  // Round robin: the worker whose turn it is among `eligible`; next_turn() passes the turn on.
  WorkerState& in_turn(const std::vector<WorkerState*>& eligible) const {
    return *eligible[round_robin_next_ % eligible.size()];
  }
  void next_turn() { ++round_robin_next_; }
  // A speed model of the benchmarked workers' mean benchmark (round robin sizes groups for an
  // average worker). Requires at least one benchmarked worker.
  SpeedModel average_speed() const;
  // Up to `limit` workers that hold no group and are not quarantined, in id order (scans the fleet).
  std::vector<WorkerId> idle(std::size_t limit) const;
  // True if a benchmarked worker that is not suspect, quarantined or in `except` is connected.
  bool someone_else(const std::set<WorkerId>& except) const;
  // The workers whose kept-tensor mirror holds `name` (without scanning the fleet).
  std::vector<WorkerId> keeping(const std::string& name) const { return kept_holders_.of(name); }
  const KeptHolders& kept_holders() const { return kept_holders_; }

 private:
  using Index = std::set<std::pair<double, WorkerId>>;

  KeptHolders kept_holders_;  // before workers_: their mirrors leave it as they are destroyed
  std::map<WorkerId, WorkerState> workers_;
  std::size_t round_robin_next_ = 0;
  int max_in_flight_;
  Index free_by_speed_;                      // benchmarked with a free slot, by unit_ms
  Index by_flop_, by_byte_, by_correction_;  // benchmarked, by ms_per_flop, ms_per_byte, correction
  std::set<std::pair<double, WorkerId>> by_last_seen_;
  std::size_t free_trusted_ = 0;
  FleetRates rates_;
};

}  // namespace corvid::server
