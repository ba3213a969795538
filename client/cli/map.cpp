// `corvid map`: a map job file (shared ops, a template, slices) run through corvid::MapJob.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "commands.hpp"
#include "corvid/map_file.hpp"
#include "corvid/map_job.hpp"

namespace corvid::cli {

namespace {

// Draws the progress bar on stderr over the previous one; returns its width in characters.
std::size_t draw_bar(const MapStatus& s) {
  const int width = 30;
  const int filled = s.slices ? static_cast<int>(width * (s.computed + s.failed) / s.slices) : 0;
  std::string text = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
                     std::to_string(s.computed) + "/" + std::to_string(s.slices) + " slices computed";
  if (s.failed) text += ", " + std::to_string(s.failed) + " failed";
  text += ", " + std::to_string(s.distributed) + " distributed, " + std::to_string(s.ops_running) + " ops running";
  std::cerr << "\r" << text << std::flush;
  return text.size();
}

}  // namespace

int run_map(const MapArgs& args) {
  MapFile file;
  ConnectionOptions connection;
  const Output out{args.json, false};
  const int setup = prepare(
      "map", args.file, args.server, out,
      [&](const std::string& text) {
        file = parse_map_file(text);
        validate_map_file(file);
      },
      connection);
  if (setup != kExitOk) return setup;
  GraphOptions options;
  options.server = args.server;
  options.token = connection.token;
  options.owner = connection.name;

  try {
    Graph graph(file.name, options);
    std::unordered_map<std::string, Value> shared;
    for (const auto& op : file.shared.ops) {
      if (op.value) shared[op.id] = graph.tensor(*op.value);
      else {
        std::vector<Value> inputs;
        for (const auto& in : op.inputs) inputs.push_back(shared.at(in));
        shared[op.id] = graph.op(op.def->name, inputs, op.params);
      }
    }
    MapJob job(graph, [&](const std::vector<Value>& inputs, std::size_t) {
      auto env = shared;
      for (std::size_t k = 0; k < file.inputs.size(); ++k) env[file.inputs[k]] = inputs[k];
      for (const auto& op : file.templ.ops) {
        if (op.value) {
          env[op.id] = graph.tensor(*op.value);
          continue;
        }
        std::vector<Value> in;
        for (const auto& id : op.inputs) in.push_back(env.at(id));
        env[op.id] = graph.op(op.def->name, in, op.params);
      }
      return env.at(file.output);
    });
    for (const auto& slice : file.slices) job.add_slice(slice);

    auto line = [](nlohmann::json j) { std::cout << j.dump() << "\n" << std::flush; };
    MapEvents events;
    std::size_t bar_width = 0;  // of the bar on screen, 0 if none
    auto clear_bar = [&] {
      if (bar_width) std::cerr << "\r" << std::string(bar_width, ' ') << "\r";
      bar_width = 0;
    };
    MapStatus last;
    events.on_posted = [&](std::size_t n, uint64_t graph_id) {
      if (args.json) line({{"event", "posted"}, {"slices", n}, {"graph_id", graph_id}});
      else std::cerr << "posted " << n << " slices as graph " << graph_id << "\n";
    };
    events.on_status = [&](const MapStatus& s) {
      last = s;
      if (args.json)
        line({{"event", "status"}, {"slices", s.slices}, {"distributed", s.distributed}, {"computed", s.computed},
              {"failed", s.failed}, {"ops_running", s.ops_running}, {"ops_pending", s.ops_pending},
              {"ops_total", s.ops_total}});
      else {
        clear_bar();
        bar_width = draw_bar(s);
      }
    };
    events.on_result = [&](std::size_t slice, const Tensor& value) {
      last.computed++;
      last.distributed = std::max(last.distributed, last.computed + last.failed);
      if (args.json) {
        nlohmann::json j = tensor_to_json(value);
        j["event"] = "result";
        j["slice"] = slice;
        line(j);
      } else {
        clear_bar();
        std::cout << "slice " << slice << ": " << value << "\n" << std::flush;
        bar_width = draw_bar(last);
      }
    };
    events.on_error = [&](std::size_t slice, const std::string& error) {
      last.failed++;
      last.distributed = std::max(last.distributed, last.computed + last.failed);
      if (args.json) line({{"event", "error"}, {"slice", slice}, {"error", error}});
      else {
        clear_bar();
        std::cout << "slice " << slice << " failed: " << error << "\n" << std::flush;
      }
    };
    MapOptions map_options;
    map_options.max_time = std::chrono::milliseconds(static_cast<int64_t>(args.max_time_s * 1000));
    // Ctrl-C (SIGINT) or SIGTERM cancels the job: a thread waits for the signal and calls cancel().
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    struct Canceller {
      std::mutex mutex;
      MapJob* job = nullptr;  // null once run() returned
    };
    auto canceller = std::make_shared<Canceller>();
    canceller->job = &job;
    std::thread([canceller, stop_signals] {
      int sig = 0;
      if (sigwait(&stop_signals, &sig) != 0) return;
      std::lock_guard<std::mutex> lock(canceller->mutex);
      if (canceller->job) canceller->job->cancel();
    }).detach();  // waits for a signal until the process ends
    const MapOutcome outcome = job.run(events, map_options);
    {
      std::lock_guard<std::mutex> lock(canceller->mutex);
      canceller->job = nullptr;
    }
    const std::string status = outcome.ok()          ? "computed"
                               : outcome.cancelled  ? "cancelled"
                               : outcome.timed_out  ? "timed_out"
                                                    : "failed";
    if (args.json) {
      line({{"event", "done"}, {"status", status}, {"slices", outcome.results.size()}, {"computed", outcome.computed},
            {"failed", outcome.failed.size()}});
    } else {
      clear_bar();
      std::cerr << status << ": " << outcome.computed << " of " << outcome.results.size() << " slices computed";
      if (!outcome.failed.empty()) std::cerr << ", " << outcome.failed.size() << " failed";
      std::cerr << "\n";
    }
    return outcome.ok() ? kExitOk : kExitFailed;
  } catch (const ServerUnreachable& e) {
    return fail("map", out, e.what(), kExitUnreachable);
  } catch (const ServerError& e) {
    return fail("map", out, args.file + ": the server refused it: " + e.what(), kExitFailed);
  } catch (const GraphError& e) {
    return fail("map", out, args.file + ": " + e.what(), kExitFailed);
  }
}

}  // namespace corvid::cli
