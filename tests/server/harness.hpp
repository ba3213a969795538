// Test harness for the server core: a fake clock, an outbox that records every message (after a
// round trip through the real wire codec), fake workers that compute with the real kernel through
// GroupExecutor, and a temporary data directory.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/core/coordinator.hpp"
#include "server/core/graph.hpp"
#include "shared/group_executor.hpp"
#include "shared/wire.hpp"
#ifdef CORVID_TEST_POSTGRES
#include "tests/postgres/pg_test_db.hpp"
#endif

namespace corvid::server::testing {

// A clock the test advances by hand.
class FakeClock final : public Clock {
 public:
  double now_ms() const override { return t; }
  double t = 1000;
};

// Frames as they would arrive on the other side of a WebSocket.
inline Frame over_the_wire(const Frame& f) {
  const auto bytes = encode_frame(f);
  return decode_frame(bytes.data(), bytes.size());
}

// Records what the coordinator sends, per worker and per client, in order.
class RecordingOutbox final : public Outbox {
 public:
  void send_to_worker(WorkerId worker, Frame frame) override { workers[worker].push_back(over_the_wire(frame)); }
  void send_to_client(ClientId client, Frame frame) override { clients[client].push_back(over_the_wire(frame)); }
  void close_worker(WorkerId worker, const std::string& reason) override { closed[worker] = reason; }

  // Removes and returns the frames of `type` sent to a worker (or a client) so far.
  std::vector<Frame> take(std::map<uint64_t, std::deque<Frame>>& box, uint64_t id, const std::string& type) {
    std::vector<Frame> out;
    auto& q = box[id];
    for (auto it = q.begin(); it != q.end();) {
      if (it->header.value("type", "") == type) {
        out.push_back(std::move(*it));
        it = q.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  std::vector<Frame> worker_frames(WorkerId w, const std::string& type) { return take(workers, w, type); }
  // How many frames of `type` wait for a worker (without removing them).
  std::size_t count(WorkerId w, const std::string& type) {
    std::size_t n = 0;
    for (const auto& f : workers[w]) n += f.header.value("type", "") == type;
    return n;
  }
  std::vector<Frame> client_frames(ClientId c, const std::string& type) { return take(clients, c, type); }

  std::map<uint64_t, std::deque<Frame>> workers;
  std::map<uint64_t, std::deque<Frame>> clients;
  std::map<WorkerId, std::string> closed;
};

// A unique empty directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("corvid-server-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

// Options without verification of results (--verify off), so a test of scheduling, disputes or
// storage can follow each result to the developer; test_verification.cpp tests the policies, and
// the integration tests run the server's default (adaptive).
inline CoordinatorOptions unverified() {
  CoordinatorOptions options;
  options.verify = VerifyPolicy::off;
  return options;
}

// Options under which every group is one op and a worker holds one group at a time, so a test
// can follow the scheduler's choices group by group (unverified).
inline CoordinatorOptions one_op_at_a_time() {
  CoordinatorOptions options = unverified();
  options.target_group_ms = 0.001;
  options.max_in_flight_per_worker = 1;
  return options;
}

// A coordinator with its fake surroundings, plus helpers that play workers and developers.
struct Harness {
  explicit Harness(CoordinatorOptions options = unverified(), const std::filesystem::path& dir = {})
      : data_dir(dir.empty() ? temp.path : dir), options(options) {
#ifdef CORVID_TEST_POSTGRES
    // The same tests against PostgreSQL (tests/postgres): a fresh database per harness.
    if (this->options.store.empty()) this->options.store = fresh_postgres_database();
#endif
    reopen();
  }

  void reopen() {
    core.reset();
    core = make_coordinator(data_dir.string(), clock, outbox, options);
  }

  // Connects a worker and sends its benchmark (`operator_credential`: it presented the worker token).
  void connect_worker(WorkerId w, double gflops = 10, double gbs = 10, nlohmann::json hello_extra = {},
                      bool operator_credential = false) {
    nlohmann::json hello = {{"type", "hello"}, {"version", 1}, {"name", "w" + std::to_string(w)}, {"user_agent", "test"}};
    if (hello_extra.is_object()) hello.update(hello_extra);
    core->worker_connected(w, protocol::decode<protocol::WorkerHello>(Frame{hello, {}}), operator_credential);
    REQUIRE(outbox.worker_frames(w, "welcome").size() == 1);
    Frame bench;
    bench.header = {{"type", "benchmark"}, {"matmul_gflops", gflops}, {"elementwise_gbs", gbs}, {"reduce_gbs", gbs},
                    {"duration_ms", 10}};
    core->worker_message(w, over_the_wire(bench));
  }

  // The worker computes every assign it holds with the real kernel; `edit` may alter each reply.
  // Returns the number of groups it answered.
  int work(WorkerId w, const std::function<void(Frame&)>& edit = {}) {
    int n = 0;
    for (;;) {
      auto assigns = outbox.worker_frames(w, "assign");
      if (assigns.empty()) return n;
      for (const auto& a : assigns) {
        Frame reply = executors[w].execute(a);
        if (edit) edit(reply);
        core->worker_message(w, over_the_wire(reply));
        ++n;
      }
    }
  }

  // The worker answers just the oldest assign it holds (if any) and returns it.
  std::optional<Frame> answer_one(WorkerId w, const std::function<void(Frame&)>& edit = {}) {
    auto& q = outbox.workers[w];
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (it->header.value("type", "") != "assign") continue;
      Frame assign = std::move(*it);
      q.erase(it);
      Frame reply = executors[w].execute(assign);
      if (edit) edit(reply);
      core->worker_message(w, over_the_wire(reply));
      return assign;
    }
    return std::nullopt;
  }

  // Runs all the given workers until none has work left.
  void work_all(const std::vector<WorkerId>& ws) {
    for (int round = 0; round < 10000; ++round) {
      int n = 0;
      for (WorkerId w : ws) n += work(w);
      if (n == 0) return;
    }
    FAIL("workers never ran out of work");
  }

  // Sends a submit and returns the reply (`submitted` or `error`).
  Frame submit(ClientId c, nlohmann::json header, std::vector<NamedTensor> tensors = {}) {
    header["type"] = "submit";
    if (!header.contains("request_id")) header["request_id"] = next_request++;
    Frame f;
    f.header = header;
    f.tensors = std::move(tensors);
    core->client_message(c, over_the_wire(f));
    auto& q = outbox.clients[c];
    for (auto it = q.begin(); it != q.end(); ++it) {
      const auto type = it->header.value("type", "");
      if ((type == "submitted" || type == "error") && it->header["request_id"] == header["request_id"]) {
        Frame reply = std::move(*it);
        q.erase(it);
        return reply;
      }
    }
    FAIL("no reply to submit");
    return {};
  }

  // Submits and returns the new graph's id (the submit must succeed).
  uint64_t submit_ok(ClientId c, nlohmann::json header) {
    Frame reply = submit(c, std::move(header));
    INFO(reply.header.dump());
    REQUIRE(reply.header["type"] == "submitted");
    return reply.header["graph_id"].get<uint64_t>();
  }

  void client_send(ClientId c, nlohmann::json header) {
    if (!header.contains("request_id")) header["request_id"] = next_request++;
    Frame f;
    f.header = std::move(header);
    core->client_message(c, over_the_wire(f));
  }

  void connect_client(ClientId c, const std::string& owner = "dev") {
    core->client_connected(c, owner);
    REQUIRE(outbox.client_frames(c, "welcome").size() == 1);
  }

  // The `values` reply of a wait, once it came (nullptr-like empty header otherwise).
  std::vector<Frame> values(ClientId c) { return outbox.client_frames(c, "values"); }

  TempDir temp;
  std::filesystem::path data_dir;
  CoordinatorOptions options;
  FakeClock clock;
  RecordingOutbox outbox;
  std::unique_ptr<Coordinator> core;
  std::map<WorkerId, GroupExecutor> executors;
  int next_request = 1;
};

// x = [1, 2, 3, 4], n = -x: one op for the workers.
inline nlohmann::json negation() {
  return {{"ops", {{{"id", "x"}, {"op", "tensor"}, {"value", {1.0, 2.0, 3.0, 4.0}}},
                   {{"id", "n"}, {"op", "neg"}, {"inputs", {"x"}}}}},
          {"outputs", {"n"}}};
}

// Worker w as /api/status shows it.
inline nlohmann::json worker_status(Harness& h, WorkerId w) {
  const nlohmann::json status = h.core->status_json();
  for (const auto& worker : status["workers"])
    if (worker["id"] == w) return worker;
  FAIL("no such worker in the status");
  return {};
}

// The values of a float tensor as doubles.
inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.size(); ++i) v.push_back(t.at_as_double(i));
  return v;
}

// Appends an op built by hand (no op definition) to a graph: a computed one has a value on the
// server (`value`, or only has_value when none is given). Returns its index.
inline OpIndex add_test_op(Graph& g, const std::string& id, std::vector<OpIndex> inputs, OpStatus status,
                           TensorSpec spec, Cost cost, std::shared_ptr<const Tensor> value = nullptr) {
  OpNode n;
  n.id = id;
  n.inputs = std::move(inputs);
  n.spec = std::move(spec);
  n.cost = cost;
  n.status = status;
  n.has_value = status == OpStatus::computed;
  if (n.has_value) n.value = std::move(value);
  return g.add_op(std::move(n));
}

}  // namespace corvid::server::testing
