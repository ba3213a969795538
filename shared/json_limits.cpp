// parse_json_limited: nlohmann's SAX parser (iterative) feeding its own tree builder through a
// handler that counts depth and estimated memory and stops the parse at the first excess.
#include "json_limits.hpp"

#include <iterator>
#include <optional>

namespace corvid {
namespace {

// Estimated heap bytes of nlohmann::json's parts on a 64-bit build (malloc overhead included);
// measured peaks for [0,0,...], [{},{},...], ["",...] and submit headers stay within 10% of them.
constexpr std::size_t kValueBytes = 24;   // a 16-byte json in a vector that grows by doubling
constexpr std::size_t kArrayBytes = 32;   // the std::vector behind an array
constexpr std::size_t kObjectBytes = 64;  // the std::map behind an object
constexpr std::size_t kMemberBytes = 80;  // one map node: links, key, value
constexpr std::size_t kStringBytes = 48;  // the std::string behind a string value
constexpr std::size_t kShortString = 15;  // longer strings leave the small-string buffer

std::size_t string_heap_bytes(const std::string& s) { return s.size() > kShortString ? s.size() + 17 : 0; }

// A forward iterator over the text that records how far the parser has read, so the memory
// budget grows with the text read, not with the text announced.
class ProgressIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  ProgressIterator(const char* at, const char** furthest) : at_(at), furthest_(furthest) {}
  reference operator*() const { return *at_; }
  ProgressIterator& operator++() {
    *furthest_ = ++at_;
    return *this;
  }
  ProgressIterator operator++(int) {
    ProgressIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const ProgressIterator& other) const { return at_ == other.at_; }
  bool operator!=(const ProgressIterator& other) const { return at_ != other.at_; }

 private:
  const char* at_;
  const char** furthest_;
};

// nlohmann's SAX interface: forwards every event to its DOM builder after checking the limits;
// returning false ends the parse at once, with error() saying why.
class LimitedDomBuilder {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  LimitedDomBuilder(json& root, const JsonLimits& limits, const char* text, const char* const* read_to)
      : dom_(root, false), limits_(limits), text_(text), read_to_(read_to) {}

  bool null() { return charge(kValueBytes) && dom_.null(); }
  bool boolean(bool v) { return charge(kValueBytes) && dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return charge(kValueBytes) && dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return charge(kValueBytes) && dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return charge(kValueBytes) && dom_.number_float(v, s); }
  bool string(string_t& s) { return charge(kValueBytes + kStringBytes + string_heap_bytes(s)) && dom_.string(s); }
  bool binary(binary_t& b) { return charge(kValueBytes + b.size()) && dom_.binary(b); }  // not produced by JSON text
  bool start_object(std::size_t n) { return enter() && charge(kValueBytes + kObjectBytes) && dom_.start_object(n); }
  bool key(string_t& k) { return charge(kMemberBytes + string_heap_bytes(k)) && dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && charge(kValueBytes + kArrayBytes) && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    const std::string what = e.what();
    const auto pos = what.find("] ");
    error_.emplace(JsonError::Kind::syntax, pos == std::string::npos ? what : what.substr(pos + 2));
    return false;
  }

  const std::optional<JsonError>& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ <= limits_.max_depth) return true;
    error_.emplace(JsonError::Kind::too_deep, "JSON nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    return false;
  }

  bool charge(std::size_t bytes) {
    estimated_bytes_ += bytes;
    const std::size_t read = static_cast<std::size_t>(*read_to_ - text_);
    const std::size_t budget = limits_.max_memory_per_byte * read + limits_.memory_allowance;
    if (estimated_bytes_ <= budget) return true;
    error_.emplace(JsonError::Kind::too_dense,
                   "JSON too dense: after " + std::to_string(read) + " bytes of text its parsed form would take more than " +
                       std::to_string(budget) + " bytes of memory (the limit is " +
                       std::to_string(limits_.max_memory_per_byte) + " bytes per byte of text plus " +
                       std::to_string(limits_.memory_allowance) + ")");
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits& limits_;
  const char* text_;
  const char* const* read_to_;
  std::size_t depth_ = 0;
  std::size_t estimated_bytes_ = 0;
  std::optional<JsonError> error_;
};

}  // namespace

nlohmann::json parse_json_limited(std::string_view text, const JsonLimits& limits) {
  const char* read_to = text.data();
  nlohmann::json root;
  {
    LimitedDomBuilder builder(root, limits, text.data(), &read_to);
    const bool ok = nlohmann::json::sax_parse(ProgressIterator(text.data(), &read_to),
                                              ProgressIterator(text.data() + text.size(), &read_to), &builder);
    if (!ok) {
      if (builder.error()) throw *builder.error();
      throw JsonError(JsonError::Kind::syntax, "JSON parse stopped without a reason");
    }
  }
  return root;
}

}  // namespace corvid
