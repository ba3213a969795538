// Scheduling through the coordinator: earliest finish time, measured speed, deadlines,
// disconnects, kernel and transient errors, fairness between developers, heartbeats.
#include "harness.hpp"
#include "server/core/scheduler.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

// a (2x2), c = a + b, e = a @ c, f = -e: one group of three ops.
nlohmann::json small_graph() {
  return {{"ops",
           {{{"id", "a"}, {"op", "tensor"}, {"value", {{1, 2}, {3, 4}}}},
            {{"id", "b"}, {"op", "tensor"}, {"value", {5, 6}}},
            {{"id", "c"}, {"op", "add"}, {"inputs", {"a", "b"}}},
            {{"id", "e"}, {"op", "matmul"}, {"inputs", {"a", "c"}}},
            {{"id", "f"}, {"op", "neg"}, {"inputs", {"e"}}}}},
          {"outputs", {"c", "f"}}};
}

void check_small_graph_values(Harness& h, ClientId client) {
  auto values = h.values(client);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == 2);
  for (const auto& nt : values[0].tensors) {
    if (nt.name == "c") CHECK(values_of(nt.tensor) == std::vector<double>{6, 8, 8, 10});
    if (nt.name == "f") CHECK(values_of(nt.tensor) == std::vector<double>{-22, -28, -50, -64});
  }
}

// n independent `neg` ops on one tensor.
nlohmann::json independent_ops(int n, int size = 64) {
  nlohmann::json ops = {{{"id", "x"}, {"op", "tensor"}, {"value", std::vector<double>(size, 1.5)}}};
  for (int i = 0; i < n; ++i) ops.push_back({{"id", "n" + std::to_string(i)}, {"op", "neg"}, {"inputs", {"x"}}});
  return {{"ops", ops}};
}

// n independent 128x128 matmuls of one tensor: compute outweighs the round trip.
nlohmann::json heavy_ops(int n) {
  nlohmann::json ops = {{{"id", "x"}, {"op", "ones"}, {"params", {{"shape", {128, 128}}}}}};
  for (int i = 0; i < n; ++i) ops.push_back({{"id", "m" + std::to_string(i)}, {"op", "matmul"}, {"inputs", {"x", "x"}}});
  return {{"ops", ops}};
}

uint64_t graph_of_assign(const Frame& assign) {
  const std::string id = assign.header["ops"][0]["id"];
  return std::stoull(id.substr(0, id.find(':')));
}

// Worker 1 connects and answers `groups` groups one at a time; returns how many each graph got.
std::map<uint64_t, int> groups_served_to_one_worker(Harness& h, int groups) {
  h.connect_worker(1);
  std::map<uint64_t, int> served;
  for (int i = 0; i < groups; ++i) {
    auto assign = h.answer_one(1);
    REQUIRE(assign);
    served[graph_of_assign(*assign)]++;
  }
  return served;
}

}  // namespace

TEST_CASE("earliest finish time gives the work to the fast worker and lets the slow one wait") {
  CoordinatorOptions options = unverified();
  options.target_group_ms = 0.001;  // one op per group
  Harness h(options);
  h.connect_worker(1, 1, 1);      // slow
  h.connect_worker(2, 100, 100);  // fast
  h.connect_client(10);
  h.submit_ok(10, heavy_ops(3));
  // The fast worker takes two groups (its in-flight limit); the third would still finish sooner
  // there than on the 100x slower worker, so it waits.
  CHECK(h.outbox.worker_frames(1, "assign").empty());
  auto fast = h.outbox.worker_frames(2, "assign");
  CHECK(fast.size() == 2);
  for (auto& f : fast) h.outbox.workers[2].push_back(f);
  h.work_all({1, 2});
  CHECK(h.core->status_json()["workers"][1]["ops_done"] == 3);
  CHECK(h.core->status_json()["workers"][0]["ops_done"] == 0);
}

TEST_CASE("independent slices spread across the free workers instead of filling one group") {
  Harness h;  // groups of up to 20 ms: all 40 slices would fit in the first worker's group
  for (WorkerId w = 1; w <= 4; ++w) h.connect_worker(w);
  h.connect_client(10);
  h.submit_ok(10, independent_ops(40, 4096));
  int slices = 0;
  for (WorkerId w = 1; w <= 4; ++w) {
    auto assigns = h.outbox.worker_frames(w, "assign");
    CHECK_MESSAGE(!assigns.empty(), "worker " << w << " was given no slice");
    for (const auto& a : assigns) slices += static_cast<int>(a.header["ops"].size());
    for (auto& a : assigns) h.outbox.workers[w].push_back(a);
  }
  CHECK(slices == 40);
  h.work_all({1, 2, 3, 4});
  for (int i = 0; i < 4; ++i) CHECK(h.core->status_json()["workers"][i]["ops_done"] >= 5);
}

TEST_CASE("measured group timings override a lying benchmark") {
  Harness h;
  h.connect_worker(1, 1000, 1000);  // claims to be 100x faster than worker 2, is much slower
  h.connect_worker(2, 10, 10);
  h.connect_client(10);
  std::vector<WorkerId> chosen;
  for (int i = 0; i < 8; ++i) {
    h.submit_ok(10, independent_ops(1, 4096));
    REQUIRE(h.outbox.count(1, "assign") + h.outbox.count(2, "assign") == 1);
    chosen.push_back(h.outbox.count(1, "assign") ? 1 : 2);
    // Worker 1 takes 50 ms on the server's clock, worker 2 no time at all.
    if (h.outbox.count(1, "assign")) h.clock.t += 50;
    h.work(1);
    h.work(2);
  }
  CHECK(chosen.front() == 1);  // the benchmark is believed at first
  CHECK(chosen[SpeedModel::kSamplesBeforeTrust] == 2);  // then the measurements
  CHECK(chosen.back() == 2);
  auto workers = h.core->status_json()["workers"];
  CHECK(workers[0]["measured_gflops"].get<double>() < workers[0]["score_gflops"].get<double>() / 100);
}

TEST_CASE("a stalled worker's group goes to another worker at its deadline and the first valid result wins") {
  CoordinatorOptions options = unverified();
  options.deadline_floor_ms = 100;
  Harness h(options);
  h.connect_worker(1, 100, 100);  // fast, but it will stall
  h.connect_worker(2, 10, 10);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, small_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  auto stalled = h.outbox.worker_frames(1, "assign");
  REQUIRE(stalled.size() == 1);
  CHECK(h.outbox.count(2, "assign") == 0);
  h.clock.t += 50;
  h.core->tick();
  CHECK(h.outbox.count(2, "assign") == 0);  // not yet
  h.clock.t += 100;
  h.core->tick();
  REQUIRE(h.outbox.count(2, "assign") == 1);
  CHECK(h.core->status_json()["workers"][0]["state"] == "stalled");

  SUBCASE("the second worker answers first") {
    h.work(2);
    check_small_graph_values(h, 10);
    CHECK(h.outbox.worker_frames(1, "cancel").size() == 1);
    // The stalled worker's late answer is ignored without a protocol error.
    h.outbox.workers[1].push_back(stalled[0]);
    h.work(1);
    CHECK(h.outbox.worker_frames(1, "error").empty());
    CHECK(h.values(10).empty());
  }
  SUBCASE("the stalled worker answers first after all") {
    h.outbox.workers[1].push_back(stalled[0]);
    h.work(1);
    check_small_graph_values(h, 10);
    CHECK(h.outbox.worker_frames(2, "cancel").size() == 1);
    h.work(2);
    CHECK(h.outbox.worker_frames(2, "error").empty());
  }
}

TEST_CASE("a worker that disconnects loses its group to another worker") {
  Harness h;
  h.connect_worker(1, 100, 100);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, small_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  REQUIRE(h.outbox.count(1, "assign") == 1);
  h.connect_worker(2, 10, 10);
  CHECK(h.outbox.count(2, "assign") == 0);
  h.core->worker_disconnected(1);
  REQUIRE(h.outbox.count(2, "assign") == 1);
  h.work(2);
  check_small_graph_values(h, 10);
  CHECK(h.core->status_json()["workers"].size() == 1);
}

TEST_CASE("a kernel error fails the op and its dependents while the rest of the group still computes") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, {{"ops",
                                       {{{"id", "m"}, {"op", "tensor"}, {"value", {{1.0, 2.0}, {2.0, 4.0}}}},
                                        {{"id", "i"}, {"op", "inv"}, {"inputs", {"m"}}},
                                        {{"id", "j"}, {"op", "neg"}, {"inputs", {"i"}}},
                                        {{"id", "k"}, {"op", "add"}, {"inputs", {"m", "m"}}}}},
                                      {"outputs", {"j", "k"}}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "failed");
  REQUIRE(values[0].tensors.size() == 1);
  CHECK(values[0].tensors[0].name == "k");
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>{2, 4, 4, 8});
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["status"] == "failed");
  std::map<std::string, std::string> errors;
  for (const auto& f : report[0].header["failed"]) errors[f["id"]] = f["error"];
  REQUIRE(errors.size() == 2);
  CHECK(errors["i"] == "inv: matrix is singular");
  CHECK(errors["j"] == "input op 'i' failed: inv: matrix is singular");
}

TEST_CASE("transient errors retry a bounded number of times and then fail the op with the reason") {
  CoordinatorOptions options = unverified();
  options.max_attempts = 3;
  Harness h(options);
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, independent_ops(1));
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"n0"}}});
  int answered = h.work(1, [](Frame& reply) {
    reply.header = {{"type", "error"}, {"group_id", reply.header["group_id"]}, {"op_id", ""},
                    {"error", "input 'x' is not available"}, {"kind", "missing_input"}};
    reply.tensors.clear();
  });
  CHECK(answered == 3);
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "failed");
  const std::string error = values[0].header["failed"][0]["error"];
  CHECK(error.find("gave up after 3 attempts") != std::string::npos);
  CHECK(error.find("missing_input") != std::string::npos);
}

TEST_CASE("bad results are rejected with an error and repeated abuse closes the worker but the graph survives") {
  Harness h;
  h.connect_worker(1, 100, 100);
  h.connect_worker(2, 10, 10);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, small_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  REQUIRE(h.outbox.count(1, "assign") == 1);

  // Wrong shape: rejected, and the group is computed elsewhere.
  h.work(1, [](Frame& reply) { reply.tensors[0].tensor = Tensor(DType::f32, {3}); });
  auto errors = h.outbox.worker_frames(1, "error");
  REQUIRE(errors.size() == 1);
  INFO(errors[0].header.dump());
  CHECK(errors[0].header["error"].get<std::string>().find("expected int32(2, 2)") != std::string::npos);
  REQUIRE(h.outbox.count(2, "assign") == 1);

  // A result for a group it was never given, an unknown message type, a bad benchmark, and a
  // frame the network layer could not decode: five protocol errors close the connection.
  Frame forged;
  forged.header = {{"type", "result"}, {"group_id", 424242}, {"compute_ms", 1}};
  h.core->worker_message(1, over_the_wire(forged));
  CHECK(h.outbox.worker_frames(1, "error")[0].header["error"].get<std::string>().find("not assigned") != std::string::npos);
  Frame garbage;
  garbage.header = {{"type", "gimme"}};
  h.core->worker_message(1, over_the_wire(garbage));
  Frame bench;
  bench.header = {{"type", "benchmark"}, {"matmul_gflops", "fast"}};
  h.core->worker_message(1, over_the_wire(bench));
  CHECK(h.outbox.closed.empty());
  h.core->worker_malformed(1, "frame header is not JSON");
  REQUIRE(h.outbox.closed.count(1) == 1);
  CHECK(h.outbox.closed[1].find("protocol errors") != std::string::npos);
  h.core->worker_disconnected(1);

  h.work(2);
  check_small_graph_values(h, 10);
}

TEST_CASE("graphs of two developers progress together") {
  Harness h(one_op_at_a_time());
  h.connect_client(10, "alice");
  h.connect_client(11, "bob");
  const uint64_t ga = h.submit_ok(10, independent_ops(20));
  const uint64_t gb = h.submit_ok(11, independent_ops(20));
  auto served = groups_served_to_one_worker(h, 10);
  CHECK(served[ga] == 5);
  CHECK(served[gb] == 5);
}

TEST_CASE("developers share the workers equally, however many graphs each submits") {
  Harness h(one_op_at_a_time());
  h.connect_client(10, "alice");
  h.connect_client(11, "bob");
  std::map<uint64_t, std::string> owner;
  for (int i = 0; i < 3; ++i) owner[h.submit_ok(10, independent_ops(20))] = "alice";
  owner[h.submit_ok(11, independent_ops(20))] = "bob";
  auto served_graph = groups_served_to_one_worker(h, 12);
  std::map<std::string, int> served_owner;
  for (const auto& [g, n] : served_graph) served_owner[owner[g]] += n;
  CHECK(served_owner["alice"] == 6);
  CHECK(served_owner["bob"] == 6);
  for (const auto& [g, who] : owner)
    if (who == "alice") CHECK(served_graph[g] == 2);
}

TEST_CASE("a silent worker is closed and its group handed on") {
  CoordinatorOptions options = unverified();
  options.heartbeat_ms = 100;
  options.deadline_floor_ms = 1e6;
  Harness h(options);
  h.connect_worker(1, 100, 100);
  h.connect_worker(2, 10, 10);
  h.connect_client(10);
  h.submit_ok(10, small_graph());
  REQUIRE(h.outbox.count(1, "assign") == 1);
  h.clock.t += 250;
  Frame beat;
  beat.header = {{"type", "heartbeat"}, {"t", 1}};
  h.core->worker_message(2, over_the_wire(beat));
  CHECK(h.outbox.worker_frames(2, "heartbeat").size() == 1);
  h.core->tick();
  CHECK(h.outbox.closed.empty());
  h.clock.t += 100;
  h.core->tick();
  CHECK(h.outbox.closed.count(1) == 1);
  CHECK(h.outbox.count(2, "assign") == 1);
}

TEST_CASE("tensors with several consumers are kept on the worker and not sent again") {
  Harness h(one_op_at_a_time());
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, independent_ops(3));
  const std::string x = std::to_string(g) + ":x";
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"n0", "n1", "n2"}}});
  auto first = h.answer_one(1);
  REQUIRE(first);
  REQUIRE(first->tensors.size() == 1);
  CHECK(first->tensors[0].name == x);
  CHECK(first->header["keep"] == nlohmann::json{x});
  // The executor (the real GroupExecutor) kept x, so later groups come without it and compute.
  auto second = h.answer_one(1);
  REQUIRE(second);
  CHECK(second->tensors.empty());
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
}

TEST_CASE("a released group goes to another worker without counting as a failure") {
  CoordinatorOptions options = unverified();
  options.max_attempts = 1;  // any counted failure would fail the ops
  Harness h(options);
  h.connect_worker(1, 100, 100);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, small_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  auto assigns = h.outbox.worker_frames(1, "assign");
  REQUIRE(assigns.size() == 1);
  h.connect_worker(2, 10, 10);
  Frame release;
  release.header = {{"type", "release"}, {"group_ids", {assigns[0].header["group_id"]}}};
  h.core->worker_message(1, over_the_wire(release));
  CHECK(h.outbox.worker_frames(1, "error").empty());
  // Both workers may take it now; whoever gets it computes it.
  h.work_all({1, 2});
  check_small_graph_values(h, 10);
}

TEST_CASE("a worker stalled past its deadline does not hold back the others") {
  CoordinatorOptions options = unverified();
  options.deadline_floor_ms = 100;
  options.target_group_ms = 0.001;  // one op per group
  Harness h(options);
  h.connect_worker(1, 1000, 1000);  // much faster than worker 2, but it stalls
  h.connect_worker(2, 1, 1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, heavy_ops(4));
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  CHECK(h.outbox.worker_frames(1, "assign").size() == 2);
  CHECK(h.outbox.count(2, "assign") == 0);
  h.clock.t += 1000;
  h.core->tick();
  // The stalled worker would still look fastest, yet the slow one now takes every op.
  h.work_all({2});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  CHECK(values[0].tensors.size() == 4);
}

TEST_CASE("a reconnecting worker's cached tensors are not sent again") {
  CoordinatorOptions options = unverified();
  options.target_group_ms = 0.001;  // one op per group
  Harness h(options);
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, independent_ops(2));
  h.work_all({1});
  // The same process reconnects (new worker id) and reports what its executor still keeps.
  h.core->worker_disconnected(1);
  h.executors[2] = std::move(h.executors[1]);
  const auto cached = h.executors[2].cached_names();
  REQUIRE(std::find(cached.begin(), cached.end(), std::to_string(g) + ":x") != cached.end());
  h.connect_worker(2, 10, 10, {{"resume_id", 1}, {"cached", cached}});
  h.submit_ok(10, {{"graph_id", g}, {"ops", {{{"id", "again"}, {"op", "neg"}, {"inputs", {"x"}}}}}, {"outputs", {"again"}}});
  auto assign = h.answer_one(2);
  REQUIRE(assign);
  CHECK(assign->tensors.empty());
  CHECK(h.outbox.worker_frames(2, "error").empty());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"again"}}});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>(64, -1.5));
}

TEST_CASE("a group goes to the free worker that finishes it soonest even when many rank faster on a unit of work") {
  Harness h;
  // Ten workers with fast matmul but slow memory rank first on a unit of work (1e9 flops and
  // bytes: 1000 ms) and are more than the few candidates dispatch asks first; worker 11 ranks
  // last (2000 ms) but is 1.5x faster on memory-bound work.
  for (WorkerId w = 1; w <= 10; ++w) h.connect_worker(w, 1000, 1);
  h.connect_worker(11, 0.5, 1.5);
  h.connect_client(20);
  // neg of 1e6 floats: memory-bound (8 MB read and written).
  h.submit_ok(20, {{"ops", {{{"id", "x"}, {"op", "ones"}, {"params", {{"shape", {1000000}}}}},
                            {{"id", "y"}, {"op", "neg"}, {"inputs", {"x"}}}}},
                   {"outputs", {"y"}}});
  CHECK(h.outbox.worker_frames(11, "assign").size() == 1);
  for (WorkerId w = 1; w <= 10; ++w) CHECK(h.outbox.worker_frames(w, "assign").empty());
}

TEST_CASE("two free workers that each find the other sooner for their own group do not stall") {
  Harness h;
  // Worker 1 is fast on matmul and slow on memory, worker 2 the other way round. Both seed from
  // p (memory-bound); worker 1's fair share ends its group at {p}, which worker 2 would finish
  // sooner, while worker 2 also takes q (a matmul), so worker 1 would finish its {p, q} sooner.
  // Each waiting for the other, nothing would be assigned and nothing is in flight to wake them.
  h.connect_worker(1, 1000, 1);
  h.connect_worker(2, 1, 100);
  h.connect_client(20);
  h.submit_ok(20, {{"ops", {{{"id", "x"}, {"op", "ones"}, {"params", {{"shape", {1000000}}}}},
                            {{"id", "a"}, {"op", "ones"}, {"params", {{"shape", {500, 500}}}}},
                            {{"id", "p"}, {"op", "neg"}, {"inputs", {"x"}}},
                            {{"id", "q"}, {"op", "matmul"}, {"inputs", {"a", "a"}}}}},
                   {"outputs", {"p", "q"}}});
  CHECK(h.outbox.worker_frames(1, "assign").size() + h.outbox.worker_frames(2, "assign").size() >= 1);
}

TEST_CASE("redirect_free_workers sends free workers to another server and leaves busy ones") {
  Harness h(one_op_at_a_time());
  h.connect_worker(1, 100, 100);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  REQUIRE(h.outbox.count(1, "assign") == 1);  // worker 1 is busy
  h.connect_worker(2);
  h.connect_worker(3);
  CHECK_THROWS_WITH(h.core->redirect_free_workers(5, "http://elsewhere"),
                    "redirect: 'url' must start with ws:// or wss:// and name a host");
  CHECK(h.outbox.closed.empty());
  CHECK(h.core->redirect_free_workers(1, "ws://elsewhere:9999") == 1);
  auto redirects = h.outbox.worker_frames(2, "redirect");
  REQUIRE(redirects.size() == 1);
  CHECK(protocol::decode<protocol::Redirect>(redirects[0]).url == "ws://elsewhere:9999");
  CHECK(h.outbox.closed.count(2));
  CHECK(h.core->redirect_free_workers(5, "ws://elsewhere:9999") == 1);  // worker 3; worker 1 holds a group
  CHECK(h.outbox.closed.count(3));
  CHECK(!h.outbox.closed.count(1));
  CHECK(h.outbox.count(1, "redirect") == 0);
  CHECK(h.core->status_json()["workers"].size() == 1);
  h.work(1);
  CHECK(h.values(10).size() == 1);
  CHECK(h.core->redirect_free_workers(5, "ws://elsewhere:9999") == 1);  // free now
}
