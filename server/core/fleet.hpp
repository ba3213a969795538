// The connected workers: who they are, how fast they are believed to be, what they are busy
// with, what they keep, and how they behave (protocol errors, silence, missed deadlines).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/group_table.hpp"
#include "server/core/scheduler.hpp"
#include "shared/device_benchmark.hpp"
#include "shared/lru_cache.hpp"

namespace corvid::server {

// The server's guess of which tensors a worker keeps (from `keep` lists and hello's `cached`),
// mirroring the worker's bounded LRU cache. A wrong guess costs one missing_input retry.
class KeptTensors : public LruCache<bool> {
 public:
  static constexpr double kBudgetBytes = 192e6;  // below the workers' default 256 MB cache
  KeptTensors() : LruCache<bool>(kBudgetBytes) {}
  void add(const std::string& name, double bytes) { LruCache<bool>::add(name, bytes, true); }
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
  uint64_t groups_done = 0, ops_done = 0, failures = 0;
  KeptTensors kept;
};

// The workers by id, and the bookkeeping about them that needs no graph: protocol-error counts,
// heartbeats, recently cancelled groups, busy-until estimates and the scheduler's view of their
// loads. Not thread-safe.
class Fleet {
 public:
  static constexpr int kMaxProtocolErrors = 5;
  static constexpr std::size_t kCancelledMemory = 256;  // recently cancelled groups remembered per worker

  // A fresh state for a worker that said hello (replacing any earlier one with this id).
  WorkerState& connect(WorkerId id);
  // The worker, or nullptr if it is not connected (or was dropped).
  WorkerState* find(WorkerId id);
  const WorkerState* find(WorkerId id) const;
  void remove(WorkerId id) { workers_.erase(id); }
  std::size_t size() const { return workers_.size(); }
  std::map<WorkerId, WorkerState>& all() { return workers_; }
  const std::map<WorkerId, WorkerState>& all() const { return workers_; }

  // Counts a protocol error of `w`; true once it has made kMaxProtocolErrors (close it then).
  static bool protocol_error_limit_reached(WorkerState& w) { return ++w.protocol_errors >= kMaxProtocolErrors; }
  // Workers whose last message is more than `limit_ms` before `now_ms`.
  std::vector<WorkerId> silent(double now_ms, double limit_ms) const;
  // Remembers that `group` was cancelled on worker `id`, so its late result is ignored quietly.
  void note_cancelled(WorkerId id, GroupId group);
  static bool recently_cancelled(const WorkerState& w, GroupId group);
  // Unlinks `group` from the worker's in-flight list and refreshes its busy-until estimate.
  void finish_group(WorkerId id, GroupId group, double now_ms, const GroupTable& groups);
  // Busy until now plus the estimates of its live groups.
  static void refresh_busy_until(WorkerState& w, double now_ms, const GroupTable& groups);

  // Benchmarked workers (who may get work), in id order, and their loads for the scheduler. A
  // suspect worker is busy forever: it only gets work nobody else can take.
  std::vector<WorkerState*> eligible(int max_in_flight, std::vector<WorkerLoad>& loads);
  // Round robin: the worker whose turn it is among `eligible`; next_turn() passes the turn on.
  WorkerState& in_turn(const std::vector<WorkerState*>& eligible) const {
    return *eligible[round_robin_next_ % eligible.size()];
  }
  void next_turn() { ++round_robin_next_; }
  // A speed model of the benchmarked workers' mean benchmark (round robin sizes groups for an
  // average worker). Requires at least one benchmarked worker.
  SpeedModel average_speed() const;
  // True if a benchmarked worker that is not suspect and not in `except` is connected.
  bool someone_else(const std::set<WorkerId>& except) const;

 private:
  std::map<WorkerId, WorkerState> workers_;
  std::size_t round_robin_next_ = 0;
};

}  // namespace corvid::server
