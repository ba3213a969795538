// The PostgreSQL GraphStore over libpq: the same tables as the SQLite store (graphs, ops,
// tensors, trust) plus what servers sharing the database need (a graph id sequence, shared
// secrets), created and upgraded under a schema version.
#include "server/core/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

namespace corvid::server {

namespace {

// The schema version this server writes. Each entry of kMigrations brings a database from
// version i to i + 1; a new version appends one (never edits an old one).
constexpr int kSchemaVersion = 3;
const char* const kMigrations[kSchemaVersion] = {
    R"sql(
CREATE TABLE graphs (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  outputs TEXT NOT NULL DEFAULT '[]',
  finished_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  removed_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  submit_key TEXT NOT NULL DEFAULT '',
  verify TEXT NOT NULL DEFAULT '');
CREATE TABLE ops (
  graph_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  op_id TEXT NOT NULL,
  op TEXT NOT NULL,
  inputs TEXT NOT NULL,
  params TEXT NOT NULL,
  dtype INTEGER NOT NULL,
  shape TEXT NOT NULL,
  status INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  requested BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (graph_id, seq));
CREATE TABLE tensors (
  graph_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  dtype INTEGER NOT NULL,
  shape TEXT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (graph_id, seq));
CREATE TABLE trust (
  identity TEXT PRIMARY KEY,
  operator BOOLEAN NOT NULL,
  verified BIGINT NOT NULL,
  wrong BIGINT NOT NULL,
  quarantined BOOLEAN NOT NULL,
  evidence TEXT NOT NULL DEFAULT '{}',
  saved_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE SEQUENCE graph_ids;
)sql",
    // 2: several servers. written_by says which server wrote an op state or a value last.
    R"sql(
CREATE TABLE servers (
  id BIGSERIAL PRIMARY KEY,
  url TEXT NOT NULL,
  slots BIGINT NOT NULL DEFAULT 0,
  ready BIGINT NOT NULL DEFAULT 0,
  started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  seen_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  stopped BOOLEAN NOT NULL DEFAULT false);
CREATE TABLE leases (
  graph_id BIGINT PRIMARY KEY,
  owner BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL);
CREATE INDEX leases_by_owner ON leases (owner);
ALTER TABLE ops ADD COLUMN written_by BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ops ADD COLUMN written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();
ALTER TABLE tensors ADD COLUMN written_by BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tensors ADD COLUMN written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();
)sql",
    // 2 -> 3: values the developer released (submit `release`) and the server freed.
    R"sql(
ALTER TABLE ops ADD COLUMN released BOOLEAN NOT NULL DEFAULT false;
)sql",
};

// Any constant: the key of the advisory lock that serialises schema creation and upgrades.
constexpr long long kSchemaLockKey = 0x636f72766964;  // "corvid"

// One result, cleared when it goes out of scope.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  PGresult* get() const { return r_; }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
  }
  int64_t integer(int row, int col) const { return std::stoll(text(row, col)); }
  double real(int row, int col) const { return std::stod(text(row, col)); }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  const char* bytes(int row, int col) const { return PQgetvalue(r_, row, col); }
  std::size_t length(int row, int col) const { return static_cast<std::size_t>(PQgetlength(r_, row, col)); }
  int64_t affected() const {
    const char* n = PQcmdTuples(r_);
    return n && *n ? std::stoll(n) : 0;
  }

 private:
  PGresult* r_;
};

// A query parameter: text, or binary bytes (bytea).
struct Param {
  Param(std::string s) : value(std::move(s)) {}  // NOLINT: implicit on purpose
  Param(const char* s) : value(s) {}              // NOLINT
  Param(int64_t v) : value(std::to_string(v)) {}  // NOLINT
  Param(uint64_t v) : value(std::to_string(v)) {}  // NOLINT
  Param(int v) : value(std::to_string(v)) {}       // NOLINT
  Param(long long v) : value(std::to_string(v)) {}  // NOLINT
  Param(double v) {                                // NOLINT
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    value = buf;
  }
  Param(bool v) : value(v ? "true" : "false") {}  // NOLINT
  static Param binary(const void* data, std::size_t n) {
    Param p("");
    p.data = static_cast<const char*>(data);
    p.size = n;
    p.is_binary = true;
    return p;
  }
  std::string value;
  const char* data = nullptr;
  std::size_t size = 0;
  bool is_binary = false;
};

// One libpq connection. Every call throws std::runtime_error on a database error.
class Connection {
 public:
  // `settings`: SET statements for the session, made again whenever the connection is reopened.
  explicit Connection(const std::string& url, std::vector<std::string> settings = {})
      : url_(url), settings_(std::move(settings)) {
    settings_.insert(settings_.begin(), "SET client_min_messages = warning");
    conn_ = PQconnectdb(url.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = one_line(PQerrorMessage(conn_));
      PQfinish(conn_);
      throw std::runtime_error("cannot connect to the PostgreSQL store " + redacted_url(url) + ": " + msg);
    }
    apply_settings();
  }
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` with $1.. bound to `params`; `binary_result` asks for every column in binary.
  Result exec(const char* sql, const std::vector<Param>& params = {}, bool binary_result = false) {
    reconnect_if_lost();
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const Param& p : params) {
      values.push_back(p.is_binary ? (p.size ? p.data : "") : p.value.c_str());
      lengths.push_back(static_cast<int>(p.is_binary ? p.size : p.value.size()));
      formats.push_back(p.is_binary ? 1 : 0);
    }
    Result r(params.empty() && !binary_result
                 ? PQexec(conn_, sql)
                 : PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                                formats.data(), binary_result ? 1 : 0));
    const ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      throw std::runtime_error("PostgreSQL store " + redacted_url(url_) + ": " + one_line(PQerrorMessage(conn_)));
    return r;
  }

  // BEGIN ... COMMIT, rolled back unless committed.
  class Transaction {
   public:
    explicit Transaction(Connection& c) : c_(c) { c_.exec("BEGIN"); }
    ~Transaction() {
      if (!done_ && PQstatus(c_.conn_) == CONNECTION_OK) PQclear(PQexec(c_.conn_, "ROLLBACK"));
    }
    void commit() {
      c_.exec("COMMIT");
      done_ = true;
    }

   private:
    Connection& c_;
    bool done_ = false;
  };

 private:
  static std::string one_line(const char* text) {
    std::string s = text ? text : "";
    std::replace(s.begin(), s.end(), '\n', ' ');
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
  // A connection lost (database restarted, network cut) is opened again once per call.
  void reconnect_if_lost() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
      throw std::runtime_error("lost the PostgreSQL store " + redacted_url(url_) + ": " + one_line(PQerrorMessage(conn_)));
    apply_settings();
  }
  void apply_settings() {
    for (const std::string& sql : settings_) exec(sql.c_str());
  }

  std::string url_;
  std::vector<std::string> settings_;
  PGconn* conn_ = nullptr;
};

std::string shape_json(const Shape& shape) { return nlohmann::json(shape).dump(); }
Shape parse_shape(const std::string& text) { return nlohmann::json::parse(text).get<Shape>(); }

// Creates or upgrades the schema to kSchemaVersion, under the advisory lock.
void prepare_schema(Connection& db, const std::string& url) {
  Connection::Transaction tx(db);
  db.exec("SELECT pg_advisory_xact_lock($1)", {Param(static_cast<int64_t>(kSchemaLockKey))});
  db.exec("CREATE TABLE IF NOT EXISTS corvid_schema (version INTEGER NOT NULL)");
  Result v = db.exec("SELECT version FROM corvid_schema");
  int version = 0;
  if (v.rows() == 0) {
    // A database with tables named like Corvid's but no version is someone else's.
    Result other = db.exec("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'graphs'");
    if (other.rows())
      throw std::runtime_error("the PostgreSQL database " + redacted_url(url) +
                               " has a table 'graphs' but no corvid_schema: not a Corvid store (use an empty database)");
    db.exec("INSERT INTO corvid_schema (version) VALUES (0)");
  } else {
    version = static_cast<int>(v.integer(0, 0));
  }
  if (version > kSchemaVersion)
    throw std::runtime_error("the PostgreSQL store " + redacted_url(url) + " has schema version " +
                             std::to_string(version) + ", written by a newer corvid-server (this one knows up to " +
                             std::to_string(kSchemaVersion) + ")");
  for (; version < kSchemaVersion; ++version) db.exec(kMigrations[version]);
  db.exec("UPDATE corvid_schema SET version = $1", {Param(kSchemaVersion)});
  tx.commit();
}

// The PostgreSQL implementation of GraphStore (one connection; not thread-safe, like the others).
// A text literal of a PostgreSQL bigint[] holding `ids`.
template <typename Ids>
std::string id_array(const Ids& ids) {
  std::string out = "{";
  for (const auto& id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(static_cast<int64_t>(id));
  return out + "}";
}

// The PostgreSQL implementation of GraphStore, one server's view of a database shared with
// others (one connection; not thread-safe, like the others).
class PostgresGraphStore final : public GraphStore {
 public:
  // A server stopped inside a transaction (SIGSTOP, a VM paused) would hold its lease rows locked
  // (FOR SHARE) and so keep every other server from adopting its graphs for as long as it is
  // stopped: PostgreSQL ends a session idle in a transaction for half a lease, which rolls the
  // transaction back and frees the rows (the stopped server finds its connection gone, reopens
  // it and learns at its next renewal that its leases were taken).
  PostgresGraphStore(const std::string& url, const PostgresOptions& options)
      : db_(url, {"SET idle_in_transaction_session_timeout = " +
                  std::to_string(std::max<int64_t>(50, static_cast<int64_t>(options.lease_ms / 2)))}),
        lease_(std::to_string(static_cast<int64_t>(options.lease_ms)) + " milliseconds") {
    if (options.lease_ms < 100) throw std::runtime_error("the lease time must be at least 100 ms");
    prepare_schema(db_, url);
    Connection::Transaction tx(db_);
    me_ = db_.exec("INSERT INTO servers (url) VALUES ($1) RETURNING id", {options.advertise_url}).integer(0, 0);
    // A server that bound this URL's port is the successor of any earlier one there (a server
    // restarted after a crash): it takes their graphs at once instead of after their leases.
    if (!options.advertise_url.empty()) {
      db_.exec("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' WHERE owner IN "
               "(SELECT id FROM servers WHERE url = $1 AND id <> $2)",
               {options.advertise_url, me_});
      db_.exec("UPDATE servers SET stopped = true WHERE url = $1 AND id <> $2", {options.advertise_url, me_});
    }
    tx.commit();
  }
  ~PostgresGraphStore() override {
    try {
      flush();
      // A clean stop hands this server's graphs to the others at once.
      Connection::Transaction tx(db_);
      db_.exec("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' WHERE owner = $1", {me_});
      db_.exec("UPDATE servers SET stopped = true, slots = 0, ready = 0 WHERE id = $1", {me_});
      tx.commit();
    } catch (const std::exception&) {
      // Destruction must not throw; the leases then expire by themselves.
    }
  }

  bool leases_graphs() const override { return true; }

  std::vector<StoredGraph> load_graphs() override {
    adopt_expired();
    return graphs_of(held_);
  }

  LeaseChanges renew_leases(int64_t slots, int64_t ready) override {
    LeaseChanges changes;
    Connection::Transaction tx(db_);
    db_.exec("UPDATE servers SET slots = $2, ready = $3, seen_at = clock_timestamp(), stopped = false WHERE id = $1",
             {me_, slots, ready});
    Result renewed = db_.exec(
        "UPDATE leases SET expires_at = clock_timestamp() + $2::interval WHERE owner = $1 RETURNING graph_id, epoch",
        {me_, lease_});
    tx.commit();
    std::map<GraphId, int64_t> still;
    for (int r = 0; r < renewed.rows(); ++r) still[static_cast<GraphId>(renewed.integer(r, 0))] = renewed.integer(r, 1);
    for (auto it = held_.begin(); it != held_.end();) {
      auto s = still.find(it->first);
      if (s == still.end() || s->second != it->second) {
        lost_.insert(it->first);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    changes.lost.assign(lost_.begin(), lost_.end());
    lost_.clear();
    changes.adopted = graphs_of(adopt_expired());
    Result peers = db_.exec(
        "SELECT url, slots, ready FROM servers WHERE id <> $1 AND NOT stopped "
        "AND seen_at > clock_timestamp() - $2::interval ORDER BY ready DESC",
        {me_, lease_});
    for (int r = 0; r < peers.rows(); ++r) changes.peers.push_back({peers.text(r, 0), peers.integer(r, 1), peers.integer(r, 2)});
    return changes;
  }

  std::string owner_url(GraphId graph) override {
    Result r = db_.exec(
        "SELECT s.url FROM leases l JOIN servers s ON s.id = l.owner "
        "WHERE l.graph_id = $1 AND l.owner <> $2",
        {static_cast<int64_t>(graph), me_});
    return r.rows() ? r.text(0, 0) : "";
  }

  GraphId last_graph_id() override {
    Result r = db_.exec("SELECT GREATEST(COALESCE((SELECT MAX(id) FROM graphs), 0), "
                        "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM graph_ids))");
    return static_cast<GraphId>(r.integer(0, 0));
  }

  GraphId next_graph_id(GraphId) override {
    return static_cast<GraphId>(db_.exec("SELECT nextval('graph_ids')").integer(0, 0));
  }

  std::optional<Tensor> load_value(GraphId graph, OpIndex op) override {
    // Binary result: the text columns come as their bytes, the data without hex decoding.
    Result r = db_.exec("SELECT dtype::text, shape, data FROM tensors WHERE graph_id = $1 AND seq = $2",
                        {Param(static_cast<int64_t>(graph)), Param(static_cast<int64_t>(op))}, true);
    if (r.rows() == 0) return std::nullopt;
    Tensor t(static_cast<DType>(std::stoi(r.text(0, 0))), parse_shape(r.text(0, 1)));
    if (r.length(0, 2) != t.nbytes()) return std::nullopt;
    if (t.nbytes()) std::memcpy(t.raw(), r.bytes(0, 2), t.nbytes());
    return t;
  }

  void add_ops(const StoredGraph& graph, bool create, const std::vector<StoredOp>& ops,
               const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& values) override {
    Connection::Transaction tx(db_);
    if (!create && !fenced(std::set<GraphId>{graph.id}).count(graph.id))
      throw std::runtime_error("graph " + std::to_string(graph.id) + " is now owned by another server");
    write_queued();
    write_submit(graph, create, ops, values);
    tx.commit();
    if (create) held_[graph.id] = 1;
  }

  // Group commit: the submits up to the first whose graph this server no longer holds, in one
  // transaction (one fsync for all of them), fenced like add_ops.
  std::size_t add_submits(const std::vector<StoredSubmit>& submits, std::string& error) override {
    if (submits.empty()) return 0;
    try {
      Connection::Transaction tx(db_);
      std::set<GraphId> extended;
      for (const StoredSubmit& s : submits)
        if (!s.create) extended.insert(s.graph.id);
      const std::set<GraphId> valid = extended.empty() ? std::set<GraphId>() : fenced(extended);
      std::size_t count = 0;
      while (count < submits.size() && (submits[count].create || valid.count(submits[count].graph.id))) ++count;
      if (count < submits.size())
        error = "graph " + std::to_string(submits[count].graph.id) + " is now owned by another server";
      if (count == 0) return 0;
      write_queued();
      for (std::size_t i = 0; i < count; ++i)
        write_submit(submits[i].graph, submits[i].create, submits[i].ops, submits[i].values);
      tx.commit();
      for (std::size_t i = 0; i < count; ++i)
        if (submits[i].create) held_[submits[i].graph.id] = 1;
      return count;
    } catch (const std::exception& e) {
      error = e.what();
      return 0;
    }
  }

  // Writes for graphs this server does not hold are not even queued.
  void queue_status(GraphId graph, OpIndex op, OpStatus status, const std::string& error) override {
    if (held_.count(graph)) queued_.statuses[{graph, op}] = {status, error};
  }
  void queue_requested(GraphId graph, OpIndex op) override {
    if (held_.count(graph)) queued_.requested.push_back({graph, op});
  }
  void queue_finished(GraphId graph, double finished_at) override {
    if (held_.count(graph)) queued_.finished[graph] = finished_at;
  }
  void queue_value(GraphId graph, OpIndex op, std::shared_ptr<const Tensor> value) override {
    if (held_.count(graph)) queued_.value(graph, op, std::move(value));
  }
  void queue_freed(GraphId graph, OpIndex op) override {
    if (held_.count(graph)) queued_.free(graph, op);
  }
  std::size_t queued_bytes() const override { return queued_.bytes; }
  std::size_t queued_count() const override { return queued_.count(); }

  void flush() override {
    if (queued_count() == 0) return;
    Connection::Transaction tx(db_);
    write_queued();
    tx.commit();
  }

  void remove_graph(GraphId graph, double removed_at) override {
    Connection::Transaction tx(db_);
    write_queued();
    if (!fenced(std::set<GraphId>{graph}).count(graph)) return;  // another server owns it now: it decides
    const auto id = static_cast<int64_t>(graph);
    db_.exec("DELETE FROM tensors WHERE graph_id = $1", {id});
    db_.exec("DELETE FROM ops WHERE graph_id = $1", {id});
    db_.exec("UPDATE graphs SET removed_at = $2, outputs = '[]' WHERE id = $1", {id, removed_at});
    db_.exec("DELETE FROM leases WHERE graph_id = $1", {id});
    tx.commit();
    held_.erase(graph);
  }

  void save_trust(const std::vector<StoredTrust>& records) override {
    if (records.empty()) return;
    Connection::Transaction tx(db_);
    for (const auto& r : records)
      db_.exec("INSERT INTO trust (identity, operator, verified, wrong, quarantined, evidence) "
               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (identity) DO UPDATE SET operator = EXCLUDED.operator, "
               "verified = EXCLUDED.verified, wrong = EXCLUDED.wrong, quarantined = EXCLUDED.quarantined, "
               "evidence = EXCLUDED.evidence, saved_at = now()",
               {r.identity, r.operator_credential, r.verified, r.wrong, r.quarantined, r.evidence});
    tx.commit();
  }

  std::vector<StoredTrust> load_trust() override {
    std::vector<StoredTrust> out;
    Result q = db_.exec(
        "SELECT identity, operator, verified, wrong, quarantined, evidence FROM trust ORDER BY saved_at, identity");
    for (int r = 0; r < q.rows(); ++r) {
      StoredTrust t;
      t.identity = q.text(r, 0);
      t.operator_credential = q.boolean(r, 1);
      t.verified = static_cast<uint64_t>(std::max<int64_t>(0, q.integer(r, 2)));
      t.wrong = static_cast<uint64_t>(std::max<int64_t>(0, q.integer(r, 3)));
      t.quarantined = q.boolean(r, 4);
      t.evidence = q.text(r, 5);
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  // Takes every expired lease (a server died, stalled or stopped) with its epoch raised; returns
  // the graphs it took.
  std::map<GraphId, int64_t> adopt_expired() {
    Result r = db_.exec(
        "UPDATE leases SET owner = $1, epoch = epoch + 1, expires_at = clock_timestamp() + $2::interval "
        "WHERE graph_id IN (SELECT graph_id FROM leases WHERE expires_at < clock_timestamp() "
        "FOR UPDATE SKIP LOCKED) RETURNING graph_id, epoch",
        {me_, lease_});
    std::map<GraphId, int64_t> adopted;
    for (int i = 0; i < r.rows(); ++i) adopted[static_cast<GraphId>(r.integer(i, 0))] = r.integer(i, 1);
    for (const auto& [graph, epoch] : adopted) held_[graph] = epoch;
    return adopted;
  }

  // Fencing, inside the caller's transaction: of `graphs`, those whose lease this server still
  // holds at the epoch it took; the lease rows stay locked (FOR SHARE) until the transaction
  // ends, so no server adopts them in between. The others are lost: forgotten here and reported
  // by the next renew_leases.
  template <typename Ids>
  std::set<GraphId> fenced(const Ids& graphs) {
    Result r = db_.exec("SELECT graph_id, epoch FROM leases WHERE owner = $1 AND graph_id = ANY($2::bigint[]) FOR SHARE",
                        {me_, id_array(graphs)});
    std::set<GraphId> valid;
    for (int i = 0; i < r.rows(); ++i) {
      const auto graph = static_cast<GraphId>(r.integer(i, 0));
      auto held = held_.find(graph);
      if (held != held_.end() && held->second == r.integer(i, 1)) valid.insert(graph);
    }
    for (GraphId graph : graphs)
      if (!valid.count(graph) && held_.erase(graph)) lost_.insert(graph);
    return valid;
  }

  // The stored graphs among `ids` (a map or set keyed by graph id), with their ops.
  template <typename Ids>
  std::vector<StoredGraph> graphs_of(const Ids& ids) {
    std::vector<GraphId> list;
    for (const auto& entry : ids) list.push_back(key_of(entry));
    std::vector<StoredGraph> graphs;
    if (list.empty()) return graphs;
    const std::string array = id_array(list);
    std::map<GraphId, std::size_t> by_id;
    Result g = db_.exec(
        "SELECT id, name, owner, created_at, outputs, finished_at, submit_key, verify FROM graphs "
        "WHERE removed_at = 0 AND id = ANY($1::bigint[]) ORDER BY id",
        {array});
    for (int r = 0; r < g.rows(); ++r) {
      StoredGraph sg;
      sg.id = static_cast<GraphId>(g.integer(r, 0));
      sg.name = g.text(r, 1);
      sg.owner = g.text(r, 2);
      sg.created_at = g.real(r, 3);
      sg.outputs = nlohmann::json::parse(g.text(r, 4)).get<std::vector<OpIndex>>();
      sg.finished_at = g.real(r, 5);
      sg.submit_key = g.text(r, 6);
      parse_verify_policy(g.text(r, 7), sg.verify);  // "" (off)
      by_id[sg.id] = graphs.size();
      graphs.push_back(std::move(sg));
    }
    Result o = db_.exec(
        "SELECT graph_id, seq, op_id, op, inputs, params, dtype, shape, status, error, requested, released, "
        "EXISTS (SELECT 1 FROM tensors t WHERE t.graph_id = ops.graph_id AND t.seq = ops.seq) "
        "FROM ops WHERE graph_id = ANY($1::bigint[]) ORDER BY graph_id, seq",
        {array});
    for (int r = 0; r < o.rows(); ++r) {
      auto it = by_id.find(static_cast<GraphId>(o.integer(r, 0)));
      if (it == by_id.end()) continue;
      StoredOp op;
      op.seq = static_cast<OpIndex>(o.integer(r, 1));
      op.id = o.text(r, 2);
      op.op = o.text(r, 3);
      op.inputs = nlohmann::json::parse(o.text(r, 4)).get<std::vector<OpIndex>>();
      op.params = nlohmann::json::parse(o.text(r, 5));
      op.spec.dtype = static_cast<DType>(o.integer(r, 6));
      op.spec.shape = parse_shape(o.text(r, 7));
      op.status = static_cast<OpStatus>(o.integer(r, 8));
      op.error = o.text(r, 9);
      op.requested = o.boolean(r, 10);
      op.released = o.boolean(r, 11);
      op.has_value = o.boolean(r, 12);
      graphs[it->second].ops.push_back(std::move(op));
    }
    return graphs;
  }
  static GraphId key_of(const std::pair<const GraphId, int64_t>& entry) { return entry.first; }
  static GraphId key_of(GraphId id) { return id; }

  // Writes what is queued for graphs whose lease still holds (inside the caller's transaction);
  // the rest is dropped: the graph's new owner computes it again.
  void write_queued() {
    const std::set<GraphId> touched = queued_.graphs();
    const std::set<GraphId> valid = touched.empty() ? std::set<GraphId>() : fenced(touched);
    for (const auto& [key, value] : queued_.values)
      if (valid.count(key.first)) write_value(key.first, key.second, *value);
    for (const auto& [key, st] : queued_.statuses)
      if (valid.count(key.first))
        db_.exec("UPDATE ops SET status = $3, error = $4, written_by = $5, written_at = clock_timestamp() "
                 "WHERE graph_id = $1 AND seq = $2",
                 {static_cast<int64_t>(key.first), static_cast<int64_t>(key.second), static_cast<int>(st.first),
                  st.second, me_});
    for (const auto& key : queued_.requested)
      if (valid.count(key.first))
        db_.exec("UPDATE ops SET requested = true, written_by = $3, written_at = clock_timestamp() "
                 "WHERE graph_id = $1 AND seq = $2",
                 {static_cast<int64_t>(key.first), static_cast<int64_t>(key.second), me_});
    for (const auto& [graph, at] : queued_.finished)
      if (valid.count(graph)) db_.exec("UPDATE graphs SET finished_at = $2 WHERE id = $1", {static_cast<int64_t>(graph), at});
    for (const auto& key : queued_.freed) {
      if (!valid.count(key.first)) continue;
      const auto graph = static_cast<int64_t>(key.first), seq = static_cast<int64_t>(key.second);
      db_.exec("UPDATE ops SET released = true, written_by = $3, written_at = clock_timestamp() "
               "WHERE graph_id = $1 AND seq = $2",
               {graph, seq, me_});
      db_.exec("DELETE FROM tensors WHERE graph_id = $1 AND seq = $2", {graph, seq});
    }
    queued_.clear();
  }

  // A submit's rows (inside the caller's transaction, after fencing): the graph (and its lease)
  // if `create`, else its outputs and verify; its ops and values.
  void write_submit(const StoredGraph& graph, bool create, const std::vector<StoredOp>& ops,
                    const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& values) {
    const auto id = static_cast<int64_t>(graph.id);
    const std::string outputs = nlohmann::json(graph.outputs).dump();
    const std::string verify = graph.verify == VerifyPolicy::off ? "" : verify_policy_name(graph.verify);
    if (create) {
      db_.exec("INSERT INTO graphs (id, name, owner, created_at, outputs, submit_key, verify) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7)",
               {id, graph.name, graph.owner, graph.created_at, outputs, graph.submit_key, verify});
      db_.exec("INSERT INTO leases (graph_id, owner, epoch, expires_at) VALUES ($1, $2, 1, clock_timestamp() + $3::interval)",
               {id, me_, lease_});
    } else {
      db_.exec("UPDATE graphs SET outputs = $2, verify = $3 WHERE id = $1", {id, outputs, verify});
    }
    for (const auto& op : ops) write_op(graph.id, op);
    for (const auto& [seq, value] : values) write_value(graph.id, seq, *value);
  }

  void write_op(GraphId graph, const StoredOp& op) {
    db_.exec("INSERT INTO ops (graph_id, seq, op_id, op, inputs, params, dtype, shape, status, error, requested, "
             "written_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (graph_id, seq) DO "
             "UPDATE SET op_id = EXCLUDED.op_id, op = EXCLUDED.op, inputs = EXCLUDED.inputs, params = EXCLUDED.params, "
             "dtype = EXCLUDED.dtype, shape = EXCLUDED.shape, status = EXCLUDED.status, error = EXCLUDED.error, "
             "requested = EXCLUDED.requested, written_by = EXCLUDED.written_by, written_at = clock_timestamp()",
             {static_cast<int64_t>(graph), static_cast<int64_t>(op.seq), op.id, op.op, nlohmann::json(op.inputs).dump(),
              op.params.dump(), static_cast<int>(op.spec.dtype), shape_json(op.spec.shape),
              static_cast<int>(op.status), op.error, op.requested, me_});
  }

  void write_value(GraphId graph, OpIndex op, const Tensor& t) {
    db_.exec("INSERT INTO tensors (graph_id, seq, dtype, shape, data, written_by) VALUES ($1, $2, $3, $4, $5, $6) "
             "ON CONFLICT (graph_id, seq) DO UPDATE SET dtype = EXCLUDED.dtype, shape = EXCLUDED.shape, "
             "data = EXCLUDED.data, written_by = EXCLUDED.written_by, written_at = clock_timestamp()",
             {static_cast<int64_t>(graph), static_cast<int64_t>(op), static_cast<int>(t.dtype()),
              shape_json(t.shape()), Param::binary(t.raw(), t.nbytes()), me_});
  }

  Connection db_;
  std::string lease_;  // the lease time as a PostgreSQL interval
  int64_t me_ = 0;     // this server's row in table servers
  std::map<GraphId, int64_t> held_;  // graphs whose lease this server holds, and at which epoch
  std::set<GraphId> lost_;           // leases found lost by a write, reported by renew_leases
  QueuedWrites queued_;
};

}  // namespace

bool is_postgres_url(const std::string& store) {
  return store.rfind("postgresql://", 0) == 0 || store.rfind("postgres://", 0) == 0;
}

std::string redacted_url(const std::string& url) {
  // scheme://user:password@host...: the password is what lies between the first ':' after the
  // scheme and the '@'.
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::unique_ptr<GraphStore> open_postgres_store(const std::string& url, const PostgresOptions& options) {
  return std::make_unique<PostgresGraphStore>(url, options);
}

std::string shared_secret(const std::string& url, const std::string& name, const std::string& proposed) {
  Connection db(url);
  prepare_schema(db, url);
  db.exec("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", {name, proposed});
  return db.exec("SELECT value FROM secrets WHERE name = $1", {name}).text(0, 0);
}

}  // namespace corvid::server
