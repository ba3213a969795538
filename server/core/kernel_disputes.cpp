// Disputed kernel errors (see DisputeTable in dispute_table.hpp and docs/server-core.md):
// a worker's `error` of kind `kernel` fails an op only once a second worker reports the same
// error or the server's own native kernel fails the op too. Anyone computing the op instead
// proves the report false, which counts as a failure of the worker that made it.
#include <algorithm>

#include "server/core/coordinator_impl.hpp"

namespace corvid::server {

namespace {

std::string worker_list(const std::set<WorkerId>& workers) {
  std::string out;
  for (WorkerId w : workers) out += (out.empty() ? "" : ", ") + std::to_string(w);
  return (workers.size() == 1 ? "worker " : "workers ") + out;
}

}  // namespace

bool CoordinatorImpl::reported_by(const Graph& graph, OpIndex op, WorkerId w) const {
  return disputes_.reported_by({graph.id, op}, w);
}

void CoordinatorImpl::dispute_kernel_error(WorkerState& w, Graph& graph, OpIndex op, const std::string& message) {
  const DisputeTable::Report report = disputes_.report({graph.id, op}, w.id, message);
  if (report == DisputeTable::Report::repeated) return;  // the same worker again (from an older group)
  KernelDispute& dispute = *disputes_.find({graph.id, op});
  const std::string what = "graph " + std::to_string(graph.id) + " op '" + graph.ops[op].id + "'";
  if (report == DisputeTable::Report::confirmed) {
    event("kernel", what + " failed: " + message + " (reported by " + worker_list(dispute.reporters) + ")");
    fail_op(graph, op, message);  // ends the dispute
    return;
  }
  const bool disagreement = report == DisputeTable::Report::disagreement;
  event("disputed", "worker " + std::to_string(w.id) + " reported a kernel error for " + what + ": " + message +
                        (disagreement ? "; the workers disagree, the server's own kernel settles it"
                                      : "; another worker or the server's own kernel must reproduce it"));
  if (disagreement && !dispute.server_job) start_server_settlement(graph, op, dispute);
}

void CoordinatorImpl::settle_orphaned_disputes() {
  for (auto [key, dispute] : disputes_.without_server_job()) {
    if (fleet_.someone_else(dispute->reporters)) continue;
    auto g = graphs_.find(key.first);
    if (g != graphs_.end()) start_server_settlement(g->second, key.second, *dispute);
  }
}

void CoordinatorImpl::start_server_settlement(Graph& graph, OpIndex op, KernelDispute& dispute) {
  // The op and, transitively, every input it needs that has no value on the server (inputs
  // always have smaller indices, so a set in index order is a topological order).
  std::set<OpIndex> needed;
  std::vector<OpIndex> stack{op};
  std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>> inputs;
  std::set<OpIndex> attached;
  while (!stack.empty()) {
    const OpIndex o = stack.back();
    stack.pop_back();
    if (!needed.insert(o).second) continue;
    for (OpIndex in : graph.ops[o].inputs) {
      if (needed.count(in) || attached.count(in)) continue;
      std::shared_ptr<const Tensor> value;
      if (graph.ops[in].status == OpStatus::computed) value = value_of(graph, in);
      if (value) {
        attached.insert(in);
        inputs.emplace_back(in, std::move(value));
      } else {
        stack.push_back(in);
      }
    }
  }
  // An input computed as part of the group after all is not attached twice.
  inputs.erase(std::remove_if(inputs.begin(), inputs.end(), [&](const auto& i) { return needed.count(i.first) != 0; }),
               inputs.end());

  GroupRecord rec;
  rec.graph = graph.id;
  rec.ops.assign(needed.begin(), needed.end());
  rec.outputs = rec.ops;  // every value the server computes is worth keeping
  dispute.server_job = compute_on_server(std::move(rec), inputs);
  event("settling", "the server's own kernel computes graph " + std::to_string(graph.id) + " op '" + graph.ops[op].id +
                        "' (" + std::to_string(needed.size()) + " op(s)) to settle the kernel error of " +
                        worker_list(dispute.reporters));
}

uint64_t CoordinatorImpl::compute_on_server(GroupRecord rec,
                                            const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& inputs) {
  const Graph& graph = graphs_.at(rec.graph);
  protocol::Assign assign;
  assign.group_id = rec.id = groups_.next_id();
  rec.sent_ms = now();
  for (OpIndex op : rec.ops) assign.ops.push_back(graph.wire_op(op));
  for (OpIndex op : rec.outputs) assign.outputs.push_back(graph.wire_name(op));
  for (const auto& [in, value] : inputs) assign.inputs.push_back({graph.wire_name(in), *value});
  const uint64_t job = rec.id;
  groups_.add_server_job(std::move(rec));
  budget_.started();
  kernel_.compute(job, std::move(assign));
  return job;
}

void CoordinatorImpl::server_kernel_done(uint64_t job, Frame reply) {
  const std::optional<GroupRecord> taken = groups_.take_server_job(job);
  if (!taken) return;
  const GroupRecord& rec = *taken;
  // The server's compute time on its clock (a queued job's starts when the one before it ended).
  budget_.finished(std::max(0.0, now() - std::max(rec.sent_ms, last_server_done_ms_)));
  last_server_done_ms_ = now();
  if (checks_.rechecks.count(job)) return recheck_done(rec, std::move(reply));
  if (rec.check) return server_replica_done(rec, std::move(reply));
  disputes_.job_done(job);
  auto g = graphs_.find(rec.graph);
  if (g == graphs_.end()) return;
  Graph& graph = g->second;
  std::string problem, op_wire;
  if (protocol::type_of(reply) == protocol::Result::kType) {
    protocol::Result result = protocol::decode<protocol::Result>(std::move(reply));
    problem = result_problem(graph, rec, result.outputs);
    if (problem.empty()) {
      // Ops someone else finished in the meantime keep their value; the rest take the server's.
      apply_result(graph, rec.ops, result.outputs, {}, nullptr);
      settle();
      return;
    }
    problem = "the server's own kernel gave an invalid result: " + problem;
  } else {
    const protocol::WorkerError error = protocol::decode<protocol::WorkerError>(std::move(reply));
    problem = error.error;
    op_wire = error.op_id;
  }
  // The server's kernel is the reference: the op it names fails (the last op of the group if it
  // names none of them), and its dependents with it.
  OpIndex failed = rec.ops.back();
  for (OpIndex op : rec.ops)
    if (graph.wire_name(op) == op_wire) failed = op;
  if (!is_final(graph.ops[failed].status)) {
    event("kernel", "graph " + std::to_string(graph.id) + " op '" + graph.ops[failed].id + "' failed: " + problem +
                        " (reproduced by the server's own kernel)");
    fail_op(graph, failed, problem);
  }
  settle();
}

void CoordinatorImpl::close_dispute(Graph& graph, OpIndex op, bool computed) {
  const std::optional<KernelDispute> dispute = disputes_.close({graph.id, op});
  if (!dispute || !computed) return;
  for (WorkerId reporter : dispute->reporters) {
    if (WorkerState* w = fleet_.find(reporter)) ++w->failures;
  }
  event("refuted", "graph " + std::to_string(graph.id) + " op '" + graph.ops[op].id + "' was computed: the kernel error of " +
                       worker_list(dispute->reporters) + " was false (" + dispute->error + ")");
}

}  // namespace corvid::server
