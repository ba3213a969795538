// libcorvid without a server: recording ops, local checks, scalars, printing. (The same
// program against a real server is tests/integration.)
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "corvid/corvid.hpp"

using namespace corvid;

namespace {
// Op names of a graph, read back from its DOT dump.
std::set<std::string> op_names(const Graph& graph) {
  std::ostringstream dot;
  graph.dump(dot);
  std::set<std::string> names;
  const std::string text = dot.str();
  const std::regex label(R"(label="o\d+: ([a-z0-9_]+))");
  for (std::sregex_iterator it(text.begin(), text.end(), label), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}
}  // namespace

TEST_CASE("the issue's snippet records ops locally until a value is asked for") {
  GraphOptions options;
  options.server = "ws://127.0.0.1:1";
  options.token = "token";
  options.reconnect_window = std::chrono::milliseconds(0);
  Graph graph{"test", options};
  auto a = t({1, 2, 3});
  auto b = t({5, 22, 7});
  auto c = a + b;
  CHECK(graph.size() == 3);
  CHECK(c.id() == "o3");
  CHECK(c.dtype() == DType::i32);
  CHECK(c.shape() == Shape{3});
  CHECK(graph.id() == 0);  // nothing sent yet
  // A tensor op's value is known locally: no server needed.
  CHECK(a().data<int32_t>()[1] == 2);
  // Asking for c needs the server, which is not there.
  CHECK_THROWS_AS(c(), ServerUnreachable);
}

TEST_CASE("t() builds tensors of the graph file's default dtypes") {
  Graph graph{"t"};
  CHECK(t({1, 2}).dtype() == DType::i32);
  CHECK(t({1.5, 2.0}).dtype() == DType::f32);
  CHECK(t({true, false}).dtype() == DType::boolean);
  CHECK(t({{1, 2}, {3, 4}, {5, 6}}).shape() == Shape{3, 2});
  CHECK(t({{{1.0}, {2.0}}}).shape() == Shape{1, 2, 1});
  CHECK(t({1, 2}, DType::f64).dtype() == DType::f64);
  CHECK(t(3.0).shape() == Shape{});
  CHECK(t(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).dtype() == DType::f64);
  CHECK(t(Tensor::from_vector<float>({2}, {1, 2})).shape() == Shape{2});
  CHECK_THROWS_AS(t(std::vector<int>{1, 2, 3}, {2, 2}), std::invalid_argument);
}

TEST_CASE("scalars broadcast and keep the other operand's dtype when they fit") {
  Graph graph{"scalars"};
  auto f = t({1.0f, 2.0f});
  auto i = t({1, 2});
  CHECK((f + 2.0).dtype() == DType::f32);
  CHECK((2.0 * f).dtype() == DType::f32);
  CHECK((i + 2).dtype() == DType::i32);
  CHECK((i * 2.5).dtype() == DType::f32);
  CHECK((i / 2).dtype() == DType::f32);  // true division
  CHECK((f < 1.5).dtype() == DType::boolean);
  CHECK((1.5 >= f).shape() == Shape{2});
  CHECK(f.eq(2.0).dtype() == DType::boolean);
  CHECK(i.ne(i).dtype() == DType::boolean);
  CHECK((-f).dtype() == DType::f32);
}

TEST_CASE("a bad op is refused when it is created, naming the op id and the reason") {
  Graph graph{"bad"};
  auto a = t({{1, 2}, {3, 4}});
  auto b = t({1, 2, 3});
  try {
    a + b;
    FAIL("add of (2, 2) and (3,) was accepted");
  } catch (const GraphError& e) {
    CHECK(e.op_id() == "o3");
    CHECK(std::string(e.what()).find("op 'o3': add: ") == 0);
  }
  CHECK(graph.size() == 2);  // nothing recorded
  CHECK_THROWS_WITH_AS(op("frobnicate", {a}), "op 'o3': unknown op 'frobnicate'", GraphError);
  CHECK_THROWS_AS(op("add", {a}), GraphError);
  Graph other{"other"};
  auto x = t({1, 2, 3});
  CHECK_THROWS_AS(b + x, GraphError);  // Values of two graphs do not mix
}

TEST_CASE("every op of the table has a function") {
  Graph graph{"all"};
  auto m = t({{1.0, 2.0}, {3.0, 4.0}});
  auto v = t({1.0, 2.0});
  auto i = t({0, 1, 1});
  auto mask = m > 2.0;
  // sources
  zeros({2}); ones({2, 2}); random_uniform({3}); random_normal({3}, 0, 2, 7);
  // unary
  for (auto fn : {neg, pos, abs, sign, exp, log, sqrt, cbrt, square, cube, reciprocal, sin, cos, tanh, sigmoid, relu})
    fn(m);
  logical_not(mask);
  // binary
  add(m, v); sub(m, v); mul(m, 2.0); div(1.0, m); pow(m, 2.0); maximum(m, v); minimum(m, v);
  greater(m, v); greater_equal(m, v); less(m, v); less_equal(m, v); equal(m, v); not_equal(m, v);
  logical_and(mask, mask); logical_or(mask, mask); logical_xor(mask, mask);
  where(mask, m, v); clip(m, 0, 1);
  // reductions
  sum(m); mean(m, 0); prod(m, {0, 1}); min(m, 1, true); max(m); argmax(m, 1); argmin(m); var(m); corvid::std(m, 0);
  median(m); percentile(m, 50); mode(m); average(m); average(v, v, 0);
  // linear algebra
  matmul(m, m); dot(v, v); transpose(m); transpose(m, {1, 0}); inv(m);
  // movement
  reshape(m, {4}); flatten(m); expand_dims(v, 0); squeeze(t({{1.0}})); concat({m, m}, 1); stack({v, v});
  split(m, 2, 1, 0); slice(m, {0, 1}, {-1, 1}); gather(m, i, 0); reverse(m, 1); tile(v, {2}); sort(m);
  unique(i); one_hot(i, 3); find_indices(i, {1}); bincount(i); bincount(i, t({1.0, 2.0, 3.0})); shape(m);
  set_value(m, {0, 1}, 9);
  softmax(m); log_softmax(m, 0);
  cast(m, DType::f64); scatter_add(i, gather(m, i, 1), 2, 1); argsort(m, 0);
  // neural networks
  auto img = reshape(t({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0}), {1, 1, 3, 3});
  auto k = reshape(t({1.0, 0.0, 0.0, -1.0}), {1, 1, 2, 2});
  auto c = conv2d(img, k, t({0.5}), 1, 0);
  conv2d(img, k, Hw{1, 1}, 1);
  conv2d_backward_input(c, k, 3); conv2d_backward_weight(img, c, 2);
  max_pool2d(img, 2, 1); avg_pool2d(img, {3, 3}, std::nullopt, 1);
  max_pool2d_backward(img, c, 2, 1); avg_pool2d_backward(c, 3, 2, 1);
  cross_entropy(m, t({0, 1}));
  // optimizers' update rules
  sgd_momentum(m, m, 0.9); sgd_update(m, m, 0.1); adam_m(m, m); adam_v(m, m, 0.99); adam_update(m, m, m, 1e-3, 1);

  const auto used = op_names(graph);
  std::vector<std::string> missing;
  for (const auto& def : op_table())
    if (!used.count(std::string(def.name))) missing.push_back(std::string(def.name));
  CHECK_MESSAGE(missing.empty(), "ops without a library function: " << nlohmann::json(missing).dump());
}

TEST_CASE("inferred shapes of a few ops") {
  Graph graph{"shapes"};
  auto m = t({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  CHECK(sum(m, 1).shape() == Shape{2});
  CHECK(sum(m, 1, true).shape() == Shape{2, 1});
  CHECK(sum(m).shape() == Shape{});
  CHECK(matmul(m, transpose(m)).shape() == Shape{2, 2});
  CHECK(concat({m, m}, 0).shape() == Shape{4, 3});
  CHECK(argmax(m, 1).dtype() == DType::i32);
}

TEST_CASE("tensors print like NumPy lists") {
  std::ostringstream out;
  out << Tensor::from_vector<float>({2, 2}, {1, 2.5f, -3, 4});
  CHECK(out.str() == "[[1, 2.5], [-3, 4]]");
  std::ostringstream scalar;
  scalar << Tensor::scalar<int32_t>(7);
  CHECK(scalar.str() == "7");
  std::ostringstream flags;
  flags << Tensor::from_vector<uint8_t>({2}, {1, 0});
  CHECK(flags.str() == "[true, false]");
  std::ostringstream empty;
  empty << Tensor(DType::f32, {0});
  CHECK(empty.str() == "[]");
}

TEST_CASE("the current graph is the innermost live one") {
  CHECK_THROWS_AS(Graph::current(), std::logic_error);
  Graph outer{"outer"};
  {
    Graph inner{"inner"};
    CHECK(&Graph::current() == &inner);
  }
  CHECK(&Graph::current() == &outer);
}

TEST_CASE("a graph's own builders record on that graph, whichever graph is current") {
  Graph first{"first"};
  Graph second{"second"};  // current from here on
  auto a = first.t({1, 2, 3});
  auto m = first.t({{1.5, 2.0}, {3.0, 4.0}});
  auto cube = first.t({{{true}, {false}}});
  auto v = first.t(std::vector<int>{1, 2, 3, 4}, {2, 2}, DType::f64);
  auto s = first.t(2.5);
  auto l = first.lin(3);
  auto z = first.zeros({2, 2});
  auto o = first.ones({3}, DType::i32);
  auto u = first.random_uniform({4}, -1, 1, 7);
  auto n = first.random_normal({4}, 0, 2, 7, DType::f64);
  for (const Value& x : {a, m, cube, v, s, l, z, o, u, n}) CHECK(&x.graph() == &first);
  CHECK(first.size() == 10);
  CHECK(second.size() == 0);
  CHECK(a.dtype() == DType::i32);
  CHECK(m.dtype() == DType::f32);
  CHECK(m.shape() == Shape{2, 2});
  CHECK(cube.dtype() == DType::boolean);
  CHECK(cube.shape() == Shape{1, 2, 1});
  CHECK(v.dtype() == DType::f64);
  CHECK(s.shape() == Shape{});
  CHECK(o.dtype() == DType::i32);
  CHECK(n.dtype() == DType::f64);
  CHECK(first.t({1, 2}, DType::f32).dtype() == DType::f32);
  // The free builders record on the current graph; ops on the graph of their first input.
  auto w = t({1, 2, 3});
  CHECK(&w.graph() == &second);
  CHECK(&(a + 1).graph() == &first);
  CHECK(&zeros({1}).graph() == &second);
}

TEST_CASE("the current graph survives graphs destroyed out of order") {
  auto one = std::make_unique<Graph>("one");
  auto two = std::make_unique<Graph>("two");
  auto three = std::make_unique<Graph>("three");
  two.reset();  // not the current one: unlinked from the chain
  CHECK(&Graph::current() == three.get());
  three.reset();
  CHECK(&Graph::current() == one.get());
  auto four = std::make_unique<Graph>("four");
  one.reset();
  CHECK(&Graph::current() == four.get());
  four.reset();
  CHECK_THROWS_AS(Graph::current(), std::logic_error);
}

TEST_CASE("Values are keys of unordered containers") {
  Graph graph{"hash"};
  Graph other{"other"};
  auto a = graph.t({1, 2});
  auto b = graph.t({3, 4});
  auto c = a + b;
  auto x = other.t({1, 2});  // index 0 like a, another graph
  std::unordered_map<Value, std::string> names{{a, "a"}, {b, "b"}, {c, "c"}, {x, "x"}};
  CHECK(names.size() == 4);
  CHECK(names.at(graph.find("o1")) == "a");
  CHECK(names.at(c) == "c");
  CHECK(names.at(x) == "x");
  const Value copy = b;
  CHECK(std::hash<Value>()(copy) == std::hash<Value>()(b));
  std::unordered_set<Value> seen{a, a, copy, b};
  CHECK(seen.size() == 2);
  CHECK(seen.count(c) == 0);
  CHECK(std::hash<Value>()(Value()) == std::hash<Value>()(Value()));
}

TEST_CASE("the token is the one given, else CORVID_TOKEN, else NoToken with the message") {
  CHECK(require_token(std::string("given")) == "given");
  const char* saved_token = std::getenv("CORVID_TOKEN");
  const std::string saved = saved_token ? saved_token : "";
  const char* saved_dir_env = std::getenv("CORVID_DATA_DIR");
  const std::string saved_dir = saved_dir_env ? saved_dir_env : "";
  ::setenv("CORVID_TOKEN", "from-env", 1);
  CHECK(require_token() == "from-env");
  ::unsetenv("CORVID_TOKEN");
  ::setenv("CORVID_DATA_DIR", "/nonexistent-corvid-dir", 1);
  if (!find_token()) {  // ./corvid-data/token may exist where the tests run
    CHECK_THROWS_WITH_AS(require_token(), kNoTokenMessage, NoToken);
    CHECK_THROWS_AS(require_token(), ServerError);  // as the library has always reported it
  }
  if (saved_token) ::setenv("CORVID_TOKEN", saved.c_str(), 1);
  if (saved_dir_env) ::setenv("CORVID_DATA_DIR", saved_dir.c_str(), 1);
  else ::unsetenv("CORVID_DATA_DIR");
}

TEST_CASE("optimizers record their update ops and rebind the parameters, bad use is refused at once") {
  Graph graph{"optimizers"};
  Value w = t({1.0, 2.0}), b = t({0.5});
  const std::string w0 = w.id(), b0 = b.id();
  Adam adam({w, b}, AdamOptions{0.01});
  adam.step(std::vector<Value>{t({1.0, 1.0}), t({2.0})});
  CHECK(w.id() != w0);
  CHECK(b.id() != b0);
  CHECK(adam.steps() == 1);
  CHECK(adam.first_moments().size() == 2);
  adam.step(std::vector<Value>{t({1.0, 1.0}), t({2.0})});
  CHECK(adam.params()[0] == w);
  const auto names = op_names(graph);
  for (const char* name : {"adam_m", "adam_v", "adam_update", "zeros"}) CHECK_MESSAGE(names.count(name), name);

  Value v = t({1.0, 2.0});
  SGD sgd({v}, 0.1, 0.9);
  CHECK_THROWS_WITH_AS(sgd.step(std::vector<Value>{v, v}), "optimizer: 2 gradients for 1 parameters", std::invalid_argument);
  CHECK_THROWS_WITH_AS(sgd.step(std::vector<Value>{t({1.0})}),
                       doctest::Contains("the gradient of parameter 0"), std::invalid_argument);
  CHECK(sgd.steps() == 0);
  Value ints = t({1, 2});
  CHECK_THROWS_WITH_AS(SGD({ints}, 0.1), doctest::Contains("is int32, not a float"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(SGD({v}, 0.1, 1.0), "optimizer: momentum must be in [0, 1), got 1.000000", std::invalid_argument);
  CHECK_THROWS_WITH_AS(Adam({v}, AdamOptions{-1}), doctest::Contains("lr must be in [0, 1e30)"), std::invalid_argument);
  // A gradient of the loss through step(loss): grad ops and sgd_momentum/sgd_update.
  sgd.step(sum(v * v));
  CHECK(sgd.buffers().size() == 1);
  CHECK(op_names(graph).count("sgd_momentum"));
}
