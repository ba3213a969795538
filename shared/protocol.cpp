#include "protocol.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_set>

namespace corvid::protocol {

namespace {

using nlohmann::json;

// The field, or nullptr when it is absent or null.
const json* field(const json& h, const char* name) {
  auto it = h.find(name);
  return it == h.end() || it->is_null() ? nullptr : &*it;
}

// A non-negative integer (parsed JSON holds them as unsigned, JSON built in C++ as signed).
bool as_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) out = v.get<uint64_t>();
  else if (v.is_number_integer() && v.get<int64_t>() >= 0) out = static_cast<uint64_t>(v.get<int64_t>());
  else return false;
  return true;
}

[[noreturn]] void bad(const char* type, const char* name, const char* must) {
  throw ProtocolError(std::string(type) + ": '" + name + "' must be " + must);
}

uint64_t u64_or(const json& h, const char* type, const char* name, uint64_t fallback) {
  const json* v = field(h, name);
  uint64_t out = fallback;
  if (v && !as_u64(*v, out)) bad(type, name, "a non-negative integer");
  return out;
}

uint64_t required_u64(const json& h, const char* type, const char* name) {
  const json* v = field(h, name);
  uint64_t out = 0;
  if (!v || !as_u64(*v, out)) bad(type, name, "a non-negative integer");
  return out;
}

int64_t i64_or(const json& h, const char* type, const char* name, int64_t fallback) {
  const json* v = field(h, name);
  if (!v) return fallback;
  if (!v->is_number_integer()) bad(type, name, "an integer");
  return v->get<int64_t>();
}

double number_or(const json& h, const char* type, const char* name, double fallback) {
  const json* v = field(h, name);
  if (!v) return fallback;
  if (!v->is_number()) bad(type, name, "a number");
  return v->get<double>();
}

std::string string_or(const json& h, const char* type, const char* name, std::string fallback = {}) {
  const json* v = field(h, name);
  if (!v) return fallback;
  if (!v->is_string()) bad(type, name, "a string");
  return v->get<std::string>();
}

// A string field from outside that is only shown: anything else reads as "".
std::string loose_string(const json& h, const char* name) {
  const json* v = field(h, name);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool bool_or(const json& h, const char* type, const char* name, bool fallback) {
  const json* v = field(h, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(type, name, "true or false");
  return v->get<bool>();
}

std::vector<std::string> strings(const json& h, const char* type, const char* name, bool required) {
  std::vector<std::string> out;
  const json* v = field(h, name);
  if (!v) {
    if (required) throw ProtocolError(std::string(type) + ": missing '" + name + "'");
    return out;
  }
  if (!v->is_array()) bad(type, name, "a list of strings");
  for (const auto& e : *v) {
    if (!e.is_string()) bad(type, name, "a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// A developer's list of op ids (strings, or integers read as their decimal text), or none.
std::optional<std::vector<std::string>> op_ids(const json& h, const char* name) {
  const json* v = field(h, name);
  if (!v) return std::nullopt;
  try {
    return parse_op_ids(*v, name);
  } catch (const GraphError& e) {
    throw ProtocolError(e.what());
  }
}

// graph_id as a JSON number or a string of digits (up to 18).
bool parse_graph_id(const json& v, uint64_t& out) {
  if (as_u64(v, out)) return true;
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::stoull(s);
  return true;
}

uint64_t required_graph_id(const json& h) {
  uint64_t id = 0;
  const json* v = field(h, "graph_id");
  if (!v || !parse_graph_id(*v, id)) throw ProtocolError("'graph_id' is required (a graph id from `submitted`)");
  return id;
}

RequestId request_id_of(const json& h) {
  auto it = h.find("request_id");
  return it == h.end() ? RequestId() : *it;
}

Frame frame_of(const char* type, json header, const RequestId& request_id = {}) {
  Frame f;
  f.header = std::move(header);
  f.header["type"] = type;
  if (!request_id.is_null()) f.header["request_id"] = request_id;
  return f;
}

json counts_json(const OpCounts& c) {
  return {{"pending", c.pending}, {"running", c.running}, {"computed", c.computed}, {"failed", c.failed},
          {"cancelled", c.cancelled}};
}

OpCounts counts_of(const json& h, const char* type) {
  OpCounts c;
  const json* v = field(h, "counts");
  if (!v) return c;
  if (!v->is_object()) bad(type, "counts", "an object");
  c.pending = i64_or(*v, type, "pending", 0);
  c.running = i64_or(*v, type, "running", 0);
  c.computed = i64_or(*v, type, "computed", 0);
  c.failed = i64_or(*v, type, "failed", 0);
  c.cancelled = i64_or(*v, type, "cancelled", 0);
  return c;
}

json failed_json(const std::vector<FailedOp>& failed) {
  json out = json::array();
  for (const auto& f : failed) out.push_back({{"id", f.id}, {"op", f.op}, {"error", f.error}});
  return out;
}

std::vector<FailedOp> failed_of(const json& h, const char* type) {
  std::vector<FailedOp> out;
  const json* v = field(h, "failed");
  if (!v) return out;
  if (!v->is_array()) bad(type, "failed", "a list of {id, op, error}");
  for (const auto& f : *v) {
    if (!f.is_object()) bad(type, "failed", "a list of {id, op, error}");
    out.push_back({string_or(f, type, "id"), string_or(f, type, "op"), string_or(f, type, "error")});
  }
  return out;
}

json op_json(const OpSpec& op) {
  return {{"id", op.id}, {"op", op.def->name}, {"inputs", op.inputs}, {"params", op.params}};
}

void expect_type(const Frame& frame, const char* type) {
  if (type_of(frame) != type)
    throw ProtocolError(std::string("expected a '") + type + "' message, got '" + type_of(frame) + "'");
}

}  // namespace

std::string type_of(const Frame& frame) { return loose_string(frame.header, "type"); }

const char* kind_name(WorkerErrorKind kind) {
  switch (kind) {
    case WorkerErrorKind::kernel: return "kernel";
    case WorkerErrorKind::missing_input: return "missing_input";
    case WorkerErrorKind::malformed: return "malformed";
    case WorkerErrorKind::unknown: break;
  }
  return "unknown";
}

std::string hello_version_problem(const Frame& hello) {
  auto version = hello.header.find("version");
  if (version == hello.header.end() || !version->is_number_integer())
    return "hello has no integer \"version\": this server speaks protocol version " + std::to_string(kProtocolVersion);
  if (version->get<int64_t>() != kProtocolVersion)
    return "protocol version " + std::to_string(version->get<int64_t>()) +
           " is not supported: this server speaks protocol version " + std::to_string(kProtocolVersion);
  return "";
}

std::string server_address_problem(const std::string& url) {
  if (url.size() > kMaxServerAddressLength)
    return "is longer than " + std::to_string(kMaxServerAddressLength) + " bytes";
  std::string rest;
  for (const char* scheme : {"ws://", "wss://"})
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  if (rest.empty()) return "must start with ws:// or wss:// and name a host";
  if (rest.back() == '/') rest.pop_back();
  std::string host = rest, port;
  if (rest.front() == '[') {  // [IPv6]
    const auto close = rest.find(']');
    if (close == std::string::npos || close == 1) return "has an unclosed or empty '[' host";
    host = rest.substr(1, close - 1);
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return "has a bad IPv6 host";
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return "must be ws://host:port with no path";
      port = rest.substr(close + 2);
      if (port.empty()) return "has an empty port";
    }
  } else {
    const auto colon = rest.find(':');
    if (colon != std::string::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty()) return "has an empty port";
    }
    if (host.empty()) return "has no host";
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        return c == '/' ? "must be ws://host:port with no path" : "has a character that is not allowed in a host name";
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return port.find('/') != std::string::npos ? "must be ws://host:port with no path" : "has a port that is not a number";
    const int n = std::stoi(port);
    if (n < 1 || n > 65535) return "has a port outside 1..65535";
  }
  return "";
}

// ---------------------------------------------------------------- encoders

Frame encode(Heartbeat m) { return frame_of(Heartbeat::kType, {{"t", m.t}}); }

Frame encode(ErrorReply m) {
  Frame f = frame_of(ErrorReply::kType, {{"error", std::move(m.error)}}, m.request_id);
  if (!m.op_id.empty()) f.header["op_id"] = std::move(m.op_id);
  return f;
}

Frame encode(WorkerHello m) {
  Frame f = frame_of(WorkerHello::kType, {{"version", m.version}, {"name", std::move(m.name)},
                                          {"user_agent", std::move(m.user_agent)}});
  if (m.resume_id) f.header["resume_id"] = *m.resume_id;
  if (!m.cached.empty()) f.header["cached"] = std::move(m.cached);
  if (!m.worker_token.empty()) f.header["worker_token"] = std::move(m.worker_token);
  if (!m.device.empty()) f.header["device"] = std::move(m.device);
  if (m.slot) f.header["slot"] = *m.slot;
  return f;
}

Frame encode(WorkerWelcome m) {
  Frame f = frame_of(WorkerWelcome::kType, {{"worker_id", m.worker_id}, {"heartbeat_ms", m.heartbeat_ms}});
  if (!m.servers.empty()) f.header["servers"] = std::move(m.servers);
  return f;
}

Frame encode(Benchmark m) {
  return frame_of(Benchmark::kType, {{"matmul_gflops", m.score.matmul_gflops},
                                     {"elementwise_gbs", m.score.elementwise_gbs},
                                     {"reduce_gbs", m.score.reduce_gbs},
                                     {"duration_ms", m.score.duration_ms}});
}

Frame encode(Assign m) {
  json ops = json::array();
  for (const auto& op : m.ops) ops.push_back(op_json(op));
  Frame f = frame_of(Assign::kType, {{"group_id", m.group_id}, {"ops", std::move(ops)}, {"outputs", std::move(m.outputs)}});
  if (!m.keep.empty()) f.header["keep"] = std::move(m.keep);
  f.tensors = std::move(m.inputs);
  return f;
}

Frame encode(Result m) {
  Frame f = frame_of(Result::kType, {{"group_id", m.group_id}, {"compute_ms", m.compute_ms.value_or(0)},
                                     {"op_ms", std::move(m.op_ms)}});
  f.tensors = std::move(m.outputs);
  return f;
}

Frame encode(WorkerError m) {
  return frame_of(WorkerError::kType, {{"group_id", m.group_id}, {"op_id", std::move(m.op_id)},
                                       {"error", std::move(m.error)}, {"kind", kind_name(m.kind)}});
}

Frame encode(Release m) {
  Frame f = frame_of(Release::kType, {{"group_ids", std::move(m.group_ids)}});
  if (!m.names.empty()) f.header["names"] = std::move(m.names);
  return f;
}

Frame encode(CancelGroup m) { return frame_of(CancelGroup::kType, {{"group_id", m.group_id}}); }

Frame encode(Redirect m) {
  return frame_of(Redirect::kType, {{"url", std::move(m.url)}, {"reason", std::move(m.reason)}});
}

Frame encode(ClientHello m) {
  Frame f = frame_of(ClientHello::kType, {{"version", m.version}, {"token", std::move(m.token)}});
  if (!m.name.empty()) f.header["name"] = std::move(m.name);
  return f;
}

Frame encode(ClientWelcome m) { return frame_of(ClientWelcome::kType, {{"client_id", m.client_id}}); }

Frame encode(Submit m) {
  Frame f;
  json ops = json::array();
  for (auto& op : m.ops) {
    json o = op_json(op);
    if (op.value) {
      o["dtype"] = dtype_name(op.value->dtype());
      f.tensors.push_back({op.id, std::move(*op.value)});
    }
    ops.push_back(std::move(o));
  }
  f.header = {{"type", Submit::kType}, {"name", std::move(m.name)}, {"ops", std::move(ops)}};
  if (!m.request_id.is_null()) f.header["request_id"] = m.request_id;
  if (m.outputs) f.header["outputs"] = std::move(*m.outputs);
  if (m.graph_id) f.header["graph_id"] = *m.graph_id;
  if (!m.submit_key.empty()) f.header["submit_key"] = std::move(m.submit_key);
  if (!m.verify.empty()) f.header["verify"] = std::move(m.verify);
  if (!m.release.empty()) f.header["release"] = std::move(m.release);
  return f;
}

Frame encode(Submitted m) {
  Frame f = frame_of(Submitted::kType, {{"graph_id", m.graph_id}, {"added", m.added}}, m.request_id);
  if (m.repeated) f.header["repeated"] = true;
  return f;
}

Frame encode(Wait m) {
  Frame f = frame_of(Wait::kType, {{"graph_id", m.graph_id}, {"stream", m.stream}}, m.request_id);
  if (m.ids) f.header["ids"] = std::move(*m.ids);
  if (m.any) f.header["any"] = true;
  if (m.track) f.header["track"] = std::move(*m.track);
  return f;
}

Frame encode(End m) { return frame_of(End::kType, {{"graph_id", m.graph_id}}, m.request_id); }

Frame encode(CancelOps m) {
  Frame f = frame_of(CancelOps::kType, {{"graph_id", m.graph_id}}, m.request_id);
  if (m.ids) f.header["ids"] = std::move(*m.ids);
  return f;
}

Frame encode(Progress m) {
  Frame f = frame_of(Progress::kType, {{"graph_id", m.graph_id}, {"counts", counts_json(m.counts)}, {"total", m.total}},
                     m.request_id);
  if (m.has_tracked) f.header["tracked"] = {{"running", m.tracked_running}, {"final", m.tracked_final}};
  if (m.no_workers_s > 0) f.header["no_workers_s"] = m.no_workers_s;
  return f;
}

Frame encode(ValueUpdate m) {
  Frame f = frame_of(ValueUpdate::kType, {{"graph_id", m.graph_id}, {"id", m.id}, {"status", std::move(m.status)}},
                     m.request_id);
  if (m.value)
    f.tensors.push_back({std::move(m.id), std::move(*m.value)});
  else
    f.header["error"] = std::move(m.error);
  return f;
}

Frame encode(Values m) {
  Frame f = frame_of(Values::kType, {{"graph_id", m.graph_id}, {"status", std::move(m.status)},
                                     {"failed", failed_json(m.failed)}},
                     m.request_id);
  f.tensors = std::move(m.values);
  return f;
}

Frame encode(Report m) {
  Frame f = frame_of(Report::kType, {{"graph_id", m.graph_id}, {"status", std::move(m.status)},
                                  {"counts", counts_json(m.counts)}, {"total", m.total},
                                  {"failed", failed_json(m.failed)}},
                  m.request_id);
  if (m.verification) {
    const VerificationSummary& v = *m.verification;
    f.header["verification"] = {{"policy", v.policy},         {"replicated", v.replicated},
                                {"spot_checked", v.spot_checked}, {"disagreements", v.disagreements},
                                {"wrong", v.wrong},           {"quarantines", v.quarantines}};
  }
  return f;
}

Frame encode(Cancelled m) {
  return frame_of(Cancelled::kType, {{"graph_id", m.graph_id}, {"count", m.count}}, m.request_id);
}

// ---------------------------------------------------------------- decoders

template <>
Heartbeat decode<Heartbeat>(Frame frame) {
  expect_type(frame, Heartbeat::kType);
  const json* t = field(frame.header, "t");
  return {t && t->is_number() ? t->get<double>() : 0.0};  // only shown: a bad clock is no error
}

template <>
ErrorReply decode<ErrorReply>(Frame frame) {
  expect_type(frame, ErrorReply::kType);
  const auto& h = frame.header;
  return {request_id_of(h), loose_string(h, "op_id"), string_or(h, "error", "error", "the server reported an error")};
}

template <>
WorkerHello decode<WorkerHello>(Frame frame) {
  expect_type(frame, WorkerHello::kType);
  const auto& h = frame.header;
  WorkerHello m;
  m.version = i64_or(h, "hello", "version", 0);
  m.name = loose_string(h, "name");
  m.user_agent = loose_string(h, "user_agent");
  if (uint64_t id = 0; field(h, "resume_id") && as_u64(h["resume_id"], id)) m.resume_id = id;
  if (const json* c = field(h, "cached"); c && c->is_array())
    for (const auto& name : *c)
      if (name.is_string()) m.cached.push_back(name.get<std::string>());  // a stale guess costs one retry
  if (const json* t = field(h, "worker_token")) {
    if (!t->is_string()) throw ProtocolError("hello: 'worker_token' must be a string");
    m.worker_token = t->get<std::string>();
  }
  m.device = string_or(h, "hello", "device");
  const bool device_ok = m.device.size() <= WorkerHello::kMaxDeviceIdLength &&
                         std::all_of(m.device.begin(), m.device.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                         });
  if (!device_ok) bad("hello", "device", "at most 64 characters of A-Z, a-z, 0-9, '_' and '-'");
  if (field(h, "slot")) {
    m.slot = u64_or(h, "hello", "slot", 0);
    if (*m.slot >= WorkerHello::kMaxDeviceSlots) bad("hello", "slot", "below 256");
  }
  return m;
}

template <>
WorkerWelcome decode<WorkerWelcome>(Frame frame) {
  expect_type(frame, WorkerWelcome::kType);
  WorkerWelcome m{required_u64(frame.header, "welcome", "worker_id"), number_or(frame.header, "welcome", "heartbeat_ms", 0), {}};
  if (const json* servers = field(frame.header, "servers");
      servers && (!servers->is_array() || servers->size() > WorkerWelcome::kMaxServers))
    throw ProtocolError("welcome: 'servers' must be a list of at most " + std::to_string(WorkerWelcome::kMaxServers) +
                        " server addresses");
  m.servers = strings(frame.header, "welcome", "servers", false);
  for (const auto& url : m.servers)
    if (const std::string problem = server_address_problem(url); !problem.empty())
      throw ProtocolError("welcome: server address '" + url.substr(0, 64) + "' in 'servers' " + problem);
  return m;
}

template <>
Benchmark decode<Benchmark>(Frame frame) {
  expect_type(frame, Benchmark::kType);
  auto positive = [&](const char* name) {
    const json* v = field(frame.header, name);
    const double x = v && v->is_number() ? v->get<double>() : 0;
    return std::isfinite(x) && x > 0 ? x : 0;
  };
  Benchmark m;
  m.score.matmul_gflops = positive("matmul_gflops");
  m.score.elementwise_gbs = positive("elementwise_gbs");
  if (m.score.matmul_gflops <= 0 || m.score.elementwise_gbs <= 0)
    throw ProtocolError("benchmark: 'matmul_gflops' and 'elementwise_gbs' must be positive numbers");
  m.score.reduce_gbs = positive("reduce_gbs");
  m.score.duration_ms = positive("duration_ms");
  return m;
}

template <>
Assign decode<Assign>(Frame frame) {
  expect_type(frame, Assign::kType);
  const auto& h = frame.header;
  Assign g;
  g.group_id = required_u64(h, "assign", "group_id");
  const json* ops = field(h, "ops");
  if (!ops || !ops->is_array() || ops->empty()) throw ProtocolError("assign: 'ops' must be a non-empty list");
  std::unordered_set<std::string> ids;
  for (const auto& o : *ops) {
    if (!o.is_object() || !o.contains("id") || !o["id"].is_string() || !o.contains("op") || !o["op"].is_string())
      throw ProtocolError("assign: every op needs string 'id' and 'op'");
    OpSpec op;
    op.id = o["id"].get<std::string>();
    op.def = find_op(o["op"].get<std::string>());
    if (!op.def) throw ProtocolError("assign: op '" + op.id + "' has unknown op '" + o["op"].get<std::string>() + "'");
    if (!ids.insert(op.id).second) throw ProtocolError("assign: duplicate op id '" + op.id + "'");
    op.inputs = strings(o, "assign", "inputs", false);
    if (const json* p = field(o, "params")) {
      if (!p->is_object()) throw ProtocolError("assign: params of op '" + op.id + "' must be an object");
      op.params = *p;
    }
    g.ops.push_back(std::move(op));
  }
  g.outputs = strings(h, "assign", "outputs", true);
  g.keep = strings(h, "assign", "keep", false);
  g.inputs = std::move(frame.tensors);
  return g;
}

template <>
Result decode<Result>(Frame frame) {
  expect_type(frame, Result::kType);
  auto& h = frame.header;
  Result m;
  m.group_id = required_u64(h, "result", "group_id");
  if (const json* c = field(h, "compute_ms"); c && c->is_number() && std::isfinite(c->get<double>()) && c->get<double>() >= 0)
    m.compute_ms = c->get<double>();
  if (auto it = h.find("op_ms"); it != h.end() && it->is_object()) m.op_ms = std::move(*it);
  m.outputs = std::move(frame.tensors);
  return m;
}

template <>
WorkerError decode<WorkerError>(Frame frame) {
  expect_type(frame, WorkerError::kType);
  const auto& h = frame.header;
  WorkerError m;
  m.group_id = required_u64(h, "error", "group_id");
  m.op_id = loose_string(h, "op_id");
  if (const json* e = field(h, "error"); e && e->is_string()) m.error = e->get<std::string>();
  const std::string kind = loose_string(h, "kind");
  for (auto k : {WorkerErrorKind::kernel, WorkerErrorKind::missing_input, WorkerErrorKind::malformed})
    if (kind == kind_name(k)) m.kind = k;
  return m;
}

template <>
Release decode<Release>(Frame frame) {
  expect_type(frame, Release::kType);
  const json* ids = field(frame.header, "group_ids");
  if (!ids || !ids->is_array()) throw ProtocolError("release: 'group_ids' must be a list of group ids");
  Release m;
  for (const auto& id : *ids)
    if (uint64_t gid = 0; as_u64(id, gid)) m.group_ids.push_back(gid);
  if (const json* names = field(frame.header, "names"); names && names->is_array())
    for (const auto& name : *names)
      if (name.is_string()) m.names.push_back(name.get<std::string>());
  return m;
}

template <>
CancelGroup decode<CancelGroup>(Frame frame) {
  expect_type(frame, CancelGroup::kType);
  return {required_u64(frame.header, "cancel", "group_id")};
}

template <>
Redirect decode<Redirect>(Frame frame) {
  expect_type(frame, Redirect::kType);
  const auto& h = frame.header;
  Redirect m;
  m.url = string_or(h, "redirect", "url");
  if (const std::string problem = server_address_problem(m.url); !problem.empty())
    throw ProtocolError("redirect: 'url' " + problem);
  m.reason = loose_string(h, "reason");
  if (m.reason.size() > Redirect::kMaxReasonLength) {
    std::size_t end = Redirect::kMaxReasonLength;  // not inside a UTF-8 sequence: the text stays valid
    while (end > 0 && (static_cast<unsigned char>(m.reason[end]) & 0xC0) == 0x80) --end;
    m.reason.resize(end);
  }
  return m;
}

template <>
ClientHello decode<ClientHello>(Frame frame) {
  expect_type(frame, ClientHello::kType);
  const auto& h = frame.header;
  return {i64_or(h, "hello", "version", 0), loose_string(h, "token"), loose_string(h, "name")};
}

template <>
ClientWelcome decode<ClientWelcome>(Frame frame) {
  expect_type(frame, ClientWelcome::kType);
  return {required_u64(frame.header, "welcome", "client_id")};
}

template <>
Submit decode<Submit>(Frame frame) {
  expect_type(frame, Submit::kType);
  const auto& h = frame.header;
  Submit m;
  m.request_id = request_id_of(h);
  if (field(h, "graph_id")) m.graph_id = required_graph_id(h);
  m.name = loose_string(h, "name");
  m.submit_key = loose_string(h, "submit_key");
  if (m.submit_key.size() > 128) throw ProtocolError("'submit_key' is longer than 128 characters");
  m.verify = loose_string(h, "verify");
  if (!m.verify.empty() && m.verify != "off" && m.verify != "adaptive" && m.verify != "replicate")
    throw ProtocolError("submit: 'verify' must be \"off\", \"adaptive\" or \"replicate\"");
  const json* ops = field(h, "ops");
  if (ops && !ops->is_array()) throw ProtocolError("submit: \"ops\" must be a list");
  if (ops) m.ops = parse_op_specs(*ops, &frame);
  if (const json* outputs = field(h, "outputs")) m.outputs = parse_op_ids(*outputs, "outputs");
  if (const json* release = field(h, "release")) {
    if (release->is_array() && release->size() > Submit::kMaxRelease)
      throw ProtocolError("submit: 'release' has " + std::to_string(release->size()) + " entries, more than " +
                          std::to_string(Submit::kMaxRelease));
    m.release = parse_op_ids(*release, "release");
  }
  return m;
}

template <>
Submitted decode<Submitted>(Frame frame) {
  expect_type(frame, Submitted::kType);
  const auto& h = frame.header;
  return {request_id_of(h), required_u64(h, "submitted", "graph_id"), u64_or(h, "submitted", "added", 0),
          bool_or(h, "submitted", "repeated", false)};
}

template <>
Wait decode<Wait>(Frame frame) {
  expect_type(frame, Wait::kType);
  const auto& h = frame.header;
  Wait m;
  m.request_id = request_id_of(h);
  m.graph_id = required_graph_id(h);
  if (const json* s = field(h, "stream"); s && s->is_boolean()) m.stream = s->get<bool>();
  if (const json* a = field(h, "any"); a && a->is_boolean()) m.any = a->get<bool>() && !m.stream;
  m.ids = op_ids(h, "ids");
  m.track = op_ids(h, "track");
  return m;
}

template <>
End decode<End>(Frame frame) {
  expect_type(frame, End::kType);
  return {request_id_of(frame.header), required_graph_id(frame.header)};
}

template <>
CancelOps decode<CancelOps>(Frame frame) {
  expect_type(frame, CancelOps::kType);
  const auto& h = frame.header;
  CancelOps m;
  m.request_id = request_id_of(h);
  m.graph_id = required_graph_id(h);
  m.ids = op_ids(h, "ids");
  return m;
}

template <>
Progress decode<Progress>(Frame frame) {
  expect_type(frame, Progress::kType);
  const auto& h = frame.header;
  Progress m;
  m.request_id = request_id_of(h);
  m.graph_id = u64_or(h, "progress", "graph_id", 0);
  m.counts = counts_of(h, "progress");
  m.total = i64_or(h, "progress", "total", 0);
  if (const json* t = field(h, "tracked")) {
    if (!t->is_object()) bad("progress", "tracked", "an object");
    m.has_tracked = true;
    m.tracked_running = i64_or(*t, "progress", "running", 0);
    m.tracked_final = i64_or(*t, "progress", "final", 0);
  }
  m.no_workers_s = number_or(h, "progress", "no_workers_s", 0);
  return m;
}

template <>
ValueUpdate decode<ValueUpdate>(Frame frame) {
  expect_type(frame, ValueUpdate::kType);
  const auto& h = frame.header;
  ValueUpdate m;
  m.request_id = request_id_of(h);
  m.graph_id = u64_or(h, "value", "graph_id", 0);
  m.id = string_or(h, "value", "id");
  m.status = string_or(h, "value", "status");
  m.error = string_or(h, "value", "error");
  for (auto& nt : frame.tensors)
    if (nt.name == m.id) m.value = std::move(nt.tensor);
  if (m.status == "computed" && !m.value) throw ProtocolError("value: no tensor for computed op '" + m.id + "'");
  return m;
}

template <>
Values decode<Values>(Frame frame) {
  expect_type(frame, Values::kType);
  const auto& h = frame.header;
  Values m;
  m.request_id = request_id_of(h);
  m.graph_id = u64_or(h, "values", "graph_id", 0);
  m.status = string_or(h, "values", "status");
  m.failed = failed_of(h, "values");
  m.values = std::move(frame.tensors);
  return m;
}

template <>
Report decode<Report>(Frame frame) {
  expect_type(frame, Report::kType);
  const auto& h = frame.header;
  Report m;
  m.request_id = request_id_of(h);
  m.graph_id = u64_or(h, "report", "graph_id", 0);
  m.status = string_or(h, "report", "status");
  m.counts = counts_of(h, "report");
  m.total = i64_or(h, "report", "total", 0);
  m.failed = failed_of(h, "report");
  if (const json* v = field(h, "verification"); v && v->is_object()) {
    VerificationSummary s;
    s.policy = string_or(*v, "report verification", "policy");
    s.replicated = i64_or(*v, "report verification", "replicated", 0);
    s.spot_checked = i64_or(*v, "report verification", "spot_checked", 0);
    s.disagreements = i64_or(*v, "report verification", "disagreements", 0);
    s.wrong = i64_or(*v, "report verification", "wrong", 0);
    s.quarantines = i64_or(*v, "report verification", "quarantines", 0);
    m.verification = s;
  }
  return m;
}

template <>
Cancelled decode<Cancelled>(Frame frame) {
  expect_type(frame, Cancelled::kType);
  const auto& h = frame.header;
  return {request_id_of(h), u64_or(h, "cancelled", "graph_id", 0), i64_or(h, "cancelled", "count", 0)};
}

}  // namespace corvid::protocol
