#include "corvid/session.hpp"

#include <iostream>
#include <ostream>
#include <set>
#include <thread>

#include "corvid/graph_file.hpp"

namespace corvid {

namespace {

// Op counts by status name, as the library reports them.
std::map<std::string, int> counts_by_status(const protocol::OpCounts& c) {
  return {{"pending", int(c.pending)}, {"running", int(c.running)}, {"computed", int(c.computed)},
          {"failed", int(c.failed)}, {"cancelled", int(c.cancelled)}};
}

}  // namespace

Session::Session(ConnectionOptions options, uint64_t graph_id)
    : connection_(std::make_unique<Connection>(std::move(options))), graph_id_(graph_id) {}

Session::~Session() = default;

void Session::progress(Frame& frame, const ProgressHandler& extra) {
  const auto message = protocol::decode<protocol::Progress>(std::move(frame));
  Progress p;
  p.counts = counts_by_status(message.counts);
  p.total = static_cast<int>(message.total);
  p.tracked_running = static_cast<int>(message.tracked_running);
  p.tracked_final = static_cast<int>(message.tracked_final);
  p.no_workers_s = message.no_workers_s;
  if (p.no_workers_s >= kNoWorkersNoticeS && !told_no_workers_) {
    told_no_workers_ = true;
    const std::string host = connection_->server().authority();
    const std::string notice = "no worker has been connected to the Corvid server for " +
                               std::to_string(static_cast<int>(p.no_workers_s)) +
                               " s, so nothing is computed: volunteers open http://" + host +
                               "/ and click Participate, or run corvid-worker --server ws://" + host;
    if (on_notice_)
      on_notice_(notice);
    else
      std::cerr << "\ncorvid: " << notice << std::endl;
  }
  if (on_progress_) on_progress_(p);
  if (extra) extra(p);
}

Submitted Session::submit(const GraphSpec& batch) {
  Frame frame = submit_frame(batch, 0, graph_id_ ? std::optional<uint64_t>(graph_id_) : std::nullopt);
  Submitted submitted;
  bool resent = false;
  try {
    connection_->request(
        std::move(frame),
        [&](Frame& reply) {
          if (protocol::type_of(reply) != protocol::Submitted::kType) return false;
          const auto answer = protocol::decode<protocol::Submitted>(std::move(reply));
          graph_id_ = answer.graph_id;
          submitted.added = static_cast<int>(answer.added);
          submitted.repeated = answer.repeated;
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

void Session::ask(Frame request, const ProgressHandler& on_progress, const std::function<bool(Frame&)>& on_answer,
                  Connection::Deadline deadline) {
  connection_->request(
      std::move(request),
      [&](Frame& reply) {
        if (protocol::type_of(reply) != protocol::Progress::kType) return on_answer(reply);
        progress(reply, on_progress);
        return false;
      },
      {}, deadline);
}

WaitResult Session::wait(const std::vector<std::string>& ids, bool any, const ProgressHandler& on_progress) {
  WaitResult result;
  protocol::Wait request{nullptr, graph_id_, std::nullopt, false, any, std::nullopt};
  if (!ids.empty()) request.ids = ids;
  ask(protocol::encode(std::move(request)), on_progress, [&](Frame& reply) {
    if (protocol::type_of(reply) != protocol::Values::kType) return false;
    auto values = protocol::decode<protocol::Values>(std::move(reply));
    for (auto& nt : values.values) result.values[nt.name] = std::move(nt.tensor);
    result.failed = std::move(values.failed);
    for (auto& f : result.failed)
      if (f.error.empty()) f.error = "failed";
    return true;
  });
  return result;
}

void Session::stream(const std::vector<std::string>& ids, const ValueHandler& on_value,
                     const ProgressHandler& on_progress, Connection::Deadline deadline,
                     const std::vector<std::string>& track) {
  std::set<std::string> done;
  protocol::Wait request{nullptr, graph_id_, ids, true, false, std::nullopt};
  if (!track.empty()) request.track = track;
  ask(
      protocol::encode(std::move(request)), on_progress,
      [&](Frame& reply) {
        const std::string type = protocol::type_of(reply);
        if (type == protocol::ValueUpdate::kType) {
          auto value = protocol::decode<protocol::ValueUpdate>(std::move(reply));
          // After a reconnect the server streams the values again: deliver each once.
          if (!done.insert(value.id).second) return false;
          return !on_value(value.id, value.status, value.error, value.value ? &*value.value : nullptr);
        }
        return type == protocol::Values::kType;
      },
      deadline);
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
    ask(protocol::encode(protocol::End{nullptr, graph_id_}), on_progress, [&](Frame& reply) {
      if (protocol::type_of(reply) != protocol::Report::kType) return false;
      auto answer = protocol::decode<protocol::Report>(std::move(reply));
      report.status = answer.status;
      report.total = static_cast<int>(answer.total);
      report.counts = counts_by_status(answer.counts);
      report.failed = std::move(answer.failed);
      report.verification = answer.verification;
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
  protocol::CancelOps request{nullptr, graph_id_, std::nullopt};
  if (!ids.empty()) request.ids = ids;
  connection_->request(protocol::encode(std::move(request)), [&](Frame& reply) {
    if (protocol::type_of(reply) != protocol::Cancelled::kType) return false;
    count = static_cast<int>(protocol::decode<protocol::Cancelled>(std::move(reply)).count);
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
  if (const auto& v = report.verification) {
    out << "\n  verification " << v->policy << ": " << v->replicated << " group(s) replicated, " << v->spot_checked
        << " spot-checked by the server, " << v->disagreements << " disagreement(s), " << v->wrong
        << " wrong result(s) rejected, " << v->quarantines << " worker(s) quarantined";
  }
  return out;
}

}  // namespace corvid
