// Release of superseded values (submit `release`): a released op's value is freed in memory, in
// the store and on the workers that keep it once every op reading it is final, and any later
// reference to it (an input, an output, a wait) is refused naming it.
#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

// The graph's `values` as /api/status shows them.
nlohmann::json held(Harness& h, uint64_t graph) {
  const nlohmann::json status = h.core->status_json();
  for (const auto& g : status["graphs"])
    if (g["id"] == graph) return g["values"];
  FAIL("no such graph in the status");
  return {};
}

// x (4 floats) read by two ops, so a worker is asked to keep it; both are outputs.
nlohmann::json shared_input() {
  return {{"ops",
           {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0, 2.0, 3.0, 4.0}}},
            {{"id", "a"}, {"op", "neg"}, {"inputs", {"x"}}},
            {{"id", "b"}, {"op", "exp"}, {"inputs", {"x"}}}}},
          {"outputs", {"a", "b"}}};
}

}  // namespace

TEST_CASE("a released op is freed once its readers are final, and later references are refused naming it") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, shared_input());
  // Released while its readers wait for a worker: the value stays until they are final.
  REQUIRE(h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"release", {"x"}}}).header["type"] ==
          "submitted");
  CHECK(held(h, g)["held"] == 1);
  CHECK(held(h, g)["freed"] == 0);
  h.connect_worker(1);
  h.work_all({1});
  CHECK(held(h, g)["held"] == 2);  // a and b; x is gone
  CHECK(held(h, g)["freed"] == 1);

  Frame input = h.submit(10, {{"graph_id", g}, {"ops", {{{"id", "c"}, {"op", "neg"}, {"inputs", {"x"}}}}}});
  CHECK(input.header["type"] == "error");
  CHECK(input.header["op_id"] == "c");
  CHECK(input.header["error"].get<std::string>() ==
        "op 'c': input op 'x' was released (submit 'release'): its value is gone");
  Frame output = h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"outputs", {"x"}}});
  CHECK(output.header["op_id"] == "x");
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"a", "x"}}});
  auto errors = h.outbox.client_frames(10, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header["op_id"] == "x");
  CHECK(errors[0].header["error"].get<std::string>().find("op 'x' was released") != std::string::npos);

  // The store forgot the value and remembers the release across a restart.
  h.reopen();
  h.connect_client(10);
  CHECK(held(h, g)["freed"] == 1);
  CHECK(held(h, g)["held"] == 2);
  Frame after = h.submit(10, {{"graph_id", g}, {"ops", {{{"id", "c"}, {"op", "neg"}, {"inputs", {"x"}}}}}});
  CHECK(after.header["op_id"] == "c");
  std::string why;
  CHECK(h.core->value(g, "x", why) == nullptr);
}

TEST_CASE("release names unknown ids and is bounded") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, shared_input());
  Frame unknown = h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"release", {"a", "nope"}}});
  CHECK(unknown.header["type"] == "error");
  CHECK(unknown.header["op_id"] == "nope");
  CHECK(unknown.header["error"].get<std::string>().find("release: unknown op id 'nope'") != std::string::npos);
  // Nothing was released: a is still a valid input.
  CHECK(h.submit(10, {{"graph_id", g}, {"ops", {{{"id", "c"}, {"op", "neg"}, {"inputs", {"a"}}}}}}).header["type"] ==
        "submitted");
  Frame not_ids = h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"release", {{{"x", 1}}}}});
  CHECK(not_ids.header["error"].get<std::string>().find("'release' must be a list of op ids") != std::string::npos);
  Frame too_long = h.submit(10, {{"graph_id", g},
                                 {"ops", nlohmann::json::array()},
                                 {"release", std::vector<std::string>(protocol::Submit::kMaxRelease + 1, "a")}});
  CHECK(too_long.header["error"].get<std::string>() == "submit: 'release' has 65537 entries, more than 65536");
}

TEST_CASE("a released value a worker keeps is released on that worker") {
  Harness h;
  h.connect_client(10);
  h.connect_worker(1);
  const uint64_t g = h.submit_ok(10, shared_input());
  auto assigns = h.outbox.worker_frames(1, "assign");
  REQUIRE(assigns.size() == 1);
  const std::string x = std::to_string(g) + ":x";
  REQUIRE(std::find(assigns[0].header["keep"].begin(), assigns[0].header["keep"].end(), x) != assigns[0].header["keep"].end());
  h.outbox.workers[1].push_front(assigns[0]);
  h.work_all({1});
  CHECK(h.outbox.worker_frames(1, "release").empty());
  REQUIRE(h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"release", {"x", "a"}}}).header["type"] ==
          "submitted");
  auto releases = h.outbox.worker_frames(1, "release");
  REQUIRE(releases.size() == 1);
  INFO(releases[0].header.dump());
  CHECK(releases[0].header["names"] == nlohmann::json{x});  // a was never kept there
  // The worker's executor forgets it: a group that needs it would get it attached again.
  h.executors[1].forget(protocol::decode<protocol::Release>(releases[0]).names);
  CHECK(h.executors[1].cached_names().empty());
  CHECK(held(h, g)["freed"] == 2);
}

TEST_CASE("a released value goes only to the workers that keep it, and after a disconnect to none") {
  Harness h;
  h.connect_client(10);
  h.connect_worker(1);
  const uint64_t g = h.submit_ok(10, shared_input());
  h.connect_worker(2);  // connected, but keeps nothing of g
  h.work_all({1, 2});
  const std::string x = std::to_string(g) + ":x";
  REQUIRE(h.submit(10, {{"graph_id", g}, {"ops", nlohmann::json::array()}, {"release", {"x"}}}).header["type"] ==
          "submitted");
  auto releases = h.outbox.worker_frames(1, "release");
  REQUIRE(releases.size() == 1);
  CHECK(releases[0].header["names"] == nlohmann::json{x});
  CHECK(h.outbox.worker_frames(2, "release").empty());

  // A second graph whose kept value's worker has gone: nobody is told.
  const uint64_t g2 = h.submit_ok(10, shared_input());
  h.work_all({1, 2});
  h.core->worker_disconnected(1);
  h.core->worker_disconnected(2);
  REQUIRE(h.submit(10, {{"graph_id", g2}, {"ops", nlohmann::json::array()}, {"release", {"x"}}}).header["type"] ==
          "submitted");
  CHECK(h.outbox.worker_frames(1, "release").empty());
  CHECK(h.outbox.worker_frames(2, "release").empty());
  CHECK(held(h, g2)["freed"] == 1);
}
