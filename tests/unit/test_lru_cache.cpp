// The byte-bounded LRU shared by the worker's tensor cache and the server's mirror of it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "shared/lru_cache.hpp"

using corvid::LruCache;

namespace {

std::vector<std::string> keys(const LruCache<int>& cache) {
  std::vector<std::string> out;
  for (const auto& e : cache.entries()) out.push_back(e.key);
  return out;
}

}  // namespace

TEST_CASE("the LRU evicts the least recently used entries beyond its budget") {
  LruCache<int> cache(10);
  cache.add("a", 4, 1);
  cache.add("b", 4, 2);
  REQUIRE(cache.touch("a") != nullptr);  // b is now the least recently used
  CHECK(*cache.touch("a") == 1);
  cache.add("c", 4, 3);
  CHECK(keys(cache) == std::vector<std::string>{"c", "a"});
  CHECK(cache.bytes() == 8);
  CHECK_FALSE(cache.has("b"));
  CHECK(cache.touch("b") == nullptr);
}

TEST_CASE("the LRU replaces an entry of the same key and refuses one larger than its budget") {
  LruCache<int> cache(10);
  cache.add("a", 4, 1);
  cache.add("a", 6, 2);
  CHECK(cache.size() == 1);
  CHECK(cache.bytes() == 6);
  CHECK(*cache.touch("a") == 2);
  cache.add("big", 11, 3);
  CHECK_FALSE(cache.has("big"));
  CHECK(cache.size() == 1);
  cache.add("a", 11, 4);  // too large: the old entry of the key is gone too
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("the LRU tells its hook each key evicted to fit the budget, and no other") {
  std::vector<std::string> evicted;
  LruCache<int> cache(10, [&](const std::string& key) { evicted.push_back(key); });
  cache.add("a", 4, 1);
  cache.add("b", 4, 2);
  cache.add("a", 5, 3);  // a replacement is no eviction
  CHECK(evicted.empty());
  cache.add("c", 4, 4);  // 13 bytes: b goes
  CHECK(evicted == std::vector<std::string>{"b"});
  cache.erase("a");
  cache.clear();
  CHECK(evicted == std::vector<std::string>{"b"});
}

TEST_CASE("the LRU erases and clears") {
  LruCache<int> cache(100);
  cache.add("a", 1, 1);
  cache.add("b", 2, 2);
  cache.erase("a");
  cache.erase("missing");
  CHECK(keys(cache) == std::vector<std::string>{"b"});
  CHECK(cache.bytes() == 2);
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
  cache.add("c", 3, 3);
  CHECK(keys(cache) == std::vector<std::string>{"c"});
}
