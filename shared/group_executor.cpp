#include "group_executor.hpp"

#include <algorithm>
#include <chrono>

namespace corvid {

Frame GroupExecutor::execute(Frame assign) {
  uint64_t group_id = 0;
  if (auto id = assign.header.find("group_id"); id != assign.header.end() && id->is_number_unsigned())
    group_id = id->get<uint64_t>();  // named in the error reply even when the rest is malformed
  try {
    return execute(protocol::decode<protocol::Assign>(std::move(assign)));
  } catch (const std::exception& e) {
    return protocol::encode(protocol::WorkerError{group_id, "", e.what(), protocol::WorkerErrorKind::malformed});
  }
}

Frame GroupExecutor::execute(protocol::Assign group) {
  auto fail = [&](const std::string& op_id, const std::string& error, protocol::WorkerErrorKind kind) {
    return protocol::encode(protocol::WorkerError{group.group_id, op_id, error, kind});
  };
  for (const auto& nt : group.inputs) {
    if (std::find(group.keep.begin(), group.keep.end(), nt.name) != group.keep.end()) keep(nt.name, nt.tensor);
  }
  std::unordered_map<std::string, const Tensor*> values;
  for (const auto& nt : group.inputs) values[nt.name] = &nt.tensor;
  std::unordered_map<std::string, Tensor> computed;
  protocol::Result result;
  result.group_id = group.group_id;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& op : group.ops) {
    std::vector<const Tensor*> inputs;
    for (const auto& in : op.inputs) {
      auto it = values.find(in);
      const Tensor* t = it != values.end() ? it->second : cached(in);
      if (!t)
        return fail(op.id, "input '" + in + "' of op '" + op.id + "' is not available on this worker",
                    protocol::WorkerErrorKind::missing_input);
      inputs.push_back(t);
    }
    const auto s = std::chrono::steady_clock::now();
    try {
      auto [pos, _] = computed.insert_or_assign(op.id, run_op(*op.def, inputs, op.params));
      values[op.id] = &pos->second;
    } catch (const std::exception& e) {
      return fail(op.id, e.what(), protocol::WorkerErrorKind::kernel);
    }
    result.op_ms[op.id] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
  }
  result.compute_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& name : group.keep) {
    auto it = computed.find(name);
    if (it != computed.end()) keep(name, it->second);
  }
  for (const auto& name : group.outputs) {
    auto it = computed.find(name);
    if (it == computed.end())
      return fail(name, "output '" + name + "' is not an op of the group", protocol::WorkerErrorKind::malformed);
    result.outputs.push_back({name, std::move(it->second)});
    computed.erase(it);
  }
  return protocol::encode(std::move(result));
}

void GroupExecutor::keep(const std::string& name, const Tensor& t) {
  if (t.nbytes() > cache_limit_) return;
  auto it = cache_.find(name);
  if (it != cache_.end()) {
    cache_used_ -= it->second->tensor.nbytes();
    lru_.erase(it->second);
    cache_.erase(it);
  }
  lru_.push_front({name, t});
  cache_[name] = lru_.begin();
  cache_used_ += t.nbytes();
  while (cache_used_ > cache_limit_) {
    auto& last = lru_.back();
    cache_used_ -= last.tensor.nbytes();
    cache_.erase(last.name);
    lru_.pop_back();
  }
}

const Tensor* GroupExecutor::cached(const std::string& name) {
  auto it = cache_.find(name);
  if (it == cache_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->tensor;
}

std::vector<std::string> GroupExecutor::cached_names() const {
  std::vector<std::string> names;
  std::size_t bytes = 0;
  for (const auto& nt : lru_) {
    bytes += nt.name.size() + 3;  // the quotes and the comma of the JSON list
    if (bytes > kMaxCachedNamesBytes) break;
    names.push_back(nt.name);
  }
  return names;
}

}  // namespace corvid
