#include "corvid/graph.hpp"

#include <cmath>
#include <limits>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "shared/autograd.hpp"

namespace corvid {

namespace {
// The innermost live Graph of this thread; each Graph links to the one that was current when it
// was created (Graph::previous_), so the live graphs of a thread form a chain.
thread_local Graph* current_graph = nullptr;
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
  // Unlink this graph from the chain, also when graphs are not destroyed in reverse order of
  // creation (two unique_ptr<Graph> reset in creation order), so current() never dangles.
  if (current_graph == this) {
    current_graph = previous_;
    return;
  }
  for (Graph* g = current_graph; g; g = g->previous_)
    if (g->previous_ == this) {
      g->previous_ = previous_;
      return;
    }
}

Graph& Graph::current() {
  if (!current_graph) throw std::logic_error("corvid: no current graph; create a corvid::Graph first");
  return *current_graph;
}

Session& Graph::session() {
  if (!session_) {
    ConnectionOptions c;
    c.servers = parse_server_list(options_.server);
    c.token = require_token(options_.token);
    c.name = options_.owner.empty() ? user_name("developer") : options_.owner;
    c.reconnect_window = options_.reconnect_window;
    session_ = std::make_unique<Session>(std::move(c));
    if (options_.on_progress)
      session_->set_progress_handler([this](const Progress& p) { options_.on_progress(p.count("computed"), p.total); });
  }
  return *session_;
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
  // `grad` is no row of the op table: the server expands it into the ops of a backward pass.
  const OpDef* def = name == "grad" ? &grad_op_def() : find_op(name);
  if (!def) throw GraphError(next_id, "unknown op '" + std::string(name) + "'" + op_name_hint(name));
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
  // Releases go with the last batch, after every op that reads them; alone if none is left.
  if (!to_release_.empty() && id() != 0) submit_batch(first_unsent_, first_unsent_);
}

void Graph::mark_outputs(const std::vector<Value>& ops) {
  for (const Value& v : ops)
    if (v.valid() && v.graph_ == this) nodes_[v.index_].output = true;
}

void Graph::release_unread(std::size_t begin, std::size_t end, const std::vector<Value>& keep) {
  std::vector<char> read_later(end - begin, 0);
  for (std::size_t i = end; i < nodes_.size(); ++i)
    for (std::size_t in : nodes_[i].inputs)
      if (in >= begin && in < end) read_later[in - begin] = 1;
  // Losses (what a grad op differentiates) are what a training loop asks for, often later.
  for (std::size_t i = begin; i < end; ++i)
    if (nodes_[i].def->name == "grad" && nodes_[i].inputs[0] >= begin) read_later[nodes_[i].inputs[0] - begin] = 1;
  for (const Value& v : keep)
    if (v.valid() && v.graph_ == this && v.index_ >= begin && v.index_ < end) read_later[v.index_ - begin] = 1;
  std::vector<Value> unread;
  for (std::size_t i = begin; i < end; ++i)
    if (!read_later[i - begin] && nodes_[i].dependents > 0) unread.push_back(Value(this, i));
  release(unread);
}

void Graph::release(const std::vector<Value>& ops) {
  for (const Value& v : ops) {
    if (!v.valid()) continue;
    if (v.graph_ != this) throw std::logic_error("release: op " + v.id() + " is on another graph than " + name_);
    to_release_.push_back(nodes_[v.index_].id);
  }
}

void Graph::submit_batch(std::size_t begin, std::size_t end) {
  GraphSpec batch;
  batch.name = name_;
  batch.verify = options_.verify;
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
    if ((n.dependents == 0 || n.output) && n.def->name != "tensor") batch.outputs.push_back(n.id);
    batch.ops.push_back(std::move(op));
  }
  if (end == nodes_.size()) batch.release = std::move(to_release_);
  to_release_.clear();
  session().submit(batch);
}

void Graph::fetch(const std::vector<std::string>& ids, bool any) {
  flush();
  WaitResult got = session().wait(ids, any);
  for (auto& [id, value] : got.values) {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) nodes_[it->second].value = std::move(value);
  }
  for (auto& f : got.failed) {
    auto it = by_id_.find(f.id);
    if (it != by_id_.end()) nodes_[it->second].failure = std::move(f);
  }
}

const Tensor& Graph::known_value(const Value& v) const {
  const Node& n = nodes_[v.index_];
  if (n.failure) throw OpFailed(n.failure->id, n.failure->op, n.failure->error);
  if (!n.value) throw OpFailed(n.id, std::string(n.def->name), "the server returned no value for it");
  return *n.value;
}

std::vector<std::string> Graph::missing_values(const std::vector<Value>& ops, const char* caller) const {
  std::vector<std::string> missing;
  for (const auto& v : ops) {
    if (v.graph_ != this) throw std::logic_error(std::string("corvid::Graph::") + caller + ": a Value of another graph");
    const Node& n = nodes_[v.index_];
    if (n.failure) throw OpFailed(n.failure->id, n.failure->op, n.failure->error);
    if (!n.value) missing.push_back(n.id);
  }
  return missing;
}

std::vector<Tensor> Graph::values(const std::vector<Value>& ops) {
  const std::vector<std::string> missing = missing_values(ops, "values");
  if (!missing.empty()) fetch(missing, false);
  std::vector<Tensor> out;
  for (const auto& v : ops) out.push_back(known_value(v));
  return out;
}

std::vector<std::size_t> Graph::wait_any(const std::vector<Value>& ops) {
  const std::vector<std::string> missing = missing_values(ops, "wait_any");
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

void Graph::stream(const std::vector<std::string>& ids, const Session::ValueHandler& on_value,
                   const ProgressHandler& on_progress, Connection::Deadline deadline,
                   const std::vector<std::string>& track) {
  flush();
  session().stream(ids, on_value, on_progress, deadline, track);
}

void Graph::interrupt() {
  if (session_) session_->interrupt();
}

void Graph::clear_interrupt() {
  if (session_) session_->clear_interrupt();
}

Report Graph::end() {
  flush();
  if (!session_) {  // nothing was ever sent: no graph on the server, nothing to wait for
    Report empty;
    empty.status = "computed";
    return empty;
  }
  Report report = session_->end();
  for (const auto& f : report.failed) {
    auto it = by_id_.find(f.id);
    if (it != by_id_.end() && !nodes_[it->second].failure) nodes_[it->second].failure = f;
  }
  return report;
}

int Graph::cancel(const std::vector<std::string>& ids) {
  flush();
  return session_ ? session_->cancel(ids) : 0;
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

Value Graph::t(double scalar, std::optional<DType> dtype) {
  return tensor(Tensor::scalar<double>(scalar).astype(dtype.value_or(DType::f32)));
}

Value t(const Tensor& value) { return Graph::current().t(value); }
Value t(double scalar, std::optional<DType> dtype) { return Graph::current().t(scalar, dtype); }

namespace detail {
Tensor tensor_from_nested(const nlohmann::json& nested, DType dtype) { return tensor_from_json_value(nested, dtype); }
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

// Prints the sub-tensor of `axis` and beyond that starts at flat index `offset`; with edge > 0, an
// axis longer than 2 × edge shows its first and last `edge` entries with "..." between.
void print_axis(std::ostream& out, const Tensor& t, std::size_t axis, int64_t offset, int64_t edge) {
  const Shape& shape = t.shape();
  int64_t stride = 1;
  for (std::size_t a = axis + 1; a < shape.size(); ++a) stride *= shape[a];
  const bool cut = edge > 0 && shape[axis] > 2 * edge;
  out << "[";
  for (int64_t i = 0; i < shape[axis]; ++i) {
    if (cut && i == edge) {
      out << ", ...";
      i = shape[axis] - edge;
    }
    if (i) out << ", ";
    if (axis + 1 == shape.size()) print_element(out, t, offset + i);
    else print_axis(out, t, axis + 1, offset + i * stride, edge);
  }
  out << "]";
}
}  // namespace

void print_tensor(std::ostream& out, const Tensor& value, int64_t threshold, int64_t edge) {
  if (value.ndim() == 0) return print_element(out, value, 0);
  print_axis(out, value, 0, 0, value.size() > threshold ? edge : 0);
}

std::ostream& operator<<(std::ostream& out, const Tensor& value) {
  print_tensor(out, value, std::numeric_limits<int64_t>::max());
  return out;
}

}  // namespace corvid

std::size_t std::hash<corvid::Value>::operator()(const corvid::Value& v) const noexcept {
  // The graph's address and the op's index, mixed as boost::hash_combine does.
  std::size_t h = std::hash<const corvid::Graph*>()(v.graph_);
  h ^= std::hash<std::size_t>()(v.index_) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}
