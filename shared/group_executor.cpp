#include "group_executor.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

namespace corvid {

namespace {
std::vector<std::string> string_list(const nlohmann::json& header, const char* field, bool required) {
  std::vector<std::string> out;
  if (!header.contains(field)) {
    if (required) throw WireError(std::string("assign: missing '") + field + "'");
    return out;
  }
  const auto& v = header[field];
  if (!v.is_array()) throw WireError(std::string("assign: '") + field + "' must be a list of strings");
  for (const auto& e : v) {
    if (!e.is_string()) throw WireError(std::string("assign: '") + field + "' must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}
}  // namespace

OpGroup parse_group(const nlohmann::json& header) {
  OpGroup g;
  if (!header.contains("group_id") || !header["group_id"].is_number_unsigned())
    throw WireError("assign: 'group_id' must be a non-negative integer");
  g.group_id = header["group_id"].get<uint64_t>();
  if (!header.contains("ops") || !header["ops"].is_array() || header["ops"].empty())
    throw WireError("assign: 'ops' must be a non-empty list");
  std::unordered_set<std::string> ids;
  for (const auto& o : header["ops"]) {
    if (!o.is_object() || !o.contains("id") || !o["id"].is_string() || !o.contains("op") || !o["op"].is_string())
      throw WireError("assign: every op needs string 'id' and 'op'");
    GroupOp op;
    op.id = o["id"].get<std::string>();
    op.op = find_op(o["op"].get<std::string>());
    if (!op.op) throw WireError("assign: op '" + op.id + "' has unknown op '" + o["op"].get<std::string>() + "'");
    if (!ids.insert(op.id).second) throw WireError("assign: duplicate op id '" + op.id + "'");
    op.inputs = string_list(o, "inputs", false);
    if (o.contains("params")) {
      if (!o["params"].is_object() && !o["params"].is_null())
        throw WireError("assign: params of op '" + op.id + "' must be an object");
      if (o["params"].is_object()) op.params = o["params"];
    }
    g.ops.push_back(std::move(op));
  }
  g.outputs = string_list(header, "outputs", true);
  g.keep = string_list(header, "keep", false);
  return g;
}

nlohmann::json group_header(const OpGroup& group) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : group.ops)
    ops.push_back({{"id", op.id}, {"op", op.op->name}, {"inputs", op.inputs}, {"params", op.params}});
  nlohmann::json h = {{"type", "assign"}, {"group_id", group.group_id}, {"ops", std::move(ops)}, {"outputs", group.outputs}};
  if (!group.keep.empty()) h["keep"] = group.keep;
  return h;
}

Frame GroupExecutor::execute(const Frame& assign) {
  Frame reply;
  uint64_t group_id = 0;
  if (assign.header.contains("group_id") && assign.header["group_id"].is_number_unsigned())
    group_id = assign.header["group_id"].get<uint64_t>();
  auto fail = [&](const std::string& op_id, const std::string& error, const char* kind) {
    reply.header = {{"type", "error"}, {"group_id", group_id}, {"op_id", op_id}, {"error", error}, {"kind", kind}};
    reply.tensors.clear();
    return reply;
  };
  OpGroup group;
  try {
    group = parse_group(assign.header);
  } catch (const std::exception& e) {
    return fail("", e.what(), "malformed");
  }
  for (const auto& nt : assign.tensors) {
    if (std::find(group.keep.begin(), group.keep.end(), nt.name) != group.keep.end()) keep(nt.name, nt.tensor);
  }
  std::unordered_map<std::string, const Tensor*> values;
  for (const auto& nt : assign.tensors) values[nt.name] = &nt.tensor;
  std::unordered_map<std::string, Tensor> computed;
  nlohmann::json op_ms = nlohmann::json::object();
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& op : group.ops) {
    std::vector<const Tensor*> inputs;
    for (const auto& in : op.inputs) {
      auto it = values.find(in);
      const Tensor* t = it != values.end() ? it->second : cached(in);
      if (!t) return fail(op.id, "input '" + in + "' of op '" + op.id + "' is not available on this worker", "missing_input");
      inputs.push_back(t);
    }
    const auto s = std::chrono::steady_clock::now();
    try {
      auto [pos, _] = computed.insert_or_assign(op.id, run_op(*op.op, inputs, op.params));
      values[op.id] = &pos->second;
    } catch (const std::exception& e) {
      return fail(op.id, e.what(), "kernel");
    }
    op_ms[op.id] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& name : group.keep) {
    auto it = computed.find(name);
    if (it != computed.end()) keep(name, it->second);
  }
  reply.header = {{"type", "result"}, {"group_id", group_id}, {"compute_ms", ms}, {"op_ms", std::move(op_ms)}};
  for (const auto& name : group.outputs) {
    auto it = computed.find(name);
    if (it == computed.end()) return fail(name, "output '" + name + "' is not an op of the group", "malformed");
    reply.tensors.push_back({name, std::move(it->second)});
    computed.erase(it);
  }
  return reply;
}

void GroupExecutor::keep(const std::string& name, const Tensor& t) {
  const auto bytes = static_cast<double>(t.nbytes());
  if (bytes > cache_.budget()) return;  // a tensor too large to keep leaves the cache as it was
  cache_.add(name, bytes, t);
}

const Tensor* GroupExecutor::cached(const std::string& name) { return cache_.touch(name); }

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
