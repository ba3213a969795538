// The messages of Corvid's wire protocol (docs/protocol.md), one struct per message with its
// encoder and decoder. Every frame the server, libcorvid, the CLI, corvid-worker and the wasm
// kernel send is built here, and every frame they read is read here: a message has one shape,
// and each hop converts between struct and frame once. The frame itself (binary layout, header
// limits, tensors) is shared/wire.hpp; the graph-file ops a submit carries are
// shared/graph_spec.hpp's OpSpec. web/wire.js reads and writes the same shapes in JavaScript.
//
//   Frame f = protocol::encode(protocol::Heartbeat{now_ms});
//   if (protocol::type_of(frame) == protocol::Result::kType)
//     auto result = protocol::decode<protocol::Result>(std::move(frame));  // throws ProtocolError
//
// Decoders check what the message itself must satisfy (field types, required fields) and throw
// ProtocolError naming the type and the field; what a field must mean to the receiver (a group
// assigned to this worker, an op id of this graph) is checked by the receiver.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "device_benchmark.hpp"
#include "graph_spec.hpp"
#include "wire.hpp"

namespace corvid::protocol {

// A frame that is not a valid message of its type. what() is the reply the peer gets, e.g.
// "benchmark: 'matmul_gflops' and 'elementwise_gbs' must be positive numbers".
class ProtocolError : public WireError {
 public:
  using WireError::WireError;
};

// A developer's request id, echoed in every answer to the request. Any JSON value; null: none.
using RequestId = nlohmann::json;

// The frame's "type", or "" when it has none.
std::string type_of(const Frame& frame);

// ---------------------------------------------------------------- both endpoints

// "heartbeat" (both directions): the sender's clock.
struct Heartbeat {
  static constexpr const char* kType = "heartbeat";
  double t = 0;  // ms
};

// "error" from the server to a worker or developer: what was wrong with their message or request.
struct ErrorReply {
  static constexpr const char* kType = "error";
  RequestId request_id;  // of the request it answers (developers), or null
  std::string op_id;     // the op to blame, or ""
  std::string error;
};

// ---------------------------------------------------------------- workers: /ws/worker

// "hello", the first message of a worker.
struct WorkerHello {
  static constexpr const char* kType = "hello";
  int64_t version = kProtocolVersion;
  std::string name;
  std::string user_agent;
  std::optional<uint64_t> resume_id;  // the worker id of this tab's or process's earlier connection
  std::vector<std::string> cached;    // tensor names it still keeps, most recently used first
  std::string worker_token;  // the operator's worker token ("": none): a trusted worker (docs/protocol.md)
  // The device this connection is one compute slot of (a browser keeps a random id): at most
  // kMaxDeviceIdLength of [A-Za-z0-9_-]; "" for a worker that is a device of its own.
  std::string device;
  std::optional<uint64_t> slot;  // which of the device's slots, below kMaxDeviceSlots
  static constexpr std::size_t kMaxDeviceIdLength = 64;
  static constexpr uint64_t kMaxDeviceSlots = 256;
};

// "welcome", the server's answer to a worker's hello.
struct WorkerWelcome {
  static constexpr const char* kType = "welcome";
  uint64_t worker_id = 0;
  double heartbeat_ms = 0;
  // Other servers of this fleet (the server's --peers) a worker may fail over to: at most
  // kMaxServers valid server addresses (server_address_problem); absent from older servers.
  std::vector<std::string> servers;
  static constexpr std::size_t kMaxServers = 32;
};

// "redirect" from the server to a worker: connect to `url` instead (an operator's drain, or a
// server sending idle workers to one with a backlog); the server then closes the connection
// normally. Decoding requires a valid server address (server_address_problem).
struct Redirect {
  static constexpr const char* kType = "redirect";
  std::string url;     // ws://host[:port] or wss://host[:port], no path
  std::string reason;  // shown only; at most kMaxReasonLength bytes are kept
  static constexpr std::size_t kMaxReasonLength = 200;
};

// A server address a server sends (redirect's url): at most this many bytes.
inline constexpr std::size_t kMaxServerAddressLength = 300;

// What is wrong with `url` as a server address from the network ("" if nothing): it must be at
// most kMaxServerAddressLength bytes of ws:// or wss:// followed by a host (letters, digits, '.',
// '-', '_', or an IPv6 address in brackets), an optional :port in 1..65535 and an optional '/'.
std::string server_address_problem(const std::string& url);

// "benchmark": the worker's measured speed (shared/device_benchmark.hpp). Decoding requires
// positive matmul_gflops and elementwise_gbs; the other two are 0 unless positive.
struct Benchmark {
  static constexpr const char* kType = "benchmark";
  DeviceScore score;
};

// "assign": an op group for a worker. Ops are in topological order; an input id is an earlier
// op of the group, a tensor attached (`inputs`) or a tensor the worker keeps. Ids are the
// server's wire names ("<graph>:<op>").
struct Assign {
  static constexpr const char* kType = "assign";
  uint64_t group_id = 0;
  std::vector<OpSpec> ops;           // no `value`s: inputs travel as tensors
  std::vector<std::string> outputs;  // ids whose values go back to the server
  std::vector<std::string> keep;     // ids (inputs or outputs) the worker should keep for later groups
  std::vector<NamedTensor> inputs;
};

// "result": a group's outputs, one tensor per output id.
struct Result {
  static constexpr const char* kType = "result";
  uint64_t group_id = 0;
  std::optional<double> compute_ms;  // as claimed by the worker; nullopt when missing or not a non-negative number
  nlohmann::json op_ms = nlohmann::json::object();  // {id: ms}, shown only
  std::vector<NamedTensor> outputs;
};

enum class WorkerErrorKind { kernel, missing_input, malformed, unknown };
const char* kind_name(WorkerErrorKind kind);

// "error" from a worker: the group could not be computed.
struct WorkerError {
  static constexpr const char* kType = "error";
  uint64_t group_id = 0;
  std::string op_id;                 // the op that failed (kernel errors)
  std::string error = "no message";  // "<op>: <reason>"
  WorkerErrorKind kind = WorkerErrorKind::unknown;
};

// "release" from a worker: groups it hands back without computing them (the Stop button).
// "release" to a worker: kept tensors it may forget (their ops' values were released by the
// developer, docs/protocol.md); group_ids is then empty.
struct Release {
  static constexpr const char* kType = "release";
  std::vector<uint64_t> group_ids;  // entries that are not group ids are dropped when decoding
  std::vector<std::string> names;  // kept tensors' wire names; entries that are not strings are dropped when decoding
};

// "cancel" to a worker: another worker already finished this group.
struct CancelGroup {
  static constexpr const char* kType = "cancel";
  uint64_t group_id = 0;
};

// ---------------------------------------------------------------- developers: /ws/client

// "hello", the first message of a developer.
struct ClientHello {
  static constexpr const char* kType = "hello";
  int64_t version = kProtocolVersion;
  std::string token;
  std::string name;  // shown as the owner of its graphs ("" : the server names it)
};

// "welcome", the server's answer to a developer's hello.
struct ClientWelcome {
  static constexpr const char* kType = "welcome";
  uint64_t client_id = 0;
};

// "submit": ops to add to a new graph (no graph_id) or an existing one. `tensor` ops' values
// travel as tensors named by op id.
struct Submit {
  static constexpr const char* kType = "submit";
  RequestId request_id;
  std::optional<uint64_t> graph_id;  // none: create a graph
  std::string name;
  std::vector<OpSpec> ops;
  std::optional<std::vector<std::string>> outputs;
  std::string submit_key;  // when creating: resent submits with this key find the graph the first created
  // "adaptive" or "replicate": the graph runs under at least this verification policy whatever
  // the server's (a developer may tighten the policy, never loosen it: "off" leaves the server's).
  // "": the server's.
  std::string verify;
  // Op ids (of the graph or of these ops) whose values the developer will never reference again:
  // the server frees them once every op that reads them is final, and refuses later references.
  std::vector<std::string> release;
  static constexpr std::size_t kMaxRelease = 65536;  // entries of `release`
};

// "submitted": the submit was stored.
struct Submitted {
  static constexpr const char* kType = "submitted";
  RequestId request_id;
  uint64_t graph_id = 0;
  uint64_t added = 0;     // ops added
  bool repeated = false;  // the submit_key was seen before: nothing added, graph_id is the first try's graph
};

// "wait": values of ops (the graph's outputs when ids is empty), at once or streamed.
struct Wait {
  static constexpr const char* kType = "wait";
  RequestId request_id;
  uint64_t graph_id = 0;
  std::optional<std::vector<std::string>> ids;    // none: the graph's outputs
  bool stream = false;                            // a `value` per id as soon as it is final
  bool any = false;                               // answer once one id is final
  std::optional<std::vector<std::string>> track;  // ops counted in progress frames' `tracked`
};

// "end": the report of the whole graph once every op is final.
struct End {
  static constexpr const char* kType = "end";
  RequestId request_id;
  uint64_t graph_id = 0;
};

// "cancel" from a developer: cancels ops not yet final.
struct CancelOps {
  static constexpr const char* kType = "cancel";
  RequestId request_id;
  uint64_t graph_id = 0;
  std::optional<std::vector<std::string>> ids;  // none: every op of the graph
};

// A graph's ops by status.
struct OpCounts {
  int64_t pending = 0, running = 0, computed = 0, failed = 0, cancelled = 0;
};

// An op that failed or was cancelled, with the reason.
struct FailedOp {
  std::string id;
  std::string op;
  std::string error;
};

// "progress" while a wait or end is open.
struct Progress {
  static constexpr const char* kType = "progress";
  RequestId request_id;
  uint64_t graph_id = 0;
  OpCounts counts;
  int64_t total = 0;
  bool has_tracked = false;  // the wait gave `track`
  int64_t tracked_running = 0, tracked_final = 0;
  double no_workers_s = 0;  // how long no worker has been connected to the server (0: one is)
};

// "value" (stream mode): one op became final.
struct ValueUpdate {
  static constexpr const char* kType = "value";
  RequestId request_id;
  uint64_t graph_id = 0;
  std::string id;
  std::string status;          // computed, failed or cancelled
  std::string error;           // when not computed
  std::optional<Tensor> value;  // when computed
};

// "values": the answer to a wait.
struct Values {
  static constexpr const char* kType = "values";
  RequestId request_id;
  uint64_t graph_id = 0;
  std::string status;  // computed when every requested op computed, else failed
  std::vector<FailedOp> failed;
  std::vector<NamedTensor> values;  // named by op id
};

// "report": the answer to an end.
// A graph's verification of volunteers' results so far (docs/design.md, "Verification").
struct VerificationSummary {
  std::string policy;          // off, replicate or adaptive: the graph's, after a developer's tightening
  int64_t replicated = 0;      // groups whose result waited for a second result
  int64_t spot_checked = 0;    // groups the server's own kernel recomputed (spot checks, tie-breaks)
  int64_t disagreements = 0;   // results that disagreed with an earlier one
  int64_t wrong = 0;           // results proven wrong (never delivered)
  int64_t quarantines = 0;     // workers quarantined on evidence from this graph
};

struct Report {
  static constexpr const char* kType = "report";
  RequestId request_id;
  uint64_t graph_id = 0;
  std::string status;
  OpCounts counts;
  int64_t total = 0;
  std::vector<FailedOp> failed;
  std::optional<VerificationSummary> verification;  // absent from servers before issue 10
};

// "cancelled": the answer to a developer's cancel.
struct Cancelled {
  static constexpr const char* kType = "cancelled";
  RequestId request_id;
  uint64_t graph_id = 0;
  int64_t count = 0;  // ops cancelled
};

// ---------------------------------------------------------------- encoders and decoders

// The frame of a message. Tensors are moved into the frame.
Frame encode(Heartbeat m);
Frame encode(ErrorReply m);
Frame encode(WorkerHello m);
Frame encode(WorkerWelcome m);
Frame encode(Benchmark m);
Frame encode(Assign m);
Frame encode(Result m);
Frame encode(WorkerError m);
Frame encode(Release m);
Frame encode(CancelGroup m);
Frame encode(Redirect m);
Frame encode(ClientHello m);
Frame encode(ClientWelcome m);
Frame encode(Submit m);
Frame encode(Submitted m);
Frame encode(Wait m);
Frame encode(End m);
Frame encode(CancelOps m);
Frame encode(Progress m);
Frame encode(ValueUpdate m);
Frame encode(Values m);
Frame encode(Report m);
Frame encode(Cancelled m);

// The message in a frame of type M::kType (the caller dispatched on type_of). Tensors are moved
// out of the frame. Throws ProtocolError naming the field that is missing or of the wrong type;
// decode<Submit> throws GraphError (with the op id) for an op that is not valid in the graph-file
// format, and decode<Assign> throws ProtocolError for unknown ops, duplicate ids or an empty group.
template <class M>
M decode(Frame frame);

// The version a hello claims, or an error naming what is wrong: "" if it is kProtocolVersion.
std::string hello_version_problem(const Frame& hello);

}  // namespace corvid::protocol
