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
