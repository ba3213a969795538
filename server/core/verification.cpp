#include "server/core/verification.hpp"

#include <algorithm>
#include <unordered_map>

namespace corvid::server {

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

namespace {

bool copies_values(const OpDef& def) { return def.family == OpFamily::movement || def.name == "transpose"; }

}  // namespace

Tolerance replica_tolerance(const Graph& graph, OpIndex op, DType dtype) {
  const OpDef* def = graph.ops[op].def;
  if (!def) return {};
  Tolerance t = agreement_tolerance(*def, dtype);
  if (!copies_values(*def) || (dtype != DType::f32 && dtype != DType::f64)) return t;
  // A copy is as exact as what it copies: walk up through copies to the ops that computed the
  // values, and take the loosest of their tolerances.
  constexpr int kMaxSteps = 64;  // a longer chain of copies gets the loosest float tolerance
  std::vector<OpIndex> stack(graph.ops[op].inputs.begin(), graph.ops[op].inputs.end());
  std::set<OpIndex> seen;
  for (int steps = 0; !stack.empty(); ++steps) {
    const OpIndex in = stack.back();
    stack.pop_back();
    if (!seen.insert(in).second) continue;
    const OpDef* in_def = graph.ops[in].def;
    if (!in_def) continue;
    if (steps >= kMaxSteps) return agreement_tolerance(*find_op("sum"), dtype);
    if (copies_values(*in_def)) {
      stack.insert(stack.end(), graph.ops[in].inputs.begin(), graph.ops[in].inputs.end());
      continue;
    }
    const Tolerance from = agreement_tolerance(*in_def, dtype);
    t.rtol = std::max(t.rtol, from.rtol);
    t.atol = std::max(t.atol, from.atol);
    t.scale_rtol = std::max(t.scale_rtol, from.scale_rtol);
  }
  return t;
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
      if (op != graph.index.end()) tolerance = replica_tolerance(graph, op->second, nt.tensor.dtype());
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

nlohmann::json Evidence::to_json() const {
  return {{"graph", graph}, {"group", group}, {"op", op}, {"largest_difference", difference}, {"detail", detail}};
}

Evidence Evidence::from_json(const nlohmann::json& j) {
  Evidence e;
  if (!j.is_object()) return e;
  try {
    e.graph = j.value("graph", GraphId{0});
    e.group = j.value("group", GroupId{0});
    e.op = j.value("op", "");
    e.difference = j.value("largest_difference", 0.0);
    e.detail = j.value("detail", "");
  } catch (const nlohmann::json::exception&) {
    return Evidence{};  // a damaged record keeps no evidence rather than stopping the start
  }
  return e;
}

void TrustTable::load(std::vector<TrustRecord> records) {
  for (auto& r : records) {
    if (r.quarantined) quarantine_order_.push_front(r.identity);
    records_[r.identity] = std::move(r);
  }
}

std::vector<WorkerId> TrustTable::merge_quarantined(std::vector<TrustRecord> stored) {
  std::vector<WorkerId> newly;
  for (TrustRecord& r : stored) {
    if (!r.quarantined) continue;
    auto local = records_.find(r.identity);
    if (local != records_.end() && local->second.quarantined) continue;
    quarantine_order_.push_front(r.identity);
    for (const auto& [worker, identity] : bound_)
      if (identity == r.identity) newly.push_back(worker);
    records_[r.identity] = std::move(r);
  }
  return newly;
}

TrustRecord& TrustTable::bind(WorkerId worker, const std::string& identity, bool operator_credential) {
  TrustRecord& r = records_[identity];
  if (r.identity.empty()) {
    r.identity = identity;
    r.operator_credential = operator_credential;
    if (operator_credential) changed(r);
  }
  bound_[worker] = identity;
  return r;
}

void TrustTable::unbind(WorkerId worker) {
  auto b = bound_.find(worker);
  if (b == bound_.end()) return;
  const std::string identity = b->second;
  bound_.erase(b);
  for (const auto& [other, id] : bound_)
    if (id == identity) return;  // another connection of an operator's worker of this name
  const TrustRecord& r = records_.at(identity);
  if (r.operator_credential || r.quarantined) return;
  unverified_.erase(identity);
  records_.erase(identity);
}

TrustRecord* TrustTable::of(WorkerId worker) {
  auto b = bound_.find(worker);
  return b == bound_.end() ? nullptr : &records_.at(b->second);
}

const TrustRecord* TrustTable::of(WorkerId worker) const {
  auto b = bound_.find(worker);
  return b == bound_.end() ? nullptr : &records_.at(b->second);
}

double TrustTable::replication_probability(const TrustRecord& r) const {
  if (r.operator_credential) return 0;
  if (r.verified < kTrustedAfter * (1 + r.wrong) * (1 + r.wrong)) return 1;
  const double share = kTrustScale / static_cast<double>(r.verified);
  return std::min(1.0, std::max(floor_, share * share));
}

void TrustTable::verified(WorkerId worker) {
  TrustRecord* r = of(worker);
  if (!r) return;
  ++r->verified;
  changed(*r);
}

bool TrustTable::proven_wrong(WorkerId worker, const Evidence& evidence) {
  TrustRecord* r = of(worker);
  if (!r) return false;
  r->verified = 0;
  ++r->wrong;
  r->evidence = evidence;
  const bool now_quarantined = !r->quarantined && r->wrong >= kQuarantineAfter;
  if (now_quarantined) {
    r->quarantined = true;
    quarantine_order_.push_front(r->identity);
  }
  changed(*r);
  return now_quarantined;
}

void TrustTable::delivered_unverified(WorkerId worker, Unverified group) {
  const TrustRecord* r = of(worker);
  if (!r) return;
  auto& list = unverified_[r->identity];
  list.push_back(std::move(group));
  while (list.size() > kUnverifiedMemory) list.pop_front();
}

std::vector<Unverified> TrustTable::take_unverified(WorkerId worker) {
  const TrustRecord* r = of(worker);
  if (!r) return {};
  auto it = unverified_.find(r->identity);
  if (it == unverified_.end()) return {};
  std::vector<Unverified> out(it->second.begin(), it->second.end());
  unverified_.erase(it);
  return out;
}

void TrustTable::changed(const TrustRecord& r) {
  if (r.operator_credential || r.quarantined) changed_.insert(r.identity);
}

std::vector<TrustRecord> TrustTable::take_changed() {
  std::vector<TrustRecord> out;
  for (const auto& identity : changed_) out.push_back(records_.at(identity));
  changed_.clear();
  return out;
}

std::vector<const TrustRecord*> TrustTable::quarantined(std::size_t limit) const {
  std::vector<const TrustRecord*> out;
  for (const auto& identity : quarantine_order_) {
    if (out.size() >= limit) break;
    out.push_back(&records_.at(identity));
  }
  return out;
}

}  // namespace corvid::server
