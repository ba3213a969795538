#include <doctest/doctest.h>

#include <cstring>

#include "shared/wire.hpp"

using namespace corvid;

TEST_CASE("wire: a frame round-trips header and tensors") {
  Frame f;
  f.header = {{"type", "result"}, {"group_id", 7}};
  f.tensors.push_back({"a", Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})});
  f.tensors.push_back({"b", Tensor::from_vector<uint8_t>({3}, {1, 0, 1})});
  f.tensors.push_back({"c", Tensor(DType::f64, {0, 4})});
  auto bytes = encode_frame(f);
  CHECK(bytes.size() % 8 == 0);
  Frame g = decode_frame(bytes.data(), bytes.size());
  CHECK(g.header["type"] == "result");
  CHECK(g.header["group_id"] == 7);
  REQUIRE(g.tensors.size() == 3);
  CHECK(g.find("a")->shape() == Shape{2, 3});
  CHECK(g.find("a")->data<float>()[5] == 6.0f);
  CHECK(g.find("b")->data<uint8_t>()[1] == 0);
  CHECK(g.find("c")->size() == 0);
}

TEST_CASE("wire: a header's own tensors field is replaced by the codec's, or dropped without tensors") {
  // A decoded frame sent on keeps the "tensors" list it arrived with; the encoder writes its own.
  Frame f;
  f.header = {{"type", "values"}, {"tensors", {{{"name", "stale"}, {"offset", 4096}, {"length", 64}}}}};
  auto bytes = encode_frame(f);
  Frame g = decode_frame(bytes.data(), bytes.size());
  CHECK(g.tensors.empty());
  f.tensors.push_back({"x", Tensor::from_vector<float>({2}, {1, 2})});
  bytes = encode_frame(f);
  g = decode_frame(bytes.data(), bytes.size());
  REQUIRE(g.tensors.size() == 1);
  CHECK(g.find("x")->data<float>()[1] == 2.0f);
  // A header of nothing but its type, with a tensor: still one well-formed JSON object.
  Frame h;
  h.header = {{"type", "t"}};
  h.tensors.push_back({"y", Tensor::from_vector<int32_t>({1}, {7})});
  bytes = encode_frame(h);
  g = decode_frame(bytes.data(), bytes.size());
  CHECK(g.find("y")->data<int32_t>()[0] == 7);
}

TEST_CASE("wire: malformed frames are refused with a reason") {
  Frame f;
  f.header = {{"type", "x"}};
  f.tensors.push_back({"a", Tensor::from_vector<float>({2}, {1, 2})});
  auto bytes = encode_frame(f);
  SUBCASE("too short") { CHECK_THROWS_WITH_AS(decode_frame(bytes.data(), 3), doctest::Contains("too short"), WireError); }
  SUBCASE("truncated buffer") {
    CHECK_THROWS_WITH_AS(decode_frame(bytes.data(), bytes.size() - 8), doctest::Contains("past the end"), WireError);
  }
  SUBCASE("header length past the end") {
    auto b = bytes;
    b[3] = 0x7f;
    CHECK_THROWS_AS(decode_frame(b.data(), b.size()), WireError);
  }
  SUBCASE("not JSON") {
    std::vector<uint8_t> b = {3, 0, 0, 0, '{', '{', '{', 0};
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), doctest::Contains("not valid JSON"), WireError);
  }
  SUBCASE("no type") {
    std::vector<uint8_t> b = {2, 0, 0, 0, '{', '}', 0, 0};
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), doctest::Contains("type"), WireError);
  }
}

TEST_CASE("wire: tensors from JSON values infer dtype and reject ragged lists") {
  CHECK(tensor_from_json_value({{1, 2}, {3, 4}}, std::nullopt).dtype() == DType::i32);
  CHECK(tensor_from_json_value({1.5, 2}, std::nullopt).dtype() == DType::f32);
  CHECK(tensor_from_json_value({true, false}, std::nullopt).dtype() == DType::boolean);
  CHECK(tensor_from_json_value(3, DType::f64).shape().empty());
  CHECK_THROWS_WITH(tensor_from_json_value({{1, 2}, {3}}, std::nullopt), doctest::Contains("ragged"));
  auto t = tensor_from_json_value({{1, 2}, {3, 4}}, DType::f32);
  CHECK(tensor_to_json(t)["data"] == nlohmann::json({1.0, 2.0, 3.0, 4.0}));
}

TEST_CASE("tensor: shapes too large to hold are refused with a reason, empty ones are not") {
  const int64_t big = int64_t(1) << 40;
  CHECK_THROWS_WITH_AS(Tensor(DType::f32, {big, big}), doctest::Contains("more than 2^63 elements"), std::length_error);
  CHECK_THROWS_WITH_AS(Tensor(DType::f64, {big, int64_t(1) << 22}), doctest::Contains("too large for this build"),
                       std::length_error);
  CHECK(Tensor(DType::f64, {big, big, 0}).size() == 0);
  CHECK(num_elements({big, 0, big}) == 0);
}

TEST_CASE("wire: bad tensor entries are refused naming the tensor and the problem") {
  // A frame whose header lists `entry` and whose buffer area holds 16 zero bytes.
  auto frame_with = [](nlohmann::json entry) {
    const std::string text = nlohmann::json{{"type", "x"}, {"tensors", {entry}}}.dump();
    std::vector<uint8_t> b(((4 + text.size() + 7) & ~std::size_t(7)) + 16, 0);
    for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(text.size() >> (8 * i));
    std::memcpy(b.data() + 4, text.data(), text.size());
    return b;
  };
  auto refuses = [&](nlohmann::json entry, const char* reason) {
    auto b = frame_with(std::move(entry));
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), doctest::Contains(reason), WireError);
  };
  using J = nlohmann::json;
  refuses(J{{"name", "t"}, {"dtype", "int8"}, {"shape", {1}}, {"offset", 0}, {"length", 1}}, "tensor 't': unknown dtype 'int8'");
  refuses(J{{"name", "t"}, {"dtype", "float32"}, {"shape", {3}}, {"offset", 0}, {"length", 8}}, "does not match float32(3,)");
  refuses(J{{"name", "t"}, {"dtype", "float32"}, {"shape", {-1}}, {"offset", 0}, {"length", 4}}, "non-negative");
  refuses(J{{"name", "t"}, {"dtype", "float32"}, {"shape", {1}}, {"offset", 4}, {"length", 4}}, "multiple of 8");
  refuses(J{{"name", "t"}, {"dtype", "float64"}, {"shape", {3}}, {"offset", 0}, {"length", 24}}, "past the end");
  refuses(J{{"dtype", "float32"}, {"shape", {1}}, {"offset", 0}, {"length", 4}}, "without a string 'name'");
  auto b = frame_with(J{{"name", "t"}, {"dtype", "bool"}, {"shape", {1}}, {"offset", 0}, {"length", 1}});
  b[b.size() - 16] = 2;
  CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), doctest::Contains("0 or 1"), WireError);
}

namespace {
// `depth` arrays one inside the other around `inner`: "[[[...inner...]]]".
std::string nested_arrays(std::size_t depth, const std::string& inner = "") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}
// A frame whose header is exactly `header` (which need not be valid JSON).
std::vector<uint8_t> frame_with_header(const std::string& header) {
  std::vector<uint8_t> b(4 + header.size() + 8, 0);
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(len >> (8 * i));
  std::memcpy(b.data() + 4, header.data(), header.size());
  return b;
}
}  // namespace

TEST_CASE("json limits: nesting deeper than 64 levels is refused, 64 is not") {
  CHECK(parse_json_limited(nested_arrays(64, "1")).is_array());
  CHECK_THROWS_WITH_AS(parse_json_limited(nested_arrays(65, "1")), "JSON nested deeper than 64 levels", JsonError);
  // 50,000 levels: today's recursive copy, dump and flatten overflow the stack on this.
  CHECK_THROWS_WITH_AS(parse_json_limited(nested_arrays(50000)), "JSON nested deeper than 64 levels", JsonError);
  std::string objects;
  for (int i = 0; i < 50000; ++i) objects += "{\"a\":";
  CHECK_THROWS_WITH_AS(parse_json_limited(objects), "JSON nested deeper than 64 levels", JsonError);
  JsonLimits shallow;
  shallow.max_depth = 2;
  CHECK_THROWS_WITH_AS(parse_json_limited("[[[]]]", shallow), "JSON nested deeper than 2 levels", JsonError);
}

TEST_CASE("json limits: tiny containers are refused early, ordinary wide JSON is not") {
  std::string objects = "{\"a\":[{}";
  for (int i = 0; i < 7'000'000; ++i) objects += ",{}";  // 21 MB of empty objects
  objects += "]}";
  try {
    parse_json_limited(objects);
    FAIL("20 MB of empty objects was accepted");
  } catch (const JsonError& e) {
    CHECK(e.kind() == JsonError::Kind::too_dense);
    CHECK(std::string(e.what()).find("JSON too dense") == 0);
    // Stopped after a bounded prefix, long before the end of the text.
    const std::string what = e.what();
    const std::size_t read = std::stoul(what.substr(what.find("after ") + 6));
    CHECK(read < (std::size_t{2} << 20));
  }
  std::string zeros = "[0";
  for (int i = 0; i < 1'000'000; ++i) zeros += ",0";
  zeros += "]";
  CHECK(parse_json_limited(zeros).size() == 1'000'001);
  // A developer's submit of many small ops, the densest header Corvid's own clients send.
  nlohmann::json ops = nlohmann::json::array();
  for (int i = 0; i < 100'000; ++i)
    ops.push_back({{"id", std::to_string(i)}, {"op", "add"}, {"inputs", {"1", "2"}}, {"params", nlohmann::json::object()}});
  const std::string submit = nlohmann::json{{"type", "submit"}, {"request_id", 1}, {"ops", ops}}.dump();
  CHECK(parse_json_limited(submit)["ops"].size() == 100'000);
}

TEST_CASE("json limits: syntax errors say where") {
  CHECK_THROWS_WITH_AS(parse_json_limited("{\"a\": }"), doctest::Contains("parse error at line 1, column 7"), JsonError);
  CHECK_THROWS_WITH_AS(parse_json_limited("[1] x"), doctest::Contains("parse error"), JsonError);
  CHECK_THROWS_WITH_AS(parse_json_limited(""), doctest::Contains("parse error"), JsonError);
}

TEST_CASE("wire: headers over a limit are refused naming it") {
  SUBCASE("a header longer than the cap is refused before it is parsed") {
    const auto b = frame_with_header(nested_arrays(3000));
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size(), 4096), doctest::Contains("longer than the limit of 4096 bytes"), WireError);
  }
  SUBCASE("nesting") {
    const auto b = frame_with_header("{\"type\":\"submit\",\"request_id\":" + nested_arrays(50000) + "}");
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), "header: JSON nested deeper than 64 levels", WireError);
  }
  SUBCASE("a tensor value of 32 dimensions inside a submit fits") {
    const auto b = frame_with_header("{\"type\":\"submit\",\"ops\":[{\"id\":\"a\",\"op\":\"tensor\",\"value\":" +
                                     nested_arrays(32, "1") + "}]}");
    const Frame f = decode_frame(b.data(), b.size());
    CHECK(tensor_from_json_value(f.header["ops"][0]["value"], std::nullopt).shape() == Shape(32, 1));
  }
  SUBCASE("syntax") {
    const auto b = frame_with_header("{\"type\":");
    CHECK_THROWS_WITH_AS(decode_frame(b.data(), b.size()), doctest::Contains("header is not valid JSON: parse error"), WireError);
  }
}

TEST_CASE("wire: tensor values deeper than 32 dimensions are refused without recursion") {
  nlohmann::json deep = 1;
  for (int i = 0; i < 1'000'000; ++i) {  // built here, not parsed: only the flattening is tested
    nlohmann::json list = nlohmann::json::array();
    list.push_back(std::move(deep));
    deep = std::move(list);
  }
  CHECK_THROWS_WITH_AS(tensor_from_json_value(deep, std::nullopt), "nested list of more than 32 dimensions",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(tensor_from_json_value(parse_json_limited(nested_arrays(33, "1")), std::nullopt),
                       "nested list of more than 32 dimensions", std::invalid_argument);
  CHECK(tensor_from_json_value(parse_json_limited("[[[1,2],[3,4]],[[5,6],[7,8]]]"), DType::f32).shape() == Shape{2, 2, 2});
}
