// The graph store: what add_ops and flush write comes back from load_graphs and load_value.
// Built twice: against SQLite here, and against PostgreSQL (CORVID_TEST_POSTGRES, tests/postgres).
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "server/core/graph_store.hpp"
#ifdef CORVID_TEST_POSTGRES
#include "server/core/postgres_store.hpp"
#include "tests/postgres/pg_test_db.hpp"
#endif

namespace fs = std::filesystem;
using namespace corvid;
using namespace corvid::server;

namespace {

#ifdef CORVID_TEST_POSTGRES
const char* const kStoreName = "postgresql";
std::unique_ptr<GraphStore> open_store(const std::string& where) { return open_postgres_store(where); }
#else
const char* const kStoreName = "sqlite";
std::unique_ptr<GraphStore> open_store(const std::string& where) { return open_sqlite_store(where); }
#endif

// An op of `seq` for the tests below: a tensor of 2 floats, pending.
StoredOp plain_op(OpIndex seq) {
  StoredOp op;
  op.seq = seq;
  op.id = "op" + std::to_string(seq);
  op.op = "neg";
  op.spec = {DType::f32, {2}};
  return op;
}

// A fresh store for one test: `dir` emptied and created, and the store's location, a new
// PostgreSQL database when the tests are built for PostgreSQL, else a SQLite file in `dir`.
std::string fresh_store(const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
#ifdef CORVID_TEST_POSTGRES
  return testing::fresh_postgres_database();
#else
  return (dir / "corvid.db").string();
#endif
}

}  // namespace

TEST_CASE("store keeps graphs and ops and states and values across reopening") {
  INFO("store: " << kStoreName);
  const fs::path dir = fs::temp_directory_path() / ("corvid-store-test-" + std::to_string(::getpid()));
  const std::string path = fresh_store(dir);
  {
    auto store = open_store(path);
    StoredGraph g;
    g.id = 7;
    g.name = "demo";
    g.owner = "alice";
    g.created_at = 1234.5;
    g.outputs = {1};
    StoredOp a;
    a.seq = 0;
    a.id = "a";
    a.op = "tensor";
    a.spec = {DType::f32, {2}};
    a.status = OpStatus::computed;
    StoredOp b;
    b.seq = 1;
    b.id = "b";
    b.op = "neg";
    b.inputs = {0};
    b.params = {{"k", 1}};
    b.spec = {DType::f32, {2}};
    auto va = std::make_shared<const Tensor>(Tensor::from_vector<float>({2}, {1.5f, -2.0f}));
    store->add_ops(g, true, {a, b}, {{0, va}});
    store->queue_status(7, 1, OpStatus::computed, "");
    store->queue_value(7, 1, std::make_shared<const Tensor>(Tensor::from_vector<float>({2}, {-1.5f, 2.0f})));
    store->queue_requested(7, 1);
    store->queue_finished(7, 1240.25);
    CHECK(store->queued_bytes() == 8);
    store->flush();
    CHECK(store->queued_count() == 0);
  }
  auto store = open_store(path);
  auto graphs = store->load_graphs();
  REQUIRE(graphs.size() == 1);
  const auto& g = graphs[0];
  CHECK(g.id == 7);
  CHECK(g.name == "demo");
  CHECK(g.owner == "alice");
  CHECK(g.outputs == std::vector<OpIndex>{1});
  CHECK(g.finished_at == 1240.25);
  REQUIRE(g.ops.size() == 2);
  CHECK(g.ops[1].id == "b");
  CHECK(g.ops[1].op == "neg");
  CHECK(g.ops[1].inputs == std::vector<OpIndex>{0});
  CHECK(g.ops[1].params["k"] == 1);
  CHECK(g.ops[1].status == OpStatus::computed);
  CHECK(g.ops[1].requested);
  CHECK(g.ops[1].has_value);
  CHECK(g.ops[0].has_value);
  auto v = store->load_value(7, 1);
  REQUIRE(v);
  CHECK(v->shape() == Shape{2});
  CHECK(v->data<float>()[0] == -1.5f);
  CHECK_FALSE(store->load_value(7, 5));
  // Removing deletes ops and values but remembers the id.
  CHECK(store->last_graph_id() == 7);
  store->remove_graph(7, 2000.0);
  store.reset();
  store = open_store(path);
  CHECK(store->load_graphs().empty());
  CHECK_FALSE(store->load_value(7, 1));
  CHECK(store->last_graph_id() == 7);
  store.reset();
  fs::remove_all(dir);
}

TEST_CASE("store keeps a graph's outputs in order as submits add them, earlier ops among them") {
  INFO("store: " << kStoreName);
  const fs::path dir = fs::temp_directory_path() / ("corvid-store-outputs-" + std::to_string(::getpid()));
  const std::string path = fresh_store(dir);
  {
    auto store = open_store(path);
    StoredSubmit first;
    first.create = true;
    first.graph.id = 9;
    first.graph.name = "grows";
    first.graph.owner = "alice";
    first.graph.outputs = {1};
    first.ops = {plain_op(0), plain_op(1)};
    StoredSubmit second;  // a new op and an op of the first submit
    second.graph = first.graph;
    second.graph.outputs = {1, 2, 0};
    second.earlier_outputs = 1;
    second.ops = {plain_op(2)};
    std::string error;  // a graph's submits are never in one batch (the coordinator holds the later one)
    REQUIRE(store->add_submits({first}, error) == 1);
    REQUIRE(store->add_submits({second}, error) == 1);
    StoredSubmit third;  // a submit without ops that names outputs, and tightens verify
    third.graph = second.graph;
    third.graph.outputs = {1, 2, 0, 3};
    third.graph.verify = VerifyPolicy::replicate;
    third.earlier_outputs = 3;
    third.ops = {plain_op(3)};
    REQUIRE(store->add_submits({third}, error) == 1);
  }
  auto graphs = open_store(path)->load_graphs();
  REQUIRE(graphs.size() == 1);
  CHECK(graphs[0].outputs == std::vector<OpIndex>{1, 2, 0, 3});
  CHECK(graphs[0].verify == VerifyPolicy::replicate);
  CHECK(graphs[0].ops.size() == 4);
  fs::remove_all(dir);
}

#ifndef CORVID_TEST_POSTGRES  // an SQLite file of an older server
// A database as an older server left it: `dir` emptied and created, `sql` run in a new SQLite
// file there; returns the file's path.
std::string older_database(const fs::path& dir, const char* sql) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "corvid.db").string();
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
  return path;
}

TEST_CASE("store moves the outputs list of an older database onto its ops' rows") {
  const fs::path dir = fs::temp_directory_path() / ("corvid-store-old-outputs-" + std::to_string(::getpid()));
  // The tables as servers before ops.output wrote them: the outputs as a JSON list on the graph.
  const std::string path = older_database(dir,
                       "CREATE TABLE graphs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, "
                       "created_at REAL NOT NULL, outputs TEXT NOT NULL DEFAULT '[]');"
                       "CREATE TABLE ops (graph_id INTEGER NOT NULL, seq INTEGER NOT NULL, op_id TEXT NOT NULL, "
                       "op TEXT NOT NULL, inputs TEXT NOT NULL, params TEXT NOT NULL, dtype INTEGER NOT NULL, "
                       "shape TEXT NOT NULL, status INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '', "
                       "requested INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (graph_id, seq));"
                       "INSERT INTO graphs VALUES (4, 'old', 'bob', 99.5, '[1,0]');"
                       "INSERT INTO ops VALUES (4, 0, 'x', 'neg', '[]', 'null', 0, '[2]', 0, '', 1);"
                       "INSERT INTO ops VALUES (4, 1, 'y', 'neg', '[0]', 'null', 0, '[2]', 0, '', 1);");
  {
    auto store = open_sqlite_store(path);
    auto graphs = store->load_graphs();
    REQUIRE(graphs.size() == 1);
    CHECK(graphs[0].outputs == std::vector<OpIndex>{1, 0});
    StoredSubmit more;
    more.graph = graphs[0];
    more.graph.outputs = {1, 0, 2};
    more.earlier_outputs = 2;
    more.ops = {plain_op(2)};
    std::string error;
    REQUIRE(store->add_submits({more}, error) == 1);
  }
  auto graphs = open_sqlite_store(path)->load_graphs();  // moved once: not twice
  REQUIRE(graphs.size() == 1);
  CHECK(graphs[0].outputs == std::vector<OpIndex>{1, 0, 2});
  fs::remove_all(dir);
}

TEST_CASE("store refuses a database of a newer server's layout and marks its own") {
  const fs::path dir = fs::temp_directory_path() / ("corvid-store-layout-" + std::to_string(::getpid()));
  const std::string path = older_database(dir,
                       "CREATE TABLE graphs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, "
                       "created_at REAL NOT NULL);");
  open_sqlite_store(path).reset();  // upgraded in place, and marked with this server's layout
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  const int64_t layout = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  CHECK(layout >= 1);
  const std::string newer = "PRAGMA user_version = " + std::to_string(layout + 1);
  REQUIRE(sqlite3_exec(db, newer.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  const std::string expected = "was written by a newer corvid-server (layout " + std::to_string(layout + 1);
  CHECK_THROWS_WITH(open_sqlite_store(path), doctest::Contains(expected.c_str()));
  fs::remove_all(dir);
}

TEST_CASE("store opens a database written before graphs recorded their finish time") {
  const fs::path dir = fs::temp_directory_path() / ("corvid-store-upgrade-" + std::to_string(::getpid()));
  // The graphs table as the first servers created it, with one finished graph.
  const std::string path = older_database(dir,
                       "CREATE TABLE graphs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, "
                       "created_at REAL NOT NULL, outputs TEXT NOT NULL DEFAULT '[]');"
                       "INSERT INTO graphs VALUES (3, 'old', 'bob', 99.5, '[]');");
  {
    auto store = open_sqlite_store(path);
    auto graphs = store->load_graphs();
    REQUIRE(graphs.size() == 1);
    CHECK(graphs[0].name == "old");
    CHECK(graphs[0].finished_at == 0);  // not recorded then
    store->queue_finished(3, 120.0);
    store->flush();
  }
  auto graphs = open_sqlite_store(path)->load_graphs();
  REQUIRE(graphs.size() == 1);
  CHECK(graphs[0].finished_at == 120.0);
  fs::remove_all(dir);
}
#endif
