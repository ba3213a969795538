// Bad submits are refused all or nothing, with an error naming the op and the reason.
#include "harness.hpp"

using namespace corvid;
using namespace corvid::server;
using namespace corvid::server::testing;

namespace {

nlohmann::json op(const std::string& id, const std::string& name, std::vector<std::string> inputs = {},
                  nlohmann::json params = nlohmann::json::object()) {
  return {{"id", id}, {"op", name}, {"inputs", inputs}, {"params", params}};
}

nlohmann::json tensor(const std::string& id, nlohmann::json value) {
  return {{"id", id}, {"op", "tensor"}, {"value", std::move(value)}};
}

struct BadCase {
  const char* what;
  nlohmann::json ops;
  const char* op_id;
  const char* reason;  // part of the error text
};

}  // namespace

TEST_CASE("every kind of bad submit gets an error naming the op and nothing is stored") {
  const std::vector<BadCase> cases = {
      {"unknown op", {tensor("a", {1, 2}), op("b", "frobnicate", {"a"})}, "b", "unknown op 'frobnicate'"},
      {"unknown input id", {tensor("a", {1, 2}), op("b", "neg", {"zz"})}, "b", "unknown input id 'zz'"},
      {"duplicate id", {tensor("a", {1, 2}), op("a", "neg", {"a"})}, "a", "duplicate op id"},
      {"cycle", {tensor("a", {1, 2}), op("b", "add", {"a", "c"}), op("c", "neg", {"b"})}, "b", "cycle"},
      {"self cycle", {op("s", "neg", {"s"})}, "s", "cycle"},
      {"wrong arity", {tensor("a", {1, 2}), op("b", "add", {"a"})}, "b", "expects 2 input(s), got 1"},
      {"bad params", {tensor("a", {1, 2, 3, 4}), op("b", "reshape", {"a"}, {{"shape", {3, 3}}})}, "b", "reshape"},
      {"incompatible shapes", {tensor("a", {1, 2}), tensor("b", {1, 2, 3}), op("c", "add", {"a", "b"})}, "c", "add"},
      {"ragged value", {tensor("a", {{1, 2}, {3}})}, "a", "tensor"},
      {"tensor without value", {op("a", "tensor")}, "a", "value"},
      {"params not an object", {tensor("a", {1}), op("b", "neg", {"a"}, {1, 2})}, "b", "params"},
      {"output too large for a worker", {tensor("a", {1.5, 2}), op("b", "tile", {"a"}, {{"reps", {100000, 2000}}})},
       "b", "would take 1.5 GiB; a tensor may take at most 512 MiB"},
      {"generator too large", {op("z", "zeros", {}, {{"shape", {1 << 20, 1 << 10}}})}, "z", "would take 4.0 GiB"},
      {"unknown param name", {tensor("a", {1, 2}), op("b", "sum", {"a"}, {{"axsi", 0}})}, "b",
       "sum: unknown param 'axsi' (accepted: axis, keepdims)"},
      {"unknown param of a tensor", {{{"id", "a"}, {"op", "tensor"}, {"params", {{"value", {1}}, {"dtyp", "int32"}}}}},
       "a", "tensor: unknown param 'dtyp' (accepted: value, dtype)"},
      {"param of the wrong type", {tensor("a", {1, 2}), op("b", "sum", {"a"}, {{"keepdims", "yes"}})}, "b",
       "sum: param 'keepdims' must be true or false, got \"yes\""},
      {"axis beyond int64", {tensor("a", {1, 2}), op("b", "sum", {"a"}, {{"axis", UINT64_MAX}})}, "b",
       "sum: param 'axis' is out of range: 18446744073709551615 does not fit in a signed 64-bit integer"},
      {"bincount minlength too large", {tensor("a", {1, 2}), op("b", "bincount", {"a"}, {{"minlength", 500000000}})},
       "b", "bincount: an int32 output of 500000000 bins (param 'minlength') would take 1.9 GiB"},
  };
  Harness h;
  h.connect_client(10);
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Frame reply = h.submit(10, {{"name", c.what}, {"ops", c.ops}});
    INFO(reply.header.dump());
    REQUIRE(reply.header["type"] == "error");
    CHECK(reply.header["op_id"] == c.op_id);
    const std::string error = reply.header["error"];
    CHECK(error.find(std::string("op '") + c.op_id + "'") != std::string::npos);
    CHECK(error.find(c.reason) != std::string::npos);
  }
  CHECK(h.core->status_json()["graphs"].empty());
}

TEST_CASE("a bad op added to an existing graph leaves the graph as it was") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, {{"ops", {tensor("a", {1, 2}), op("b", "neg", {"a"})}}});
  Frame reply = h.submit(10, {{"graph_id", g},
                              {"ops", {op("c", "neg", {"b"}), op("d", "reshape", {"c"}, {{"shape", {5}}}), op("e", "neg", {"b"})}}});
  REQUIRE(reply.header["type"] == "error");
  CHECK(reply.header["op_id"] == "d");
  CHECK(h.core->graph_json(g)["ops"].size() == 2);
  // Inputs may name ops of earlier submits, and ops may come before the ops they use.
  reply = h.submit(10, {{"graph_id", g}, {"ops", {op("d", "add", {"c", "a"}), op("c", "neg", {"b"})}}, {"outputs", {"d"}}});
  CHECK(reply.header["type"] == "submitted");
  CHECK(reply.header["added"] == 2);
  CHECK(h.core->graph_json(g)["ops"].size() == 4);
}

TEST_CASE("requests about unknown graphs or ids or message types are answered with errors") {
  Harness h;
  h.connect_client(10);
  h.client_send(10, {{"type", "wait"}, {"graph_id", 99}, {"request_id", "r1"}});
  auto errors = h.outbox.client_frames(10, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header["request_id"] == "r1");
  CHECK(errors[0].header["error"] == "unknown graph_id 99");
  const uint64_t g = h.submit_ok(10, {{"ops", {tensor("a", {1, 2})}}});
  h.client_send(10, {{"type", "wait"}, {"graph_id", g}, {"ids", {"nope"}}});
  errors = h.outbox.client_frames(10, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header["op_id"] == "nope");
  h.client_send(10, {{"type", "launch"}});
  CHECK(h.outbox.client_frames(10, "error").size() == 1);
  Frame reply = h.submit(10, {{"ops", {tensor("b", {1})}}, {"outputs", {"zz"}}});
  REQUIRE(reply.header["type"] == "error");
  CHECK(reply.header["op_id"] == "zz");
  Frame no_ops = h.submit(10, {{"ops", "many"}});
  CHECK(no_ops.header["type"] == "error");
}

TEST_CASE("tensor values may come as attached binary tensors") {
  Harness h;
  h.connect_client(10);
  h.connect_worker(1);
  Frame reply = h.submit(10, {{"ops", {op("w", "tensor", {}, {{"dtype", "float64"}}), op("y", "neg", {"w"})}}, {"outputs", {"y"}}},
                         {{"w", Tensor::from_vector<float>({2}, {1.5f, -2.0f})}});
  REQUIRE(reply.header["type"] == "submitted");
  h.client_send(10, {{"type", "wait"}, {"graph_id", reply.header["graph_id"]}});
  h.work_all({1});
  auto values = h.values(10);
  REQUIRE(values.size() == 1);
  REQUIRE(values[0].tensors.size() == 1);
  CHECK(values[0].tensors[0].tensor.dtype() == DType::f64);
  CHECK(values_of(values[0].tensors[0].tensor) == std::vector<double>{-1.5, 2.0});
}

TEST_CASE("a creating submit resent with the same key gets the graph the first one created") {
  Harness h;
  h.connect_client(10, "alice");
  const nlohmann::json ops = {tensor("a", {1, 2}), op("b", "neg", {"a"})};
  const uint64_t g = h.submit_ok(10, {{"ops", ops}, {"submit_key", "k1"}});
  // The connection dropped before `submitted` arrived: the library resends on a new connection.
  h.connect_client(11, "alice");
  Frame again = h.submit(11, {{"ops", ops}, {"submit_key", "k1"}});
  REQUIRE(again.header["type"] == "submitted");
  CHECK(again.header["graph_id"] == g);
  CHECK(again.header["added"] == 0);
  CHECK(h.core->status_json()["graphs"].size() == 1);
  // Another developer's key, or another key, is another graph; after a restart the key is known.
  h.connect_client(12, "bob");
  CHECK(h.submit_ok(12, {{"ops", ops}, {"submit_key", "k1"}}) != g);
  CHECK(h.submit_ok(10, {{"ops", ops}, {"submit_key", "k2"}}) != g);
  h.reopen();
  h.connect_client(13, "alice");
  CHECK(h.submit_ok(13, {{"ops", ops}, {"submit_key", "k1"}}) == g);
  CHECK(h.core->status_json()["graphs"].size() == 3);
  Frame long_key = h.submit(13, {{"ops", ops}, {"submit_key", std::string(200, 'k')}});
  CHECK(long_key.header["type"] == "error");
}

TEST_CASE("a submit is read by the client's parser: integer ids, the same cycle message") {
  Harness h;
  h.connect_client(10);
  const uint64_t g = h.submit_ok(10, {{"ops", {{{"id", 1}, {"op", "tensor"}, {"value", {1, 2}}},
                                               {{"id", 2}, {"op", "neg"}, {"inputs", {1}}}}},
                                      {"outputs", {2}}});
  const auto ops = h.core->graph_json(g)["ops"];
  REQUIRE(ops.size() == 2);
  CHECK(ops[1]["id"] == "2");
  Frame reply = h.submit(10, {{"ops", {tensor("a", {1}), op("b", "add", {"a", "c"}), op("c", "neg", {"b"})}}});
  REQUIRE(reply.header["type"] == "error");
  CHECK(reply.header["op_id"] == "b");
  CHECK(reply.header["error"] == "op 'b': is part of a cycle: b -> c -> b");
}
