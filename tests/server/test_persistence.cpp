// A coordinator restarted on the same data directory resumes unfinished graphs.
#include <sqlite3.h>

#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

// x0 = [1, 2, 3]; x_i = x_{i-1} + x0, so x_n = (n + 1) * x0.
nlohmann::json chain(int n) {
  nlohmann::json ops = {{{"id", "x0"}, {"op", "tensor"}, {"value", {1.0, 2.0, 3.0}}}};
  for (int i = 1; i <= n; ++i)
    ops.push_back({{"id", "x" + std::to_string(i)}, {"op", "add"}, {"inputs", {"x" + std::to_string(i - 1), "x0"}}});
  return {{"name", "chain"}, {"ops", ops}, {"outputs", {"x" + std::to_string(n), "x3"}}};
}

int computed_ops(Harness& h) { return h.core->status_json()["graphs"][0]["counts"]["computed"].get<int>(); }

}  // namespace

TEST_CASE("a graph survives a restart mid-computation and finishes with the right values") {
  CoordinatorOptions options = unverified();
  options.target_group_ms = 0.001;  // one op per group, so the graph is computed in steps
  Harness h(options);
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, chain(12));
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  for (int i = 0; i < 5; ++i) REQUIRE(h.answer_one(1));
  REQUIRE(h.outbox.count(1, "assign") == 1);  // x6 is running when the server goes down
  h.clock.t += 100;
  h.core->tick();
  CHECK(computed_ops(h) == 6);

  h.reopen();
  h.outbox.workers.clear();
  h.outbox.clients.clear();
  h.executors.clear();
  auto graphs = h.core->status_json()["graphs"];
  REQUIRE(graphs.size() == 1);
  CHECK(graphs[0]["id"] == g);
  CHECK(graphs[0]["name"] == "chain");
  CHECK(graphs[0]["counts"]["computed"] == 6);  // computed values are kept
  CHECK(graphs[0]["counts"]["running"] == 0);   // running ops went back to pending
  CHECK(graphs[0]["counts"]["pending"] == 7);

  // The developer reconnects and waits on the same graph; a worker reconnects and finishes it.
  h.connect_client(11);
  h.client_send(11, {{"type", "wait"}, {"graph_id", g}});
  h.connect_worker(2);
  h.work_all({2});
  auto values = h.values(11);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  std::map<std::string, std::vector<double>> v;
  for (const auto& nt : values[0].tensors) v[nt.name] = values_of(nt.tensor);
  CHECK(v["x12"] == std::vector<double>{13, 26, 39});
  CHECK(v["x3"] == std::vector<double>{4, 8, 12});
  // New graphs after the restart get new ids.
  CHECK(h.submit_ok(11, chain(3)) == g + 1);
}

TEST_CASE("a submitted graph is stored before `submitted` is sent") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, chain(3));
  h.reopen();  // no tick in between
  h.connect_client(10);
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}});
  h.connect_worker(1);
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["status"] == "computed");
  for (const auto& nt : values[0].tensors) CHECK(values_of(nt.tensor) == std::vector<double>{4, 8, 12});
}

TEST_CASE("finished graphs answer waits from the store after a restart") {
  Harness h;
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, chain(4));
  h.clock.t += 400;
  h.work_all({1});
  h.clock.t += 100;
  h.core->tick();
  h.reopen();
  h.clock.t += 5000;
  CHECK(h.core->status_json()["graphs"][0]["elapsed_s"].get<double>() == doctest::Approx(0.4));
  h.connect_client(12);
  h.client_send(12, {{"type", "wait"}, {"graph_id", g}, {"ids", {"x4", "x2"}}});
  // x4 was an output (stored); x2 stayed on the worker and is computed again.
  CHECK(h.values(12).empty());
  h.connect_worker(2);
  h.work_all({2});
  auto values = h.values(12);
  REQUIRE(values.size() == 1);
  std::map<std::string, std::vector<double>> v;
  for (const auto& nt : values[0].tensors) v[nt.name] = values_of(nt.tensor);
  CHECK(v["x4"] == std::vector<double>{5, 10, 15});
  CHECK(v["x2"] == std::vector<double>{3, 6, 9});
}

TEST_CASE("finished graphs are removed after keep_finished_s, and their ids are not used again") {
  CoordinatorOptions options = unverified();
  options.keep_finished_s = 3600;
  Harness h(options);
  h.connect_worker(1);
  h.connect_client(10);
  const uint64_t done = h.submit_ok(10, chain(3));
  h.work_all({1});
  h.core->worker_disconnected(1);
  h.connect_client(12);
  const uint64_t running = h.submit_ok(12, chain(3));  // a second developer's; no worker computes it
  h.clock.t += 3500 * 1000.0;
  h.core->tick();
  CHECK(h.core->status_json()["graphs"].size() == 2);  // not an hour yet
  h.clock.t += 200 * 1000.0;
  h.core->tick();
  auto graphs = h.core->status_json()["graphs"];
  REQUIRE(graphs.size() == 1);
  CHECK(graphs[0]["id"] == running);
  // Asking for the removed graph says what happened to it.
  h.client_send(10, {{"type", "wait"}, {"graph_id", done}, {"request_id", "r"}});
  auto errors = h.outbox.client_frames(10, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header["error"] ==
        "graph " + std::to_string(done) + " was removed: this server keeps finished graphs for 1 h (--keep-finished-hours)");
  // After a restart the removed graph stays gone, and a new graph gets a new id even when the
  // removed graph had the largest one.
  h.client_send(12, {{"type", "cancel"}, {"graph_id", running}});
  h.clock.t += 3700 * 1000.0;
  h.core->tick();
  CHECK(h.core->status_json()["graphs"].empty());
  h.reopen();
  CHECK(h.core->status_json()["graphs"].empty());
  h.connect_client(11);
  CHECK(h.submit_ok(11, chain(3)) == running + 1);
}

TEST_CASE("group commit: submits wait for commit_submits, share one commit, and messages behind them keep their order") {
  CoordinatorOptions options = unverified();
  options.group_commit = true;
  Harness h(options);
  h.connect_worker(1);
  for (ClientId c : {10, 11, 12}) h.connect_client(c, "dev" + std::to_string(c));
  // Three developers' submits in one turn, and 10's wait on its new graph sent before `submitted`.
  for (ClientId c : {10, 11, 12}) h.client_send(c, {{"type", "submit"}, {"request_id", "s"}, {"ops", negation()["ops"]},
                                                    {"outputs", {"n"}}, {"submit_key", "k"}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", 1}, {"request_id", "w"}});
  // 12 resends its submit (same key) on a new connection before the first try is answered: held,
  // then answered with the graph the first try created.
  h.connect_client(14, "dev12");
  h.client_send(14, {{"type", "submit"}, {"request_id", "again"}, {"ops", negation()["ops"]}, {"submit_key", "k"}});
  h.connect_client(13, "dev13");
  h.client_send(13, {{"type", "wait"}, {"graph_id", 2}, {"request_id", "other"}});  // names 11's staged graph
  CHECK(h.core->submits_waiting());
  for (ClientId c : {10, 11, 12, 13, 14}) CHECK(h.outbox.clients[c].empty());  // nothing answered before the commit
  CHECK(h.outbox.count(1, "assign") == 0);
  CHECK(h.core->status_json()["graphs"].empty());

  h.core->commit_submits();
  CHECK_FALSE(h.core->submits_waiting());
  std::vector<uint64_t> ids;
  for (ClientId c : {10, 11, 12}) {
    auto submitted = h.outbox.client_frames(c, "submitted");
    REQUIRE(submitted.size() == 1);
    ids.push_back(submitted[0].header["graph_id"].get<uint64_t>());
  }
  CHECK(ids == std::vector<uint64_t>{1, 2, 3});
  CHECK(h.outbox.client_frames(13, "error").empty());  // its wait found graph 2
  auto again = h.outbox.client_frames(14, "submitted");
  REQUIRE(again.size() == 1);
  CHECK(again[0].header["graph_id"] == 3);
  CHECK(again[0].header["repeated"] == true);
  const std::string metrics = h.core->metrics_text();
  CHECK(metrics.find("corvid_submits_stored_total 3\n") != std::string::npos);
  CHECK(metrics.find("corvid_submit_commits_total 1\n") != std::string::npos);
  // The held wait was handled after the commit: it gets its value once the worker computes it.
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  CHECK(values[0].header["request_id"] == "w");
  CHECK(values_of(values[0].tensors.at(0).tensor) == std::vector<double>{-1, -2, -3, -4});

  // A client's second submit to its graph waits behind its first (the same graph): two commits.
  h.client_send(10, {{"type", "submit"}, {"graph_id", 1}, {"request_id", "a"},
                     {"ops", {{{"id", "m"}, {"op", "neg"}, {"inputs", {"n"}}}}}});
  h.client_send(10, {{"type", "submit"}, {"graph_id", 1}, {"request_id", "b"},
                     {"ops", {{{"id", "o"}, {"op", "neg"}, {"inputs", {"m"}}}}}});
  h.core->commit_submits();
  auto first = h.outbox.client_frames(10, "submitted");
  REQUIRE(first.size() == 1);
  CHECK(first[0].header["request_id"] == "a");
  CHECK(h.core->submits_waiting());  // "b", handled after the commit of "a", waits for the next
  h.core->commit_submits();
  auto second = h.outbox.client_frames(10, "submitted");
  REQUIRE(second.size() == 1);
  CHECK(second[0].header["request_id"] == "b");
  CHECK(h.outbox.client_frames(10, "error").empty());

  // After a restart everything answered is there.
  h.reopen();
  auto graphs = h.core->status_json()["graphs"];
  CHECK(graphs.size() == 3);
}

TEST_CASE("group commit: a submit of a client that disconnects before the commit is stored, its held messages dropped") {
  CoordinatorOptions options = unverified();
  options.group_commit = true;
  Harness h(options);
  h.connect_client(10);
  h.client_send(10, {{"type", "submit"}, {"request_id", "s"}, {"ops", negation()["ops"]}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", 1}});
  h.core->client_disconnected(10);
  h.core->commit_submits();
  CHECK(h.core->status_json()["graphs"].size() == 1);
  CHECK(h.core->status_json()["graphs"][0]["id"] == 1);
}

#ifndef CORVID_TEST_POSTGRES  // the refusal is made with an SQLite trigger
TEST_CASE("group commit: when the store refuses a commit, every submit of it gets the store's error and nothing is kept") {
  CoordinatorOptions options = unverified();
  options.group_commit = true;
  Harness h(options);
  // A trigger makes SQLite refuse one graph's row, which aborts the whole transaction.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((h.data_dir / "corvid.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TRIGGER refuse BEFORE INSERT ON graphs WHEN NEW.name = 'refused' "
                         "BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  h.connect_client(10);
  h.connect_client(11);
  h.client_send(10, {{"type", "submit"}, {"request_id", "ok"}, {"name", "fine"}, {"ops", negation()["ops"]}});
  h.client_send(11, {{"type", "submit"}, {"request_id", "bad"}, {"name", "refused"}, {"ops", negation()["ops"]}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", 1}, {"request_id", "w"}});  // held behind its submit
  h.core->commit_submits();
  for (ClientId c : {10, 11}) {
    CHECK(h.outbox.client_frames(c, "submitted").empty());
    auto errors = h.outbox.client_frames(c, "error");
    REQUIRE(errors.size() == (c == 10 ? 2u : 1u));
    CHECK(errors[0].header["error"].get<std::string>().find("the server could not store the graph: ") == 0);
    CHECK(errors[0].header["error"].get<std::string>().find("disk says no") != std::string::npos);
    if (c == 10) CHECK(errors[1].header["error"] == "unknown graph_id 1");
  }
  CHECK(h.core->status_json()["graphs"].empty());
  CHECK(h.core->metrics_text().find("corvid_submits_stored_total 0\n") != std::string::npos);
  // The refused ids were never handed out: the held wait hears of no such graph (not of a removed
  // one), and the next graph takes the first of them.
  h.client_send(10, {{"type", "submit"}, {"request_id", "again"}, {"name", "fine"}, {"ops", negation()["ops"]}});
  h.core->commit_submits();
  CHECK(h.outbox.client_frames(10, "error").empty());  // the store works again after a refused commit
  auto submitted = h.outbox.client_frames(10, "submitted");
  REQUIRE(submitted.size() == 1);
  CHECK(submitted[0].header["graph_id"] == 1);
}
#endif
