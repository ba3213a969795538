// Map jobs, the equivalent of DCP's compute.for(slices, fn): one subgraph template applied to
// many input slices, each slice scheduled on its own, results delivered as they arrive.
//
//   corvid::Graph graph{"inference"};
//   auto w = corvid::t(weights);                       // sent once, shared by every slice
//   corvid::MapJob job(graph, [&](const std::vector<corvid::Value>& in, std::size_t) {
//     return corvid::argmax(corvid::matmul(in[0], w), 1);
//   });
//   for (auto& batch : batches) job.add_slice({batch});
//   corvid::MapEvents events;
//   events.on_result = [](std::size_t i, const corvid::Tensor& v) { ... };
//   auto outcome = job.run(events);
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "corvid/graph.hpp"

namespace corvid {

// Where a map job stands: slices by state, ops of the job's graph by status. After run() the
// job's ops are all final (computed, failed, or cancelled when it stopped early), so the last
// status reports no op running or pending.
struct MapStatus {
  std::size_t slices = 0;
  std::size_t distributed = 0;  // slices a worker started: their first computed op is running or final
  std::size_t computed = 0;     // slices whose result arrived
  std::size_t failed = 0;       // slices that failed for good
  int ops_running = 0;          // ops of the job's graph that workers are computing right now
  int ops_pending = 0;
  int ops_total = 0;
};

// Callbacks, all called on the thread that called run(). Any may be empty.
struct MapEvents {
  std::function<void(std::size_t slices, uint64_t graph_id)> on_posted;     // the server accepted the slices
  std::function<void(const MapStatus&)> on_status;                          // distribution progress
  std::function<void(std::size_t slice, const Tensor& value)> on_result;    // a slice's result, as soon as it arrives
  std::function<void(std::size_t slice, const std::string& error)> on_error; // a slice failed (deterministically)
};

struct MapOptions {
  // Stop after this long, keeping the results so far (0: no limit). Slices not finished are cancelled.
  std::chrono::milliseconds max_time{0};
};

struct SliceFailure {
  std::size_t slice = 0;
  std::string error;
};

// What run() returns.
struct MapOutcome {
  std::vector<std::optional<Tensor>> results;  // by slice index; empty for slices without a result
  std::vector<SliceFailure> failed;
  std::size_t computed = 0;
  bool timed_out = false;   // max_time passed
  bool cancelled = false;   // cancel() was called
  bool ok() const { return computed == results.size(); }
};

// A map job on a Graph. The template function builds one slice's subgraph from that slice's
// input Values and returns its output; Values created outside it (shared tensors such as model
// weights) may be used by every slice and travel to the server only once. Not thread-safe,
// except cancel().
class MapJob {
 public:
  using Template = std::function<Value(const std::vector<Value>& inputs, std::size_t slice)>;
  MapJob(Graph& graph, Template fn);

  // Adds a slice (records its ops on the graph now, checking them). Returns its index.
  std::size_t add_slice(const std::vector<Tensor>& inputs);
  std::size_t slices() const { return outputs_.size(); }

  // Posts every slice not yet posted and streams results until each slice is computed or
  // failed, cancel() is called, or options.max_time passes. Throws ServerError if the server
  // refuses the slices, ServerUnreachable if it is gone for good.
  MapOutcome run(const MapEvents& events = {}, const MapOptions& options = {});

  // Stops run() and cancels the slices not finished. Callable from a callback or another thread.
  void cancel();

 private:
  Graph& graph_;
  Template fn_;
  std::vector<std::string> outputs_;                // op id of each slice's result
  std::vector<std::string> first_ops_;              // each slice's first op computed by a worker
  std::vector<std::vector<std::string>> slice_ops_;  // every op id each slice added
  std::thread::id run_thread_;                      // the thread inside run(), for cancel()
  std::atomic<bool> cancel_requested_{false};
  std::mutex cancel_mutex_;  // orders cancel() against the start and end of streaming
  bool streaming_ = false;   // run() is waiting for values (guarded by cancel_mutex_)
};

}  // namespace corvid
