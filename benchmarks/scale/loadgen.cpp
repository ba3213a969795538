// corvid-loadgen's engine (see loadgen.hpp): worker and developer connections on one Asio thread.
#include "loadgen.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
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
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kWorkerCacheBytes = 16u << 20;  // each simulated worker's kept-tensor budget
constexpr std::size_t kMaxFrameBytes = 64u << 20;

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
  // One WebSocket with a single-writer queue of encoded frames.
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl& lg, std::string path) : lg(lg), ws(lg.ioc), path(std::move(path)) {}
    virtual ~Connection() = default;
    virtual void on_frame(Frame frame) = 0;
    virtual void on_open() = 0;
    virtual void on_closed(const std::string& why) = 0;

    void open() {
      started = Clock::now();
      beast::get_lowest_layer(ws).async_connect(lg.endpoint, [self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->fail("connect: " + ec.message());
        beast::get_lowest_layer(self->ws).socket().set_option(tcp::no_delay(true));
        beast::get_lowest_layer(self->ws).expires_never();
        self->ws.binary(true);
        self->ws.read_message_max(kMaxFrameBytes);
        self->ws.async_handshake(self->lg.options.host, self->path, [self](beast::error_code ec) {
          if (ec) return self->fail("upgrade: " + ec.message());
          self->on_open();
          self->read();
        });
      });
    }
    void read() {
      ws.async_read(in, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("read: " + ec.message());
        Frame frame;
        try {
          const auto data = self->in.cdata();
          frame = decode_frame(static_cast<const uint8_t*>(data.data()), data.size());
        } catch (const std::exception& e) {
          return self->fail(std::string("bad frame from the server: ") + e.what());
        }
        self->in.consume(self->in.size());
        self->on_frame(std::move(frame));
        if (!self->closed) self->read();
      });
    }
    void send(const Frame& frame) {
      if (closed) return;
      out.push_back(encode_frame(frame));
      if (!writing) write_next();
    }
    void write_next() {
      writing = true;
      ws.async_write(asio::buffer(out.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->out.pop_front();
        if (ec) return self->fail("write: " + ec.message());
        if (self->out.empty()) self->writing = false;
        else self->write_next();
      });
    }
    void fail(const std::string& why) {
      if (closed) return;
      closed = true;
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
      on_closed(why);
    }

    Impl& lg;
    websocket::stream<beast::tcp_stream> ws;
    std::string path;
    beast::flat_buffer in;
    std::deque<std::vector<uint8_t>> out;
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
        self->beat();
      });
    }
    void on_closed(const std::string& why) override {
      heartbeat.cancel();
      lg.worker_closed(up, why);
    }

    int index;
    asio::steady_timer heartbeat;
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
      if (lg.options.rate_per_developer <= 0) return round();
      pace();
    }
    void pace() {
      pacer.expires_after(std::chrono::microseconds(static_cast<int64_t>(1e6 / lg.options.rate_per_developer)));
      pacer.async_wait([self = std::static_pointer_cast<Developer>(shared_from_this())](beast::error_code ec) {
        if (ec || self->closed || !self->lg.running) return;
        self->round();
        self->pace();
      });
    }
    void on_closed(const std::string& why) override {
      pacer.cancel();
      lg.note_error("developer " + std::to_string(index) + " closed: " + why);
    }

    int index;
    asio::steady_timer pacer;
    uint64_t graph = 0;
    int rounds_sent = 0;
    std::unordered_map<int, Clock::time_point> sent_at;
  };

  explicit Impl(LoadOptions o) : options(std::move(o)), work(asio::make_work_guard(ioc)), rng(42) {
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
  std::mt19937 rng;
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
