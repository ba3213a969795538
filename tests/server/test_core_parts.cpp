// The coordinator's parts tested alone: op state changes of a Graph, the Fleet, the GroupTable,
// the DisputeTable, Persistence and Statistics.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "harness.hpp"
#include "server/core/dispute_table.hpp"
#include "server/core/fleet.hpp"
#include "server/core/group_table.hpp"
#include "server/core/persistence.hpp"
#include "server/core/statistics.hpp"

using namespace corvid;
using namespace corvid::server;

namespace {

// a computed with a value; b = f(a); c = f(b); d = f(a), all pending.
Graph chain() {
  Graph g;
  g.id = 7;
  const TensorSpec spec{DType::f32, {4}};
  const Cost cost{4, 32};
  testing::add_test_op(g, "a", {}, OpStatus::computed, spec, cost,
                       std::make_shared<const Tensor>(Tensor::from_vector<float>({4}, {1, 2, 3, 4})));
  testing::add_test_op(g, "b", {0}, OpStatus::pending, spec, cost);
  testing::add_test_op(g, "c", {1}, OpStatus::pending, spec, cost);
  testing::add_test_op(g, "d", {0}, OpStatus::pending, spec, cost);
  for (OpNode& node : g.ops) node.def = find_op("neg");
  for (OpIndex op = 0; op < g.ops.size(); ++op) g.refresh_ready(op);
  return g;
}

}  // namespace

TEST_CASE("Graph::fail fails the op and its dependents and reports each change once") {
  Graph g = chain();
  const OpChanges changes = g.fail(1, "boom");
  CHECK(changes.ops == std::vector<OpIndex>{1, 2});
  CHECK_FALSE(changes.finished);  // d is still pending
  CHECK(g.ops[1].error == "boom");
  CHECK(g.ops[2].error == "input op 'b' failed: boom");
  CHECK(g.counts[int(OpStatus::failed)] == 2);
  CHECK(g.ready == std::set<OpIndex>{3});
  const OpChanges last = g.cancel(3);
  CHECK(last.ops == std::vector<OpIndex>{3});
  CHECK(last.finished);
  CHECK(g.status() == "failed");
}

TEST_CASE("Graph::retry fails an op once its attempts reach the limit") {
  Graph g = chain();
  g.set_status(1, OpStatus::running);
  CHECK(g.retry(1, 5, "lost", 2).ops == std::vector<OpIndex>{1});
  CHECK(g.ops[1].status == OpStatus::pending);
  CHECK(g.ops[1].avoid_worker == 5);
  g.set_status(1, OpStatus::running);
  const OpChanges changes = g.retry(1, 6, "lost again", 2);
  CHECK(changes.ops == std::vector<OpIndex>{1, 2});
  CHECK(g.ops[1].error == "gave up after 2 attempts (last: lost again)");
}

TEST_CASE("Graph::ensure_value sends a value-less computed op and its value-less inputs back to pending") {
  Graph g = chain();
  for (OpIndex op : {OpIndex(1), OpIndex(2)}) g.set_status(op, OpStatus::computed);  // no values
  CHECK(g.ensure_value(0).empty());  // a has its value
  const OpChanges changes = g.ensure_value(2);
  CHECK(changes.ops == std::vector<OpIndex>{2, 1});
  CHECK(g.ops[2].status == OpStatus::pending);
  CHECK(g.ready.count(1) == 1);  // its input a has a value
  CHECK(g.ready.count(2) == 0);
  CHECK(g.mark_requested(2));
  CHECK_FALSE(g.mark_requested(2));
}

TEST_CASE("a graph keeps the index of graphs with ready ops exact, a copy does not") {
  Graph g = chain();  // b and d ready
  ReadyGraphs index;
  g.report_ready_to(index);
  REQUIRE(index.count(7) == 1);
  CHECK(index.at(7) == &g);
  Graph copy = g;  // not in the coordinator's map: changes to it leave the index alone
  copy.set_status(1, OpStatus::running);
  copy.set_status(3, OpStatus::running);
  CHECK(copy.ready.empty());
  CHECK(index.at(7) == &g);
  g.set_status(1, OpStatus::running);
  CHECK(index.count(7) == 1);  // d is still ready
  g.set_status(3, OpStatus::running);
  CHECK(index.empty());
  g.retry(3, 5, "lost", 3);  // pending again, and its input has a value
  g.refresh_ready(3);
  CHECK(index.at(7) == &g);
  g.cancel(3);
  CHECK(index.empty());
  g = chain();  // replaced wholesale: reported again
  CHECK(index.empty());
  g.report_ready_to(index);
  CHECK(index.at(7) == &g);
}

TEST_CASE("GroupTable finds groups by worker, expiry and finished ops") {
  Graph g = chain();
  GroupTable table(1000);
  GroupRecord rec;
  rec.id = table.next_id();
  rec.worker = 4;
  rec.graph = g.id;
  rec.ops = {1, 2};
  rec.estimate_ms = 30;
  rec.deadline_ms = 100;
  table.add(rec);
  CHECK(rec.id == 1000);
  CHECK(table.assigned_to(4, 1000) != nullptr);
  CHECK(table.assigned_to(5, 1000) == nullptr);
  CHECK(table.after_live(10, {1000, 999}) == 40);
  CHECK(table.past_deadline(100).empty());
  REQUIRE(table.past_deadline(101).size() == 1);
  table.find(1000)->expired = true;
  CHECK(table.live(1000) == nullptr);
  CHECK(table.past_deadline(200).empty());
  CHECK(table.finished_in(g).empty());
  g.fail(1, "x");
  CHECK(table.finished_in(g) == std::vector<GroupId>{1000});
  CHECK(table.graphs_in_use() == std::set<GraphId>{7});
  GroupRecord job;
  job.id = table.next_id();
  table.add_server_job(job);
  CHECK(table.take_server_job(1001).has_value());
  CHECK_FALSE(table.take_server_job(1001).has_value());
  table.erase(1000);
  CHECK(table.size() == 0);
}

TEST_CASE("Fleet counts protocol errors, finds silent workers and remembers cancelled groups") {
  Fleet fleet;
  WorkerState& w = fleet.connect(1, 0);
  fleet.connect(2, 50);
  for (int i = 1; i < Fleet::kMaxProtocolErrors; ++i) CHECK_FALSE(Fleet::protocol_error_limit_reached(w));
  CHECK(Fleet::protocol_error_limit_reached(w));
  CHECK(fleet.silent(100, 60) == std::vector<WorkerId>{1});
  fleet.seen(w, 90);  // a message: no longer silent, and 2 is now the oldest
  CHECK(fleet.silent(120, 60) == std::vector<WorkerId>{2});
  for (GroupId g = 0; g < Fleet::kCancelledMemory + 1; ++g) fleet.note_cancelled(1, g);
  CHECK_FALSE(Fleet::recently_cancelled(w, 0));
  CHECK(Fleet::recently_cancelled(w, Fleet::kCancelledMemory));
  fleet.connect(1);  // a reconnect starts afresh
  CHECK(fleet.find(1)->protocol_errors == 0);
  fleet.remove(2);
  CHECK(fleet.find(2) == nullptr);
}

namespace {

// The index of kept tensors must equal the one computed from the workers' mirrors.
void check_kept_index(Fleet& fleet) {
  std::map<std::string, std::set<WorkerId>> expected;
  for (const auto& [id, w] : fleet.all())
    for (const auto& entry : w.kept.entries()) expected[entry.key].insert(id);
  CHECK(fleet.kept_holders().names() == expected.size());
  for (const auto& [name, ids] : expected) {
    const std::vector<WorkerId> got = fleet.keeping(name);
    INFO(name);
    CHECK(got.size() == ids.size());
    CHECK(std::set<WorkerId>(got.begin(), got.end()) == ids);
  }
}

}  // namespace

TEST_CASE("Fleet's index of kept tensors matches the mirrors through adds, evictions, erases and disconnects") {
  Fleet fleet;
  for (WorkerId id : {1, 2, 3}) fleet.connect(id);
  KeptTensors& one = fleet.find(1)->kept;
  KeptTensors& two = fleet.find(2)->kept;
  KeptTensors& three = fleet.find(3)->kept;
  one.add("7:x", 16);
  two.add("7:x", 16);
  one.add("7:y", 16);
  one.add("7:x", 16);  // again: still one holder entry
  CHECK(fleet.keeping("7:x") == std::vector<WorkerId>{1, 2});
  check_kept_index(fleet);
  // LRU eviction: two values of 100 MB do not fit 192 MB; x, y and then the first go.
  one.add("7:big1", 100e6);
  one.add("7:big2", 100e6);
  CHECK_FALSE(one.has("7:big1"));
  CHECK(fleet.keeping("7:x") == std::vector<WorkerId>{2});
  CHECK(fleet.keeping("7:y").empty());
  CHECK(fleet.keeping("7:big1").empty());
  check_kept_index(fleet);
  // A value larger than the budget is not held, and replaces an earlier entry of its name.
  three.add("7:z", 1);
  three.add("7:z", KeptTensors::kBudgetBytes + 1);
  CHECK(fleet.keeping("7:z").empty());
  check_kept_index(fleet);
  three.add("7:x", 4);
  two.erase("7:x");
  two.erase("7:never");
  CHECK(fleet.keeping("7:x") == std::vector<WorkerId>{3});
  two.add("7:w", 4);
  two.clear();  // a missing_input: the mirror is not to be relied on
  check_kept_index(fleet);
  // A reconnect starts with an empty mirror; a disconnect takes the worker out.
  three.add("7:v", 4);
  fleet.connect(3);
  CHECK(fleet.keeping("7:x").empty());
  fleet.find(3)->kept.add("7:u", 4);
  one.add("7:u", 4);
  fleet.remove(1);
  CHECK(fleet.keeping("7:u") == std::vector<WorkerId>{3});
  CHECK(fleet.keeping("7:big2").empty());
  check_kept_index(fleet);
  fleet.remove(3);
  fleet.remove(2);
  CHECK(fleet.kept_holders().names() == 0);
}

TEST_CASE("Fleet offers benchmarked workers, a suspect one as busy forever") {
  Fleet fleet;
  fleet.connect(1);  // not benchmarked yet
  for (WorkerId id : {WorkerId(2), WorkerId(3)}) {
    WorkerState& w = fleet.connect(id);
    w.benchmarked = true;
    w.benchmark = DeviceScore{id * 10.0, 1.0, 0, 0};
    w.speed.set_benchmark(id * 10.0, 1);
    w.busy_until_ms = 5;
  }
  fleet.find(3)->suspect = true;
  fleet.find(3)->in_flight = {1, 2};
  std::vector<WorkerLoad> loads;
  const auto eligible = fleet.eligible(2, loads);
  REQUIRE(eligible.size() == 2);
  CHECK(loads[0].busy_until_ms == 5);
  CHECK(loads[0].has_free_slot);
  CHECK(std::isinf(loads[1].busy_until_ms));
  CHECK_FALSE(loads[1].has_free_slot);
  CHECK(&fleet.in_turn(eligible) == fleet.find(2));
  fleet.next_turn();
  CHECK(&fleet.in_turn(eligible) == fleet.find(3));
  CHECK(fleet.average_speed().benchmark_gflops() == doctest::Approx(25));
  CHECK(fleet.someone_else({3}));
  CHECK_FALSE(fleet.someone_else({2}));  // 3 is suspect
}

TEST_CASE("Fleet indexes free workers by speed, its summed rates and bounds on estimates") {
  Fleet fleet(1);  // one group per worker
  for (WorkerId id = 1; id <= 100; ++id) {
    WorkerState& w = fleet.connect(id, 0);
    w.benchmarked = true;
    w.speed.set_benchmark(static_cast<double>(id), static_cast<double>(id));  // 1..100 GFLOPS
    fleet.reindex(w);
  }
  CHECK(fleet.benchmarked() == 100);
  CHECK(fleet.free_trusted() == 100);
  CHECK(fleet.rates().flops_per_ms == doctest::Approx(5050e6));
  auto fastest = fleet.free_fastest_first(3);
  REQUIRE(fastest.size() == 3);
  CHECK(fastest[0]->id == 100);
  CHECK(fastest[2]->id == 98);
  // The fastest becomes busy and the next is suspect: neither is free (trusted), and the suspect
  // one no longer counts in the rates.
  fleet.find(100)->in_flight = {7};
  fleet.reindex(*fleet.find(100));
  fleet.find(99)->suspect = true;
  fleet.reindex(*fleet.find(99));
  CHECK(fleet.free_fastest_first(1)[0]->id == 99);  // free, though suspect
  CHECK(fleet.free_trusted() == 98);
  CHECK(fleet.rates().flops_per_ms == doctest::Approx(4951e6));
  CHECK(fleet.rates().workers == 99);
  // 1e9 flops: 10 ms on worker 100, 1000 ms on worker 1. Below 12 ms, only workers 100 down to 84
  // (bound 1e9 / (id × 1e6) ms) may be visited, fastest first.
  std::vector<WorkerId> visited;
  CHECK(fleet.first_faster(Cost{1e9, 0}, 1, 0, 12, [&](const WorkerState& w) {
    visited.push_back(w.id);
    return false;
  }) == nullptr);
  REQUIRE_FALSE(visited.empty());
  CHECK(visited.front() == 100);
  CHECK(visited.size() == 17);  // ids 100..84: 1e3 / 84 = 11.9 ms < 12
  CHECK(fleet.first_faster(Cost{1e9, 0}, 1, 0, 12, [](const WorkerState& w) { return w.id == 90; }) == fleet.find(90));
  // The per-op overhead bounds tiny groups: nobody is visited when it alone reaches the limit.
  visited.clear();
  CHECK(fleet.first_faster(Cost{4, 48}, 1, 0.3, 0.3, [&](const WorkerState& w) {
    visited.push_back(w.id);
    return true;
  }) == nullptr);
  CHECK(visited.empty());
  fleet.remove(100);
  fleet.remove(99);
  CHECK(fleet.rates().workers == 98);
  CHECK(fleet.benchmarked() == 98);
}

TEST_CASE("Statistics keeps a window, a one-second history and a bounded event log") {
  Statistics stats(0);
  stats.computed(100, 4);
  stats.computed(200, 6);
  stats.tick(999, 1.0, 3);
  CHECK(stats.history_json().empty());
  stats.tick(2000, 2.0, 3);
  REQUIRE(stats.history_json().size() == 1);
  CHECK(stats.history_json()[0]["ops_per_s"] == 5.0);
  CHECK(stats.throughput_json(2000)["ops_per_s"] == 5.0);  // 10 ops over 2 s since start
  stats.tick(5150, 3.0, 0);  // the first result left the window
  CHECK(stats.throughput_json(5150)["groups_per_s"] == doctest::Approx(1 / 5.0));
  for (std::size_t i = 0; i < Statistics::kMaxEvents + 1; ++i) stats.event(1, "k", std::to_string(i));
  CHECK(stats.events_json().size() == Statistics::kMaxEvents);
  CHECK(stats.events_json()[0]["message"] == "1");
  CHECK(stats.totals.ops_computed == 10);
}

TEST_CASE("Persistence rebuilds graphs on restart with running ops pending again") {
  testing::TempDir dir;
  const std::string path = (dir.path / "corvid.db").string();
  Graph g = chain();
  g.name = "chain";
  g.owner = "ada";
  {
    Persistence store(open_sqlite_store(path), 0);
    std::string error;
    CHECK(store.add_submits({Persistence::stored_submit(g, true, 0, g.ops, {2})}, 0, error) == 1);
    store.record(g, g.set_status(1, OpStatus::computed));  // no value: computed again on restart
    g.set_status(3, OpStatus::running);                     // not stored
    store.flush(10);
  }
  Persistence store(open_sqlite_store(path), 0);
  std::vector<Graph> graphs = store.load(1000, 100);
  REQUIRE(graphs.size() == 1);
  const Graph& back = graphs[0];
  CHECK(back.name == "chain");
  CHECK(back.outputs == std::vector<OpIndex>{2});
  CHECK(back.ops[1].status == OpStatus::pending);  // c is pending and b's value stayed on a worker
  CHECK(back.ops[3].status == OpStatus::pending);
  CHECK(back.ready == std::set<OpIndex>{1, 3});
  CHECK(store.last_graph_id() == 7);
  CHECK(Persistence::stored_op(back.ops[2], 2).op == "neg");
}

TEST_CASE("DisputeTable confirms an error only when a second worker reports the same message") {
  DisputeTable disputes;
  const DisputeTable::Key op{7, 2};
  CHECK(disputes.report(op, 1, "bad shape") == DisputeTable::Report::first);
  CHECK(disputes.report(op, 1, "bad shape") == DisputeTable::Report::repeated);
  CHECK(disputes.reported_by(op, 1));
  CHECK_FALSE(disputes.reported_by(op, 2));
  CHECK(disputes.report(op, 2, "other") == DisputeTable::Report::disagreement);
  CHECK(disputes.report(op, 3, "bad shape") == DisputeTable::Report::confirmed);
  CHECK(disputes.find(op)->error == "bad shape");
  REQUIRE(disputes.without_server_job().size() == 1);
  disputes.find(op)->server_job = 9;
  CHECK(disputes.without_server_job().empty());
  disputes.job_done(9);
  CHECK(disputes.without_server_job().size() == 1);
  const auto closed = disputes.close(op);
  REQUIRE(closed.has_value());
  CHECK(closed->reporters == std::set<WorkerId>{1, 2, 3});
  CHECK(disputes.empty());
  CHECK_FALSE(disputes.close(op).has_value());
}
