#include "server/core/graph_id_mark.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace corvid::server {

namespace {

constexpr std::size_t kMaxMarkBytes = 64;  // "18446744073709551615\n" and then some

std::runtime_error io_error(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("cannot " + what + " " + path.string() + ": " + std::strerror(errno));
}

// Writes all of `text` to `fd`.
bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

GraphIdMark::GraphIdMark(const std::filesystem::path& data_dir) : path_(data_dir / kFileName) {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw io_error(path_, "read the graph id mark");
  std::string text(kMaxMarkBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  std::string digits = text;
  if (!digits.empty() && digits.back() == '\n') digits.pop_back();
  const bool valid = !digits.empty() && digits.size() <= 19 &&
                     digits.find_first_not_of("0123456789") == std::string::npos;
  if (!valid)
    throw std::runtime_error(path_.string() + " is damaged (it must hold the last graph id handed out, one number); "
                             "restore it, or write there a number at least as large as any graph id ever used");
  last_ = std::stoull(digits);
}

void GraphIdMark::raise(GraphId id) {
  if (id <= last_) return;
  const std::filesystem::path temp = path_.string() + ".new";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error(temp, "create");
  const bool written = write_all(fd, std::to_string(id) + "\n") && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!written) throw io_error(temp, "write");
  if (::rename(temp.c_str(), path_.c_str()) != 0) throw io_error(path_, "replace");
  // The rename itself must survive a crash: sync the directory entry.
  const int dir = ::open(path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw io_error(path_.parent_path(), "open");
  const bool synced = ::fsync(dir) == 0;
  ::close(dir);
  if (!synced) throw io_error(path_.parent_path(), "sync");
  last_ = id;
}

}  // namespace corvid::server
