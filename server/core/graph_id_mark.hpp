// The highest graph id ever handed out, kept in a small file of the data directory
// (`last-graph-id`) beside corvid.db. SQLite can lose its last transactions or the whole file
// (truncated, deleted, restored from an old copy); graph ids must still never be given out twice.
#pragma once

#include <filesystem>

#include "server/core/graph.hpp"

namespace corvid::server {

// The graph id high-water mark, durable before an id is handed out. Not thread-safe.
class GraphIdMark {
 public:
  static constexpr const char* kFileName = "last-graph-id";

  // Reads the mark in `data_dir`; a missing file is a mark of 0. Throws std::runtime_error naming
  // the file if it cannot be read or does not hold exactly one decimal id.
  explicit GraphIdMark(const std::filesystem::path& data_dir);

  // The largest id recorded (0: none).
  GraphId last() const { return last_; }

  // Records `id` if it is larger than last(), durably before returning: the new content goes to a
  // temporary file that is fsynced and renamed over the mark, then the directory is fsynced.
  // Throws std::runtime_error naming the file on any I/O error (the mark is then unchanged).
  void raise(GraphId id);

 private:
  std::filesystem::path path_;
  GraphId last_ = 0;
};

}  // namespace corvid::server
