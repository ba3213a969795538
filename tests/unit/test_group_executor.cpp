#include <doctest/doctest.h>

#include <algorithm>

#include "shared/group_executor.hpp"

using namespace corvid;
using nlohmann::json;

namespace {

// An "assign" frame with the given ops, outputs, keep list and attached tensors.
Frame assign(uint64_t group_id, json ops, std::vector<std::string> outputs, std::vector<NamedTensor> tensors = {},
             std::vector<std::string> keep = {}) {
  Frame f;
  f.header = {{"type", "assign"}, {"group_id", group_id}, {"ops", std::move(ops)}, {"outputs", outputs}};
  if (!keep.empty()) f.header["keep"] = keep;
  f.tensors = std::move(tensors);
  return f;
}

json op(const std::string& id, const std::string& name, std::vector<std::string> inputs, json params = json::object()) {
  return {{"id", id}, {"op", name}, {"inputs", inputs}, {"params", params}};
}

Tensor f32(Shape shape, std::vector<float> values) { return Tensor::from_vector<float>(std::move(shape), values); }

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("group executor: a group runs in order and returns only its outputs") {
  GroupExecutor ex;
  Frame reply = ex.execute(assign(9, {op("s", "add", {"a", "b"}), op("p", "mul", {"s", "a"})}, {"p"},
                                  {{"a", f32({2}, {1, 2})}, {"b", f32({2}, {3, 4})}}));
  REQUIRE(reply.header["type"] == "result");
  CHECK(reply.header["group_id"] == 9);
  CHECK(reply.header["compute_ms"].get<double>() >= 0);
  CHECK(reply.header["op_ms"].contains("s"));
  CHECK(reply.header["op_ms"].contains("p"));
  REQUIRE(reply.tensors.size() == 1);
  CHECK(reply.tensors[0].name == "p");
  CHECK(reply.tensors[0].tensor.data<float>()[0] == 4.0f);
  CHECK(reply.tensors[0].tensor.data<float>()[1] == 12.0f);
  CHECK(ex.cached_names().empty());
}

TEST_CASE("group executor: a missing input is a missing_input error naming it") {
  GroupExecutor ex;
  Frame reply = ex.execute(assign(3, {op("n", "neg", {"a"}), op("m", "add", {"n", "ghost"})}, {"m"},
                                  {{"a", f32({1}, {1})}}));
  CHECK(reply.header["type"] == "error");
  CHECK(reply.header["kind"] == "missing_input");
  CHECK(reply.header["op_id"] == "m");
  CHECK(reply.header["group_id"] == 3);
  CHECK(reply.header["error"].get<std::string>().find("'ghost'") != std::string::npos);
  CHECK(reply.tensors.empty());
}

TEST_CASE("group executor: malformed groups are refused with the reason") {
  GroupExecutor ex;
  auto error_of = [&](const Frame& f) {
    Frame reply = ex.execute(f);
    CHECK(reply.header["type"] == "error");
    CHECK(reply.header["kind"] == "malformed");
    return reply.header["error"].get<std::string>();
  };
  SUBCASE("unknown op") {
    std::string e = error_of(assign(1, {op("x", "frobnicate", {})}, {"x"}));
    CHECK(e.find("'frobnicate'") != std::string::npos);
    CHECK(e.find("'x'") != std::string::npos);
  }
  SUBCASE("duplicate op id") {
    CHECK(error_of(assign(1, {op("x", "neg", {"a"}), op("x", "neg", {"a"})}, {"x"}, {{"a", f32({1}, {1})}}))
              .find("duplicate op id 'x'") != std::string::npos);
  }
  SUBCASE("empty group") { CHECK(error_of(assign(1, json::array(), {})).find("'ops'") != std::string::npos); }
  SUBCASE("no group id") {
    Frame f = assign(1, {op("x", "neg", {"a"})}, {"x"});
    f.header.erase("group_id");
    CHECK(error_of(f).find("'group_id'") != std::string::npos);
  }
  SUBCASE("params not an object") {
    CHECK(error_of(assign(1, {op("x", "neg", {"a"}, json::array({1}))}, {"x"}, {{"a", f32({1}, {1})}}))
              .find("params of op 'x'") != std::string::npos);
  }
  SUBCASE("output that is not an op of the group") {
    CHECK(error_of(assign(1, {op("x", "neg", {"a"})}, {"a"}, {{"a", f32({1}, {1})}}))
              .find("output 'a'") != std::string::npos);
  }
}

TEST_CASE("group executor: a kernel error names the op id and the op's reason") {
  GroupExecutor ex;
  Frame reply = ex.execute(assign(5, {op("ok", "neg", {"a"}), op("bad", "add", {"ok", "b"}), op("after", "neg", {"bad"})},
                                  {"after"}, {{"a", f32({2}, {1, 2})}, {"b", f32({3}, {1, 2, 3})}}));
  CHECK(reply.header["type"] == "error");
  CHECK(reply.header["kind"] == "kernel");
  CHECK(reply.header["op_id"] == "bad");
  CHECK(reply.header["error"].get<std::string>().rfind("add: ", 0) == 0);
  CHECK(reply.tensors.empty());
}

TEST_CASE("group executor: kept tensors serve later groups") {
  GroupExecutor ex;
  Frame first = ex.execute(assign(1, {op("x", "neg", {"a"})}, {"x"}, {{"a", f32({3}, {1, 2, 3})}}, {"a", "x"}));
  REQUIRE(first.header["type"] == "result");
  CHECK(has(ex.cached_names(), "a"));
  CHECK(has(ex.cached_names(), "x"));
  CHECK(ex.cached_bytes() == 24);
  // Neither input travels with the second group.
  Frame second = ex.execute(assign(2, {op("y", "add", {"x", "a"})}, {"y"}));
  REQUIRE(second.header["type"] == "result");
  const float* y = second.tensors[0].tensor.data<float>();
  CHECK(y[0] == 0.0f);
  CHECK(y[2] == 0.0f);
  // An attached tensor wins over a kept one of the same name.
  Frame third = ex.execute(assign(3, {op("z", "neg", {"a"})}, {"z"}, {{"a", f32({1}, {7})}}));
  REQUIRE(third.header["type"] == "result");
  CHECK(third.tensors[0].tensor.data<float>()[0] == -7.0f);
}

TEST_CASE("group executor: the cache evicts the least recently used tensors first") {
  GroupExecutor ex(100);  // bytes: room for two 40-byte tensors, not three
  auto ten = [](float v) { return Tensor::from_vector<float>({10}, std::vector<float>(10, v)); };
  REQUIRE(ex.execute(assign(1, {op("na", "neg", {"a"})}, {"na"}, {{"a", ten(1)}}, {"a"})).header["type"] == "result");
  REQUIRE(ex.execute(assign(2, {op("nb", "neg", {"b"})}, {"nb"}, {{"b", ten(2)}}, {"b"})).header["type"] == "result");
  // Using "a" makes "b" the least recently used.
  REQUIRE(ex.execute(assign(3, {op("ua", "neg", {"a"})}, {"ua"})).header["type"] == "result");
  REQUIRE(ex.execute(assign(4, {op("nc", "neg", {"c"})}, {"nc"}, {{"c", ten(3)}}, {"c"})).header["type"] == "result");
  CHECK(has(ex.cached_names(), "a"));
  CHECK(has(ex.cached_names(), "c"));
  CHECK_FALSE(has(ex.cached_names(), "b"));
  CHECK(ex.cached_bytes() == 80);
  Frame gone = ex.execute(assign(5, {op("ub", "neg", {"b"})}, {"ub"}));
  CHECK(gone.header["kind"] == "missing_input");
  // A tensor larger than the whole cache is not kept (and evicts nothing).
  Frame big = ex.execute(assign(6, {op("nd", "neg", {"d"})}, {"nd"},
                                {{"d", Tensor::from_vector<float>({30}, std::vector<float>(30, 1))}}, {"d"}));
  CHECK(big.header["type"] == "result");
  CHECK_FALSE(has(ex.cached_names(), "d"));
  CHECK(ex.cached_bytes() == 80);
}

TEST_CASE("group executor: the names reported for a reconnecting hello stay under their byte budget") {
  GroupExecutor ex;
  const std::string prefix(60, 'n');
  for (int i = 0; i < 2000; ++i) {  // 2,000 kept one-element tensors with 64-character names: 130 KB of names
    const std::string name = prefix + std::to_string(1000 + i);
    REQUIRE(ex.execute(assign(i, {op("o", "neg", {name})}, {"o"}, {{name, f32({1}, {1})}}, {name})).header["type"] ==
            "result");
  }
  const std::vector<std::string> names = ex.cached_names();
  std::size_t bytes = 0;
  for (const auto& n : names) bytes += n.size() + 3;
  CHECK(bytes <= GroupExecutor::kMaxCachedNamesBytes);
  CHECK(names.size() > 900);
  CHECK(names.front() == prefix + "2999");  // the most recently used come first
}

TEST_CASE("protocol: an assign decodes and encodes back to the same group") {
  Frame f = assign(11, {op("x", "add", {"a", "b"}, {{"k", 1}}), op("y", "neg", {"x"})}, {"y"}, {}, {"x"});
  protocol::Assign g = protocol::decode<protocol::Assign>(f);
  CHECK(g.group_id == 11);
  REQUIRE(g.ops.size() == 2);
  CHECK(g.ops[0].def == find_op("add"));
  CHECK(g.ops[0].params["k"] == 1);
  CHECK(g.keep == std::vector<std::string>{"x"});
  protocol::Assign back = protocol::decode<protocol::Assign>(protocol::encode(g));
  CHECK(back.ops[1].inputs == std::vector<std::string>{"x"});
  CHECK(back.outputs == g.outputs);
  CHECK(back.keep == g.keep);
}
