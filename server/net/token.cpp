#include "server/net/token.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace corvid::server {
namespace {

std::string random_hex(std::size_t chars) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device device;  // libstdc++ reads the kernel's random source (getrandom, /dev/urandom)
  std::string out;
  while (out.size() < chars) {
    uint32_t bits = device();
    for (int i = 0; i < 8 && out.size() < chars; ++i, bits >>= 4) out += kDigits[bits & 0xf];
  }
  return out;
}

std::string trimmed(const std::string& s) {
  const char* space = " \t\r\n";
  std::size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

}  // namespace

std::string load_or_create_token(const std::filesystem::path& token_file) {
  const std::string name = token_file.string();
  // O_EXCL: an existing token is never overwritten.
  int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string token = random_hex(32);
    std::string line = token + "\n";
    bool ok = ::fchmod(fd, 0600) == 0;  // exactly 0600 whatever the umask
    ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ok;
    ok = (::fsync(fd) == 0) && ok;
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write the token file " + name + ": " + std::strerror(errno));
    return token;
  }
  if (errno != EEXIST) throw std::runtime_error("cannot create the token file " + name + ": " + std::strerror(errno));

  std::ifstream in(token_file);
  if (!in) throw std::runtime_error("cannot read the token file " + name + ": " + std::strerror(errno));
  std::stringstream content;
  content << in.rdbuf();
  std::string token = trimmed(content.str());
  if (token.empty()) throw std::runtime_error("the token file " + name + " is empty: delete it to get a new token");
  return token;
}

void replace_token_file(const std::filesystem::path& token_file, const std::string& token) {
  const std::string temp = token_file.string() + ".new";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + temp + ": " + std::strerror(errno));
  const std::string line = token + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;
  ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ok;
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), token_file.c_str()) != 0)
    throw std::runtime_error("cannot write the token file " + token_file.string() + ": " + std::strerror(errno));
}

bool token_matches(const std::string& presented, const std::string& token) {
  if (token.empty()) return false;
  unsigned char diff = presented.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < presented.size(); ++i)
    diff |= static_cast<unsigned char>(presented[i] ^ token[i % token.size()]);
  return diff == 0;
}

}  // namespace corvid::server
