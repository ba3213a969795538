#include "server/core/group_table.hpp"

namespace corvid::server {

GroupRecord& GroupTable::add(GroupRecord rec) {
  const GroupId id = rec.id;
  return groups_.emplace(id, std::move(rec)).first->second;
}

GroupRecord* GroupTable::find(GroupId group) {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

GroupRecord* GroupTable::assigned_to(WorkerId worker, GroupId group) {
  GroupRecord* rec = find(group);
  return rec && rec->worker == worker ? rec : nullptr;
}

const GroupRecord* GroupTable::live(GroupId group) const {
  auto it = groups_.find(group);
  return it == groups_.end() || it->second.expired ? nullptr : &it->second;
}

std::vector<GroupRecord*> GroupTable::past_deadline(double now_ms) {
  std::vector<GroupRecord*> late;
  for (auto& [gid, group] : groups_)
    if (!group.expired && now_ms > group.deadline_ms) late.push_back(&group);
  return late;
}

std::vector<GroupId> GroupTable::finished_in(const Graph& graph) const {
  std::vector<GroupId> done;
  for (const auto& [gid, group] : groups_) {
    if (group.graph != graph.id) continue;
    bool all_final = true;
    for (OpIndex op : group.ops) all_final = all_final && is_final(graph.ops[op].status);
    if (all_final) done.push_back(gid);
  }
  return done;
}

std::set<GraphId> GroupTable::graphs_in_use() const {
  std::set<GraphId> in_use;
  for (const auto& [gid, group] : groups_) in_use.insert(group.graph);
  return in_use;
}

double GroupTable::after_live(double from_ms, const std::vector<GroupId>& groups) const {
  double ms = from_ms;
  for (GroupId g : groups)
    if (const GroupRecord* group = live(g)) ms += group->estimate_ms;
  return ms;
}

void GroupTable::add_server_job(GroupRecord rec) {
  const GroupId id = rec.id;
  server_jobs_.emplace(id, std::move(rec));
}

std::optional<GroupRecord> GroupTable::take_server_job(uint64_t job) {
  auto node = server_jobs_.extract(job);
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

}  // namespace corvid::server
