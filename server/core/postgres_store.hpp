// The PostgreSQL GraphStore, for several corvid-servers sharing one database (`--store
// postgresql://...`), and the values those servers share through it (graph ids, tokens).
#pragma once

#include <memory>
#include <string>

#include "server/core/graph_store.hpp"

namespace corvid::server {

// True if `store` names a PostgreSQL database (a libpq URI: postgresql://... or postgres://...).
bool is_postgres_url(const std::string& store);

// The PostgreSQL store at `url` (a libpq connection URI). Creates Corvid's schema in an empty
// database, upgrades one written by an older server (table corvid_schema holds the version), and
// refuses one written by a newer server. Several servers may open it at once: schema changes are
// serialised by an advisory lock, graph ids come from one sequence (never reused, never given to
// two servers). Submits are committed before add_ops returns, as with SQLite. Throws
// std::runtime_error with a one-line message (the URL without its password) if the database
// cannot be reached or its schema is not Corvid's.
std::unique_ptr<GraphStore> open_postgres_store(const std::string& url);

// The value of the shared secret `name` (the developer token, the worker token) in the database
// at `url`: the stored one if a server already stored it, else `proposed`, stored now (the first
// server's token becomes every server's). Throws std::runtime_error as open_postgres_store does.
std::string shared_secret(const std::string& url, const std::string& name, const std::string& proposed);

// `url` with any password replaced by "***", for messages and logs.
std::string redacted_url(const std::string& url);

}  // namespace corvid::server
