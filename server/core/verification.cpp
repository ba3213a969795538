#include "server/core/verification.hpp"

#include <unordered_map>

namespace corvid::server {

const char* verify_policy_name(VerifyPolicy policy) { return policy == VerifyPolicy::replicate ? "replicate" : "off"; }

bool parse_verify_policy(const std::string& name, VerifyPolicy& policy) {
  if (name == "off") policy = VerifyPolicy::off;
  else if (name == "replicate") policy = VerifyPolicy::replicate;
  else return false;
  return true;
}

Verdict majority(const std::vector<bool>& authoritative, const std::function<bool(int, int)>& agree, int cap) {
  const int n = static_cast<int>(authoritative.size());
  Verdict v;
  for (int i = 0; i < n && v.accepted < 0; ++i)
    if (authoritative[i]) v.accepted = i;
  for (int i = 0; i < n && v.accepted < 0; ++i)
    for (int j = i + 1; j < n && v.accepted < 0; ++j)
      if (agree(i, j)) v.accepted = i;
  if (v.accepted >= 0) {
    v.kind = Verdict::accept;
    for (int i = 0; i < n; ++i)
      if (i != v.accepted && !agree(i, v.accepted)) v.wrong.push_back(i);
    return v;
  }
  v.kind = n >= cap ? Verdict::fail : Verdict::need_more;
  return v;
}

std::string Comparison::describe() const {
  if (agree) return "";
  return "op '" + op_id + "': " + disagreement.describe();
}

Comparison compare_results(const Graph& graph, const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  std::unordered_map<std::string, const Tensor*> theirs;
  for (const auto& nt : b) theirs.emplace(nt.name, &nt.tensor);
  Comparison worst;
  for (const auto& nt : a) {
    auto other = theirs.find(nt.name);
    GraphId g = 0;
    std::string op_id;
    parse_wire_name(nt.name, g, op_id);
    Disagreement d;
    if (other == theirs.end()) {
      d.shape_problem = "missing from one result";
    } else {
      const auto op = graph.index.find(op_id);
      Tolerance tolerance;
      if (op != graph.index.end() && graph.ops[op->second].def)
        tolerance = agreement_tolerance(*graph.ops[op->second].def, nt.tensor.dtype());
      d = compare_values(nt.tensor, *other->second, tolerance);
    }
    if (d.agree()) continue;
    const bool worse = worst.agree || (!d.shape_problem.empty() && worst.disagreement.shape_problem.empty()) ||
                       d.difference > worst.disagreement.difference;
    if (worse) worst = Comparison{false, op_id, d};
  }
  return worst;
}

Check& VerificationTable::open(GraphId graph, std::vector<OpIndex> ops, std::vector<OpIndex> outputs,
                               std::vector<OpIndex> external, Cost cost) {
  const CheckId id = next_id_++;
  Check& c = checks_[id];
  c.id = id;
  c.graph = graph;
  c.ops = std::move(ops);
  c.outputs = std::move(outputs);
  c.external = std::move(external);
  c.cost = cost;
  for (OpIndex op : c.ops) held_.insert({graph, op});
  return c;
}

Check* VerificationTable::find(CheckId id) {
  auto it = checks_.find(id);
  return it == checks_.end() ? nullptr : &it->second;
}

void VerificationTable::close(CheckId id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  for (OpIndex op : it->second.ops) held_.erase({it->second.graph, op});
  checks_.erase(it);
}

std::vector<Check*> VerificationTable::waiting() {
  std::vector<Check*> out;
  for (auto& [id, c] : checks_)
    if (!c.replica) out.push_back(&c);
  return out;
}

}  // namespace corvid::server
