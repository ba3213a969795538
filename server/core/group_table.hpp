// The op groups in flight: those handed to workers and those the server's own kernel computes
// to settle a disputed kernel error, with the ids they are named by.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/graph.hpp"

namespace corvid::server {

using WorkerId = uint64_t;

// One op group handed to a worker (or, for a disputed kernel error, to the server's own kernel).
struct GroupRecord {
  GroupId id = 0;
  WorkerId worker = 0;  // 0: the server's own kernel
  GraphId graph = 0;
  std::vector<OpIndex> ops;      // topological order
  std::vector<OpIndex> outputs;  // ops whose values the result carries
  std::vector<OpIndex> kept_outputs;      // outputs the worker was asked to keep
  std::vector<std::string> kept_inputs;   // attached inputs the worker was asked to keep
  bool relied_on_kept = false;            // some inputs were not attached: the worker keeps them
  double raw_ms = 0;             // SpeedModel::raw_ms of the group on its worker
  double estimate_ms = 0;        // estimated time from assignment to result
  double deadline_ms = 0;
  double sent_ms = 0;            // when the assign was sent, on the server's clock
  double input_bytes = 0;        // of the tensors attached to the assign
  uint64_t check = 0;   // a replica for this verification check (verification.hpp); 0: a first result
  bool expired = false;  // missed its deadline: its ops were handed to others, a late result still counts
};

// Groups in flight by id, and the server's own kernel jobs. Group ids count up from the id
// given at construction (a different one each run, so a result for a group of an earlier run is
// never taken for one of this run). Not thread-safe.
class GroupTable {
 public:
  explicit GroupTable(GroupId first_id) : next_id_(first_id) {}

  // A fresh id for a group or a server kernel job.
  GroupId next_id() { return next_id_++; }
  // Adds a group handed to a worker (rec.id from next_id). Returns the stored record.
  GroupRecord& add(GroupRecord rec);
  // The group with this id, or nullptr.
  GroupRecord* find(GroupId group);
  // The group if it is in flight on `worker`, else nullptr.
  GroupRecord* assigned_to(WorkerId worker, GroupId group);
  // A group in flight that has not missed its deadline, or nullptr.
  const GroupRecord* live(GroupId group) const;
  // Forgets a group (the caller unlinks it from its worker and its ops first).
  void erase(GroupId group) { groups_.erase(group); }
  // Groups that have not expired yet whose deadline is before `now_ms`.
  std::vector<GroupRecord*> past_deadline(double now_ms);
  // Groups of `graph` all of whose ops are final.
  std::vector<GroupId> finished_in(const Graph& graph) const;
  // Graphs some group in flight on a worker still refers to (server jobs not counted).
  std::set<GraphId> graphs_in_use() const;
  // `from_ms` plus the estimated times of the live ones among `groups`.
  double after_live(double from_ms, const std::vector<GroupId>& groups) const;
  std::size_t size() const { return groups_.size(); }

  // A job of the server's own kernel (rec.id from next_id, rec.worker 0).
  void add_server_job(GroupRecord rec);
  // Removes and returns the server job with this id; nullopt if there is none.
  std::optional<GroupRecord> take_server_job(uint64_t job);

 private:
  std::unordered_map<GroupId, GroupRecord> groups_;
  std::unordered_map<uint64_t, GroupRecord> server_jobs_;
  GroupId next_id_;
};

}  // namespace corvid::server
