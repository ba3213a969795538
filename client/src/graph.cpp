#include "corvid/graph.hpp"

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

namespace corvid {

namespace {
thread_local Graph* current_graph = nullptr;

std::string owner_name() {
  const char* user = std::getenv("USER");
  return user && *user ? user : "developer";
}
}  // namespace

OpFailed::OpFailed(std::string op_id, std::string op, std::string error)
    : std::runtime_error("op '" + op_id + "'" + (op.empty() ? "" : " (" + op + ")") + " failed: " + error),
      op_id_(std::move(op_id)),
      op_(std::move(op)),
      error_(std::move(error)) {}

// ---- Value ----

const std::string& Value::id() const { return graph().nodes_.at(index_).id; }
const TensorSpec& Value::spec() const { return graph().nodes_.at(index_).spec; }
Graph& Value::graph() const {
  if (!graph_) throw std::logic_error("corvid::Value: empty handle (default-constructed)");
  return *graph_;
}
Tensor Value::operator()() const { return graph().values({*this}).front(); }

// ---- Graph ----

Graph::Graph(std::string name, GraphOptions options) : name_(std::move(name)), options_(std::move(options)) {
  previous_ = current_graph;
  current_graph = this;
}

Graph::~Graph() {
  if (current_graph == this) current_graph = previous_;
}

Graph& Graph::current() {
  if (!current_graph) throw std::logic_error("corvid: no current graph; create a corvid::Graph first");
  return *current_graph;
}

Connection& Graph::connection() {
  if (!connection_) {
    ConnectionOptions c;
    c.server = parse_server_url(options_.server);
    if (options_.token) c.token = *options_.token;
    else if (auto token = find_token()) c.token = *token;
    else
      throw ServerError("", kNoTokenMessage);
    c.name = options_.owner.empty() ? owner_name() : options_.owner;
    c.reconnect_window = options_.reconnect_window;
    connection_ = std::make_unique<Connection>(std::move(c));
  }
  return *connection_;
}

Value Graph::add(Node node) {
  node.id = "o" + std::to_string(nodes_.size() + 1);
  for (auto in : node.inputs) ++nodes_[in].dependents;
  by_id_.emplace(node.id, nodes_.size());
  nodes_.push_back(std::move(node));
  return Value(this, nodes_.size() - 1);
}

Value Graph::op(std::string_view name, const std::vector<Value>& inputs, const Params& params) {
  const std::string next_id = "o" + std::to_string(nodes_.size() + 1);
  const OpDef* def = find_op(name);
  if (!def) throw GraphError(next_id, "unknown op '" + std::string(name) + "'");
  Node node;
  node.def = def;
  node.params = params.is_null() ? Params::object() : params;
  std::vector<TensorSpec> specs;
  for (const auto& v : inputs) {
    if (v.graph_ != this)
      throw GraphError(next_id, std::string(def->name) + ": input " + (v.valid() ? v.id() + " belongs to another graph" : "is an empty Value"));
    node.inputs.push_back(v.index_);
    specs.push_back(nodes_[v.index_].spec);
  }
  if (def->name == "tensor")
    throw GraphError(next_id, "tensor: use corvid::t() or Graph::tensor() to add a value");
  try {
    node.spec = infer_op(*def, specs, node.params);
  } catch (const std::exception& e) {
    throw GraphError(next_id, e.what());
  }
  return add(std::move(node));
}

Value Graph::tensor(Tensor value) {
  Node node;
  node.def = find_op("tensor");
  node.params = Params::object();
  node.spec = spec_of(value);
  node.value = std::move(value);
  return add(std::move(node));
}

Value Graph::find(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) throw std::out_of_range("corvid::Graph::find: no op '" + id + "'");
  return Value(this, it->second);
}

void Graph::flush() {
  // Later batches refer to earlier ops by id.
  while (first_unsent_ < nodes_.size()) {
    std::size_t end = first_unsent_, bytes = 0;
    while (end < nodes_.size() &&
           (end == first_unsent_ || (bytes < options_.max_batch_bytes && end - first_unsent_ < options_.max_batch_ops))) {
      if (nodes_[end].value && nodes_[end].def->name == "tensor") bytes += nodes_[end].value->nbytes();
      ++end;
    }
    submit_batch(first_unsent_, end);
    first_unsent_ = end;
  }
}

void Graph::submit_batch(std::size_t begin, std::size_t end) {
  GraphSpec batch;
  batch.name = name_;
  for (std::size_t i = begin; i < end; ++i) {
    const Node& n = nodes_[i];
    OpSpec op;
    op.id = n.id;
    op.def = n.def;
    op.params = n.params;
    for (auto in : n.inputs) op.inputs.push_back(nodes_[in].id);
    op.value = n.value && n.def->name == "tensor" ? n.value : std::nullopt;
    // Ops nothing else uses yet are the likely values the program asks for: mark them outputs
    // so their values come back to the server (others stay on the worker unless asked).
    if (n.dependents == 0 && n.def->name != "tensor") batch.outputs.push_back(n.id);
    batch.ops.push_back(std::move(op));
  }
  Frame frame = submit_frame(batch, 0, graph_id_ ? nlohmann::json(graph_id_) : nlohmann::json());
  bool resent = false;
  try {
    connection().request(
        std::move(frame),
        [&](const Frame& reply) {
          if (reply.header["type"] != "submitted") return false;
          graph_id_ = reply.header.value("graph_id", graph_id_);
          return true;
        },
        [&] {
          resent = true;
          return true;
        });
  } catch (const ServerError& e) {
    // A batch repeated after a reconnect may already have been stored before the server went
    // down; the server then names our first op as a duplicate.
    const std::string first = nodes_[begin].id;
    if (!(resent && graph_id_ && e.op_id() == first && std::string(e.what()).find("duplicate") != std::string::npos))
      throw;
  }
}

void Graph::handle_progress(const Frame& frame, const std::function<void(const Progress&)>& extra) {
  Progress p;
  if (frame.header.contains("counts") && frame.header["counts"].is_object())
    for (auto& [k, v] : frame.header["counts"].items())
      if (v.is_number_integer()) p.counts[k] = v.get<int>();
  p.total = frame.header.value("total", 0);
  if (frame.header.contains("tracked") && frame.header["tracked"].is_object()) {
    p.tracked_running = frame.header["tracked"].value("running", 0);
    p.tracked_final = frame.header["tracked"].value("final", 0);
  }
  if (options_.on_progress) options_.on_progress(p.counts["computed"], p.total);
  if (extra) extra(p);
}

void Graph::fetch(const std::vector<std::string>& ids, bool any) {
  flush();
  Frame wait{{{"type", "wait"}, {"graph_id", graph_id_}, {"ids", ids}, {"stream", false}}, {}};
  if (any) wait.header["any"] = true;
  connection().request(std::move(wait), [&](const Frame& reply) {
    const std::string type = reply.header["type"];
    if (type == "progress") {
      handle_progress(reply, {});
      return false;
    }
    if (type != "values") return false;
    for (const auto& nt : reply.tensors) {
      auto it = by_id_.find(nt.name);
      if (it != by_id_.end()) nodes_[it->second].value = nt.tensor;
    }
    if (reply.header.contains("failed") && reply.header["failed"].is_array())
      for (const auto& f : reply.header["failed"]) {
        auto it = by_id_.find(f.value("id", std::string()));
        if (it == by_id_.end()) continue;
        nodes_[it->second].failure = FailedOp{f.value("id", std::string()), f.value("op", std::string()),
                                              f.value("error", std::string("failed"))};
      }
    return true;
  });
}

const Tensor& Graph::known_value(const Value& v) const {
  const Node& n = nodes_[v.index_];
  if (n.failure) throw OpFailed(n.failure->id, n.failure->op, n.failure->error);
  if (!n.value) throw OpFailed(n.id, std::string(n.def->name), "the server returned no value for it");
  return *n.value;
}

std::vector<Tensor> Graph::values(const std::vector<Value>& ops) {
  std::vector<std::string> missing;
  for (const auto& v : ops) {
    if (v.graph_ != this) throw std::logic_error("corvid::Graph::values: a Value of another graph");
    const Node& n = nodes_[v.index_];
    if (n.failure) throw OpFailed(n.failure->id, n.failure->op, n.failure->error);
    if (!n.value) missing.push_back(n.id);
  }
  if (!missing.empty()) fetch(missing, false);
  std::vector<Tensor> out;
  for (const auto& v : ops) out.push_back(known_value(v));
  return out;
}

std::vector<std::size_t> Graph::wait_any(const std::vector<Value>& ops) {
  std::vector<std::string> missing;
  for (const auto& v : ops) {
    if (v.graph_ != this) throw std::logic_error("corvid::Graph::wait_any: a Value of another graph");
    const Node& n = nodes_[v.index_];
    if (n.failure) throw OpFailed(n.failure->id, n.failure->op, n.failure->error);
    if (!n.value) missing.push_back(n.id);
  }
  if (missing.size() == ops.size() && !ops.empty()) fetch(missing, true);
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Node& n = nodes_[ops[i].index_];
    if (n.value || n.failure) {
      known_value(ops[i]);  // throws for a failed op
      ready.push_back(i);
    }
  }
  return ready;
}

void Graph::stream(const std::vector<std::string>& ids,
                   const std::function<bool(const std::string&, const std::string&, const std::string&, const Tensor*)>& on_value,
                   const std::function<void(const Progress&)>& on_progress, Connection::Deadline deadline,
                   const std::vector<std::string>& track) {
  flush();
  std::set<std::string> done;
  Frame wait{{{"type", "wait"}, {"graph_id", graph_id_}, {"ids", ids}, {"stream", true}}, {}};
  if (!track.empty()) wait.header["track"] = track;
  connection().request(
      std::move(wait),
      [&](const Frame& reply) {
        const std::string type = reply.header["type"];
        if (type == "progress") {
          handle_progress(reply, on_progress);
          return false;
        }
        if (type == "value") {
          const std::string id = reply.header.value("id", std::string());
          // After a reconnect the server streams the values again: deliver each once.
          if (!done.insert(id).second) return false;
          const std::string status = reply.header.value("status", std::string());
          const std::string error = reply.header.contains("error") && reply.header["error"].is_string()
                                        ? reply.header["error"].get<std::string>()
                                        : std::string();
          return !on_value(id, status, error, reply.find(id));
        }
        return type == "values";
      },
      {}, deadline);
}

void Graph::interrupt() {
  if (connection_) connection_->interrupt();
}

void Graph::clear_interrupt() {
  if (connection_) connection_->clear_interrupt();
}

Report Graph::end() {
  flush();
  Report report;
  report.graph_id = graph_id_;
  if (!graph_id_) {
    report.status = "computed";
    return report;
  }
  // Wait for every op to be final (progress reaches zero pending and running), then end.
  for (;;) {
    connection().request(Frame{{{"type", "end"}, {"graph_id", graph_id_}}, {}}, [&](const Frame& reply) {
      const std::string type = reply.header["type"];
      if (type == "progress") {
        handle_progress(reply, {});
        return false;
      }
      if (type != "report") return false;
      report.status = reply.header.value("status", std::string());
      report.total = reply.header.value("total", 0);
      report.counts.clear();
      if (reply.header.contains("counts") && reply.header["counts"].is_object())
        for (auto& [k, v] : reply.header["counts"].items())
          if (v.is_number_integer()) report.counts[k] = v.get<int>();
      report.failed.clear();
      if (reply.header.contains("failed") && reply.header["failed"].is_array())
        for (const auto& f : reply.header["failed"])
          report.failed.push_back({f.value("id", std::string()), f.value("op", std::string()), f.value("error", std::string())});
      return true;
    });
    if (report.status != "running" && report.counts["pending"] + report.counts["running"] == 0) break;
    // Some ops are not final yet; ask again shortly (no values travel for this).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& f : report.failed) {
    auto it = by_id_.find(f.id);
    if (it != by_id_.end() && !nodes_[it->second].failure) nodes_[it->second].failure = f;
  }
  return report;
}

int Graph::cancel(const std::vector<std::string>& ids) {
  flush();
  if (!graph_id_) return 0;
  int count = 0;
  Frame frame{{{"type", "cancel"}, {"graph_id", graph_id_}}, {}};
  if (!ids.empty()) frame.header["ids"] = ids;
  connection().request(std::move(frame), [&](const Frame& reply) {
    if (reply.header["type"] != "cancelled") return false;
    count = reply.header.value("count", 0);
    return true;
  });
  return count;
}

void Graph::cancel() { cancel(std::vector<std::string>{}); }

void Graph::dump(std::ostream& out) const {
  out << "digraph \"" << name_ << "\" {\n";
  for (const auto& n : nodes_) {
    out << "  " << n.id << " [label=\"" << n.id << ": " << n.def->name << "\\n" << dtype_name(n.spec.dtype)
        << shape_string(n.spec.shape) << "\"];\n";
    for (auto in : n.inputs) out << "  " << nodes_[in].id << " -> " << n.id << ";\n";
  }
  out << "}\n";
}

// ---- free functions ----

Value t(const Tensor& value) { return Graph::current().tensor(value); }

Value t(double scalar, std::optional<DType> dtype) {
  return Graph::current().tensor(Tensor::scalar<double>(scalar).astype(dtype.value_or(DType::f32)));
}

namespace detail {
Value tensor_from_nested(const nlohmann::json& nested, std::optional<DType> dtype) {
  return Graph::current().tensor(tensor_from_json_value(nested, dtype));
}
}  // namespace detail

Value op(std::string_view name, const std::vector<Value>& inputs, const Params& params) {
  Graph& g = inputs.empty() || !inputs.front().valid() ? Graph::current() : inputs.front().graph();
  return g.op(name, inputs, params);
}

std::ostream& operator<<(std::ostream& out, const Value& value) {
  if (!value.valid()) return out << "<empty corvid::Value>";
  return out << "<" << value.id() << " " << dtype_name(value.dtype()) << shape_string(value.shape()) << ">";
}

namespace {
void print_element(std::ostream& out, const Tensor& t, int64_t i) {
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T v = t.data<T>()[i];
    if constexpr (std::is_same_v<T, uint8_t>) out << (v ? "true" : "false");
    else if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) out << "nan";
      else if (std::isinf(v)) out << (v > 0 ? "inf" : "-inf");
      else {
        std::ostringstream s;
        s << std::setprecision(6) << v;
        out << s.str();
      }
    } else out << v;
  });
}

void print_axis(std::ostream& out, const Tensor& t, std::size_t axis, int64_t& flat) {
  const Shape& shape = t.shape();
  out << "[";
  for (int64_t i = 0; i < shape[axis]; ++i) {
    if (i) out << ", ";
    if (axis + 1 == shape.size()) print_element(out, t, flat++);
    else print_axis(out, t, axis + 1, flat);
  }
  out << "]";
}
}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& value) {
  if (value.ndim() == 0) {
    print_element(out, value, 0);
    return out;
  }
  int64_t flat = 0;
  print_axis(out, value, 0, flat);
  return out;
}

std::ostream& operator<<(std::ostream& out, const Report& report) {
  auto count = [&](const char* k) {
    auto it = report.counts.find(k);
    return it == report.counts.end() ? 0 : it->second;
  };
  out << "graph " << report.graph_id << ": " << report.status << ", " << count("computed") << " of " << report.total
      << " ops computed";
  if (count("failed")) out << ", " << count("failed") << " failed";
  if (count("cancelled")) out << ", " << count("cancelled") << " cancelled";
  for (const auto& f : report.failed) out << "\n  op '" << f.id << "' (" << f.op << "): " << f.error;
  return out;
}

}  // namespace corvid
