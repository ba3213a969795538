// A byte-bounded least-recently-used cache keyed by tensor name: the worker's tensor cache
// (GroupExecutor) and the server's mirror of it (KeptTensors) are the same structure.
#pragma once

#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace corvid {

// Entries with a size in bytes, at most `budget` bytes in all; adding past the budget evicts the
// least recently used. Not thread-safe.
template <class Value>
class LruCache {
 public:
  struct Entry {
    std::string key;
    Value value;
    double bytes = 0;
  };
  // Told the key of each entry evicted to fit the budget (not of erased or cleared ones).
  using EvictedHook = std::function<void(const std::string& key)>;

  explicit LruCache(double budget_bytes, EvictedHook on_evicted = {})
      : budget_(budget_bytes), on_evicted_(std::move(on_evicted)) {}

  bool has(const std::string& key) const { return index_.count(key) != 0; }
  // The entry's value, made the most recently used; nullptr if there is none.
  Value* touch(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->value;
  }
  // Replaces any entry of `key` by one holding Value(args...), the most recently used, and evicts
  // from the least recently used end until the total fits the budget. An entry larger than the
  // whole budget is not added (and the value is not constructed).
  template <class... Args>
  void add(const std::string& key, double bytes, Args&&... args) {
    if (bytes > budget_) return erase(key);
    Entry entry{key, Value(std::forward<Args>(args)...), bytes};  // before erase: args may be the old value
    erase(entry.key);
    entries_.push_front(std::move(entry));
    index_[entries_.front().key] = entries_.begin();
    bytes_ += bytes;
    while (bytes_ > budget_ && !entries_.empty()) {
      bytes_ -= entries_.back().bytes;
      if (on_evicted_) on_evicted_(entries_.back().key);
      index_.erase(entries_.back().key);
      entries_.pop_back();
    }
  }
  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    bytes_ -= it->second->bytes;
    entries_.erase(it->second);
    index_.erase(it);
  }
  void clear() {
    entries_.clear();
    index_.clear();
    bytes_ = 0;
  }
  std::size_t size() const { return index_.size(); }
  double bytes() const { return bytes_; }
  double budget() const { return budget_; }
  // Entries, most recently used first.
  const std::list<Entry>& entries() const { return entries_; }

 private:
  double budget_;
  EvictedHook on_evicted_;
  double bytes_ = 0;
  std::list<Entry> entries_;  // front = most recently used
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
};

}  // namespace corvid
