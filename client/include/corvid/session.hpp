// One graph's conversation with the server: submit ops, wait for values (all at once or streamed
// as they finish), end, cancel. corvid::Graph, corvid::MapJob and the `corvid` CLI all talk to
// the server through a Session. The developer requests of /ws/client (wait, end, cancel, and
// submit with the body from submit_frame in graph_file.cpp) are built here only; the hello is
// Connection's.
//
//   corvid::Session session(options);           // ConnectionOptions: server, token, owner name
//   session.submit(spec);                       // creates the graph; later submits add to it
//   auto got = session.wait({"c"});             // got.values["c"], got.failed
//   corvid::Report report = session.end();      // once every op is final
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "corvid/connection.hpp"
#include "shared/graph_spec.hpp"
#include "shared/tensor.hpp"

namespace corvid {

// How many ops `counts` (ops by status, as the server reports them) has in `status`; 0 when absent.
inline int count_in(const std::map<std::string, int>& counts, const std::string& status) {
  auto it = counts.find(status);
  return it == counts.end() ? 0 : it->second;
}

// An op that failed, as the server names it: {id, op, error}.
using FailedOp = protocol::FailedOp;

// What end() returns: the graph's final status, op counts by status, and every failed op.
struct Report {
  uint64_t graph_id = 0;
  std::string status;                // "computed", "failed", "cancelled" (or "running")
  std::map<std::string, int> counts;  // pending, running, computed, failed, cancelled
  int total = 0;
  std::vector<FailedOp> failed;
  // How the server verified volunteers' results for this graph (absent from older servers).
  std::optional<protocol::VerificationSummary> verification;
  bool ok() const { return status == "computed"; }
  int count(const std::string& op_status) const { return count_in(counts, op_status); }
};
// "graph 3: failed, 2 of 4 ops computed, 2 failed", a line per failed op and one for verification.
std::ostream& operator<<(std::ostream& out, const Report& report);

// Op counts of a graph as the server reported them.
struct Progress {
  std::map<std::string, int> counts;  // ops of the graph by status
  int total = 0;
  int tracked_running = 0;  // of the ops a stream() tracks: on a worker right now
  int tracked_final = 0;    // of the ops a stream() tracks: computed, failed or cancelled
  double no_workers_s = 0;  // how long no worker has been connected to the server (0: one is)
  int count(const std::string& status) const { return count_in(counts, status); }
};
using ProgressHandler = std::function<void(const Progress&)>;

// The server's answer to a submit.
struct Submitted {
  uint64_t graph_id = 0;
  int added = 0;          // ops stored by this submit
  bool repeated = false;  // a resent creating submit: nothing added, graph_id is the first try's
};

// What wait() returns: the values that computed, by op id, and the ops that did not.
struct WaitResult {
  std::map<std::string, Tensor> values;
  std::vector<FailedOp> failed;
};

// A developer's session with one graph over its own Connection (connected on the first request).
// Requests survive a server restart as Connection's do. Not thread-safe, except interrupt().
class Session {
 public:
  // For the graph `graph_id`, or (0) for a graph the first submit() creates.
  explicit Session(ConnectionOptions options, uint64_t graph_id = 0);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The graph's id; 0 until the first submit() answered.
  uint64_t graph_id() const { return graph_id_; }
  Connection& connection() { return *connection_; }

  // Called with every progress frame of every request, before the handler of the call.
  void set_progress_handler(ProgressHandler handler) { on_progress_ = std::move(handler); }
  // Where the session says, once, that no worker has been connected to the server for
  // kNoWorkersNoticeS while it waits (default: a line on stderr naming the page volunteers open).
  static constexpr double kNoWorkersNoticeS = 3;
  void set_notice_handler(std::function<void(const std::string&)> handler) { on_notice_ = std::move(handler); }

  // Sends `batch` (ops in an order where inputs come first, tensor values attached, outputs as
  // given) in one `submit`: it creates the graph on the first call and adds to it afterwards
  // (ops may refer to ops of earlier batches by id). Throws ServerError naming the op if the
  // server refuses it, ServerUnreachable if the server cannot be reached.
  Submitted submit(const GraphSpec& batch);

  // One `wait` for `ids` (empty: the graph's outputs, or its sinks when it names none): returns
  // when every one is final (`any`: as soon as one is), with the values of those that computed
  // and the failed ones. Throws ServerError, ServerUnreachable.
  WaitResult wait(const std::vector<std::string>& ids, bool any = false, const ProgressHandler& on_progress = {});

  // Waits for `ids` with the server streaming each one as soon as it is final:
  // `on_value(id, status, error, value)` (value null unless computed) is called once per id and
  // returns false to stop waiting. Progress counts how many of the `track` ops are running and
  // final. With a deadline, or after interrupt(), throws RequestStopped when it passes.
  using ValueHandler = std::function<bool(const std::string& id, const std::string& status,
                                          const std::string& error, const Tensor* value)>;
  void stream(const std::vector<std::string>& ids, const ValueHandler& on_value,
              const ProgressHandler& on_progress = {}, Connection::Deadline deadline = std::nullopt,
              const std::vector<std::string>& track = {});

  // Waits until every op of the graph is final (asking again every 100 ms while the server
  // reports ops pending or running) and returns the report. Without a graph yet: "computed".
  Report end(const ProgressHandler& on_progress = {});

  // Cancels the given ops (every op not final when empty); returns how many were cancelled.
  // Without a graph yet: 0.
  int cancel(const std::vector<std::string>& ids = {});

  // Makes a request blocked in another thread stop with RequestStopped. Thread-safe.
  void interrupt() { connection_->interrupt(); }
  // Forgets an interrupt() that came after the request it was meant for (see Connection).
  void clear_interrupt() { connection_->clear_interrupt(); }

 private:
  // Hands a progress frame to the session's handler and then to `extra`.
  void progress(Frame& frame, const ProgressHandler& extra);
  // Sends `request`: progress frames go to progress(), every other answer to `on_answer` until it
  // returns true.
  void ask(Frame request, const ProgressHandler& on_progress, const std::function<bool(Frame&)>& on_answer,
           Connection::Deadline deadline = std::nullopt);

  std::unique_ptr<Connection> connection_;
  uint64_t graph_id_ = 0;
  ProgressHandler on_progress_;
  std::function<void(const std::string&)> on_notice_;
  bool told_no_workers_ = false;
};

}  // namespace corvid
