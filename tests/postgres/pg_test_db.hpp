// Fresh PostgreSQL databases for the store tests that run against PostgreSQL (built with
// CORVID_TEST_POSTGRES, run under tests/postgres/pg_cluster.py, which starts a throw-away cluster
// and names it in CORVID_TEST_PG_ADMIN).
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace corvid::server::testing {

// Runs one statement on the database at `url`; throws with PostgreSQL's message if it fails.
inline std::string pg_exec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot connect to " + url + ": " + msg);
  }
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  std::string out = status == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  std::string msg = PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + msg);
  return out;
}

// The URL of a new empty database in the test cluster. Throws (the test fails, it is never
// skipped) when the test was not started by pg_cluster.py.
inline std::string fresh_postgres_database() {
  const char* admin = std::getenv("CORVID_TEST_PG_ADMIN");
  if (!admin || !*admin)
    throw std::runtime_error("CORVID_TEST_PG_ADMIN is not set: run this test through tests/postgres/pg_cluster.py");
  static std::atomic<int> counter{0};
  const std::string name = "corvid_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  pg_exec(admin, "CREATE DATABASE " + name);
  std::string url = admin;
  return url.substr(0, url.rfind('/') + 1) + name;
}

}  // namespace corvid::server::testing
