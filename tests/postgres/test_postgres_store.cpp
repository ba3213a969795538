// What only the PostgreSQL store does: schema versions, and several stores (servers) on one
// database sharing graph ids and secrets.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>

#include "server/core/postgres_store.hpp"
#include "tests/postgres/pg_test_db.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

StoredGraph graph_with_id(GraphId id) {
  StoredGraph g;
  g.id = id;
  g.name = "g" + std::to_string(id);
  g.owner = "alice";
  g.created_at = 1.0;
  return g;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("postgresql: a new database gets the schema and its version, kept on reopening") {
  const std::string url = fresh_postgres_database();
  open_postgres_store(url);
  CHECK(pg_exec(url, "SELECT version FROM corvid_schema") == "3");
  CHECK(pg_exec(url, "SELECT count(*) FROM corvid_schema") == "1");
  open_postgres_store(url)->load_graphs();
  CHECK(pg_exec(url, "SELECT count(*) FROM corvid_schema") == "1");
}

TEST_CASE("postgresql: a database of schema 2 is upgraded to 3 (ops.released) on opening") {
  const std::string url = fresh_postgres_database();
  open_postgres_store(url);
  // Back to what a server of schema 2 left: no released column.
  pg_exec(url, "ALTER TABLE ops DROP COLUMN released");
  pg_exec(url, "UPDATE corvid_schema SET version = 2");
  open_postgres_store(url)->load_graphs();
  CHECK(pg_exec(url, "SELECT version FROM corvid_schema") == "3");
  CHECK(pg_exec(url, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'ops' AND column_name = 'released'") == "1");
}

TEST_CASE("postgresql: a database of a newer server, or not Corvid's, is refused and left as it was") {
  const std::string newer = fresh_postgres_database();
  open_postgres_store(newer);
  pg_exec(newer, "UPDATE corvid_schema SET version = 99");
  const std::string error = error_of([&] { open_postgres_store(newer); });
  CHECK(error.find("schema version 99, written by a newer corvid-server") != std::string::npos);
  CHECK(pg_exec(newer, "SELECT version FROM corvid_schema") == "99");

  const std::string other = fresh_postgres_database();
  pg_exec(other, "CREATE TABLE graphs (x INTEGER)");
  CHECK(error_of([&] { open_postgres_store(other); }).find("not a Corvid store") != std::string::npos);
  CHECK(pg_exec(other, "SELECT count(*) FROM pg_tables WHERE tablename = 'corvid_schema'") == "0");
}

TEST_CASE("postgresql: an unreachable database is named in the error, without its password") {
  const std::string error = error_of([] { open_postgres_store("postgresql://bob:secret@127.0.0.1:1/x"); });
  CHECK(error.find("postgresql://bob:***@127.0.0.1:1/x") != std::string::npos);
  CHECK(error.find("secret") == std::string::npos);
}

TEST_CASE("postgresql: stores on one database never hand out the same graph id and see each other's graphs") {
  const std::string url = fresh_postgres_database();
  auto a = open_postgres_store(url);
  auto b = open_postgres_store(url);
  std::set<GraphId> ids;
  for (int i = 0; i < 20; ++i) {
    // Each store's local counter would say 1: the sequence decides.
    const GraphId from_a = a->next_graph_id(1), from_b = b->next_graph_id(1);
    CHECK(ids.insert(from_a).second);
    CHECK(ids.insert(from_b).second);
    if (i == 0) {
      a->add_ops(graph_with_id(from_a), true, {}, {});
      b->add_ops(graph_with_id(from_b), true, {}, {});
    }
  }
  // Each store holds the lease of the graph it created; b's passes to a when b closes.
  CHECK(a->load_graphs().size() == 1);
  CHECK(b->last_graph_id() == *ids.rbegin());
  b.reset();
  CHECK(a->load_graphs().size() == 2);
  // A store opened later continues after every id given out, even ones never stored.
  auto c = open_postgres_store(url);
  CHECK(c->next_graph_id(1) == *ids.rbegin() + 1);
}

TEST_CASE("postgresql: an expired lease is adopted with a new epoch, the former owner's writes are fenced off") {
  const std::string url = fresh_postgres_database();
  auto a = open_postgres_store(url, {1000, "ws://a:1"});
  auto b = open_postgres_store(url, {1000, "ws://b:2"});
  StoredGraph g = graph_with_id(a->next_graph_id(1));
  StoredOp op;
  op.id = "x";
  op.op = "tensor";
  op.spec = {DType::f32, {1}};
  a->add_ops(g, true, {op}, {});
  const std::string id = std::to_string(g.id);
  CHECK(b->owner_url(g.id) == "ws://a:1");
  CHECK(a->owner_url(g.id).empty());
  // While a renews, b adopts nothing.
  CHECK(a->renew_leases(3, 1).lost.empty());
  CHECK(b->renew_leases(0, 0).adopted.empty());
  CHECK(pg_exec(url, "SELECT slots || '/' || ready FROM servers WHERE url = 'ws://a:1'") == "3/1");
  // a stalls past its lease: b adopts the graph, with the epoch raised.
  pg_exec(url, "UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'");
  auto adopted = b->renew_leases(0, 0).adopted;
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].id == g.id);
  CHECK(adopted[0].ops.size() == 1);
  CHECK(pg_exec(url, "SELECT epoch FROM leases WHERE graph_id = " + id) == "2");
  CHECK(a->owner_url(g.id) == "ws://b:2");
  // a wakes up: what it had queued is not written, a submit to the graph is refused, and its
  // next renewal reports the graph lost.
  a->queue_status(g.id, 0, OpStatus::failed, "stale");
  a->queue_value(g.id, 0, std::make_shared<const Tensor>(Tensor::from_vector<float>({1}, {9.0f})));
  a->flush();
  CHECK(pg_exec(url, "SELECT status || error FROM ops WHERE graph_id = " + id) ==
        std::to_string(static_cast<int>(OpStatus::pending)));
  CHECK(pg_exec(url, "SELECT count(*) FROM tensors") == "0");
  CHECK_THROWS_WITH_AS(a->add_ops(g, false, {}, {}), doctest::Contains("owned by another server"), std::runtime_error);
  auto lost = a->renew_leases(0, 0).lost;
  CHECK(lost == std::vector<GraphId>{g.id});
  // The new owner writes.
  b->queue_status(g.id, 0, OpStatus::computed, "");
  b->flush();
  CHECK(pg_exec(url, "SELECT status FROM ops WHERE graph_id = " + id) ==
        std::to_string(static_cast<int>(OpStatus::computed)));
  CHECK(pg_exec(url, "SELECT s.url FROM ops o JOIN servers s ON s.id = o.written_by") == "ws://b:2");
}

TEST_CASE("postgresql: the first server's secret is every server's") {
  const std::string url = fresh_postgres_database();
  CHECK(shared_secret(url, "developer-token", "first") == "first");
  CHECK(shared_secret(url, "developer-token", "second") == "first");
  CHECK(shared_secret(url, "worker-token", "other") == "other");
}

TEST_CASE("postgresql: trust records written by one server are read by another") {
  const std::string url = fresh_postgres_database();
  auto a = open_postgres_store(url);
  a->save_trust({{"w1", false, 5, 0, false, "{}"}, {"w2", true, 1, 2, true, "{\"x\":1}"}});
  a->save_trust({{"w1", false, 6, 0, false, "{}"}});
  auto records = open_postgres_store(url)->load_trust();
  REQUIRE(records.size() == 2);
  std::map<std::string, StoredTrust> by_id;
  for (auto& r : records) by_id[r.identity] = r;
  CHECK(by_id["w1"].verified == 6);
  CHECK(by_id["w2"].operator_credential);
  CHECK(by_id["w2"].wrong == 2);
  CHECK(by_id["w2"].quarantined);
  CHECK(by_id["w2"].evidence == "{\"x\":1}");
}
