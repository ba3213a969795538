// libFuzzer target for every message the server reads from workers and developers: drives the
// real Coordinator (server/core, no Asio) the way the network layer does, with a fake clock and
// an outbox that encodes every frame it is given, from a script of actions chosen by the fuzzer.
//
// The input is a list of records, each: action byte | actor byte | u16 little-endian length |
// that many payload bytes (a record cut short by the end of the input gets what is left).
// Frame payloads are a JSON header, optionally followed by a NUL byte and the tensor buffer
// bytes; the target prefixes the header length, so mutating the JSON keeps the framing intact,
// and decodes the result with decode_frame as the network layer does. Actors: three workers and
// three developers; the frames of a connection before its hello go through the hello check of
// server/net/frame_session.cpp (the developer's token is taken as right), and after it to
// worker_message (or worker_malformed) and client_message.
// Workers can also answer their oldest assign with the real kernel (GroupExecutor), the reply
// header merged with a JSON patch from the payload, so results reach the scheduler's deep paths.
//
// Like server/net/server_state.cpp, the target catches the std::exception a Coordinator call
// may throw; set CORVID_FUZZ_STRICT=1 to make any such exception a crash instead.
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "server/core/coordinator.hpp"
#include "shared/group_executor.hpp"
#include "shared/wire.hpp"

using namespace corvid;
using namespace corvid::server;

namespace {

enum Action : uint8_t {
  kWorkerFrame,     // the worker sends a frame (its first one must be a hello)
  kWorkerAnswer,    // the worker answers its oldest assign with the kernel, header patched
  kWorkerLeave,     // the worker's connection closes (its next frame starts a new connection)
  kClientFrame,     // the developer sends a frame (its first one must be a hello)
  kClientLeave,     // the developer's connection closes (likewise)
  kTick,            // the clock advances by actor × 50 ms (actor 255: 60 s), then tick()
  kOperatorViews,   // GET /api/status, /api/graphs/<actor>, /metrics
  kRestart,         // the server restarts on the same data directory
  kActionCount
};

constexpr int kActors = 3;

class FakeClock final : public Clock {
 public:
  double now_ms() const override { return t; }
  double t = 1000;
};

// Encodes every frame as the server does before sending it, and keeps the assigns for answers.
class EncodingOutbox final : public Outbox {
 public:
  void send_to_worker(WorkerId worker, Frame frame) override {
    std::vector<uint8_t> bytes = encode_frame(frame);
    if (protocol::type_of(frame) == protocol::Assign::kType) assigns[worker].push_back(decode_frame(bytes.data(), bytes.size()));
  }
  void send_to_client(ClientId, Frame frame) override { encode_frame(frame); }
  void close_worker(WorkerId worker, const std::string&) override { closed[worker] = true; }

  std::map<WorkerId, std::deque<Frame>> assigns;
  std::map<WorkerId, bool> closed;
};

// A directory for the store, in memory when /dev/shm exists, emptied for every input.
const std::filesystem::path& data_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return base / ("corvid-fuzz-coordinator-" + std::to_string(::getpid()));
  }();
  return dir;
}

void remove_data_dir() { std::filesystem::remove_all(data_dir()); }

// A frame from a payload (see the file comment), or nullopt with the decoder's error.
std::optional<Frame> frame_from_payload(const uint8_t* data, std::size_t size, std::string& error) {
  const void* nul = std::memchr(data, 0, size);
  const std::size_t json_size = nul ? static_cast<const uint8_t*>(nul) - data : size;
  std::vector<uint8_t> bytes(4);
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(json_size >> (8 * i));
  bytes.insert(bytes.end(), data, data + json_size);
  bytes.resize((bytes.size() + 7) / 8 * 8, 0);
  if (nul) bytes.insert(bytes.end(), data + json_size + 1, data + size);
  try {
    return decode_frame(bytes.data(), bytes.size());
  } catch (const WireError& e) {
    error = e.what();
    return std::nullopt;
  }
}

// The hello check the network layer makes before a worker or developer reaches the Coordinator.
bool valid_hello(const Frame& frame) {
  return protocol::type_of(frame) == protocol::WorkerHello::kType && protocol::hello_version_problem(frame).empty();
}

// One connection slot: the id of its current connection (ids are never reused, as in the server).
struct Slot {
  uint64_t id = 0;
  bool connected = false;  // for a worker: its hello was accepted
  GroupExecutor executor{16u << 20};
};

// One input's run: a fresh store, the Coordinator and the actors' connections.
class Session {
 public:
  Session() {
    remove_data_dir();
    open();
  }
  ~Session() {
    core_.reset();
    remove_data_dir();
  }

  // Runs one record; `actor_byte` picks the worker or developer (modulo kActors) or, for a
  // tick, the clock step.
  void run(Action action, uint8_t actor_byte, const uint8_t* payload, std::size_t size) {
    const int actor = actor_byte % kActors;
    switch (action) {
      case kWorkerFrame: return worker_frame(workers_[actor], payload, size);
      case kWorkerAnswer: return worker_answer(workers_[actor], payload, size);
      case kWorkerLeave: return leave_worker(workers_[actor]);
      case kClientFrame: return client_frame(clients_[actor], payload, size);
      case kClientLeave: return leave_client(clients_[actor]);
      case kTick: return tick(actor_byte == 255 ? 60000 : actor_byte * 50.0);
      case kOperatorViews: return operator_views(actor_byte);
      case kRestart: return restart();
      default: return;
    }
  }

 private:
  void open() { core_ = make_coordinator(data_dir().string(), clock_, outbox_, options()); }

  static CoordinatorOptions options() {
    CoordinatorOptions o;
    o.max_attempts = 2;
    o.seed = 1;  // the default `adaptive` draws: the same input takes the same path
    return o;
  }

  template <class Fn>
  void guarded(Fn&& fn) {
    try {
      fn(*core_);
    } catch (const std::exception& e) {
      static const bool strict = std::getenv("CORVID_FUZZ_STRICT") != nullptr;
      if (!strict) return;
      std::cerr << "fuzz_coordinator: the Coordinator threw: " << e.what() << "\n";
      std::abort();
    }
  }

  void worker_frame(Slot& w, const uint8_t* payload, std::size_t size) {
    std::string error;
    std::optional<Frame> frame = frame_from_payload(payload, size, error);
    if (!w.connected) {
      if (!frame || !valid_hello(*frame)) return;
      protocol::WorkerHello hello;
      try {
        hello = protocol::decode<protocol::WorkerHello>(std::move(*frame));
      } catch (const protocol::ProtocolError&) {
        return;  // WorkerSession answers an error and closes (a device id or slot out of its limits)
      }
      w.id = next_worker_++;
      w.connected = true;
      w.executor = GroupExecutor(16u << 20);
      guarded([&](Coordinator& c) { c.worker_connected(w.id, hello, false); });
    } else if (!frame) {
      guarded([&](Coordinator& c) { c.worker_malformed(w.id, error); });
    } else {
      guarded([&](Coordinator& c) { c.worker_message(w.id, std::move(*frame)); });
    }
    if (outbox_.closed[w.id]) leave_worker(w);
  }

  void worker_answer(Slot& w, const uint8_t* payload, std::size_t size) {
    auto& queue = outbox_.assigns[w.id];
    if (!w.connected || queue.empty()) return;
    Frame assign = std::move(queue.front());
    queue.pop_front();
    Frame reply = w.executor.execute(assign);
    nlohmann::json patch = nlohmann::json::parse(payload, payload + size, nullptr, false);
    if (patch.is_object()) reply.header.merge_patch(patch);
    std::vector<uint8_t> bytes;
    try {
      bytes = encode_frame(reply);  // the worker's own encoder: a patch it cannot encode is not sent
    } catch (const std::exception&) {
      return;
    }
    std::optional<Frame> frame;
    try {
      frame = decode_frame(bytes.data(), bytes.size());
    } catch (const WireError& e) {
      return guarded([&](Coordinator& c) { c.worker_malformed(w.id, e.what()); });
    }
    guarded([&](Coordinator& c) { c.worker_message(w.id, std::move(*frame)); });
    if (outbox_.closed[w.id]) leave_worker(w);
  }

  void leave_worker(Slot& w) {
    if (!w.connected) return;
    w.connected = false;
    outbox_.assigns.erase(w.id);
    guarded([&](Coordinator& c) { c.worker_disconnected(w.id); });
  }

  void client_frame(Slot& c, const uint8_t* payload, std::size_t size) {
    std::string error;
    std::optional<Frame> frame = frame_from_payload(payload, size, error);
    if (!frame) return;  // the network layer answers a bad frame itself
    if (c.connected) return guarded([&](Coordinator& core) { core.client_message(c.id, std::move(*frame)); });
    if (!valid_hello(*frame)) return;
    c.id = next_client_++;
    c.connected = true;
    const std::string owner = protocol::decode<protocol::ClientHello>(std::move(*frame)).name;  // as ClientSession does
    guarded([&](Coordinator& core) { core.client_connected(c.id, owner); });
  }

  void leave_client(Slot& c) {
    if (!c.connected) return;
    c.connected = false;
    guarded([&](Coordinator& core) { core.client_disconnected(c.id); });
  }

  void tick(double step_ms) {
    clock_.t += step_ms;
    guarded([&](Coordinator& c) { c.tick(); });
    for (Slot& w : workers_)
      if (w.connected && outbox_.closed[w.id]) leave_worker(w);
  }

  void operator_views(int graph_id) {
    guarded([&](Coordinator& c) {
      c.status_json().dump();  // as server/net/http_routes.cpp sends them
      c.graph_json(static_cast<uint64_t>(graph_id)).dump();
      c.metrics_text();
    });
  }

  void restart() {
    core_.reset();
    outbox_ = EncodingOutbox{};
    for (Slot& w : workers_) w.connected = false;
    for (Slot& c : clients_) c.connected = false;
    open();
  }

  FakeClock clock_;
  EncodingOutbox outbox_;
  std::unique_ptr<Coordinator> core_;
  std::array<Slot, kActors> workers_;
  std::array<Slot, kActors> clients_;
  WorkerId next_worker_ = 1;
  ClientId next_client_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(remove_data_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  Session session;
  for (std::size_t at = 0; at + 4 <= size;) {
    const uint8_t action = data[at], actor = data[at + 1];
    std::size_t length = data[at + 2] | (data[at + 3] << 8);
    at += 4;
    length = std::min(length, size - at);
    session.run(static_cast<Action>(action % kActionCount), actor, data + at, length);
    at += length;
  }
  return 0;
}
