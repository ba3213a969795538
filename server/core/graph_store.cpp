#include "server/core/graph_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace corvid::server {

namespace {

// The SQLite layout this server writes, kept in PRAGMA user_version. A server refuses a database
// of a newer layout (it could misread it, or write rows a newer server misreads); it upgrades an
// older one in place. Raise it with every change that an older server would mishandle (layout 1:
// a graph's outputs as positions on its ops' rows, `ops.output`, not a list in `graphs.outputs`).
constexpr int64_t kSqliteLayout = 1;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS graphs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_at REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0,
  removed_at REAL NOT NULL DEFAULT 0,
  submit_key TEXT NOT NULL DEFAULT '',
  verify TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS ops (
  graph_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  op_id TEXT NOT NULL,
  op TEXT NOT NULL,
  inputs TEXT NOT NULL,
  params TEXT NOT NULL,
  dtype INTEGER NOT NULL,
  shape TEXT NOT NULL,
  status INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  requested INTEGER NOT NULL DEFAULT 0,
  released INTEGER NOT NULL DEFAULT 0,
  output INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (graph_id, seq));
CREATE TABLE IF NOT EXISTS tensors (
  graph_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  dtype INTEGER NOT NULL,
  shape TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (graph_id, seq));
CREATE TABLE IF NOT EXISTS trust (
  identity TEXT PRIMARY KEY,
  operator INTEGER NOT NULL,
  verified INTEGER NOT NULL,
  wrong INTEGER NOT NULL,
  quarantined INTEGER NOT NULL,
  evidence TEXT NOT NULL DEFAULT '{}');
)sql";

// A prepared statement that resets itself after each use.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); return *this; }
  Statement& bind(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); return *this; }
  Statement& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind_blob(int i, const void* data, std::size_t n) {
    check(sqlite3_bind_blob64(stmt_, i, n ? data : "", n, SQLITE_STATIC));
    return *this;
  }
  // Steps once; true while a row is available. A failed step resets the statement (a statement
  // left mid-step refuses every later bind, so one refused write would break the store for good).
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) {
      const std::string error = std::string("sqlite step: ") + sqlite3_errmsg(db_);
      reset();
      throw std::runtime_error(error);
    }
    return false;
  }
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t int_at(int i) const { return sqlite3_column_int64(stmt_, i); }
  double real_at(int i) const { return sqlite3_column_double(stmt_, i); }
  std::string text_at(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : std::string();
  }
  const void* blob_at(int i) const { return sqlite3_column_blob(stmt_, i); }
  std::size_t bytes_at(int i) const { return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw std::runtime_error(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string shape_json(const Shape& shape) { return nlohmann::json(shape).dump(); }

Shape parse_shape(const std::string& text) { return nlohmann::json::parse(text).get<Shape>(); }

// The SQLite implementation of GraphStore.
class SqliteGraphStore final : public GraphStore {
 public:
  explicit SqliteGraphStore(const std::string& path) {
    // An existing file must be a Corvid database as it is: SQLite would take an empty file for a
    // new database (graph ids would start again), and Corvid must not write into another's.
    std::error_code ec;
    const bool existed = std::filesystem::exists(path, ec);
    if (existed && std::filesystem::file_size(path, ec) == 0 && !ec)
      throw std::runtime_error(path + " is empty (0 bytes), not a Corvid database: restore it from a backup, or move it "
                               "away to start with an empty store");
    const int flags = SQLITE_OPEN_READWRITE | (existed ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open database " + path + ": " + msg);
    }
    try {
      if (existed) require_corvid_tables(path);
      const int64_t layout = pragma_user_version();
      if (layout > kSqliteLayout)
        throw std::runtime_error(path + " was written by a newer corvid-server (layout " + std::to_string(layout) +
                                 "; this server writes layout " + std::to_string(kSqliteLayout) +
                                 "): run that server or a newer one on it");
      exec("PRAGMA journal_mode=WAL");
      // With WAL, NORMAL keeps every committed transaction across a crash of the process.
      exec("PRAGMA synchronous=NORMAL");
      exec(kSchema);
      add_column_if_missing("graphs", "finished_at", "REAL NOT NULL DEFAULT 0");
      add_column_if_missing("graphs", "removed_at", "REAL NOT NULL DEFAULT 0");
      add_column_if_missing("graphs", "submit_key", "TEXT NOT NULL DEFAULT ''");
      add_column_if_missing("graphs", "verify", "TEXT NOT NULL DEFAULT ''");
      add_column_if_missing("ops", "released", "INTEGER NOT NULL DEFAULT 0");
      add_column_if_missing("ops", "output", "INTEGER NOT NULL DEFAULT 0");
      move_outputs_to_ops();
      exec(("PRAGMA user_version = " + std::to_string(kSqliteLayout)).c_str());
      insert_graph_ = std::make_unique<Statement>(
          db_, "INSERT INTO graphs (id, name, owner, created_at, submit_key, verify) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      update_verify_ = std::make_unique<Statement>(db_, "UPDATE graphs SET verify = ?2 WHERE id = ?1 AND verify <> ?2");
      update_output_ =
          std::make_unique<Statement>(db_, "UPDATE ops SET output = ?3 WHERE graph_id = ?1 AND seq = ?2");
      update_finished_ = std::make_unique<Statement>(db_, "UPDATE graphs SET finished_at = ?2 WHERE id = ?1");
      insert_op_ = std::make_unique<Statement>(
          db_,
          "INSERT OR REPLACE INTO ops (graph_id, seq, op_id, op, inputs, params, dtype, shape, status, error, "
          "requested, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
      update_status_ = std::make_unique<Statement>(
          db_, "UPDATE ops SET status = ?3, error = ?4 WHERE graph_id = ?1 AND seq = ?2");
      update_requested_ =
          std::make_unique<Statement>(db_, "UPDATE ops SET requested = 1 WHERE graph_id = ?1 AND seq = ?2");
      insert_tensor_ = std::make_unique<Statement>(
          db_, "INSERT OR REPLACE INTO tensors (graph_id, seq, dtype, shape, data) VALUES (?1, ?2, ?3, ?4, ?5)");
      select_tensor_ =
          std::make_unique<Statement>(db_, "SELECT dtype, shape, data FROM tensors WHERE graph_id = ?1 AND seq = ?2");
    } catch (...) {
      close();
      throw;
    }
  }
  ~SqliteGraphStore() override {
    try {
      flush();
    } catch (const std::exception&) {
      // Destruction must not throw; queued results are recomputed after a restart.
    }
    close();
  }

  std::vector<StoredGraph> load_graphs() override {
    std::vector<StoredGraph> graphs;
    std::map<GraphId, std::size_t> by_id;
    {
      Statement q(db_,
                  "SELECT id, name, owner, created_at, finished_at, submit_key, verify FROM graphs "
                  "WHERE removed_at = 0 "
                  "ORDER BY id");
      while (q.step()) {
        StoredGraph g;
        g.id = static_cast<GraphId>(q.int_at(0));
        g.name = q.text_at(1);
        g.owner = q.text_at(2);
        g.created_at = q.real_at(3);
        g.finished_at = q.real_at(4);
        g.submit_key = q.text_at(5);
        parse_verify_policy(q.text_at(6), g.verify);  // "" (off)
        by_id[g.id] = graphs.size();
        graphs.push_back(std::move(g));
      }
    }
    Statement q(db_,
                "SELECT graph_id, seq, op_id, op, inputs, params, dtype, shape, status, error, requested, released, "
                "EXISTS (SELECT 1 FROM tensors t WHERE t.graph_id = ops.graph_id AND t.seq = ops.seq), output "
                "FROM ops ORDER BY graph_id, seq");
    std::map<GraphId, std::vector<std::pair<int64_t, OpIndex>>> outputs;  // (position, seq) by graph
    while (q.step()) {
      auto it = by_id.find(static_cast<GraphId>(q.int_at(0)));
      if (it == by_id.end()) continue;
      StoredOp op;
      op.seq = static_cast<OpIndex>(q.int_at(1));
      op.id = q.text_at(2);
      op.op = q.text_at(3);
      op.inputs = nlohmann::json::parse(q.text_at(4)).get<std::vector<OpIndex>>();
      op.params = nlohmann::json::parse(q.text_at(5));
      op.spec.dtype = static_cast<DType>(q.int_at(6));
      op.spec.shape = parse_shape(q.text_at(7));
      op.status = static_cast<OpStatus>(q.int_at(8));
      op.error = q.text_at(9);
      op.requested = q.int_at(10) != 0;
      op.released = q.int_at(11) != 0;
      op.has_value = q.int_at(12) != 0;
      if (const int64_t position = q.int_at(13); position > 0) outputs[it->first].emplace_back(position, op.seq);
      graphs[it->second].ops.push_back(std::move(op));
    }
    for (auto& [id, positions] : outputs) {
      std::sort(positions.begin(), positions.end());
      for (const auto& [position, seq] : positions) graphs[by_id[id]].outputs.push_back(seq);
    }
    return graphs;
  }

  std::optional<Tensor> load_value(GraphId graph, OpIndex op) override {
    auto& q = *select_tensor_;
    q.bind(1, static_cast<int64_t>(graph)).bind(2, static_cast<int64_t>(op));
    std::optional<Tensor> out;
    if (q.step()) {
      const auto dtype = static_cast<DType>(q.int_at(0));
      Tensor t(dtype, parse_shape(q.text_at(1)));
      if (q.bytes_at(2) == t.nbytes()) {
        if (t.nbytes()) std::memcpy(t.raw(), q.blob_at(2), t.nbytes());
        out = std::move(t);
      }
    }
    q.reset();
    return out;
  }

  void add_ops(const StoredGraph& graph, bool create, const std::vector<StoredOp>& ops,
               const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& values) override {
    Transaction tx(*this);
    write_queued();
    write_submit(graph, create, 0, ops, values);
    tx.commit();
  }

  std::size_t add_submits(const std::vector<StoredSubmit>& submits, std::string& error) override {
    if (submits.empty()) return 0;
    try {
      Transaction tx(*this);
      write_queued();
      for (const StoredSubmit& s : submits) write_submit(s.graph, s.create, s.earlier_outputs, s.ops, s.values);
      tx.commit();
    } catch (const std::exception& e) {
      error = e.what();
      return 0;
    }
    return submits.size();
  }

  void queue_status(GraphId graph, OpIndex op, OpStatus status, const std::string& error) override {
    queued_.statuses[{graph, op}] = {status, error};
  }
  void queue_requested(GraphId graph, OpIndex op) override { queued_.requested.push_back({graph, op}); }
  void queue_finished(GraphId graph, double finished_at) override { queued_.finished[graph] = finished_at; }
  void queue_value(GraphId graph, OpIndex op, std::shared_ptr<const Tensor> value) override {
    queued_.value(graph, op, std::move(value));
  }
  void queue_freed(GraphId graph, OpIndex op) override { queued_.free(graph, op); }
  std::size_t queued_bytes() const override { return queued_.bytes; }
  std::size_t queued_count() const override { return queued_.count(); }

  void flush() override {
    if (queued_count() == 0) return;
    Transaction tx(*this);
    write_queued();
    tx.commit();
  }

  GraphId last_graph_id() override {
    Statement q(db_, "SELECT COALESCE(MAX(id), 0) FROM graphs");
    q.step();
    return static_cast<GraphId>(q.int_at(0));
  }

  void remove_graph(GraphId graph, double removed_at) override {
    Transaction tx(*this);
    write_queued();
    const auto id = static_cast<int64_t>(graph);
    Statement(db_, "DELETE FROM tensors WHERE graph_id = ?1").bind(1, id).run();
    Statement(db_, "DELETE FROM ops WHERE graph_id = ?1").bind(1, id).run();
    Statement(db_, "UPDATE graphs SET removed_at = ?2 WHERE id = ?1").bind(1, id).bind(2, removed_at).run();
    tx.commit();
  }

  void save_trust(const std::vector<StoredTrust>& records) override {
    if (records.empty()) return;
    Transaction tx(*this);
    Statement q(db_,
                "INSERT OR REPLACE INTO trust (identity, operator, verified, wrong, quarantined, evidence) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (const auto& r : records) {
      q.bind(1, r.identity).bind(2, static_cast<int64_t>(r.operator_credential));
      q.bind(3, static_cast<int64_t>(r.verified)).bind(4, static_cast<int64_t>(r.wrong));
      q.bind(5, static_cast<int64_t>(r.quarantined)).bind(6, r.evidence).run();
    }
    tx.commit();
  }

  std::vector<StoredTrust> load_trust() override {
    std::vector<StoredTrust> out;
    Statement q(db_, "SELECT identity, operator, verified, wrong, quarantined, evidence FROM trust ORDER BY rowid");
    while (q.step()) {
      StoredTrust r;
      r.identity = q.text_at(0);
      r.operator_credential = q.int_at(1) != 0;
      r.verified = static_cast<uint64_t>(std::max<int64_t>(0, q.int_at(2)));
      r.wrong = static_cast<uint64_t>(std::max<int64_t>(0, q.int_at(3)));
      r.quarantined = q.int_at(4) != 0;
      r.evidence = q.text_at(5);
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  // BEGIN ... COMMIT, rolled back if not committed.
  class Transaction {
   public:
    explicit Transaction(SqliteGraphStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      s_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteGraphStore& s_;
    bool done_ = false;
  };

  void write_queued() {
    for (const auto& [key, value] : queued_.values) write_value(key.first, key.second, *value);
    for (const auto& [key, st] : queued_.statuses) {
      update_status_->bind(1, static_cast<int64_t>(key.first)).bind(2, static_cast<int64_t>(key.second));
      update_status_->bind(3, static_cast<int64_t>(st.first)).bind(4, st.second).run();
    }
    for (const auto& key : queued_.requested)
      update_requested_->bind(1, static_cast<int64_t>(key.first)).bind(2, static_cast<int64_t>(key.second)).run();
    for (const auto& [graph, at] : queued_.finished) update_finished_->bind(1, static_cast<int64_t>(graph)).bind(2, at).run();
    if (!queued_.freed.empty()) {
      Statement mark(db_, "UPDATE ops SET released = 1 WHERE graph_id = ?1 AND seq = ?2");
      Statement drop(db_, "DELETE FROM tensors WHERE graph_id = ?1 AND seq = ?2");
      for (const auto& [graph, op] : queued_.freed) {
        mark.bind(1, static_cast<int64_t>(graph)).bind(2, static_cast<int64_t>(op)).run();
        drop.bind(1, static_cast<int64_t>(graph)).bind(2, static_cast<int64_t>(op)).run();
      }
    }
    queued_.clear();
  }

  // The rows of one submit (inside a transaction): the graph's row if `create` (else its verify,
  // if it changed), its ops, their values, and the positions of graph.outputs[first_new_output..]
  // on their ops' rows. The graph's row is not rewritten as its outputs grow.
  void write_submit(const StoredGraph& graph, bool create, std::size_t first_new_output,
                    const std::vector<StoredOp>& ops,
                    const std::vector<std::pair<OpIndex, std::shared_ptr<const Tensor>>>& values) {
    const auto id = static_cast<int64_t>(graph.id);
    const std::string verify = graph.verify == VerifyPolicy::off ? "" : verify_policy_name(graph.verify);
    if (create) {
      insert_graph_->bind(1, id).bind(2, graph.name).bind(3, graph.owner);
      insert_graph_->bind(4, graph.created_at).bind(5, graph.submit_key).bind(6, verify).run();
    } else {
      update_verify_->bind(1, id).bind(2, verify).run();
    }
    // Positions are 1-based (0: not an output); the new outputs among `ops` go in with their rows
    // (looked up by seq, not by scanning the new outputs for each op: a submit may bring tens of
    // thousands of each).
    std::unordered_map<OpIndex, int64_t> new_positions;
    new_positions.reserve(graph.outputs.size() - std::min(first_new_output, graph.outputs.size()));
    for (std::size_t i = first_new_output; i < graph.outputs.size(); ++i)
      new_positions.emplace(graph.outputs[i], static_cast<int64_t>(i + 1));
    for (const auto& op : ops) {
      const auto position = new_positions.find(op.seq);
      write_op(graph.id, op, position == new_positions.end() ? 0 : position->second);
    }
    const OpIndex first_new_op = ops.empty() ? std::numeric_limits<OpIndex>::max() : ops.front().seq;
    for (std::size_t i = first_new_output; i < graph.outputs.size(); ++i)
      if (graph.outputs[i] < first_new_op)
        update_output_->bind(1, id).bind(2, static_cast<int64_t>(graph.outputs[i]))
            .bind(3, static_cast<int64_t>(i + 1))
            .run();
    for (const auto& [seq, value] : values) write_value(graph.id, seq, *value);
  }

  void write_op(GraphId graph, const StoredOp& op, int64_t output_position) {
    auto& q = *insert_op_;
    q.bind(1, static_cast<int64_t>(graph)).bind(2, static_cast<int64_t>(op.seq)).bind(3, op.id).bind(4, op.op);
    q.bind(5, nlohmann::json(op.inputs).dump()).bind(6, op.params.dump());
    q.bind(7, static_cast<int64_t>(op.spec.dtype)).bind(8, shape_json(op.spec.shape));
    q.bind(9, static_cast<int64_t>(op.status)).bind(10, op.error).bind(11, static_cast<int64_t>(op.requested));
    q.bind(12, output_position).run();
  }

  // Databases of servers before outputs were kept on the ops' rows listed them as JSON in
  // graphs.outputs: their positions move to the ops and the list is emptied (once).
  void move_outputs_to_ops() {
    {
      Statement has_list(db_, "SELECT 1 FROM pragma_table_info('graphs') WHERE name = 'outputs'");
      if (!has_list.step()) return;
    }
    std::vector<std::pair<int64_t, std::vector<OpIndex>>> lists;
    {
      Statement q(db_, "SELECT id, outputs FROM graphs WHERE outputs <> '[]'");
      while (q.step()) lists.emplace_back(q.int_at(0), nlohmann::json::parse(q.text_at(1)).get<std::vector<OpIndex>>());
    }
    if (lists.empty()) return;
    Transaction tx(*this);
    Statement set(db_, "UPDATE ops SET output = ?3 WHERE graph_id = ?1 AND seq = ?2 AND output = 0");
    for (const auto& [graph, list] : lists)
      for (std::size_t i = 0; i < list.size(); ++i)
        set.bind(1, graph).bind(2, static_cast<int64_t>(list[i])).bind(3, static_cast<int64_t>(i + 1)).run();
    Statement(db_, "UPDATE graphs SET outputs = '[]'").run();
    tx.commit();
  }

  void write_value(GraphId graph, OpIndex op, const Tensor& t) {
    auto& q = *insert_tensor_;
    q.bind(1, static_cast<int64_t>(graph)).bind(2, static_cast<int64_t>(op));
    q.bind(3, static_cast<int64_t>(t.dtype())).bind(4, shape_json(t.shape())).bind_blob(5, t.raw(), t.nbytes());
    q.run();
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error("sqlite: " + msg);
    }
  }

  // Throws, naming the file, unless the database has Corvid's graphs table (the other tables and
  // newer columns are added to databases of older servers).
  void require_corvid_tables(const std::string& path) {
    std::set<std::string> columns;
    try {
      Statement q(db_, "SELECT name FROM pragma_table_info('graphs')");
      while (q.step()) columns.insert(q.text_at(0));
    } catch (const std::exception&) {
      throw std::runtime_error(path + " is not a Corvid database (" + sqlite3_errmsg(db_) + ")");
    }
    for (const char* column : {"id", "name", "owner", "created_at"})
      if (!columns.count(column))
        throw std::runtime_error(path + " is not a Corvid database (an SQLite file without Corvid's graphs table)");
  }

  // The layout the database was last written with (PRAGMA user_version; 0 before servers set it).
  int64_t pragma_user_version() {
    Statement q(db_, "PRAGMA user_version");
    return q.step() ? q.int_at(0) : 0;
  }

  // Upgrades a database written by an older server: adds `column` to `table` unless it is there.
  void add_column_if_missing(const std::string& table, const std::string& column, const std::string& type) {
    const std::string sql = "SELECT 1 FROM pragma_table_info('" + table + "') WHERE name = '" + column + "'";
    Statement q(db_, sql.c_str());
    if (q.step()) return;
    exec(("ALTER TABLE " + table + " ADD COLUMN " + column + " " + type).c_str());
  }

  void close() {
    insert_graph_.reset();
    update_verify_.reset();
    update_output_.reset();
    update_finished_.reset();
    insert_op_.reset();
    update_status_.reset();
    update_requested_.reset();
    insert_tensor_.reset();
    select_tensor_.reset();
    sqlite3_close(db_);
    db_ = nullptr;
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<Statement> insert_graph_, update_verify_, update_output_, update_finished_, insert_op_, update_status_,
      update_requested_, insert_tensor_, select_tensor_;
  QueuedWrites queued_;
};

}  // namespace

void QueuedWrites::value(GraphId graph, OpIndex op, std::shared_ptr<const Tensor> value) {
  auto& slot = values[{graph, op}];
  if (slot) bytes -= slot->nbytes();
  bytes += value->nbytes();
  slot = std::move(value);
}

void QueuedWrites::free(GraphId graph, OpIndex op) {
  if (auto queued = values.find({graph, op}); queued != values.end()) {
    bytes -= queued->second->nbytes();
    values.erase(queued);
  }
  freed.push_back({graph, op});
}

std::set<GraphId> QueuedWrites::graphs() const {
  std::set<GraphId> out;
  for (const auto& entry : values) out.insert(entry.first.first);
  for (const auto& entry : statuses) out.insert(entry.first.first);
  for (const auto& key : requested) out.insert(key.first);
  for (const auto& entry : finished) out.insert(entry.first);
  for (const auto& key : freed) out.insert(key.first);
  return out;
}

void QueuedWrites::clear() {
  statuses.clear();
  values.clear();
  requested.clear();
  finished.clear();
  freed.clear();
  bytes = 0;
}

std::size_t GraphStore::add_submits(const std::vector<StoredSubmit>& submits, std::string& error) {
  for (std::size_t i = 0; i < submits.size(); ++i) {
    try {
      add_ops(submits[i].graph, submits[i].create, submits[i].ops, submits[i].values);
    } catch (const std::exception& e) {
      error = e.what();
      return i;
    }
  }
  return submits.size();
}

std::unique_ptr<GraphStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteGraphStore>(path);
}

}  // namespace corvid::server
