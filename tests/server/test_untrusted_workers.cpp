// Workers are untrusted volunteers: a kernel error is final only when a second worker or the
// server's own kernel reproduces it, and speed is measured on the server's clock, never taken
// from the compute_ms a worker reports.
#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

// Worker w answers every assign it holds with a kernel error for the group's last op.
// Returns how many it answered.
int report_kernel_error(Harness& h, WorkerId w, const std::string& message) {
  auto assigns = h.outbox.worker_frames(w, "assign");
  for (const auto& a : assigns) {
    Frame error;
    error.header = {{"type", "error"}, {"group_id", a.header["group_id"]}, {"op_id", a.header["ops"].back()["id"]},
                    {"kind", "kernel"}, {"error", message}};
    h.core->worker_message(w, over_the_wire(error));
  }
  return static_cast<int>(assigns.size());
}

// Worker 1 holds the negation graph of developer 10 (who waits for nothing yet), worker 2 joins,
// and worker 1 reports `message` as a kernel error of it. Returns the graph id.
uint64_t dispute_from_worker_1(Harness& h, const std::string& message) {
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.connect_worker(2);
  REQUIRE(report_kernel_error(h, 1, message) == 1);
  return g;
}

// The status and the error of op `id` from an `end` report.
std::pair<std::string, std::string> op_outcome(Harness& h, ClientId c, uint64_t graph, const std::string& id) {
  h.client_send(c, {{"type", "end"}, {"graph_id", graph}});
  auto report = h.outbox.client_frames(c, "report");
  REQUIRE(report.size() == 1);
  for (const auto& f : report[0].header["failed"])
    if (f["id"] == id) return {"failed", f["error"]};
  return {report[0].header["status"], ""};
}

}  // namespace

TEST_CASE("a kernel error from one worker does not fail the op: another worker computes it") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  h.connect_worker(2);
  REQUIRE(report_kernel_error(h, 1, "neg: forged failure") == 1);
  CHECK(h.values(10).empty());
  // The op is not given back to the worker that reported the error.
  CHECK(h.outbox.count(1, "assign") == 0);
  REQUIRE(h.outbox.count(2, "assign") == 1);
  h.work(2);
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == 1);
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>{-1, -2, -3, -4});
  // The error turned out to be false: it counts against the worker that reported it.
  CHECK(worker_status(h, 1)["failures"] == 1);
  CHECK(worker_status(h, 2)["failures"] == 0);
}

TEST_CASE("a disputed op goes to a slower worker at once, not kept for the faster one that reported it") {
  Harness h;
  h.connect_worker(1, 1000, 1000);
  h.connect_worker(2, 1e-5, 1e-5);  // far slower: earliest finish would rather wait for worker 1
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  REQUIRE(h.outbox.count(2, "assign") == 0);
  REQUIRE(report_kernel_error(h, 1, "neg: forged failure") == 1);
  // Worker 1 may not take the op again, so waiting for it would wait forever.
  REQUIRE(h.outbox.count(2, "assign") == 1);
  h.work(2);
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
}

TEST_CASE("the same kernel error from a second worker fails the op with that error") {
  Harness h;
  const uint64_t g = dispute_from_worker_1(h, "neg: out of luck");
  REQUIRE(report_kernel_error(h, 2, "neg: out of luck") == 1);
  CHECK(op_outcome(h, 10, g, "n") == std::make_pair(std::string("failed"), std::string("neg: out of luck")));
  // Two workers agree: neither is blamed.
  CHECK(worker_status(h, 1)["failures"] == 0);
  CHECK(worker_status(h, 2)["failures"] == 0);
}

TEST_CASE("a kernel error reported twice by the same worker is not a confirmation") {
  CoordinatorOptions options = unverified();
  options.max_in_flight_per_worker = 1;
  Harness h(options);
  const uint64_t g = dispute_from_worker_1(h, "neg: forged failure");
  // Worker 1 does not get the op again, whatever it claims; worker 2 computes it.
  CHECK(report_kernel_error(h, 1, "neg: forged failure") == 0);
  h.work(2);
  CHECK(op_outcome(h, 10, g, "n").first == "computed");
}

TEST_CASE("with a single worker, the server's own kernel settles a kernel error") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  REQUIRE(report_kernel_error(h, 1, "neg: forged failure") == 1);
  // The server computed the op itself and used its result.
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == 1);
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>{-1, -2, -3, -4});
  CHECK(worker_status(h, 1)["failures"] == 1);
}

TEST_CASE("two workers reporting different kernel errors are settled by the server's kernel") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, negation());
  h.connect_worker(2);
  h.connect_worker(3);
  REQUIRE(report_kernel_error(h, 1, "neg: one story") == 1);
  REQUIRE(h.outbox.count(2, "assign") + h.outbox.count(3, "assign") == 1);
  const WorkerId second = h.outbox.count(2, "assign") ? 2 : 3;
  REQUIRE(report_kernel_error(h, second, "neg: another story") == 1);
  CHECK(op_outcome(h, 10, g, "n").first == "computed");
  CHECK(worker_status(h, 1)["failures"] == 1);
  CHECK(worker_status(h, second)["failures"] == 1);
}

TEST_CASE("a real kernel error is reproduced by the server's kernel and fails the op with its message") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, {{"ops",
                                       {{{"id", "m"}, {"op", "tensor"}, {"value", {{1.0, 2.0}, {2.0, 4.0}}}},
                                        {{"id", "i"}, {"op", "inv"}, {"inputs", {"m"}}}}},
                                      {"outputs", {"i"}}});
  h.work(1);
  CHECK(op_outcome(h, 10, g, "i") == std::make_pair(std::string("failed"), std::string("inv: matrix is singular")));
  CHECK(worker_status(h, 1)["failures"] == 0);
}

TEST_CASE("compute_ms reported by workers does not change their measured speed: the server's clock does") {
  CoordinatorOptions options = unverified();
  options.max_in_flight_per_worker = 1;
  options.target_group_ms = 0.001;
  Harness h(options);
  h.connect_worker(1, 10, 10);
  h.connect_worker(2, 10, 10);
  h.connect_client(10);
  nlohmann::json ops = {{{"id", "x"}, {"op", "tensor"}, {"value", std::vector<double>(4096, 1.5)}}};
  for (int i = 0; i < 40; ++i) ops.push_back({{"id", "n" + std::to_string(i)}, {"op", "neg"}, {"inputs", {"x"}}});
  h.submit_ok(10, {{"ops", ops}});
  // Both workers take 40 ms per group on the server's clock; worker 2 claims 0.001 ms.
  for (int round = 0; round < 6; ++round) {
    REQUIRE(h.outbox.count(1, "assign") == 1);
    REQUIRE(h.outbox.count(2, "assign") == 1);
    h.clock.t += 40;
    h.answer_one(1, [](Frame& reply) { reply.header["compute_ms"] = 40.0; });
    h.answer_one(2, [](Frame& reply) { reply.header["compute_ms"] = 0.001; });
  }
  const double honest = worker_status(h, 1)["measured_gflops"].get<double>();
  const double liar = worker_status(h, 2)["measured_gflops"].get<double>();
  CHECK(liar == doctest::Approx(honest).epsilon(0.01));
  // Slower on the server's clock means slower, whatever the claim: worker 2 now takes 400 ms.
  for (int round = 0; round < 4; ++round) {
    h.clock.t += 400;
    REQUIRE(h.answer_one(2, [](Frame& reply) { reply.header["compute_ms"] = 0.001; }));
  }
  CHECK(worker_status(h, 2)["measured_gflops"].get<double>() < worker_status(h, 1)["measured_gflops"].get<double>());
}

TEST_CASE("a kernel error is settled by the server when the only other worker has stalled") {
  CoordinatorOptions options = unverified();
  options.deadline_floor_ms = 100;
  Harness h(options);
  const uint64_t g = dispute_from_worker_1(h, "neg: forged failure");
  // Worker 2 takes the op and never answers (it still sends heartbeats).
  REQUIRE(h.outbox.worker_frames(2, "assign").size() == 1);
  h.clock.t += 1000;
  for (WorkerId w : {1, 2}) h.core->worker_message(w, over_the_wire(Frame{{{"type", "heartbeat"}, {"t", 0}}, {}}));
  h.core->tick();
  CHECK(op_outcome(h, 10, g, "n").first == "computed");
  CHECK(worker_status(h, 1)["failures"] == 1);
}
