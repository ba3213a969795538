// The developer token: a secret that /ws/client requires in its hello (workers need none).
#pragma once

#include <filesystem>
#include <string>

namespace corvid::server {

// Returns the token kept in `token_file`. At first start (no file) it creates the file with 32
// random hex characters and mode 0600 (only the server's user may read it); later starts reuse
// it, trimmed of surrounding whitespace. Throws std::runtime_error naming the file if it cannot
// be created or read, or is empty.
std::string load_or_create_token(const std::filesystem::path& token_file);

// Writes `token` to `token_file` (mode 0600), replacing what it held: a server sharing its store
// with others takes their token and keeps the file saying the token in force. Throws
// std::runtime_error naming the file if it cannot be written.
void replace_token_file(const std::filesystem::path& token_file, const std::string& token);

// Compares a presented token with the real one in time independent of where they differ.
bool token_matches(const std::string& presented, const std::string& token);

}  // namespace corvid::server
