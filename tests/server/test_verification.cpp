// Verification of volunteers' results (issue 10): under `replicate` a group's result reaches the
// developer only once a second result from a distinct worker, or the server's own kernel, agrees
// with it; under `adaptive` (the default) workers earn trust and lose it, repeated liars are
// quarantined (with the evidence, kept in SQLite), and spot checks catch colluders.
#include <algorithm>

#include "harness.hpp"
#include "server/core/verification.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

// `replicate` without spot checks (their draws would make the counts vary; tested below).
CoordinatorOptions replicate() {
  CoordinatorOptions options;
  options.verify = VerifyPolicy::replicate;
  options.spot_check_rate = 0;
  return options;
}

// `adaptive`, one op per group; spot checks at `spot_rate` (the fake clock never spends budget).
CoordinatorOptions adaptive(double spot_rate = 0) {
  CoordinatorOptions options = one_op_at_a_time();
  options.verify = VerifyPolicy::adaptive;
  options.spot_check_rate = spot_rate;
  options.seed = 7;
  return options;
}

// A reply edit that adds `by` to every float value of a result: a liar.
std::function<void(Frame&)> lie(double by) {
  return [by](Frame& reply) {
    for (auto& nt : reply.tensors) {
      float* v = nt.tensor.data<float>();
      for (int64_t i = 0; i < nt.tensor.size(); ++i) v[i] += static_cast<float>(by);
    }
  };
}

// The first of `workers` holding an assign answers it (through `edit_of(worker)`); its id, or 0.
WorkerId answer_next(Harness& h, const std::vector<WorkerId>& workers,
                     const std::function<std::function<void(Frame&)>(WorkerId)>& edit_of = {}) {
  for (WorkerId w : workers) {
    if (h.outbox.count(w, "assign") == 0) continue;
    h.answer_one(w, edit_of ? edit_of(w) : std::function<void(Frame&)>{});
    return w;
  }
  return 0;
}

// Connects `workers` and developer 10, who submits the negation graph (with `extra` fields) and,
// unless told otherwise, waits for it. Returns the graph id.
uint64_t start(Harness& h, const std::vector<WorkerId>& workers, bool wait = true, nlohmann::json extra = {}) {
  for (WorkerId w : workers) h.connect_worker(w);
  h.connect_client(10);
  nlohmann::json graph = negation();
  if (extra.is_object()) graph.update(extra);
  const uint64_t g = h.submit_ok(10, graph);
  if (wait) h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  return g;
}

// Workers 1 and 2 and the negation graph: the first result comes from `first`, and the replica
// assign taken from the other worker (which has not answered it) is returned.
Frame first_result_then_replica(Harness& h, WorkerId& first) {
  start(h, {1, 2});
  first = answer_next(h, {1, 2});
  auto replica = h.outbox.worker_frames(3 - first, "assign");
  REQUIRE(replica.size() == 1);
  return replica[0];
}

std::vector<double> delivered(Harness& h, ClientId c) {
  auto values = h.values(c);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == 1);
  return values_of(values[0].tensors[0].tensor);
}

bool has_event(Harness& h, const std::string& kind, const std::string& part) {
  const nlohmann::json status = h.core->status_json();
  for (const auto& e : status["events"])
    if (e["kind"] == kind && e["message"].get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

std::string metric(Harness& h, const std::string& name) {
  const std::string text = h.core->metrics_text();
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

const std::vector<double> kRight{-1, -2, -3, -4};

// Worker w, alone, lies (adds `by`) about the graph developer 10 waits for; the server's kernel
// catches it: the right values are delivered and w has `failures` failures.
void lone_liar_caught(Harness& h, WorkerId w, double by, int failures) {
  REQUIRE(answer_next(h, {w}, [by](WorkerId) { return lie(by); }) == w);
  CHECK(delivered(h, 10) == kRight);
  CHECK(worker_status(h, w)["failures"] == failures);
}

}  // namespace

TEST_CASE("replicate: the values are delivered once two honest workers agree") {
  Harness h(replicate());
  start(h, {1, 2});
  const WorkerId first = answer_next(h, {1, 2});
  REQUIRE(first != 0);
  // One result is only a candidate: nothing delivered, the op still running.
  CHECK(h.values(10).empty());
  CHECK(h.core->status_json()["graphs"][0]["counts"]["running"] == 1);
  CHECK(h.core->status_json()["graphs"][0]["counts"]["computed"] == 1);  // x only
  const WorkerId second = first == 1 ? 2 : 1;
  REQUIRE(h.outbox.count(second, "assign") == 1);  // the replica goes to the other worker
  CHECK(h.outbox.count(first, "assign") == 0);
  h.answer_one(second);
  CHECK(delivered(h, 10) == kRight);
  CHECK(worker_status(h, 1)["failures"] == 0);
  CHECK(worker_status(h, 2)["failures"] == 0);
  CHECK(metric(h, "corvid_groups_verified_total") == "1");
  CHECK(metric(h, "corvid_server_replicas_total") == "0");
}

TEST_CASE("replicate: a liar against an honest worker is outvoted by the server's kernel") {
  for (WorkerId liar : {WorkerId{1}, WorkerId{2}}) {
    CAPTURE(liar);
    Harness h(replicate());
    const uint64_t g = start(h, {1, 2});
    auto edit_of = [&](WorkerId w) { return w == liar ? lie(1) : std::function<void(Frame&)>{}; };
    REQUIRE(answer_next(h, {1, 2}, edit_of) != 0);
    REQUIRE(answer_next(h, {1, 2}, edit_of) != 0);
    // They disagree and nobody else is connected: the server's own kernel settles it.
    CHECK(delivered(h, 10) == kRight);
    CHECK(worker_status(h, liar)["failures"] == 1);
    CHECK(worker_status(h, 3 - liar)["failures"] == 0);
    CHECK(has_event(h, "disagreement", "graph " + std::to_string(g)));
    CHECK(has_event(h, "wrong", "worker " + std::to_string(liar) + "'s result of graph " + std::to_string(g)));
    CHECK(has_event(h, "wrong", "op 'n': 4 values differ; largest difference 1"));
    CHECK(metric(h, "corvid_results_wrong_total") == "1");
    CHECK(metric(h, "corvid_server_replicas_total") == "1");
  }
}

TEST_CASE("replicate: a fleet of one gets its second opinion from the server's kernel") {
  Harness h(replicate());
  uint64_t g = start(h, {1});
  REQUIRE(answer_next(h, {1}) == 1);
  CHECK(delivered(h, 10) == kRight);
  CHECK(worker_status(h, 1)["failures"] == 0);
  CHECK(worker_status(h, 1)["ops_done"] == 1);  // credited for its result, which the server's agreed with
  CHECK(metric(h, "corvid_server_replicas_total") == "1");
  // A lone liar is caught the same way.
  g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  lone_liar_caught(h, 1, 5, 1);
}

TEST_CASE("replicate: workers leaving mid-verification lose neither the candidate nor the ops") {
  Harness h(replicate());
  start(h, {1, 2, 3});
  const WorkerId first = answer_next(h, {1, 2, 3});
  REQUIRE(first != 0);
  // The worker whose result is the candidate leaves: the candidate stays.
  h.core->worker_disconnected(first);
  std::vector<WorkerId> rest;
  for (WorkerId w : {1, 2, 3})
    if (w != first) rest.push_back(w);
  WorkerId replica = 0;
  for (WorkerId w : rest)
    if (h.outbox.count(w, "assign")) replica = w;
  REQUIRE(replica != 0);
  // The replica's worker leaves too: the replica goes to the last worker.
  h.core->worker_disconnected(replica);
  const WorkerId last = rest[0] == replica ? rest[1] : rest[0];
  REQUIRE(h.outbox.count(last, "assign") == 1);
  CHECK(h.values(10).empty());
  h.answer_one(last);
  CHECK(delivered(h, 10) == kRight);
}

TEST_CASE("replicate: a replica that misses its deadline goes to the server's kernel") {
  Harness h(replicate());
  start(h, {1, 2});
  const WorkerId first = answer_next(h, {1, 2});
  REQUIRE(first != 0);
  REQUIRE(h.outbox.count(3 - first, "assign") == 1);
  h.clock.t += 3000;  // past the 2 s deadline floor: the replica's worker never answers
  h.core->tick();
  CHECK(delivered(h, 10) == kRight);
  // Its late answer, if any, is ignored.
  h.answer_one(3 - first, lie(1));
  CHECK(worker_status(h, first)["failures"] == 0);
}

TEST_CASE("replicate: a worker releasing its replica hands it on") {
  Harness h(replicate());
  WorkerId first = 0;
  const Frame replica = first_result_then_replica(h, first);
  Frame release;
  release.header = {{"type", "release"}, {"group_ids", {replica.header["group_id"]}}};
  h.core->worker_message(3 - first, over_the_wire(release));
  h.work_all({1, 2});
  CHECK(delivered(h, 10) == kRight);
}

TEST_CASE("replicate: results that never agree fail the ops, naming the disagreement") {
  CoordinatorOptions options = replicate();
  options.spot_check_budget = 0;  // no tie-break by the server's kernel: the workers must agree
  Harness h(options);
  const uint64_t g = start(h, {1, 2, 3, 4}, false);
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  // Every worker lies differently: four results, no two alike.
  auto edit_of = [](WorkerId w) { return lie(static_cast<double>(w)); };
  int answered = 0;
  while (answer_next(h, {1, 2, 3, 4}, edit_of)) ++answered;
  CHECK(answered == 4);
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["status"] == "failed");
  REQUIRE(report[0].header["failed"].size() == 1);
  const std::string error = report[0].header["failed"][0]["error"];
  CHECK(error.find("results disagree: 4 results of graph " + std::to_string(g)) != std::string::npos);
  CHECK(error.find("op 'n'") != std::string::npos);
  CHECK(error.find("largest difference") != std::string::npos);
  CHECK(metric(h, "corvid_verification_failed_total") == "1");
}

TEST_CASE("replicate: a developer's cancel ends a verification") {
  Harness h(replicate());
  const uint64_t g = start(h, {1, 2}, false);
  const WorkerId first = answer_next(h, {1, 2});
  REQUIRE(h.outbox.count(3 - first, "assign") == 1);
  h.client_send(10, {{"type", "cancel"}, {"graph_id", g}});
  CHECK(h.outbox.worker_frames(3 - first, "cancel").size() == 1);
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["status"] == "cancelled");
}

TEST_CASE("replicate: dependents wait for verified inputs and get the verified values") {
  CoordinatorOptions options = one_op_at_a_time();
  options.verify = VerifyPolicy::replicate;
  Harness h(options);
  h.connect_worker(1);
  h.connect_worker(2);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(
      10, {{"ops", {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0, 2.0}}},
                    {{"id", "n"}, {"op", "neg"}, {"inputs", {"x"}}},
                    {{"id", "m"}, {"op", "mul"}, {"inputs", {"n", "n"}}}}},
           {"outputs", {"m"}}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  // Worker 1 lies every time; the server's kernel settles each group.
  for (int round = 0; round < 20; ++round)
    if (!answer_next(h, {1, 2}, [](WorkerId w) { return w == 1 ? lie(3) : std::function<void(Frame&)>{}; })) break;
  CHECK(delivered(h, 10) == std::vector<double>{1, 4});
  CHECK(worker_status(h, 1)["failures"] == 2);
}

TEST_CASE("verify off: one worker's result is taken as it is (the behaviour replicate fixes)") {
  Harness h;
  start(h, {1});
  REQUIRE(answer_next(h, {1}, [](WorkerId) { return lie(1); }) == 1);
  CHECK(delivered(h, 10) == std::vector<double>{0, -1, -2, -3});
  CHECK(metric(h, "corvid_server_replicas_total") == "0");
}

TEST_CASE("a developer tightens verification per graph, and cannot loosen the server's") {
  Harness h;  // the server's policy is off
  start(h, {1}, true, {{"verify", "replicate"}});
  lone_liar_caught(h, 1, 1, 1);
  nlohmann::json bad = negation();
  bad["verify"] = "sometimes";
  Frame reply = h.submit(10, bad);
  CHECK(reply.header["type"] == "error");
  CHECK(reply.header["error"].get<std::string>().find("'verify'") != std::string::npos);

  Harness strict(replicate());
  start(strict, {1}, true, {{"verify", "off"}});
  lone_liar_caught(strict, 1, 1, 1);
}

TEST_CASE("the majority rule: the server's result, else two that agree, else more up to the cap") {
  // Results 0..n-1; `groups[i]` names the value result i returned: equal names agree.
  auto rule = [](std::vector<int> groups, std::vector<bool> server, int cap) {
    return majority(server, [groups](int i, int j) { return groups[i] == groups[j]; }, cap);
  };
  Verdict v = rule({7}, {false}, 4);
  CHECK(v.kind == Verdict::need_more);
  v = rule({7, 7}, {false, false}, 4);
  CHECK(v.kind == Verdict::accept);
  CHECK(v.accepted == 0);
  CHECK(v.wrong.empty());
  v = rule({7, 8}, {false, false}, 4);
  CHECK(v.kind == Verdict::need_more);
  v = rule({7, 8, 8}, {false, false, false}, 4);
  CHECK(v.kind == Verdict::accept);
  CHECK(v.accepted == 1);
  CHECK(v.wrong == std::vector<int>{0});
  // The server's kernel is authoritative, even against two workers that agree with each other.
  v = rule({7, 7, 9}, {false, false, true}, 4);
  CHECK(v.kind == Verdict::accept);
  CHECK(v.accepted == 2);
  CHECK(v.wrong == std::vector<int>{0, 1});
  v = rule({7, 8, 9, 10}, {false, false, false, false}, 4);
  CHECK(v.kind == Verdict::fail);
  v = rule({7, 8, 9}, {false, false, false}, 3);
  CHECK(v.kind == Verdict::fail);
  v = rule({1, 2, 3, 2}, {false, false, false, false}, 4);
  CHECK(v.kind == Verdict::accept);
  CHECK(v.accepted == 1);
  CHECK(v.wrong == std::vector<int>{0, 2});
}

TEST_CASE("results compare per output with the op family's tolerance") {
  Graph g;
  g.id = 5;
  OpNode x;
  x.id = "x";
  x.def = find_op("neg");
  g.add_op(x);
  g.index["x"] = 0;
  auto result = [](std::vector<float> v) {
    return std::vector<NamedTensor>{{"5:x", Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v)}};
  };
  CHECK(compare_results(g, result({1, 2}), result({1, 2.0000001f})).agree);
  const Comparison c = compare_results(g, result({1, 2}), result({1, 3}));
  CHECK_FALSE(c.agree);
  CHECK(c.op_id == "x");
  CHECK(c.describe() == "op 'x': 1 value differs; largest difference 1 at flat index 1 (2 vs 3)");
}

TEST_CASE("a graph's own verify: replicate or adaptive tightens a server under off, and survives a restart") {
  for (const char* policy : {"replicate", "adaptive"}) {
    CAPTURE(policy);
    Harness h;  // the server's policy is off: a new worker's results would be taken alone
    const uint64_t g = start(h, {1}, false, {{"verify", policy}});
    h.reopen();
    h.outbox.workers.clear();
    h.connect_worker(1);
    h.connect_client(10);
    h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
    lone_liar_caught(h, 1, 1, 1);
  }
}

TEST_CASE("replicate: a replica's false kernel error is refuted by the server's kernel") {
  Harness h(replicate());
  WorkerId first = 0;
  const Frame replica = first_result_then_replica(h, first);
  Frame error;
  error.header = {{"type", "error"}, {"group_id", replica.header["group_id"]},
                  {"op_id", replica.header["ops"].back()["id"]}, {"kind", "kernel"}, {"error", "neg: forged"}};
  h.core->worker_message(3 - first, over_the_wire(error));
  CHECK(delivered(h, 10) == kRight);
  CHECK(worker_status(h, first)["failures"] == 0);
  CHECK(worker_status(h, 3 - first)["failures"] == 1);
  CHECK(metric(h, "corvid_server_replicas_total") == "1");
}

namespace {

// A graph of `n` independent ops n0..n{n-1} = neg(x) (one group each under one_op_at_a_time),
// submitted by developer 10, who waits for it. Returns the graph id.
uint64_t many_negations(Harness& h, int n) {
  nlohmann::json ops = {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0, 2.0, 3.0, 4.0}}}};
  nlohmann::json outputs = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    const std::string id = "n" + std::to_string(i);
    ops.push_back({{"id", id}, {"op", "neg"}, {"inputs", {"x"}}});
    outputs.push_back(id);
  }
  const uint64_t g = h.submit_ok(10, {{"ops", ops}, {"outputs", outputs}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  return g;
}

// Workers answer their assigns in turn until none holds one; `edit_of(worker, nth answer of
// that worker)` may alter a reply. Returns the answers per worker.
std::map<WorkerId, int> work_in_turn(Harness& h, const std::vector<WorkerId>& workers,
                                     const std::function<std::function<void(Frame&)>(WorkerId, int)>& edit_of = {}) {
  std::map<WorkerId, int> answered;
  for (bool any = true; any;) {
    any = false;
    for (WorkerId w : workers) {
      if (!h.outbox.count(w, "assign")) continue;
      h.answer_one(w, edit_of ? edit_of(w, answered[w]) : std::function<void(Frame&)>{});
      ++answered[w];
      any = true;
    }
  }
  return answered;
}

// Every value the developer got for graph g (one `values` frame) is -x, and so is every value
// the server holds now.
void all_right(Harness& h, uint64_t g, int n) {
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == static_cast<std::size_t>(n));
  for (const auto& nt : values[0].tensors) {
    CAPTURE(nt.name);
    CHECK(values_of(nt.tensor) == kRight);
  }
  for (int i = 0; i < n; ++i) {
    std::string why;
    auto v = h.core->value(g, "n" + std::to_string(i), why);
    REQUIRE(v);
    CHECK(values_of(*v) == kRight);
  }
}

std::function<void(Frame&)> honest() { return {}; }

}  // namespace

TEST_CASE("trust: earned by consecutive verified results, reset by a wrong one, quarantine after three") {
  TrustTable table(0.05);
  TrustRecord& r = table.bind(1, "anonymous:1-1", false);
  CHECK(table.replication_probability(r) == 1);
  CHECK(table.trust(r) == 0);
  for (int i = 0; i < 19; ++i) table.verified(1);
  CHECK(table.replication_probability(r) == 1);  // untrusted until 20 in a row
  table.verified(1);
  CHECK(table.replication_probability(r) == doctest::Approx(0.25));  // (10/20)^2
  for (int i = 0; i < 180; ++i) table.verified(1);
  CHECK(table.replication_probability(r) == doctest::Approx(0.05));  // the floor
  CHECK(table.trust(r) == doctest::Approx(0.95));
  table.delivered_unverified(1, Unverified{3, 77, {1}, {1}, {0}});
  CHECK_FALSE(table.proven_wrong(1, Evidence{3, 78, "n", 1, "op 'n': ..."}));
  CHECK(r.verified == 0);
  CHECK(table.replication_probability(r) == 1);
  for (int i = 0; i < 79; ++i) table.verified(1);
  CHECK(table.replication_probability(r) == 1);  // once proven wrong: 80 in a row, (1 + 1)² × 20
  table.verified(1);
  CHECK(table.replication_probability(r) < 1);
  table.delivered_unverified(1, Unverified{3, 79, {1}, {1}, {0}});
  CHECK(table.take_changed().empty());  // an anonymous record is kept only once quarantined
  CHECK_FALSE(table.proven_wrong(1, Evidence{}));
  CHECK(table.proven_wrong(1, Evidence{3, 80, "n", 2, "op 'n': ..."}));
  CHECK(r.quarantined);
  CHECK(table.trust(r) == 0);
  CHECK(table.take_unverified(1).size() == 2);  // every remembered delivery taken alone, verified results between or not
  const auto changed = table.take_changed();
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].evidence.group == 80);
  // An operator's worker is trusted from the start; an anonymous identity is forgotten on leaving.
  TrustRecord& op = table.bind(2, "operator:w2", true);
  CHECK(table.replication_probability(op) == 0);
  table.bind(3, "anonymous:1-3", false);
  table.unbind(3);
  CHECK(table.of(3) == nullptr);
  table.unbind(1);
  REQUIRE(table.quarantined(10).size() == 1);  // quarantined identities stay, as evidence
  CHECK(table.quarantined(10)[0]->identity == "anonymous:1-1");
}

TEST_CASE("adaptive: a fleet of one is verified by the server's kernel until the worker earns trust") {
  Harness h(adaptive());
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = many_negations(h, 80);
  work_in_turn(h, {1});
  all_right(h, g, 80);
  const int by_server = std::stoi(metric(h, "corvid_server_replicas_total"));
  CHECK(by_server >= static_cast<int>(TrustTable::kTrustedAfter));
  CHECK(by_server < 80);  // trust earned: later groups mostly taken alone
  CHECK(worker_status(h, 1)["trust"].get<double>() > 0.5);
  CHECK(worker_status(h, 1)["quarantined"] == false);
}

TEST_CASE("adaptive: a liar among honest workers is quarantined with the evidence, no wrong value delivered") {
  Harness h(adaptive());
  for (WorkerId w : {1, 2, 3}) h.connect_worker(w);
  h.connect_client(10);
  const uint64_t g = many_negations(h, 30);
  auto answered = work_in_turn(h, {1, 2, 3}, [](WorkerId w, int) { return w == 1 ? lie(1) : honest(); });
  all_right(h, g, 30);
  const nlohmann::json liar = worker_status(h, 1);
  CHECK(liar["quarantined"] == true);
  CHECK(liar["trust"] == 0);
  CHECK(liar["wrong"] == TrustTable::kQuarantineAfter);
  CHECK(liar["evidence"]["graph"] == g);
  CHECK(liar["evidence"]["largest_difference"] == 1);
  CHECK(liar["evidence"]["op"].get<std::string>().rfind("n", 0) == 0);
  CHECK(answered[1] <= static_cast<int>(TrustTable::kQuarantineAfter) + 1);  // no work once quarantined
  CHECK(worker_status(h, 2)["quarantined"] == false);
  CHECK(worker_status(h, 2)["wrong"] == 0);
  const nlohmann::json status = h.core->status_json();
  REQUIRE(status["quarantined"].size() == 1);
  CHECK(status["quarantined"][0]["evidence"]["graph"] == g);
  CHECK(status["graphs"][0]["verification"]["quarantines"] == 1);
  CHECK(metric(h, "corvid_quarantines_total") == "1");
  CHECK(has_event(h, "quarantine", "worker 1 "));
  // The graph's report carries its verification summary.
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["verification"]["policy"] == "adaptive");
  CHECK(report[0].header["verification"]["wrong"] == TrustTable::kQuarantineAfter);
  CHECK(report[0].header["verification"]["replicated"].get<int>() >= static_cast<int>(TrustTable::kTrustedAfter));
  CHECK(report[0].header["verification"]["spot_checked"] == 3);  // each disagreement settled by the server
}

TEST_CASE("adaptive: two workers colluding on the same wrong values among two honest ones are caught by spot checks") {
  Harness h(adaptive(1));  // every accepted group is spot-checked (the fake clock spends no budget)
  for (WorkerId w : {1, 2, 3, 4}) h.connect_worker(w);
  h.connect_client(10);
  const uint64_t g = many_negations(h, 20);
  work_in_turn(h, {1, 2, 3, 4}, [](WorkerId w, int) { return w <= 2 ? lie(1) : honest(); });
  all_right(h, g, 20);
  CHECK(worker_status(h, 1)["quarantined"] == true);
  CHECK(worker_status(h, 2)["quarantined"] == true);
  CHECK(worker_status(h, 3)["wrong"] == 0);
  CHECK(worker_status(h, 4)["wrong"] == 0);
}

TEST_CASE("adaptive without spot checks: colluders agreeing are believed (why spot checks exist)") {
  CoordinatorOptions options = adaptive(0);
  options.spot_check_budget = 0;
  Harness h(options);
  for (WorkerId w : {1, 2}) h.connect_worker(w);
  h.connect_client(10);
  many_negations(h, 4);
  work_in_turn(h, {1, 2}, [](WorkerId, int) { return lie(1); });
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>{0, -1, -2, -3});
}

TEST_CASE("adaptive: a liar honest for 50 groups is quarantined and what it delivered alone is verified again") {
  CoordinatorOptions options = adaptive();
  options.verify_floor = 0;
  options.seed = 2;  // a draw under which it delivers lies alone before a replica catches it (seed 7: none)
  Harness h(options);
  for (WorkerId w : {1, 2}) h.connect_worker(w);
  h.connect_client(10);
  const uint64_t g = many_negations(h, 200);
  auto answered = work_in_turn(h, {1, 2}, [](WorkerId w, int nth) { return w == 1 && nth >= 50 ? lie(1) : honest(); });
  CHECK(worker_status(h, 1)["quarantined"] == true);
  CHECK(answered[1] < 120);
  // Lies it delivered alone before it was caught were found and replaced by the server's values.
  CHECK(std::stoi(metric(h, "corvid_rechecked_total")) > 0);
  for (int i = 0; i < 200; ++i) {
    std::string why;
    auto v = h.core->value(g, "n" + std::to_string(i), why);
    REQUIRE(v);
    CHECK(values_of(*v) == kRight);
  }
  // A reconnect is a new identity: untrusted, and not quarantined either.
  h.core->worker_disconnected(1);
  h.connect_worker(4);
  CHECK(worker_status(h, 4)["trust"] == 0);
  CHECK(worker_status(h, 4)["quarantined"] == false);
}

TEST_CASE("a worker token's worker is trusted, quarantined, it stays so across a restart") {
  Harness h(adaptive(1));
  h.connect_worker(1, 10, 10, {}, true);
  h.connect_worker(2);  // an honest volunteer
  h.connect_client(10);
  CHECK(worker_status(h, 1)["trust"] == 1);
  const uint64_t g = many_negations(h, 12);
  work_in_turn(h, {1, 2}, [](WorkerId w, int) { return w == 1 ? lie(1) : honest(); });
  all_right(h, g, 12);  // its results were spot-checked: none delivered
  CHECK(worker_status(h, 1)["quarantined"] == true);
  h.reopen();
  h.outbox.workers.clear();
  h.connect_worker(1, 10, 10, {}, true);  // same name, same worker token
  CHECK(worker_status(h, 1)["quarantined"] == true);
  REQUIRE(h.core->status_json()["quarantined"].size() == 1);
  CHECK(h.core->status_json()["quarantined"][0]["identity"] == "operator:w1");
  h.connect_client(11);
  h.submit_ok(11, negation());
  CHECK(h.outbox.count(1, "assign") == 0);  // no work for it
}

TEST_CASE("a copy (transpose, movement) is compared as loosely as the op whose values it copies") {
  Graph g;
  g.id = 5;
  auto add = [&](const std::string& id, const char* op, std::vector<OpIndex> inputs) {
    OpNode n;
    n.id = id;
    n.def = find_op(op);
    n.inputs = std::move(inputs);
    g.index[id] = g.add_op(n);
  };
  add("x", "tensor", {});
  add("m", "matmul", {0, 0});
  add("mt", "transpose", {1});
  add("xt", "transpose", {0});
  const Tolerance copied = replica_tolerance(g, 2, DType::f32);
  const Tolerance computed = agreement_tolerance(*find_op("matmul"), DType::f32);
  CHECK(copied.rtol == computed.rtol);
  CHECK(copied.scale_rtol == computed.scale_rtol);
  // A copy of the developer's tensor is exact: both replicas got the same values.
  CHECK(replica_tolerance(g, 3, DType::f32).rtol == 0);
  // The 1-ulp difference of a matmul, transposed in the same group, is no disagreement
  // (seen between the wasm and native kernels: tests/browser/test_verify_mixed.js).
  auto result = [](float v) {
    return std::vector<NamedTensor>{{"5:mt", Tensor::from_vector<float>({2}, {-1.44935477f, v})}};
  };
  CHECK(compare_results(g, result(2), result(2.0000002f)).agree);
  CHECK(compare_results(g, {{"5:mt", Tensor::from_vector<float>({1}, {-1.44935477f})}},
                        {{"5:mt", Tensor::from_vector<float>({1}, {-1.44935513f})}})
            .agree);
  CHECK_FALSE(compare_results(g, result(2), result(3)).agree);
}

TEST_CASE("replicate: a replica never goes to another slot of the device that computed the group") {
  // Two slots of one tab run the same kernel in the same browser: a fault of that device (or its
  // owner's patched kernel) would agree with itself. Their second opinion comes from elsewhere.
  Harness h(replicate());
  h.connect_worker(1, 100, 100, {{"device", "tab-a"}, {"slot", 0}});
  h.connect_worker(2, 100, 100, {{"device", "tab-a"}, {"slot", 1}});
  h.connect_client(10);
  uint64_t g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  // Both slots lie the same way: the server's kernel, not the sibling slot, checks the result.
  const auto both_lie = [](WorkerId) { return lie(3); };
  const WorkerId first = answer_next(h, {1, 2}, both_lie);
  REQUIRE(first != 0);
  CHECK(h.outbox.count(3 - first, "assign") == 0);
  CHECK(delivered(h, 10) == kRight);
  CHECK(worker_status(h, first)["failures"] == 1);
  CHECK(metric(h, "corvid_server_replicas_total") == "1");

  // With a worker of another device connected, the replica goes to it.
  h.connect_worker(3, 100, 100, {{"device", "tab-b"}, {"slot", 0}});
  g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  const WorkerId again = answer_next(h, {1, 2});
  REQUIRE((again == 1 || again == 2));
  CHECK(h.outbox.count(3 - again, "assign") == 0);
  REQUIRE(answer_next(h, {3}) == 3);
  CHECK(delivered(h, 10) == kRight);
  CHECK(metric(h, "corvid_server_replicas_total") == "1");
}
