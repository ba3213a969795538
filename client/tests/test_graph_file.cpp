// The graph file format and its local validation: what `corvid submit` refuses before sending.
#include <doctest/doctest.h>

#include "corvid/graph_file.hpp"

using namespace corvid;

namespace {
const char* kReadme = R"({"name": "demo",
 "ops": [
   {"id": "a", "op": "tensor", "value": [[1, 2], [3, 4]], "dtype": "float32"},
   {"id": "b", "op": "tensor", "value": [5, 6]},
   {"id": "c", "op": "add", "inputs": ["a", "b"]},
   {"id": "d", "op": "exp", "inputs": ["c"]}],
 "outputs": ["c", "d"]})";

// The GraphError a graph file text raises in parsing or validation ("" if it is fine).
GraphError refusal(const std::string& text) {
  try {
    GraphSpec spec = parse_graph_file(text);
    validate_graph(spec);
  } catch (const GraphError& e) {
    return e;
  }
  return GraphError("", "");
}
}  // namespace

TEST_CASE("the README example parses and validates with inferred specs") {
  GraphSpec spec = parse_graph_file(kReadme);
  CHECK(spec.name == "demo");
  REQUIRE(spec.ops.size() == 4);
  CHECK(spec.outputs == std::vector<std::string>{"c", "d"});
  REQUIRE(spec.ops[0].value);
  CHECK(spec.ops[0].value->dtype() == DType::f32);
  CHECK(spec.ops[1].value->dtype() == DType::i32);
  const auto specs = validate_graph(spec);
  CHECK(specs.at("c") == TensorSpec{DType::f32, {2, 2}});
  CHECK(specs.at("d") == TensorSpec{DType::f32, {2, 2}});
}

TEST_CASE("outputs default to the ops nothing else uses") {
  GraphSpec spec = parse_graph_file(R"({"ops": [{"id": "a", "op": "tensor", "value": 1},
    {"id": "b", "op": "neg", "inputs": ["a"]}, {"id": "c", "op": "abs", "inputs": ["a"]}]})");
  CHECK(spec.outputs == std::vector<std::string>{"b", "c"});
}

TEST_CASE("ops are put in topological order, stable otherwise") {
  GraphSpec spec = parse_graph_file(R"({"ops": [
    {"id": "s", "op": "add", "inputs": ["x", "y"]},
    {"id": "x", "op": "tensor", "value": [1]},
    {"id": "y", "op": "neg", "inputs": ["x"]}]})");
  validate_graph(spec);
  REQUIRE(spec.ops.size() == 3);
  CHECK(spec.ops[0].id == "x");
  CHECK(spec.ops[1].id == "y");
  CHECK(spec.ops[2].id == "s");
}

TEST_CASE("every bad-file case is refused with the op id and the reason") {
  SUBCASE("invalid JSON") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": [1, 2]},]})");
    CHECK(e.op_id() == "");
    CHECK(std::string(e.what()).find("invalid JSON") == 0);
    CHECK(std::string(e.what()).find("line 1") != std::string::npos);
  }
  SUBCASE("unknown op") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1}, {"id": "b", "op": "frob", "inputs": ["a"]}]})");
    CHECK(e.op_id() == "b");
    CHECK(std::string(e.what()) == "op 'b': unknown op 'frob'");
  }
  SUBCASE("unknown input id") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1}, {"id": "b", "op": "add", "inputs": ["a", "q"]}]})");
    CHECK(e.op_id() == "b");
    CHECK(std::string(e.what()) == "op 'b': unknown input id 'q'");
  }
  SUBCASE("cycle") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1},
      {"id": "b", "op": "add", "inputs": ["a", "c"]}, {"id": "c", "op": "exp", "inputs": ["b"]}]})");
    CHECK(e.op_id() == "b");
    CHECK(std::string(e.what()) == "op 'b': is part of a cycle: b -> c -> b");
  }
  SUBCASE("an op that is its own input") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "exp", "inputs": ["a"]}]})");
    CHECK(e.op_id() == "a");
    CHECK(std::string(e.what()) == "op 'a': is part of a cycle: a -> a");
  }
  SUBCASE("wrong arity") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1}, {"id": "b", "op": "add", "inputs": ["a"]}]})");
    CHECK(e.op_id() == "b");
    CHECK(std::string(e.what()) == "op 'b': add: expects 2 input(s), got 1");
  }
  SUBCASE("incompatible shapes") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": [[1, 2], [3, 4]]},
      {"id": "b", "op": "tensor", "value": [1, 2, 3]}, {"id": "c", "op": "add", "inputs": ["a", "b"]}]})");
    CHECK(e.op_id() == "c");
    CHECK(std::string(e.what()).find("op 'c': add: ") == 0);
    CHECK(std::string(e.what()).find("(2, 2)") != std::string::npos);
    CHECK(std::string(e.what()).find("(3,)") != std::string::npos);
  }
  SUBCASE("duplicate id") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1}, {"id": "a", "op": "tensor", "value": 2}]})");
    CHECK(std::string(e.what()) == "op 'a': duplicate op id");
  }
  SUBCASE("ragged tensor value") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": [[1, 2], [3]]}]})");
    CHECK(e.op_id() == "a");
    CHECK(std::string(e.what()).find("ragged") != std::string::npos);
  }
  SUBCASE("unknown dtype") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": [1], "dtype": "float16"}]})");
    CHECK(e.op_id() == "a");
    CHECK(std::string(e.what()).find("float16") != std::string::npos);
  }
  SUBCASE("missing ops list") {
    auto e = refusal(R"({"name": "x"})");
    CHECK(std::string(e.what()) == "a graph file needs an 'ops' list");
  }
  SUBCASE("an output that is not an op") {
    auto e = refusal(R"({"ops": [{"id": "a", "op": "tensor", "value": 1}], "outputs": ["zz"]})");
    CHECK(std::string(e.what()) == "output 'zz' is not an op of the graph");
  }
}

TEST_CASE("integer ids are read as their decimal text") {
  GraphSpec spec = parse_graph_file(R"({"ops": [{"id": 2, "op": "neg", "inputs": [1]},
    {"id": 1, "op": "tensor", "value": [1, 2]}], "outputs": [2]})");
  validate_graph(spec);
  CHECK(spec.ops[0].id == "1");
  CHECK(spec.ops[1].inputs == std::vector<std::string>{"1"});
  CHECK(spec.outputs == std::vector<std::string>{"2"});
}

TEST_CASE("ops may use ids submitted earlier") {
  GraphSpec spec = parse_graph_file(R"({"ops": [{"id": "n", "op": "neg", "inputs": ["old"]}]})");
  const auto specs = validate_graph(spec, {{"old", TensorSpec{DType::f64, {3}}}});
  CHECK(specs.at("n") == TensorSpec{DType::f64, {3}});
  GraphSpec again = parse_graph_file(R"({"ops": [{"id": "old", "op": "tensor", "value": 1}]})");
  CHECK_THROWS_WITH_AS(validate_graph(again, {{"old", TensorSpec{}}}), "op 'old': duplicate op id", GraphError);
}

TEST_CASE("the submit frame carries tensor values as binary tensors, never JSON numbers") {
  GraphSpec spec = parse_graph_file(kReadme);
  validate_graph(spec);
  const Frame frame = submit_frame(spec, 7, 42);
  const auto bytes = encode_frame(frame);
  const Frame back = decode_frame(bytes.data(), bytes.size());
  CHECK(back.header["type"] == "submit");
  CHECK(back.header["request_id"] == 7);
  CHECK(back.header["graph_id"] == 42);
  CHECK(back.header["outputs"] == nlohmann::json::array({"c", "d"}));
  REQUIRE(back.header["ops"].size() == 4);
  for (const auto& op : back.header["ops"]) {
    CHECK_FALSE(op.contains("value"));
    CHECK(op["params"].dump().find("[1") == std::string::npos);
  }
  CHECK(back.header["ops"][0]["dtype"] == "float32");
  REQUIRE(back.tensors.size() == 2);
  const Tensor* a = back.find("a");
  REQUIRE(a);
  CHECK(a->shape() == Shape{2, 2});
  CHECK(a->data<float>()[3] == 4.0f);
  const Tensor* b = back.find("b");
  REQUIRE(b);
  CHECK(b->dtype() == DType::i32);
  CHECK(b->data<int32_t>()[1] == 6);
  CHECK_FALSE(submit_frame(spec, 1, std::nullopt).header.contains("graph_id"));
}

TEST_CASE("a graph file's verify field reaches the submit, anything but off, adaptive or replicate is refused") {
  nlohmann::json doc = nlohmann::json::parse(kReadme);
  CHECK_FALSE(submit_frame(parse_graph_json(doc), 1, std::nullopt).header.contains("verify"));
  doc["verify"] = "replicate";
  CHECK(submit_frame(parse_graph_json(doc), 1, std::nullopt).header["verify"] == "replicate");
  doc["verify"] = "sometimes";
  CHECK_THROWS_WITH_AS(parse_graph_json(doc), "'verify' must be \"off\", \"adaptive\" or \"replicate\"", GraphError);
  doc["verify"] = "adaptive";
  CHECK(submit_frame(parse_graph_json(doc), 1, std::nullopt).header["verify"] == "adaptive");
}
