// The map job file of `corvid map`: parsing and checking the template against the slices.
#include <doctest/doctest.h>

#include "corvid/map_file.hpp"

using namespace corvid;

namespace {
const char* kJob = R"({"name": "scores",
 "shared": [{"id": "w", "op": "tensor", "value": [[1, 0], [0, 2], [1, 1]], "dtype": "float32"}],
 "template": {"inputs": ["x"], "dtypes": {"x": "float32"},
              "ops": [{"id": "s", "op": "sum", "inputs": ["y"], "params": {"axis": 1}},
                      {"id": "y", "op": "matmul", "inputs": ["x", "w"]}],
              "output": "s"},
 "slices": [[[1, 2, 3]], [[4, 5, 6]], {"x": [[7, 8, 9], [1, 1, 1]]}]})";

std::string refusal(const std::string& text) {
  try {
    MapFile file = parse_map_file(text);
    validate_map_file(file);
  } catch (const GraphError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a map job file parses into shared ops, a template and slices") {
  MapFile file = parse_map_file(kJob);
  validate_map_file(file);
  CHECK(file.name == "scores");
  REQUIRE(file.shared.ops.size() == 1);
  CHECK(file.inputs == std::vector<std::string>{"x"});
  CHECK(file.output == "s");
  REQUIRE(file.templ.ops.size() == 2);
  CHECK(file.templ.ops[0].id == "y");  // topological order
  REQUIRE(file.slices.size() == 3);
  CHECK(file.slices[0][0].dtype() == DType::f32);
  CHECK(file.slices[0][0].shape() == Shape{1, 3});
  CHECK(file.slices[2][0].shape() == Shape{2, 3});
}

TEST_CASE("map job files are refused with the op, the slice and the reason") {
  CHECK(refusal(R"({"template": {"inputs": ["x"], "ops": [{"id": "y", "op": "neg", "inputs": ["x"]}]}})") ==
        "'slices' must be a non-empty list");
  CHECK(refusal(R"({"slices": [1]})") ==
        "a map job file needs a 'template' object with 'inputs', 'ops' and 'output'");
  CHECK(refusal(R"({"template": {"inputs": ["x", "z"], "ops": [{"id": "y", "op": "add", "inputs": ["x", "z"]}]},
                    "slices": [{"x": 1}]})") == "slice 0 has no value for input 'z'");
  CHECK(refusal(R"({"template": {"inputs": ["x", "z"], "ops": [{"id": "y", "op": "add", "inputs": ["x", "z"]}]},
                    "slices": [[1, 2]]})") == "slice 0 must be an object naming each input (2 inputs)");
  const std::string shapes = refusal(R"({"template": {"inputs": ["x"],
      "ops": [{"id": "y", "op": "add", "inputs": ["x", "x"]}, {"id": "z", "op": "matmul", "inputs": ["y", "y"]}]},
      "slices": [[[1, 2], [3, 4]], [[1, 2, 3]]]})");
  CHECK(shapes.find("op 'z': slice 1: matmul: ") == 0);
  CHECK(refusal(R"({"template": {"inputs": ["x"], "ops": [{"id": "y", "op": "neg", "inputs": ["q"]}]},
                    "slices": [1]})") == "op 'y': slice 0: unknown input id 'q'");
  CHECK(refusal(R"({"template": {"inputs": ["x"], "ops": [{"id": "y", "op": "neg", "inputs": ["x"]}], "output": "k"},
                    "slices": [1]})") == "slice 0: output 'k' is not an op of the graph");
  CHECK(refusal(R"({"template": {"inputs": ["x"], "dtypes": {"x": "half"}, "ops": [{"id": "y", "op": "neg", "inputs": ["x"]}]},
                    "slices": [1]})") == "unknown dtype \"half\" for template input 'x'");
}
