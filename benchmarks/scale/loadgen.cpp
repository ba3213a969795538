// corvid-loadgen's engine (see loadgen.hpp): worker and developer connections on one Asio thread.
#include "loadgen.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "shared/group_executor.hpp"
#include "shared/ops/op.hpp"
#include "shared/protocol.hpp"

namespace corvid::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
// Sockets and timers bound to the io_context's own executor (no type-erased executor per operation).
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                                         asio::io_context::executor_type>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kWorkerCacheBytes = 16u << 20;  // each simulated worker's kept-tensor budget
constexpr std::size_t kMaxFrameBytes = 64u << 20;
constexpr std::size_t kReadBufferBytes = 8u << 10;  // each connection's read buffer to start with (it grows for a longer message)

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

Latency latency_of(std::vector<double> ms) {
  Latency out;
  out.count = ms.size();
  if (ms.empty()) return out;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    const std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  out.p50 = at(0.5);
  out.p99 = at(0.99);
  out.max = ms.back();
  return out;
}

}  // namespace

ProcessSample sample_process(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  ProcessSample s;
  std::ifstream status(dir + "/status");
  if (!status) throw std::runtime_error("process " + std::to_string(pid) + " is gone (no " + dir + "/status)");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stod(line.substr(6));
  std::ifstream stat_file(dir + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  s.cpu_s = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir + "/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++s.open_fds;
  return s;
}

long raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<long>(limit.rlim_cur);
}

struct LoadGenerator::Impl {
  // One WebSocket client connection (RFC 6455) on a plain socket. The upgrade goes through
  // Beast's HTTP code; the frames are read and written here rather than by Beast's websocket
  // stream, which reads and writes one message per system call: this reads whatever has
  // arrived (several messages at once when they are waiting) into a buffer kept across reads,
  // and queues the frames a turn of the event loop produces (a developer's submit and wait, say)
  // to go out in one write. Everything on the wire is unchanged: masked binary messages to the
  // server (a fresh random mask key per frame), pings answered with pongs.
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl& lg, std::string path) : lg(lg), socket(lg.ioc), path(std::move(path)) {}
    virtual ~Connection() = default;
    virtual void on_frame(Frame frame) = 0;
    virtual void on_open() = 0;
    virtual void on_closed(const std::string& why) = 0;

    void open() {
      started = Clock::now();
      socket.async_connect(lg.endpoint, [self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->fail("connect: " + ec.message());
        self->socket.set_option(tcp::no_delay(true));
        self->upgrade();
      });
    }
    void upgrade() {
      websocket::detail::sec_ws_key_type key;
      websocket::detail::make_sec_ws_key(key);
      websocket::detail::make_sec_ws_accept(expected_accept, key);
      auto request = std::make_shared<http::request<http::empty_body>>(http::verb::get, path, 11);
      request->set(http::field::host, lg.options.host);
      request->set(http::field::upgrade, "websocket");
      request->set(http::field::connection, "upgrade");
      request->set(http::field::sec_websocket_key, key);
      request->set(http::field::sec_websocket_version, "13");
      http::async_write(socket, *request, [self = shared_from_this(), request](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("upgrade: " + ec.message());
        auto buffer = std::make_shared<beast::flat_buffer>();
        auto response = std::make_shared<http::response<http::empty_body>>();
        http::async_read(self->socket, *buffer, *response, [self, buffer, response](beast::error_code ec, std::size_t) {
          if (ec) return self->fail("upgrade: " + ec.message());
          if (response->result() != http::status::switching_protocols)
            return self->fail("upgrade: the server answered " + std::to_string(response->result_int()));
          if ((*response)[http::field::sec_websocket_accept] != beast::string_view(self->expected_accept))
            return self->fail("upgrade: wrong Sec-WebSocket-Accept");
          // Bytes after the response's headers are the first frames.
          const auto rest = buffer->cdata();
          self->in.resize(std::max(kReadBufferBytes, rest.size()));
          std::memcpy(self->in.data(), rest.data(), rest.size());
          self->in_end = rest.size();
          self->on_open();
          self->take_frames();
          self->flush();
          if (!self->closed) self->read();
        });
      });
    }
    void read() {
      socket.async_read_some(asio::buffer(in.data() + in_end, in.size() - in_end),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               if (ec) return self->fail("read: " + ec.message());
                               self->in_end += n;
                               self->take_frames();
                               self->flush();
                               if (!self->closed) self->read();
                             });
    }
    // Handles every complete WebSocket frame in `in` and keeps the partial one, making room for it.
    void take_frames() {
      while (!closed) {
        const uint8_t* p = in.data() + in_begin;
        const std::size_t have = in_end - in_begin;
        if (have < 2) break;
        const bool fin = p[0] & 0x80;
        const int opcode = p[0] & 0x0f;
        if (p[0] & 0x70) return fail("the server set reserved bits (no extension was negotiated)");
        if (p[1] & 0x80) return fail("the server sent a masked frame");
        std::size_t header = 2;
        uint64_t length = p[1] & 0x7f;
        if (length == 126) {
          header = 4;
          if (have < header) break;
          length = (uint64_t{p[2]} << 8) | p[3];
        } else if (length == 127) {
          header = 10;
          if (have < header) break;
          length = 0;
          for (int i = 2; i < 10; ++i) length = (length << 8) | p[i];
        }
        if (length > kMaxFrameBytes || message.size() + length > kMaxFrameBytes)
          return fail("a message from the server is over " + std::to_string(kMaxFrameBytes) + " bytes");
        if (have < header + length) {
          make_room(header + static_cast<std::size_t>(length));
          break;
        }
        const uint8_t* payload = p + header;
        const std::size_t size = static_cast<std::size_t>(length);
        in_begin += header + size;
        if (opcode == 0x2 || opcode == 0x0) {
          if ((opcode == 0x2) == in_message) return fail("the server broke a fragmented message");
          if (fin && opcode == 0x2) {
            deliver(payload, size);
          } else {
            message.insert(message.end(), payload, payload + size);
            in_message = !fin;
            if (fin) {
              deliver(message.data(), message.size());
              message.clear();
            }
          }
        } else if (opcode == 0x9) {
          queue(0xA, payload, size);  // pong with the ping's payload
        } else if (opcode == 0x8) {
          const int code = size >= 2 ? (payload[0] << 8) | payload[1] : 1005;
          return fail("the server closed the connection (" + std::to_string(code) + " " +
                      std::string(reinterpret_cast<const char*>(payload) + std::min<std::size_t>(2, size),
                                  size - std::min<std::size_t>(2, size)) +
                      ")");
        } else if (opcode != 0xA) {
          return fail("the server sent opcode " + std::to_string(opcode) + " (only binary messages are expected)");
        }
      }
      if (in_begin == in_end) in_begin = in_end = 0;
      if (in_end == in.size()) make_room(in.size() - in_begin + 1);
    }
    // Moves the unread bytes to the front of `in` and grows it to hold at least `bytes` of them.
    void make_room(std::size_t bytes) {
      if (in_begin > 0) {
        std::memmove(in.data(), in.data() + in_begin, in_end - in_begin);
        in_end -= in_begin;
        in_begin = 0;
      }
      if (in.size() < bytes) in.resize(std::max(bytes, 2 * in.size()));
    }
    void deliver(const uint8_t* data, std::size_t size) {
      Frame frame;
      try {
        frame = decode_frame(data, size);
      } catch (const std::exception& e) {
        return fail(std::string("bad frame from the server: ") + e.what());
      }
      on_frame(std::move(frame));
    }
    // Queues a frame; it goes out with the next flush().
    void send(const Frame& frame) {
      if (closed) return;
      const std::vector<uint8_t> bytes = encode_frame(frame);
      queue(0x2, bytes.data(), bytes.size());
    }
    // Appends one final, masked WebSocket frame to the bytes waiting to be written.
    void queue(int opcode, const uint8_t* payload, std::size_t size) {
      out.push_back(static_cast<uint8_t>(0x80 | opcode));
      if (size < 126) {
        out.push_back(static_cast<uint8_t>(0x80 | size));
      } else if (size <= 0xffff) {
        out.push_back(0x80 | 126);
        for (int shift = 8; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(size >> shift));
      } else {
        out.push_back(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(uint64_t{size} >> shift));
      }
      uint8_t key[4];
      const uint32_t random = lg.mask_key();
      std::memcpy(key, &random, 4);
      out.insert(out.end(), key, key + 4);
      const std::size_t at = out.size();
      out.resize(at + size);
      for (std::size_t i = 0; i < size; ++i) out[at + i] = payload[i] ^ key[i & 3];
    }
    // Starts writing the queued frames unless a write is under way (its completion writes them).
    void flush() {
      if (closed || writing || out.empty()) return;
      writing = true;
      std::swap(out, being_written);
      asio::async_write(socket, asio::buffer(being_written), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->writing = false;
        self->being_written.clear();
        if (ec) return self->fail("write: " + ec.message());
        self->flush();
      });
    }
    void fail(const std::string& why) {
      if (closed) return;
      closed = true;
      beast::error_code ignored;
      socket.close(ignored);
      on_closed(why);
    }

    Impl& lg;
    Socket socket;
    std::string path;
    websocket::detail::sec_ws_accept_type expected_accept;
    std::vector<uint8_t> in;           // bytes read; [in_begin, in_end) not handled yet
    std::size_t in_begin = 0, in_end = 0;
    std::vector<uint8_t> message;      // a fragmented message being put together
    bool in_message = false;
    std::vector<uint8_t> out, being_written;  // frames queued, and those the write in flight holds
    bool writing = false, closed = false;
    Clock::time_point started;
  };

  // A simulated worker: real protocol, real kernel.
  struct Worker final : Connection {
    Worker(Impl& lg, int index, double gflops, double gbs)
        : Connection(lg, "/ws/worker"), index(index), heartbeat(lg.ioc), executor(kWorkerCacheBytes), gflops(gflops), gbs(gbs) {}
    void on_open() override {
      protocol::WorkerHello hello;
      hello.name = "loadgen-" + std::to_string(index);
      hello.user_agent = "corvid-loadgen";
      send(protocol::encode(hello));
    }
    void on_frame(Frame frame) override {
      const std::string type = protocol::type_of(frame);
      if (type == protocol::WorkerWelcome::kType) {
        const auto welcome = protocol::decode<protocol::WorkerWelcome>(std::move(frame));
        heartbeat_ms = std::max(100.0, welcome.heartbeat_ms);
        DeviceScore score;
        score.matmul_gflops = gflops;
        score.elementwise_gbs = gbs;
        score.reduce_gbs = gbs;
        score.duration_ms = 300;
        send(protocol::encode(protocol::Benchmark{score}));
        up = true;
        lg.worker_up(ms_between(started, Clock::now()));
        beat();
      } else if (type == protocol::Assign::kType) {
        auto assign = protocol::decode<protocol::Assign>(std::move(frame));
        lg.assigned(assign);
        send(executor.execute(std::move(assign)));
        lg.group_done();
      } else if (type == protocol::ErrorReply::kType) {
        lg.note_error("worker: server said: " + protocol::decode<protocol::ErrorReply>(std::move(frame)).error);
      }  // heartbeat and cancel need no answer
    }
    void beat() {
      // Spread over the period so that heartbeats of workers that connected together do not
      // arrive together.
      std::uniform_real_distribution<double> jitter(0.5, 0.9);
      heartbeat.expires_after(std::chrono::microseconds(static_cast<int64_t>(heartbeat_ms * 1000 * jitter(lg.rng))));
      heartbeat.async_wait([self = std::static_pointer_cast<Worker>(shared_from_this())](beast::error_code ec) {
        if (ec || self->closed) return;
        self->send(protocol::encode(protocol::Heartbeat{0}));
        self->flush();
        self->beat();
      });
    }
    void on_closed(const std::string& why) override {
      heartbeat.cancel();
      lg.worker_closed(up, why);
    }

    int index;
    Timer heartbeat;
    GroupExecutor executor;
    double gflops, gbs;
    double heartbeat_ms = 5000;
    bool up = false;
  };

  // A simulated developer: fresh `a + b` ops on its own graph, each waited for and checked.
  struct Developer final : Connection {
    Developer(Impl& lg, int index) : Connection(lg, "/ws/client"), index(index), pacer(lg.ioc) {}
    void on_open() override {
      protocol::ClientHello hello;
      hello.token = lg.options.token;
      hello.name = "loadgen-developer-" + std::to_string(index);
      send(protocol::encode(hello));
    }
    void on_frame(Frame frame) override {
      const std::string type = protocol::type_of(frame);
      if (type == protocol::ClientWelcome::kType) {
        // The graph the rounds add to, created with one source tensor.
        protocol::Submit submit;
        submit.request_id = "create";
        submit.name = "loadgen-" + std::to_string(index);
        submit.ops.push_back(tensor_op("seed", 0));
        send(protocol::encode(std::move(submit)));
      } else if (type == protocol::Submitted::kType) {
        const auto submitted = protocol::decode<protocol::Submitted>(std::move(frame));
        if (submitted.request_id == "create") {
          graph = submitted.graph_id;
          lg.developer_up();
        }
      } else if (type == protocol::Values::kType) {
        on_values(protocol::decode<protocol::Values>(std::move(frame)));
      } else if (type == protocol::ErrorReply::kType) {
        const auto error = protocol::decode<protocol::ErrorReply>(std::move(frame));
        lg.note_error("developer " + std::to_string(index) + ": " + error.error);
      }  // progress frames are not needed
    }
    static OpSpec tensor_op(const std::string& id, int i) {
      OpSpec op;
      op.id = id;
      op.def = find_op("tensor");
      const float f = static_cast<float>(i);
      op.value = Tensor::from_vector<float>(Shape{4}, {f, f + 1, f + 2, f + 3});
      return op;
    }
    void round() {
      const int i = ++rounds_sent;
      const std::string a = "a" + std::to_string(i), b = "b" + std::to_string(i), c = "c" + std::to_string(i);
      protocol::Submit submit;
      submit.request_id = "s" + std::to_string(i);
      submit.graph_id = graph;
      submit.ops.push_back(tensor_op(a, i));
      submit.ops.push_back(tensor_op(b, 1));
      OpSpec add;
      add.id = c;
      add.def = find_op("add");
      add.inputs = {a, b};
      submit.ops.push_back(std::move(add));
      submit.outputs = std::vector<std::string>{c};
      const auto now = Clock::now();
      lg.submitted_at[std::to_string(graph) + ":" + c] = now;
      sent_at[i] = now;
      send(protocol::encode(std::move(submit)));
      protocol::Wait wait;
      wait.request_id = i;
      wait.graph_id = graph;
      wait.ids = std::vector<std::string>{c};
      send(protocol::encode(std::move(wait)));
    }
    void on_values(const protocol::Values& values) {
      if (!values.request_id.is_number_integer()) return;
      const int i = values.request_id.get<int>();
      auto sent = sent_at.find(i);
      if (sent == sent_at.end()) return;
      const double ms = ms_between(sent->second, Clock::now());
      sent_at.erase(sent);
      // a_i + b_i = [i, i+1, i+2, i+3] + [1, 2, 3, 4]: the last element is i + 7.
      const bool right = values.status == "computed" && values.values.size() == 1 &&
                         values.values[0].tensor.dtype() == DType::f32 &&
                         num_elements(values.values[0].tensor.shape()) == 4 &&
                         values.values[0].tensor.data<float>()[3] == static_cast<float>(i + 7);
      if (!right) lg.note_error("developer " + std::to_string(index) + ": round " + std::to_string(i) + " came back " +
                                values.status + " or with a wrong value");
      lg.round_done(ms);
      if (lg.running && lg.options.rate_per_developer <= 0) round();
    }
    void start() {
      if (lg.options.rate_per_developer > 0) return pace();
      round();
      flush();
    }
    void pace() {
      pacer.expires_after(std::chrono::microseconds(static_cast<int64_t>(1e6 / lg.options.rate_per_developer)));
      pacer.async_wait([self = std::static_pointer_cast<Developer>(shared_from_this())](beast::error_code ec) {
        if (ec || self->closed || !self->lg.running) return;
        self->round();
        self->flush();
        self->pace();
      });
    }
    void on_closed(const std::string& why) override {
      pacer.cancel();
      lg.note_error("developer " + std::to_string(index) + " closed: " + why);
    }

    int index;
    Timer pacer;
    uint64_t graph = 0;
    int rounds_sent = 0;
    std::unordered_map<int, Clock::time_point> sent_at;
  };

  explicit Impl(LoadOptions o)
      : options(std::move(o)), work(asio::make_work_guard(ioc)), rng(42), mask_rng(std::random_device{}()) {
    endpoint = tcp::endpoint(asio::ip::make_address(options.host), options.port);
    thread = std::thread([this] { ioc.run(); });
  }
  ~Impl() { stop(); }

  // Runs fn on the Asio thread and waits for it.
  template <class Fn>
  auto on_io(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(ioc, [&task] { task(); });
    return result.get();
  }

  void open_next_worker() {
    while (attempts_in_flight < options.connect_concurrency && started_workers < options.workers) {
      // Log-uniform over the range (a fixed seed: the same fleet every run); memory bandwidth
      // is taken as a quarter of the flop rate (the figures only steer group sizes and ordering).
      std::uniform_real_distribution<double> unit(0, 1);
      const double gflops = options.min_gflops * std::pow(options.max_gflops / options.min_gflops, unit(rng));
      auto w = std::make_shared<Worker>(*this, started_workers, gflops, gflops / 4);
      workers.push_back(w);
      ++started_workers;
      ++attempts_in_flight;
      w->open();
    }
  }
  void worker_up(double ms) {
    connect_ms.push_back(ms);
    ++connected;
    --attempts_in_flight;
    open_next_worker();
    check_connected();
  }
  void worker_closed(bool was_up, const std::string& why) {
    if (was_up) {
      --connected;
      ++dropped;
    } else {
      --attempts_in_flight;
      ++failed_connects;
      open_next_worker();
    }
    if (first_close.empty()) first_close = why;
    check_connected();
  }
  void check_connected() {
    if (connected_promise && connected + failed_connects >= options.workers) {
      connected_promise->set_value();
      connected_promise.reset();
    }
  }
  void developer_up() {
    if (++developers_up == options.developers && developers_promise) {
      developers_promise->set_value();
      developers_promise.reset();
    }
  }
  void assigned(const protocol::Assign& assign) {
    const auto now = Clock::now();
    for (const auto& op : assign.ops) {
      auto it = submitted_at.find(op.id);
      if (it == submitted_at.end()) continue;
      if (running) dispatch_ms.push_back(ms_between(it->second, now));
      submitted_at.erase(it);
    }
  }
  void group_done() {
    if (running) ++groups;
  }
  void round_done(double ms) {
    if (running) {
      result_ms.push_back(ms);
      ++rounds;
    }
  }
  uint32_t mask_key() { return static_cast<uint32_t>(mask_rng()); }
  void note_error(const std::string& error) {
    if (errors.size() < 5) errors.push_back(error);
  }

  void stop() {
    if (!thread.joinable()) return;
    asio::post(ioc, [this] {
      running = false;
      for (auto& w : workers) w->fail("stopped");
      for (auto& d : developers) d->fail("stopped");
      ioc.stop();
    });
    thread.join();
  }

  LoadOptions options;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;  // run() waits for posted work
  tcp::endpoint endpoint;
  std::mt19937 rng;       // the fleet's benchmark figures and heartbeat jitter (fixed seed)
  std::mt19937 mask_rng;  // WebSocket mask keys
  std::thread thread;
  std::vector<std::shared_ptr<Worker>> workers;
  std::vector<std::shared_ptr<Developer>> developers;
  int started_workers = 0, attempts_in_flight = 0, connected = 0, failed_connects = 0, dropped = 0;
  int developers_up = 0;
  std::string first_close;
  std::vector<double> connect_ms;
  std::unique_ptr<std::promise<void>> connected_promise, developers_promise;
  // Measurement of the developer phase.
  bool running = false;
  std::unordered_map<std::string, Clock::time_point> submitted_at;  // wire name of c_i -> submit sent
  std::vector<double> dispatch_ms, result_ms;
  uint64_t groups = 0, rounds = 0;
  std::vector<std::string> errors;
};

LoadGenerator::LoadGenerator(LoadOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
LoadGenerator::~LoadGenerator() = default;

Latency LoadGenerator::connect_workers() {
  Impl& lg = *impl_;
  auto done = lg.on_io([&] {
    lg.connected_promise = std::make_unique<std::promise<void>>();
    auto future = lg.connected_promise->get_future();
    lg.open_next_worker();
    lg.check_connected();
    return future;
  });
  if (done.wait_for(lg.options.timeout) != std::future_status::ready) {
    const auto [up, failed] = lg.on_io([&] { return std::make_pair(lg.connected, lg.failed_connects); });
    throw std::runtime_error("only " + std::to_string(up) + " of " + std::to_string(lg.options.workers) +
                             " workers connected within " + std::to_string(lg.options.timeout.count()) + " ms (" +
                             std::to_string(failed) + " failed)");
  }
  return lg.on_io([&] {
    if (lg.failed_connects)
      throw std::runtime_error(std::to_string(lg.failed_connects) + " of " + std::to_string(lg.options.workers) +
                               " worker connections failed; the first: " + lg.first_close);
    return latency_of(lg.connect_ms);
  });
}

PhaseReport LoadGenerator::run_developers(std::chrono::milliseconds duration, pid_t server_pid) {
  Impl& lg = *impl_;
  if (lg.developers.empty() && lg.options.developers > 0) {
    auto up = lg.on_io([&] {
      lg.developers_promise = std::make_unique<std::promise<void>>();
      auto future = lg.developers_promise->get_future();
      for (int k = 0; k < lg.options.developers; ++k) {
        lg.developers.push_back(std::make_shared<Impl::Developer>(lg, k));
        lg.developers.back()->open();
      }
      return future;
    });
    if (up.wait_for(lg.options.timeout) != std::future_status::ready)
      throw std::runtime_error("the developers did not connect within the timeout");
  }
  const ProcessSample before = sample_process(server_pid), self_before = sample_process(::getpid());
  const auto start = Clock::now();
  lg.on_io([&] {
    lg.running = true;
    lg.dispatch_ms.clear();
    lg.result_ms.clear();
    lg.groups = lg.rounds = 0;
    for (auto& d : lg.developers) d->start();
  });
  std::this_thread::sleep_for(duration);
  PhaseReport report = lg.on_io([&] {
    lg.running = false;
    PhaseReport r;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.groups = lg.groups;
    r.rounds = lg.rounds;
    r.dispatch_ms = latency_of(lg.dispatch_ms);
    r.result_ms = latency_of(lg.result_ms);
    return r;
  });
  report.server_cpu_s = sample_process(server_pid).cpu_s - before.cpu_s;
  report.loadgen_cpu_s = sample_process(::getpid()).cpu_s - self_before.cpu_s;
  // Let the rounds in flight finish so the next phase starts clean; one never answered is an error.
  const auto settle_until = Clock::now() + lg.options.timeout;
  auto unanswered = [&] {
    return lg.on_io([&] {
      std::size_t n = 0;
      for (auto& d : lg.developers) n += d->closed ? 0 : d->sent_at.size();
      return n;
    });
  };
  while (unanswered() && Clock::now() < settle_until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (const std::size_t n = unanswered())
    lg.on_io([&] { lg.note_error(std::to_string(n) + " round(s) unanswered " + std::to_string(lg.options.timeout.count()) + " ms after the phase"); });
  const auto errors = lg.on_io([&] { return lg.errors; });
  if (!errors.empty()) throw std::runtime_error("load generator saw errors: " + errors.front());
  return report;
}

int LoadGenerator::connected_workers() const {
  return impl_->on_io([&] { return impl_->connected; });
}

void LoadGenerator::stop() { impl_->stop(); }

}  // namespace corvid::loadgen
