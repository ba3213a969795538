// The data directory at start: a corvid.db that is empty or not Corvid's is refused with the
// file named, and graph ids never repeat, even when corvid.db is lost.
#include <sqlite3.h>

#include <fstream>

#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

// The message make_coordinator throws for this data directory ("" if it opens).
std::string start_error(const fs::path& dir) {
  FakeClock clock;
  RecordingOutbox outbox;
  try {
    make_coordinator(dir.string(), clock, outbox);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

nlohmann::json one_op() { return {{"ops", {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0}}}}}}; }

}  // namespace

TEST_CASE("a 0-byte corvid.db is refused with the file named") {
  TempDir dir;
  write_file(dir.path / "corvid.db", "");
  const std::string error = start_error(dir.path);
  CHECK(error.find((dir.path / "corvid.db").string()) != std::string::npos);
  CHECK(error.find("empty") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("a corvid.db that is not an SQLite file is refused with the file named") {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 7919 + 13) % 251));
  write_file(dir.path / "corvid.db", garbage);
  const std::string error = start_error(dir.path);
  CHECK(error.find((dir.path / "corvid.db").string()) != std::string::npos);
  CHECK(error.find("not a Corvid database") != std::string::npos);
}

TEST_CASE("an SQLite corvid.db without Corvid's tables is refused and left as it was") {
  TempDir dir;
  const fs::path db = dir.path / "corvid.db";
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  REQUIRE(sqlite3_exec(handle, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(handle);
  const std::string error = start_error(dir.path);
  CHECK(error.find(db.string()) != std::string::npos);
  CHECK(error.find("not a Corvid database") != std::string::npos);
  // Nothing was added to someone else's database.
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  int tables = 0;
  sqlite3_exec(
      handle, "SELECT name FROM sqlite_master WHERE type = 'table'",
      [](void* count, int, char**, char**) {
        ++*static_cast<int*>(count);
        return 0;
      },
      &tables, nullptr);
  sqlite3_close(handle);
  CHECK(tables == 1);
}

TEST_CASE("graph ids continue after corvid.db is lost") {
  Harness h;
  h.connect_client(10);
  CHECK(h.submit_ok(10, one_op()) == 1);
  CHECK(h.submit_ok(10, one_op()) == 2);
  h.core.reset();
  for (const char* file : {"corvid.db", "corvid.db-wal", "corvid.db-shm"}) fs::remove(h.data_dir / file);
  h.reopen();
  h.connect_client(11);
  CHECK(h.submit_ok(11, one_op()) == 3);
}

TEST_CASE("a damaged graph id mark (last-graph-id) is refused with the file named") {
  Harness h;
  h.connect_client(10);
  h.submit_ok(10, one_op());
  h.core.reset();
  const fs::path mark = h.data_dir / "last-graph-id";
  CHECK(fs::exists(mark));
  write_file(mark, "not a number\n");
  const std::string error = start_error(h.data_dir);
  CHECK(error.find(mark.string()) != std::string::npos);
}
