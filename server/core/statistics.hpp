// What the coordinator counts for operators: totals behind /metrics, the recent window behind
// the status page's throughput, the one-second history behind its charts, and the event log.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace corvid::server {

// A line of the operator's event log.
struct Event {
  double t = 0;  // unix seconds
  std::string kind;
  std::string message;
};

// A point of the one-second history.
struct HistoryPoint {
  double t = 0;
  double ops_per_s = 0;
  int64_t queue_depth = 0;
};

// Counters, windows and the event log. Times are on the coordinator's clock (ms) unless named
// unix (seconds). Not thread-safe.
class Statistics {
 public:
  static constexpr std::size_t kMaxEvents = 200;
  static constexpr std::size_t kHistoryPoints = 600;
  static constexpr double kWindowMs = 5000;  // the throughput window

  // Totals since start, as /metrics shows them.
  struct Totals {
    uint64_t ops_computed = 0;
    uint64_t groups_done = 0;
    uint64_t groups_failed = 0;
    uint64_t deadlines_missed = 0;
    uint64_t results_rejected = 0;
    uint64_t duplicates_ignored = 0;
    uint64_t graphs_adopted = 0;  // several servers: graphs taken over from a server whose lease expired
    uint64_t leases_lost = 0;     // several servers: graphs this server lost (it stalled past the lease)
    uint64_t groups_verified = 0;     // replicated groups whose result was accepted
    uint64_t disagreements = 0;       // replicas that disagreed with an earlier result
    uint64_t results_wrong = 0;       // results proven wrong (minority, or against the server)
    uint64_t server_replicas = 0;     // replicas computed by the server's own kernel
    uint64_t verification_failed = 0;  // groups whose results never agreed (their ops failed)
    uint64_t quarantines = 0;         // workers quarantined
    uint64_t rechecked = 0;           // a quarantined worker's unreplicated deliveries verified again
    uint64_t wrong_delivered = 0;     // ... of which were wrong (the server's values replaced them)
  };

  explicit Statistics(double start_ms) : start_ms_(start_ms), last_history_ms_(start_ms) {}

  Totals totals;
  // A result made `ops` ops computed at `now_ms` (0 counts as a group in the window too).
  void computed(double now_ms, uint64_t ops);
  // Appends to the event log, dropping the oldest beyond kMaxEvents.
  void event(double unix_t, const std::string& kind, const std::string& message);
  // Drops window entries older than kWindowMs and, once a second, records a history point.
  void tick(double now_ms, double unix_now, int64_t queue_depth);

  // {"ops_per_s", "groups_per_s"} over the window (or the time since start when shorter).
  nlohmann::json throughput_json(double now_ms) const;
  nlohmann::json history_json() const;
  nlohmann::json events_json() const;

 private:
  double start_ms_;
  std::deque<std::pair<double, uint64_t>> recent_;  // (ms, ops) of groups done in the window
  std::deque<Event> events_;
  std::deque<HistoryPoint> history_;
  double last_history_ms_;
  uint64_t ops_at_last_history_ = 0;
};

}  // namespace corvid::server
