// Graphs computed end to end through the coordinator by fake workers running the real kernel.
#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

nlohmann::json demo_graph() {
  return {{"name", "demo"},
          {"ops",
           {{{"id", "a"}, {"op", "tensor"}, {"value", {{1, 2}, {3, 4}}}, {"dtype", "float32"}},
            {{"id", "b"}, {"op", "tensor"}, {"value", {5, 6}}, {"dtype", "float32"}},
            {{"id", "c"}, {"op", "add"}, {"inputs", {"a", "b"}}},
            {{"id", "e"}, {"op", "matmul"}, {"inputs", {"a", "c"}}},
            {{"id", "f"}, {"op", "neg"}, {"inputs", {"e"}}}}},
          {"outputs", {"c", "f"}}};
}

std::map<std::string, std::vector<double>> named_values(const Frame& values) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& nt : values.tensors) out[nt.name] = values_of(nt.tensor);
  return out;
}

}  // namespace

TEST_CASE("a graph computed by two workers gives the kernel's values") {
  Harness h;
  h.connect_worker(1);
  h.connect_worker(2);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  h.work_all({1, 2});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  CHECK(values[0].header["failed"].empty());
  auto v = named_values(values[0]);
  // a + b = [[6, 8], [8, 10]]; a @ c = [[22, 28], [50, 64]]; f = -(a @ c)
  CHECK(v["c"] == std::vector<double>{6, 8, 8, 10});
  CHECK(v["f"] == std::vector<double>{-22, -28, -50, -64});
  CHECK(!h.outbox.client_frames(10, "progress").empty());
}

TEST_CASE("intermediates of a chain stay on the worker inside one group") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  nlohmann::json ops = {{{"id", "x0"}, {"op", "tensor"}, {"value", {1.0, 2.0, 3.0}}}};
  for (int i = 1; i <= 50; ++i)
    ops.push_back({{"id", "x" + std::to_string(i)}, {"op", "add"},
                   {"inputs", {"x" + std::to_string(i - 1), "x0"}}});
  const uint64_t g = h.submit_ok(10, {{"ops", ops}, {"outputs", {"x50"}}});
  auto assigns = h.outbox.worker_frames(1, "assign");
  REQUIRE(assigns.size() == 1);
  CHECK(assigns[0].header["ops"].size() == 50);
  CHECK(assigns[0].header["outputs"] == nlohmann::json{std::to_string(g) + ":x50"});
  // x0 feeds every op, so it travels once; the 49 intermediates never travel.
  CHECK(assigns[0].tensors.size() == 1);
  CHECK(assigns[0].tensors[0].name == std::to_string(g) + ":x0");
  h.outbox.workers[1].push_front(assigns[0]);
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"x50", "x7"}}});
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  auto v = named_values(values[0]);
  CHECK(v["x50"] == std::vector<double>{51, 102, 153});
  // x7 stayed on the worker, so it is computed again when asked for.
  CHECK(v["x7"] == std::vector<double>{8, 16, 24});
}

TEST_CASE("stream mode sends each value as it becomes final and then the values summary") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"stream", true}});
  CHECK(h.outbox.client_frames(10, "value").empty());
  h.connect_worker(1);
  h.work_all({1});
  auto streamed = h.outbox.client_frames(10, "value");
  REQUIRE(streamed.size() == 2);
  for (const auto& f : streamed) {
    CHECK(f.header["status"] == "computed");
    REQUIRE(f.tensors.size() == 1);
    CHECK(f.tensors[0].name == f.header["id"].get<std::string>());
  }
  auto done = h.values(10);
  REQUIRE(done.size() == 1);
  CHECK(done[0].header["status"] == "computed");
  CHECK(done[0].tensors.empty());
}

TEST_CASE("progress counts the tracked ops that are running and final") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"stream", true}, {"track", {"c", "a", "c"}}});
  auto progress = h.outbox.client_frames(10, "progress");
  REQUIRE(progress.size() == 1);
  // `a` is a tensor (final at submit); `c` waits for a worker; the repeated `c` counts once.
  CHECK(progress[0].header["tracked"] == nlohmann::json{{"running", 0}, {"final", 1}});
  h.connect_worker(1);  // takes c, e and f in one group
  h.clock.t += 500;
  h.core->tick();
  progress = h.outbox.client_frames(10, "progress");
  REQUIRE(!progress.empty());
  CHECK(progress.back().header["tracked"] == nlohmann::json{{"running", 1}, {"final", 1}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"track", {"c", "zz"}}, {"request_id", 7}});
  auto errors = h.outbox.client_frames(10, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header["op_id"] == "zz");
  CHECK(errors[0].header["error"] == "unknown op id 'zz' in graph " + std::to_string(g));
}

TEST_CASE("a wait answered at once gets its values without a progress frame, one that waits gets progress first") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  CHECK(h.outbox.client_frames(10, "progress").size() == 1);  // it waits
  h.work_all({1});
  REQUIRE(h.values(10).size() == 1);
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"c"}}, {"request_id", 2}});
  CHECK(h.outbox.client_frames(10, "progress").empty());
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["request_id"] == 2);
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  CHECK(h.outbox.client_frames(10, "progress").empty());
  CHECK(h.outbox.client_frames(10, "report").size() == 1);
}

TEST_CASE("an any-wait is answered when one id is final, with every id final by then") {
  Harness h(one_op_at_a_time());
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"f", "c"}}, {"any", true}});
  CHECK(h.values(10).empty());  // nothing final yet
  h.connect_worker(1);
  REQUIRE(h.answer_one(1));  // c
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  REQUIRE(values[0].tensors.size() == 1);
  CHECK(values[0].tensors[0].name == "c");
  h.work_all({1});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"f", "c"}}, {"any", true}});
  values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(named_values(values[0]) ==
        std::map<std::string, std::vector<double>>{{"c", {6, 8, 8, 10}}, {"f", {-22, -28, -50, -64}}});
}

TEST_CASE("ops added to an existing graph use the values computed before") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.work_all({1});
  const uint64_t same = h.submit_ok(10, {{"graph_id", g}, {"ops", {{{"id", "h"}, {"op", "mul"}, {"inputs", {"f", "b"}}}}},
                                         {"outputs", {"h"}}});
  CHECK(same == g);
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"h", "e"}}});
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  auto v = named_values(values[0]);
  CHECK(v["h"] == std::vector<double>{-110, -168, -250, -384});
  CHECK(v["e"] == std::vector<double>{22, 28, 50, 64});
}

TEST_CASE("end reports counts and failed ops and sources are computed at submit") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, {{"ops",
                                       {{{"id", "z"}, {"op", "zeros"}, {"params", {{"shape", {2, 2}}}}},
                                        {{"id", "o"}, {"op", "ones"}, {"params", {{"shape", {2}}}}},
                                        {{"id", "s"}, {"op", "add"}, {"inputs", {"z", "o"}}}}}});
  auto status = h.core->status_json();
  REQUIRE(status["graphs"].size() == 1);
  CHECK(status["graphs"][0]["counts"]["computed"] == 2);
  CHECK(status["graphs"][0]["counts"]["pending"] == 1);
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  CHECK(h.outbox.client_frames(10, "report").empty());
  h.connect_worker(1);
  h.work_all({1});
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["status"] == "computed");
  CHECK(report[0].header["total"] == 3);
  CHECK(report[0].header["counts"]["computed"] == 3);
  CHECK(report[0].header["failed"].empty());
}

TEST_CASE("operator views describe workers and graphs and counters") {
  Harness h;
  h.connect_worker(1, 12, 3);
  h.connect_client(10, "alice");
  const uint64_t g = h.submit_ok(10, demo_graph());
  h.clock.t += 250;
  h.work_all({1});
  h.clock.t += 1500;
  h.core->tick();
  auto s = h.core->status_json();
  // A finished graph's elapsed time stops at its last result.
  CHECK(s["graphs"][0]["elapsed_s"].get<double>() == doctest::Approx(0.25));
  REQUIRE(s["workers"].size() == 1);
  CHECK(s["workers"][0]["name"] == "w1");
  CHECK(s["workers"][0]["score_gflops"].get<double>() == doctest::Approx(12));
  CHECK(s["workers"][0]["ops_done"] == 3);
  CHECK(s["workers"][0]["device"] == "");
  CHECK(s["workers"][0]["slot"].is_null());
  h.connect_worker(2, 12, 3, {{"device", "tab-7"}, {"slot", 1}});
  s = h.core->status_json();
  REQUIRE(s["workers"].size() == 2);
  CHECK(s["workers"][1]["device"] == "tab-7");
  CHECK(s["workers"][1]["slot"] == 1);
  CHECK(s["graphs"][0]["owner"] == "alice");
  CHECK(s["graphs"][0]["status"] == "computed");
  CHECK(s["queue_depth"] == 0);
  CHECK(s["history"].size() == 1);
  CHECK(!s["events"].empty());
  auto gj = h.core->graph_json(g);
  REQUIRE(gj["ops"].size() == 5);
  CHECK(gj["ops"][2]["inputs"] == nlohmann::json{"a", "b"});
  CHECK(h.core->graph_json(g + 100).is_null());
  const std::string metrics = h.core->metrics_text();
  CHECK(metrics.find("corvid_ops_computed_total 3\n") != std::string::npos);
  CHECK(metrics.find("# TYPE corvid_workers gauge") != std::string::npos);
}

TEST_CASE("cancel stops a graph's pending ops and tells the worker") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, demo_graph());
  REQUIRE(!h.outbox.workers[1].empty());
  h.client_send(10, {{"type", "cancel"}, {"graph_id", g}});
  auto cancelled = h.outbox.client_frames(10, "cancelled");
  REQUIRE(cancelled.size() == 1);
  CHECK(cancelled[0].header["count"] == 3);
  CHECK(h.outbox.worker_frames(1, "cancel").size() == 1);
  // The worker's answer for the cancelled group is dropped without complaint.
  h.work(1);
  CHECK(h.outbox.worker_frames(1, "error").empty());
  h.client_send(10, {{"type", "end"}, {"graph_id", g}});
  auto report = h.outbox.client_frames(10, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].header["status"] == "cancelled");
}
