#include "corvid/session.hpp"

#include <ostream>
#include <set>
#include <thread>

#include "corvid/graph_file.hpp"

namespace corvid {

namespace {

// Integer entries of a header's object field ("counts").
std::map<std::string, int> int_map(const nlohmann::json& header, const char* field) {
  std::map<std::string, int> out;
  if (header.contains(field) && header[field].is_object())
    for (auto& [k, v] : header[field].items())
      if (v.is_number_integer()) out[k] = v.get<int>();
  return out;
}

// The "failed" list of a values or report frame; `missing_error` stands in for an absent error.
std::vector<FailedOp> failed_ops(const nlohmann::json& header, const std::string& missing_error) {
  std::vector<FailedOp> out;
  if (header.contains("failed") && header["failed"].is_array())
    for (const auto& f : header["failed"])
      out.push_back({f.value("id", std::string()), f.value("op", std::string()), f.value("error", missing_error)});
  return out;
}

}  // namespace

Session::Session(ConnectionOptions options, uint64_t graph_id)
    : connection_(std::make_unique<Connection>(std::move(options))), graph_id_(graph_id) {}

Session::~Session() = default;

void Session::progress(const Frame& frame, const ProgressHandler& extra) {
  Progress p;
  p.counts = int_map(frame.header, "counts");
  p.total = frame.header.value("total", 0);
  if (frame.header.contains("tracked") && frame.header["tracked"].is_object()) {
    p.tracked_running = frame.header["tracked"].value("running", 0);
    p.tracked_final = frame.header["tracked"].value("final", 0);
  }
  if (on_progress_) on_progress_(p);
  if (extra) extra(p);
}

Submitted Session::submit(const GraphSpec& batch) {
  Frame frame = submit_frame(batch, 0, graph_id_ ? nlohmann::json(graph_id_) : nlohmann::json());
  Submitted submitted;
  bool resent = false;
  try {
    connection_->request(
        std::move(frame),
        [&](const Frame& reply) {
          if (reply.header["type"] != "submitted") return false;
          graph_id_ = reply.header.value("graph_id", graph_id_);
          submitted.added = reply.header.value("added", 0);
          submitted.repeated = reply.header.value("repeated", false);
          return true;
        },
        [&] {
          resent = true;
          return true;
        });
  } catch (const ServerError& e) {
    // A batch repeated after a reconnect may already have been stored before the server went
    // down; the server then names our first op as a duplicate.
    const std::string first = batch.ops.empty() ? std::string() : batch.ops.front().id;
    if (!(resent && graph_id_ && e.op_id() == first && std::string(e.what()).find("duplicate") != std::string::npos))
      throw;
    submitted.repeated = true;
  }
  submitted.graph_id = graph_id_;
  return submitted;
}

WaitResult Session::wait(const std::vector<std::string>& ids, bool any, const ProgressHandler& on_progress) {
  Frame request{{{"type", "wait"}, {"graph_id", graph_id_}, {"ids", ids}, {"stream", false}}, {}};
  if (any) request.header["any"] = true;
  WaitResult result;
  connection_->request(std::move(request), [&](const Frame& reply) {
    const std::string type = reply.header["type"];
    if (type == "progress") {
      progress(reply, on_progress);
      return false;
    }
    if (type != "values") return false;
    for (const auto& nt : reply.tensors) result.values[nt.name] = nt.tensor;
    result.failed = failed_ops(reply.header, "failed");
    return true;
  });
  return result;
}

void Session::stream(const std::vector<std::string>& ids, const ValueHandler& on_value,
                     const ProgressHandler& on_progress, Connection::Deadline deadline,
                     const std::vector<std::string>& track) {
  std::set<std::string> done;
  Frame request{{{"type", "wait"}, {"graph_id", graph_id_}, {"ids", ids}, {"stream", true}}, {}};
  if (!track.empty()) request.header["track"] = track;
  connection_->request(
      std::move(request),
      [&](const Frame& reply) {
        const std::string type = reply.header["type"];
        if (type == "progress") {
          progress(reply, on_progress);
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

Report Session::end(const ProgressHandler& on_progress) {
  Report report;
  report.graph_id = graph_id_;
  if (!graph_id_) {
    report.status = "computed";
    return report;
  }
  // Wait for every op to be final (progress reaches zero pending and running), then end.
  for (;;) {
    connection_->request(Frame{{{"type", "end"}, {"graph_id", graph_id_}}, {}}, [&](const Frame& reply) {
      const std::string type = reply.header["type"];
      if (type == "progress") {
        progress(reply, on_progress);
        return false;
      }
      if (type != "report") return false;
      report.status = reply.header.value("status", std::string());
      report.total = reply.header.value("total", 0);
      report.counts = int_map(reply.header, "counts");
      report.failed = failed_ops(reply.header, "");
      return true;
    });
    if (report.status != "running" && report.count("pending") + report.count("running") == 0)
      return report;
    // Some ops are not final yet; ask again shortly (no values travel for this).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int Session::cancel(const std::vector<std::string>& ids) {
  if (!graph_id_) return 0;
  int count = 0;
  Frame request{{{"type", "cancel"}, {"graph_id", graph_id_}}, {}};
  if (!ids.empty()) request.header["ids"] = ids;
  connection_->request(std::move(request), [&](const Frame& reply) {
    if (reply.header["type"] != "cancelled") return false;
    count = reply.header.value("count", 0);
    return true;
  });
  return count;
}

std::ostream& operator<<(std::ostream& out, const Report& report) {
  out << "graph " << report.graph_id << ": " << report.status << ", " << report.count("computed") << " of "
      << report.total << " ops computed";
  if (report.count("failed")) out << ", " << report.count("failed") << " failed";
  if (report.count("cancelled")) out << ", " << report.count("cancelled") << " cancelled";
  for (const auto& f : report.failed) out << "\n  op '" << f.id << "' (" << f.op << "): " << f.error;
  return out;
}

}  // namespace corvid
