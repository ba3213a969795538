// distributed_test: RDF's "lin_reg" test script on Corvid. Two 30-element tensors, their sum,
// the sum's total broadcast back over it, then argmax, max and sort of the result. Every value
// is printed as soon as a worker computed it (the server streams each one when it is final),
// each is checked against the same arithmetic done here, and end() reports the graph.
//
//   examples/run.sh distributed_test
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <numeric>
#include <vector>

#include "corvid/corvid.hpp"

namespace {

// The same values computed in this process, to check the workers' results against.
std::map<std::string, std::vector<double>> expected_values(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) c[i] = a[i] + b[i];
  const double total = std::accumulate(c.begin(), c.end(), 0.0);
  std::vector<float> d(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) d[i] = static_cast<float>(c[i] / static_cast<float>(total));
  const auto top = std::max_element(d.begin(), d.end());
  std::vector<float> sorted = d;
  std::sort(sorted.begin(), sorted.end());
  return {{"c = a + b", {c.begin(), c.end()}},
          {"s = sum(c)", {total}},
          {"d = c / s", {d.begin(), d.end()}},
          {"argmax(d)", {static_cast<double>(top - d.begin())}},
          {"max(d)", {*top}},
          {"sort(d)", {sorted.begin(), sorted.end()}}};
}

bool close_to(const corvid::Tensor& got, const std::vector<double>& want) {
  if (got.size() != static_cast<int64_t>(want.size())) return false;
  for (int64_t i = 0; i < got.size(); ++i)
    if (std::abs(got.at_as_double(i) - want[i]) > 1e-4 * std::max(1.0, std::abs(want[i]))) return false;
  return true;
}

}  // namespace

int main() {
  std::cout << std::unitbuf;  // each line as soon as it is printed, also into a pipe
  try {
    std::vector<float> a_values(30), b_values(30);
    for (int i = 0; i < 30; ++i) {
      a_values[i] = static_cast<float>((i * 7) % 30 + 1);      // 1..30 in a shuffled order
      b_values[i] = static_cast<float>(((i * 11) % 13) * 0.5);  // 0..6 in steps of 0.5
    }

    corvid::Graph graph{"lin_reg"};
    auto a = corvid::t(a_values, {30});
    auto b = corvid::t(b_values, {30});
    auto c = a + b;
    auto s = corvid::sum(c);
    auto d = c / s;  // the 0-d sum broadcast back over the 30 elements
    auto top = corvid::argmax(d);
    auto largest = corvid::max(d);
    auto sorted = corvid::sort(d);

    const std::map<std::string, std::string> label_of = {{c.id(), "c = a + b"}, {s.id(), "s = sum(c)"},
                                                         {d.id(), "d = c / s"}, {top.id(), "argmax(d)"},
                                                         {largest.id(), "max(d)"}, {sorted.id(), "sort(d)"}};
    const auto expected = expected_values(a_values, b_values);
    std::vector<std::string> ids;
    for (const auto& [id, label] : label_of) ids.push_back(id);

    std::cout << "a: " << corvid::Tensor::from_vector<float>({30}, a_values) << "\n"
              << "b: " << corvid::Tensor::from_vector<float>({30}, b_values) << "\n";
    int wrong = 0;
    std::size_t arrived = 0;
    graph.stream(ids, [&](const std::string& id, const std::string& status, const std::string& error,
                          const corvid::Tensor* value) {
      const std::string& label = label_of.at(id);
      if (status != "computed" || !value) {
        std::cout << label << ": " << status << " (" << error << ")\n";
        ++wrong;
      } else {
        const bool right = close_to(*value, expected.at(label));
        std::cout << label << ": " << *value << (right ? "" : "   <-- differs from the local computation") << "\n";
        if (!right) ++wrong;
      }
      return ++arrived < ids.size();
    });

    const corvid::Report report = graph.end();
    std::cout << report << "\n";
    if (wrong || !report.ok()) {
      std::cerr << "distributed_test: " << wrong << " value(s) wrong or missing\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "distributed_test: " << e.what() << "\n";
    return 1;
  }
}
