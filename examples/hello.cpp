// hello: a + b on Corvid, as in RDF's first example. The two tensors travel to the server, a
// worker adds them, and c() waits for the result.
//
//   examples/run.sh hello
#include <algorithm>
#include <iostream>

#include "corvid/corvid.hpp"

int main() {
  try {
    corvid::Graph graph{"hello"};  // CORVID_SERVER, default ws://localhost:9999
    auto a = corvid::t({1, 2, 3});
    auto b = corvid::t({5, 22, 7});
    auto c = a + b;
    const corvid::Tensor value = c();  // sends the ops and waits until a worker computed c
    std::cout << "c: " << value << "\n";
    const corvid::Report report = graph.end();
    std::cout << report << "\n";

    const corvid::Tensor expected = corvid::Tensor::from_vector<int32_t>({3}, {6, 24, 10});
    const bool right = value.shape() == expected.shape() &&
                       std::equal(value.data<int32_t>(), value.data<int32_t>() + 3, expected.data<int32_t>());
    if (!right || !report.ok()) {
      std::cerr << "hello: expected c = [6, 24, 10] and every op computed\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "hello: " << e.what() << "\n";
    return 1;
  }
}
