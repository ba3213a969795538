// README's library example, as a developer's own program: a + b on the workers, with the
// library's errors handled. CORVID_SERVER names the server (default ws://localhost:9999);
// the token comes from CORVID_TOKEN or the server's token file.
#include <iostream>

#include "corvid/corvid.hpp"

int main() try {
  corvid::Graph graph{"hello"};
  auto a = corvid::t({1, 2, 3});
  auto b = corvid::t({5, 22, 7});
  auto c = a + b;
  std::cout << "c: " << c() << "\n";  // sends the buffered ops, waits until workers computed it
  std::cout << graph.end() << "\n";   // the report: how many ops computed, failed ops and why
} catch (const corvid::OpFailed& e) {  // an op failed on the workers: e.op_id(), e.error()
  std::cerr << e.what() << "\n";
  return 1;
} catch (const std::exception& e) {  // no token, the server unreachable or refusing, a bad op
  std::cerr << "hello: " << e.what() << "\n";
  return 1;
}
