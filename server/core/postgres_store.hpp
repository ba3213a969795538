// The PostgreSQL GraphStore, for several corvid-servers sharing one database (`--store
// postgresql://...`), and the values those servers share through it (graph ids, tokens).
#pragma once

#include <memory>
#include <string>

#include "server/core/graph_store.hpp"

namespace corvid::server {

// True if `store` names a PostgreSQL database (a libpq URI: postgresql://... or postgres://...).
bool is_postgres_url(const std::string& store);

// How a server takes part in the database it shares with others.
struct PostgresOptions {
  // Each graph is owned by one server through a lease of this length, renewed every third of it
  // while the server lives; a lease expired for this long is adopted by another server.
  double lease_ms = 10000;
  // How workers and developers reach this server (ws://host:port), told to those that ask it
  // about a graph another server owns. It identifies the server: one that registers with the
  // URL of an earlier one (restarted on the same address, whose port it could bind) takes that
  // one's graphs at once.
  std::string advertise_url;
};

// The PostgreSQL store at `url` (a libpq connection URI). Creates Corvid's schema in an empty
// database, upgrades one written by an older server (table corvid_schema holds the version), and
// refuses one written by a newer server. Several servers may open it at once: schema changes are
// serialised by an advisory lock, graph ids come from one sequence (never reused, never given to
// two servers). Submits are committed before add_ops returns, as with SQLite. Throws
// std::runtime_error with a one-line message (the URL without its password) if the database
// cannot be reached or its schema is not Corvid's.
// The server registers in table servers (its URL and load) and leases graphs (table leases:
// owner server, epoch, expiry on the database's clock): load_graphs takes every graph whose
// lease expired or was released, a graph it creates is leased to it, every write checks the
// lease epoch in its own transaction (fencing), and closing the store releases its leases.
std::unique_ptr<GraphStore> open_postgres_store(const std::string& url, const PostgresOptions& options = {});

// The value of the shared secret `name` (the developer token, the worker token) in the database
// at `url`: the stored one if a server already stored it, else `proposed`, stored now (the first
// server's token becomes every server's). Throws std::runtime_error as open_postgres_store does.
std::string shared_secret(const std::string& url, const std::string& name, const std::string& proposed);

// `url` with any password replaced by "***", for messages and logs.
std::string redacted_url(const std::string& url);

}  // namespace corvid::server
