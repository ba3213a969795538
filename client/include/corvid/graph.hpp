// libcorvid's graph builder, in the spirit of RavOp: a Graph records ops locally (checking each
// one with the op table at once), sends them to the server in batches through its Session, and
// fetches values when the program asks for them.
//
//   corvid::Graph graph{"test"};          // CORVID_SERVER, default ws://localhost:9999
//   auto a = graph.t({1, 2, 3});          // or corvid::t(...): the current graph's (see Graph)
//   auto c = a + graph.t({5, 22, 7});
//   std::cout << c() << "\n";             // sends the batch, waits for the workers
//   auto report = graph.end();            // failed ops with their reasons
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "corvid/connection.hpp"
#include "corvid/graph_file.hpp"
#include "corvid/session.hpp"
#include "shared/ops/op.hpp"
#include "shared/tensor.hpp"

namespace corvid {

class Graph;
class Value;
}  // namespace corvid

// Values are keys of unordered containers: equal handles (same graph, same op) hash alike.
namespace std {
template <>
struct hash<corvid::Value> {
  size_t operator()(const corvid::Value& v) const noexcept;
};
}  // namespace std

namespace corvid {

// A handle to one op of a graph. Cheap to copy (a pointer and an index); it does not own the op
// (the Graph does) and must not outlive its Graph.
class Value {
 public:
  Value() = default;

  bool valid() const { return graph_ != nullptr; }
  // The op's id within the graph ("o12"), as the server and `end()` reports name it.
  const std::string& id() const;
  // Inferred locally when the op was created.
  const TensorSpec& spec() const;
  DType dtype() const { return spec().dtype; }
  const Shape& shape() const { return spec().shape; }
  Graph& graph() const;

  // The computed value: sends what is buffered and waits until workers computed this op.
  // Throws OpFailed if the op failed, ServerUnreachable if the server is gone for good.
  Tensor operator()() const;

  // Element-wise comparisons (operator== keeps its usual meaning for handles).
  Value eq(const Value& other) const;
  Value ne(const Value& other) const;
  Value eq(double other) const;
  Value ne(double other) const;

  // Same op of the same graph.
  bool operator==(const Value& o) const { return graph_ == o.graph_ && index_ == o.index_; }
  bool operator!=(const Value& o) const { return !(*this == o); }

 private:
  friend class Graph;
  friend struct std::hash<Value>;
  Value(Graph* graph, std::size_t index) : graph_(graph), index_(index) {}
  Graph* graph_ = nullptr;
  std::size_t index_ = 0;
};

// An op that the workers (or the server) failed. what() is "op 'o3' (inv) failed: inv: matrix is singular".
class OpFailed : public std::runtime_error {
 public:
  OpFailed(std::string op_id, std::string op, std::string error);
  const std::string& op_id() const { return op_id_; }
  const std::string& op() const { return op_; }
  const std::string& error() const { return error_; }

 private:
  std::string op_id_, op_, error_;
};

struct GraphOptions {
  std::string server = default_server_url();  // ws://host:port, or several comma-separated (failover)
  std::optional<std::string> token;           // default: find_token()
  std::string owner;                          // shown on the status page; default: $USER
  std::chrono::milliseconds reconnect_window{120000};
  // A batch of ops ends once its tensor values pass this size (the next batch follows at once),
  // so batches stay under the server's frame cap.
  std::size_t max_batch_bytes = std::size_t{64} << 20;
  // A batch also ends after this many ops, so its JSON header stays far under the server's
  // header cap (docs/protocol.md, Limits).
  std::size_t max_batch_ops = 50000;
  // "replicate": the server verifies this graph's results by replication (two distinct workers,
  // or its own kernel, must agree) even if it runs `--verify off` or `adaptive`; "adaptive": at
  // least adaptive replication (docs/design.md, "Threat model"). "": the server's policy.
  std::string verify;
  // Called with (computed, total) whenever the server reports progress during a wait.
  std::function<void(int computed, int total)> on_progress;
};

// A developer's graph. Owns its ops; Values are handles into it. It talks to the server through
// a Session, created (and the token looked up) when the first batch is sent.
//
// Which graph an op is recorded on: a Graph's own builders (graph.t, graph.zeros, graph.op, ...)
// record on that graph. An op function with Value inputs (corvid::add, a + b, ...) records on the
// graph of its first input. A free source builder (corvid::t, corvid::zeros, corvid::ones,
// corvid::random_uniform, corvid::random_normal, corvid::lin) records on the current graph of the
// calling thread: the Graph constructed last on that thread and not destroyed yet.
//
// Not thread-safe; neither copyable nor movable, since Values point at it.
class Graph {
 public:
  explicit Graph(std::string name, GraphOptions options = {});
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // The innermost live Graph of this thread; throws std::logic_error if there is none.
  static Graph& current();

  // Records an op (name or alias from the op table). Checks arity, params, dtypes and shapes
  // right away and throws GraphError naming the op id and the reason. Nothing is sent yet.
  Value op(std::string_view name, const std::vector<Value>& inputs, const Params& params = Params::object());
  // Records a tensor op holding `value` (sent as a binary tensor, once, with the next batch).
  Value tensor(Tensor value);

  // Source builders on this graph, the same as the free functions of the same names (which use
  // the current graph). t(): tensors from C++ values; integers give int32, floating values
  // float32, bools bool (the graph file's rules), unless a dtype is given.
  Value t(const Tensor& value) { return tensor(value); }
  Value t(double scalar, std::optional<DType> dtype = std::nullopt);
  template <class T>
  Value t(std::initializer_list<T> values, std::optional<DType> dtype = std::nullopt);
  template <class T>
  Value t(std::initializer_list<std::initializer_list<T>> values, std::optional<DType> dtype = std::nullopt);
  template <class T>
  Value t(std::initializer_list<std::initializer_list<std::initializer_list<T>>> values,
          std::optional<DType> dtype = std::nullopt);
  // A tensor with the given shape from flat row-major values.
  template <class T>
  Value t(const std::vector<T>& values, Shape shape, std::optional<DType> dtype = std::nullopt);
  // Generators, computed on the server (defined in ops.cpp).
  Value zeros(const Shape& shape, DType dtype = DType::f32);
  Value ones(const Shape& shape, DType dtype = DType::f32);
  Value random_uniform(const Shape& shape, double low = 0, double high = 1, int64_t seed = 0, DType dtype = DType::f32);
  Value random_normal(const Shape& shape, double mean = 0, double stddev = 1, int64_t seed = 0,
                      DType dtype = DType::f32);
  Value lin(double scalar) { return t(scalar); }  // RavOp's name for a scalar tensor

  // Sends every buffered op: one `submit`, or several when their tensor values pass
  // GraphOptions::max_batch_bytes. Throws ServerError (naming the op) if the server
  // refuses the batch, ServerUnreachable if it cannot be reached.
  void flush();
  // Values of several ops with one round trip (flushes first). Throws OpFailed for the first
  // failed one.
  std::vector<Tensor> values(const std::vector<Value>& ops);
  // Waits until at least one of `ops` has a value and returns the positions in `ops` of every
  // one that has a value by then, all fetched in one round trip (flushes first); their values
  // are then known locally (op() does not wait). For consuming results in the order they
  // finish, as asynchronous SGD does. Throws OpFailed for a failed one.
  std::vector<std::size_t> wait_any(const std::vector<Value>& ops);
  // Flushes, waits until every op is final, and returns the report (failed ops and reasons).
  Report end();
  // Cancels every op that is not final yet.
  void cancel();
  // Tells the server, with the next batch, that these ops' values will never be asked for or
  // read by a new op again: it frees them once every op reading them is final (docs/protocol.md,
  // submit `release`), and refuses later ops, waits and outputs that name them. The optimizers
  // release the parameters, state and gradients of the step before. Throws std::logic_error
  // for a Value of another graph.
  void release(const std::vector<Value>& ops);
  // Marks ops not sent yet as outputs of their batch, so that their values reach the server even
  // if ops of the batch read them: a later batch (the next training step) then reads them without
  // the server computing them again. The optimizers mark the new parameters and state.
  void mark_outputs(const std::vector<Value>& ops);
  // Releases the ops recorded at positions [begin, end) that some op reads but no op recorded
  // at or after `end` reads, except those in `keep` and the losses of grad ops: the
  // intermediates of a finished training step (losses and ops nothing reads, the likely values a
  // program asks for, stay). Requires begin <= end <= size().
  void release_unread(std::size_t begin, std::size_t end, const std::vector<Value>& keep);

  // The server's id of this graph (0 until the first flush).
  uint64_t id() const { return session_ ? session_->graph_id() : 0; }
  const std::string& name() const { return name_; }
  std::size_t size() const { return nodes_.size(); }
  // The id of the index-th op recorded (0-based); requires index < size().
  const std::string& id_at(std::size_t index) const { return nodes_.at(index).id; }
  // How many inputs the index-th op takes (0 for tensors and generators); requires index < size().
  std::size_t input_count_at(std::size_t index) const { return nodes_.at(index).inputs.size(); }
  // Writes the graph as Graphviz DOT.
  void dump(std::ostream& out) const;

  // The Session this graph talks to the server through (created on first use: throws NoToken
  // when no token is given or found, std::invalid_argument for a bad server address). Its
  // requests name ops of this graph by id; GraphOptions::on_progress sees their progress.
  Session& session();

  // Flushes, then Session::stream: waits for `ids` with the server streaming each value as soon
  // as it is final; `on_value(id, status, error, tensor)` returns false to stop waiting. Progress
  // counts how many of the `track` ops are running and final. With a deadline, or after
  // interrupt(), throws RequestStopped when it passes.
  void stream(const std::vector<std::string>& ids, const Session::ValueHandler& on_value,
              const ProgressHandler& on_progress = {}, Connection::Deadline deadline = std::nullopt,
              const std::vector<std::string>& track = {});
  // Makes a stream() or wait blocked in another thread stop with RequestStopped. Thread-safe
  // while that call is running.
  void interrupt();
  // Forgets an interrupt() that came after the wait it was meant for (see Connection).
  void clear_interrupt();
  // Flushes, then cancels the given ops (all non-final ops when empty); returns how many were
  // cancelled.
  int cancel(const std::vector<std::string>& ids);
  // The Value with this op id, for ops created through the library.
  Value find(const std::string& id);

 private:
  friend class Value;
  struct Node {
    std::string id;
    const OpDef* def = nullptr;
    std::vector<std::size_t> inputs;
    Params params;
    TensorSpec spec;
    std::optional<Tensor> value;  // known locally (tensor ops) or fetched
    std::size_t dependents = 0;  // within the graph
    bool output = false;         // mark_outputs: an output of its batch whatever reads it
    std::optional<FailedOp> failure;
  };
  Value add(Node node);
  // Sends nodes_[begin, end) in one `submit`.
  void submit_batch(std::size_t begin, std::size_t end);
  // Waits for `ids` (`any`: until one is final) and records the values and failures of the
  // answer on the nodes.
  void fetch(const std::vector<std::string>& ids, bool any);
  // The nodes of `ops` without a value; throws OpFailed for a failed one, std::logic_error
  // (naming `caller`) for a Value of another graph.
  std::vector<std::string> missing_values(const std::vector<Value>& ops, const char* caller) const;
  // The value of an op of this graph, throwing OpFailed if it failed or none came.
  const Tensor& known_value(const Value& v) const;

  std::string name_;
  GraphOptions options_;
  std::unique_ptr<Session> session_;
  std::vector<Node> nodes_;
  std::map<std::string, std::size_t> by_id_;
  std::size_t first_unsent_ = 0;
  std::vector<std::string> to_release_;  // ids sent with the next batch's `release`
  Graph* previous_ = nullptr;  // the current graph before this one
};

// ---- building values on the current graph (see Graph for which graph that is) ----

Value t(const Tensor& value);
Value t(double scalar, std::optional<DType> dtype = std::nullopt);
template <class T>
Value t(std::initializer_list<T> values, std::optional<DType> dtype = std::nullopt) {
  return Graph::current().t(values, dtype);
}
template <class T>
Value t(std::initializer_list<std::initializer_list<T>> values, std::optional<DType> dtype = std::nullopt) {
  return Graph::current().t(values, dtype);
}
template <class T>
Value t(std::initializer_list<std::initializer_list<std::initializer_list<T>>> values,
        std::optional<DType> dtype = std::nullopt) {
  return Graph::current().t(values, dtype);
}
template <class T>
Value t(const std::vector<T>& values, Shape shape, std::optional<DType> dtype = std::nullopt) {
  return Graph::current().t(values, std::move(shape), dtype);
}

// Generic op on the graph of the first input (no inputs: the current graph).
Value op(std::string_view name, const std::vector<Value>& inputs, const Params& params = Params::object());

std::ostream& operator<<(std::ostream& out, const Value& value);  // "<o3 float32 (2, 2)>"
// NumPy-like printing: "[[1, 2], [3, 4]]" (floats with up to 6 significant digits), in full.
std::ostream& operator<<(std::ostream& out, const Tensor& value);
// The same, summarised as NumPy does for a tensor of more than `threshold` elements: along each
// axis longer than 2 × edge only the first and last `edge` entries, with "..." between.
void print_tensor(std::ostream& out, const Tensor& value, int64_t threshold = 1000, int64_t edge = 3);

namespace detail {
Tensor tensor_from_nested(const nlohmann::json& nested, DType dtype);
template <class T>
nlohmann::json to_json_list(std::initializer_list<T> values) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : values) out.push_back(v);
  return out;
}
template <class T>
nlohmann::json to_json_list(std::initializer_list<std::initializer_list<T>> values) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : values) out.push_back(to_json_list(v));
  return out;
}
template <class T>
DType default_dtype() {
  if constexpr (std::is_same_v<T, bool>) return DType::boolean;
  else if constexpr (std::is_integral_v<T>) return DType::i32;
  else return DType::f32;
}
}  // namespace detail

template <class T>
Value Graph::t(std::initializer_list<T> values, std::optional<DType> dtype) {
  return tensor(detail::tensor_from_nested(detail::to_json_list(values), dtype.value_or(detail::default_dtype<T>())));
}
template <class T>
Value Graph::t(std::initializer_list<std::initializer_list<T>> values, std::optional<DType> dtype) {
  return tensor(detail::tensor_from_nested(detail::to_json_list(values), dtype.value_or(detail::default_dtype<T>())));
}
template <class T>
Value Graph::t(std::initializer_list<std::initializer_list<std::initializer_list<T>>> values,
               std::optional<DType> dtype) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : values) out.push_back(detail::to_json_list(v));
  return tensor(detail::tensor_from_nested(out, dtype.value_or(detail::default_dtype<T>())));
}
template <class T>
Value Graph::t(const std::vector<T>& values, Shape shape, std::optional<DType> dtype) {
  using Stored = std::conditional_t<std::is_same_v<T, bool>, uint8_t,
                 std::conditional_t<std::is_integral_v<T>, int32_t,
                 std::conditional_t<std::is_same_v<T, double>, double, float>>>;
  std::vector<Stored> converted(values.begin(), values.end());
  Tensor value = Tensor::from_vector<Stored>(std::move(shape), converted);
  if (dtype && *dtype != value.dtype()) value = value.astype(*dtype);
  return tensor(std::move(value));
}

}  // namespace corvid
