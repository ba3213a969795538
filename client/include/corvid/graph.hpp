// libcorvid's graph builder, in the spirit of RavOp: a Graph records ops locally (checking each
// one with the op table at once), sends them to the server in batches, and fetches values when
// the program asks for them.
//
//   corvid::Graph graph{"test"};          // CORVID_SERVER, default ws://localhost:9999
//   auto a = corvid::t({1, 2, 3});
//   auto c = a + corvid::t({5, 22, 7});
//   std::cout << c() << "\n";             // sends the batch, waits for the workers
//   auto report = graph.end();            // failed ops with their reasons
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corvid/connection.hpp"
#include "corvid/graph_file.hpp"
#include "shared/ops/op.hpp"
#include "shared/tensor.hpp"

namespace corvid {

class Graph;

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

struct FailedOp {
  std::string id;
  std::string op;
  std::string error;
};

// What end() returns: the graph's final status, op counts by status, and every failed op.
struct Report {
  uint64_t graph_id = 0;
  std::string status;                // "computed", "failed", "cancelled" (or "running")
  std::map<std::string, int> counts;  // pending, running, computed, failed, cancelled
  int total = 0;
  std::vector<FailedOp> failed;
  bool ok() const { return status == "computed"; }
};
std::ostream& operator<<(std::ostream& out, const Report& report);

struct GraphOptions {
  std::string server = default_server_url();  // ws://host:port
  std::optional<std::string> token;           // default: find_token()
  std::string owner;                          // shown on the status page; default: $USER
  std::chrono::milliseconds reconnect_window{120000};
  // A batch of ops ends once its tensor values pass this size (the next batch follows at once),
  // so batches stay under the server's frame cap.
  std::size_t max_batch_bytes = std::size_t{64} << 20;
  // A batch also ends after this many ops, so its JSON header stays far under the server's
  // header cap (docs/protocol.md, Limits).
  std::size_t max_batch_ops = 50000;
  // Called with (computed, total) whenever the server reports progress during a wait.
  std::function<void(int computed, int total)> on_progress;
};

// Op counts of a graph as the server reported them.
struct Progress {
  std::map<std::string, int> counts;  // ops of the graph by status
  int total = 0;
  int tracked_running = 0;  // of the ops a stream() tracks: on a worker right now
  int tracked_final = 0;    // of the ops a stream() tracks: computed, failed or cancelled
};

// A developer's graph. Owns its ops; Values are handles into it. Creating a Graph makes it the
// current graph of this thread (used by corvid::t and the op functions) until it is destroyed.
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

  // The server's id of this graph (0 until the first flush).
  uint64_t id() const { return graph_id_; }
  const std::string& name() const { return name_; }
  std::size_t size() const { return nodes_.size(); }
  // The id of the index-th op recorded (0-based); requires index < size().
  const std::string& id_at(std::size_t index) const { return nodes_.at(index).id; }
  // How many inputs the index-th op takes (0 for tensors and generators); requires index < size().
  std::size_t input_count_at(std::size_t index) const { return nodes_.at(index).inputs.size(); }
  // Writes the graph as Graphviz DOT.
  void dump(std::ostream& out) const;

  // Lower level, for MapJob: waits for `ids` with the server streaming each value as soon as
  // it is final; `on_value(id, status, error, tensor)` returns false to stop waiting. Progress
  // counts how many of the `track` ops are running and final. With a deadline, or after
  // interrupt(), throws RequestStopped when it passes.
  void stream(const std::vector<std::string>& ids,
              const std::function<bool(const std::string& id, const std::string& status, const std::string& error,
                                       const Tensor* value)>& on_value,
              const std::function<void(const Progress&)>& on_progress = {},
              Connection::Deadline deadline = std::nullopt, const std::vector<std::string>& track = {});
  // Makes a stream() or wait blocked in another thread stop with RequestStopped. Thread-safe
  // while that call is running.
  void interrupt();
  // Forgets an interrupt() that came after the wait it was meant for (see Connection).
  void clear_interrupt();
  // Cancels the given ops (all non-final ops when empty); returns how many were cancelled.
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
    std::optional<FailedOp> failure;
  };
  Value add(Node node);
  // Sends nodes_[begin, end) in one `submit`.
  void submit_batch(std::size_t begin, std::size_t end);
  Connection& connection();
  void handle_progress(const Frame& frame, const std::function<void(const Progress&)>& extra);
  // Sends a non-streaming `wait` for `ids` (`any`: answered once one is final) and records the
  // values and failures of its answer on the nodes.
  void fetch(const std::vector<std::string>& ids, bool any);
  // The value of an op of this graph, throwing OpFailed if it failed or none came.
  const Tensor& known_value(const Value& v) const;

  std::string name_;
  GraphOptions options_;
  std::unique_ptr<Connection> connection_;
  uint64_t graph_id_ = 0;
  std::vector<Node> nodes_;
  std::map<std::string, std::size_t> by_id_;
  std::size_t first_unsent_ = 0;
  Graph* previous_ = nullptr;  // the current graph before this one
};

// ---- building values ----

// Tensors from C++ values. Integers give int32, floating values float32, bools bool (the
// graph file's rules), unless a dtype is given.
Value t(const Tensor& value);
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

// Generic op on the current graph (or the graph of the first input).
Value op(std::string_view name, const std::vector<Value>& inputs, const Params& params = Params::object());

std::ostream& operator<<(std::ostream& out, const Value& value);  // "<o3 float32 (2, 2)>"
// NumPy-like printing: "[[1, 2], [3, 4]]" (floats with up to 6 significant digits).
std::ostream& operator<<(std::ostream& out, const Tensor& value);

namespace detail {
Value tensor_from_nested(const nlohmann::json& nested, std::optional<DType> dtype);
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
Value t(std::initializer_list<T> values, std::optional<DType> dtype) {
  return detail::tensor_from_nested(detail::to_json_list(values), dtype.value_or(detail::default_dtype<T>()));
}
template <class T>
Value t(std::initializer_list<std::initializer_list<T>> values, std::optional<DType> dtype) {
  return detail::tensor_from_nested(detail::to_json_list(values), dtype.value_or(detail::default_dtype<T>()));
}
template <class T>
Value t(std::initializer_list<std::initializer_list<std::initializer_list<T>>> values, std::optional<DType> dtype) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : values) out.push_back(detail::to_json_list(v));
  return detail::tensor_from_nested(out, dtype.value_or(detail::default_dtype<T>()));
}
template <class T>
Value t(const std::vector<T>& values, Shape shape, std::optional<DType> dtype) {
  using Stored = std::conditional_t<std::is_same_v<T, bool>, uint8_t,
                 std::conditional_t<std::is_integral_v<T>, int32_t,
                 std::conditional_t<std::is_same_v<T, double>, double, float>>>;
  std::vector<Stored> converted(values.begin(), values.end());
  Tensor tensor = Tensor::from_vector<Stored>(std::move(shape), converted);
  if (dtype && *dtype != tensor.dtype()) tensor = tensor.astype(*dtype);
  return t(tensor);
}

}  // namespace corvid
