#include "corvid/map_job.hpp"

#include <algorithm>
#include <unordered_map>

namespace corvid {

MapJob::MapJob(Graph& graph, Template fn) : graph_(graph), fn_(std::move(fn)) {}

std::size_t MapJob::add_slice(const std::vector<Tensor>& inputs) {
  const std::size_t index = outputs_.size();
  const std::size_t first_op = graph_.size();
  std::vector<Value> values;
  for (const auto& t : inputs) values.push_back(graph_.tensor(t));
  const Value out = fn_(values, index);
  if (!out.valid() || &out.graph() != &graph_)
    throw std::logic_error("corvid::MapJob: the template of slice " + std::to_string(index) +
                           " must return a Value of the job's graph");
  outputs_.push_back(out.id());
  std::vector<std::string> ids;
  for (std::size_t i = first_op; i < graph_.size(); ++i) ids.push_back(graph_.id_at(i));
  // The slice's earliest op with inputs is ready once they are and, since groups take ready ops
  // in submission order, is the first of the slice a worker gets.
  std::string first = out.id();
  for (std::size_t i = first_op; i < graph_.size(); ++i)
    if (graph_.input_count_at(i) > 0) {
      first = graph_.id_at(i);
      break;
    }
  first_ops_.push_back(std::move(first));
  slice_ops_.push_back(std::move(ids));
  return index;
}

void MapJob::cancel() {
  std::lock_guard<std::mutex> lock(cancel_mutex_);
  cancel_requested_ = true;
  // From a callback the stream stops at once by itself; another thread must wake it, but only
  // while it streams (an interrupt during the submit would lose the answer to it).
  if (streaming_ && std::this_thread::get_id() != run_thread_) graph_.interrupt();
}

MapOutcome MapJob::run(const MapEvents& events, const MapOptions& options) {
  MapOutcome outcome;
  outcome.results.resize(outputs_.size());
  if (outputs_.empty()) return outcome;
  const auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(cancel_mutex_);
    run_thread_ = std::this_thread::get_id();
  }
  graph_.flush();
  Session& session = graph_.session();
  if (events.on_posted) events.on_posted(outputs_.size(), session.graph_id());

  std::unordered_map<std::string, std::size_t> slice_of;
  for (std::size_t i = 0; i < outputs_.size(); ++i) slice_of[outputs_[i]] = i;
  MapStatus status;
  status.slices = outputs_.size();
  std::vector<bool> final(outputs_.size(), false);
  std::size_t remaining = outputs_.size();

  auto on_value = [&](const std::string& id, const std::string& state, const std::string& error, const Tensor* value) {
    auto it = slice_of.find(id);
    if (it == slice_of.end() || final[it->second]) return remaining > 0;
    const std::size_t slice = it->second;
    final[slice] = true;
    --remaining;
    status.distributed = std::max(status.distributed, status.computed + status.failed + 1);
    if (state == "computed" && value) {
      outcome.results[slice] = *value;
      ++outcome.computed;
      ++status.computed;
      if (events.on_result) events.on_result(slice, *value);
    } else {
      const std::string why = error.empty() ? "slice " + state : error;
      outcome.failed.push_back({slice, why});
      ++status.failed;
      if (events.on_error) events.on_error(slice, why);
    }
    return remaining > 0 && !cancel_requested_;
  };
  auto on_progress = [&](const Progress& p) {
    status.ops_running = p.count("running");
    status.ops_pending = p.count("pending");
    status.ops_total = p.total;
    // The server counted before sending this frame; results that came before it are final there.
    status.distributed = std::max(static_cast<std::size_t>(p.tracked_running + p.tracked_final),
                                  status.computed + status.failed);
    if (events.on_status) events.on_status(status);
  };

  Connection::Deadline deadline;
  if (options.max_time.count() > 0) deadline = start + options.max_time;
  {
    std::lock_guard<std::mutex> lock(cancel_mutex_);
    streaming_ = true;
  }
  try {
    if (!cancel_requested_) session.stream(outputs_, on_value, on_progress, deadline, first_ops_);
  } catch (const RequestStopped&) {
    if (!cancel_requested_) outcome.timed_out = true;
  }
  {
    std::lock_guard<std::mutex> lock(cancel_mutex_);
    streaming_ = false;
    run_thread_ = std::thread::id();
  }
  session.clear_interrupt();
  outcome.cancelled = cancel_requested_.exchange(false);
  if (remaining > 0) {
    // Stopped early: cancel every op of the slices left so workers stop spending time on them.
    std::vector<std::string> left;
    for (std::size_t i = 0; i < outputs_.size(); ++i)
      if (!final[i]) left.insert(left.end(), slice_ops_[i].begin(), slice_ops_[i].end());
    session.cancel(left);
  }
  status.ops_running = status.ops_pending = 0;  // every op of the job is final now
  if (events.on_status) events.on_status(status);
  return outcome;
}

}  // namespace corvid
