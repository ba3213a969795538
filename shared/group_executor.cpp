#include "group_executor.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>

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
  const auto bytes = static_cast<double>(t.nbytes());
  if (bytes > cache_.budget()) return;  // a tensor too large to keep leaves the cache as it was
  cache_.add(name, bytes, t);
}

const Tensor* GroupExecutor::cached(const std::string& name) { return cache_.touch(name); }

void GroupExecutor::forget(const std::vector<std::string>& names) {
  for (const auto& name : names) cache_.erase(name);
}

std::vector<std::string> GroupExecutor::cached_names() const {
  std::vector<std::string> names;
  std::size_t bytes = 0;
  for (const auto& entry : cache_.entries()) {
    bytes += entry.key.size() + 3;  // the quotes and the comma of the JSON list
    if (bytes > kMaxCachedNamesBytes) break;
    names.push_back(entry.key);
  }
  return names;
}

}  // namespace corvid
