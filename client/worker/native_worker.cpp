#include "native_worker.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <random>

namespace corvid {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// One WebSocket connection to the server; a reconnect makes a new one (a new epoch).
struct NativeWorker::Link {
  explicit Link(net::io_context& io, uint64_t epoch) : ws(io), resolver(io), heartbeat_timer(io), epoch(epoch) {}
  websocket::stream<beast::tcp_stream> ws;
  tcp::resolver resolver;
  net::steady_timer heartbeat_timer;
  beast::flat_buffer buffer;
  websocket::response_type upgrade_response;  // the server's answer to the handshake (429 says when to retry)
  std::deque<std::vector<uint8_t>> outgoing;  // front is being written
  uint64_t epoch;
  double heartbeat_ms = 5000;
  bool welcomed = false;
  bool closed = false;
};

namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

NativeWorker::NativeWorker(net::io_context& io, WorkerOptions options)
    : io_(io), options_(std::move(options)), reconnect_timer_(io), signals_(io, SIGINT, SIGTERM),
      executor_(options_.cache_bytes),
      liar_(options_.lie, options_.lie_mode, options_.lie_after) {}

NativeWorker::~NativeWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  if (compute_.joinable()) compute_.join();
}

int NativeWorker::run() {
  score_ = run_device_benchmark(options_.benchmark_ms);
  std::cerr << "corvid-worker " << options_.name << ": benchmark " << score_.matmul_gflops << " GFLOPS matmul, "
            << score_.elementwise_gbs << " GB/s elementwise, " << score_.reduce_gbs << " GB/s reduce";
  if (options_.slowdown != 1) std::cerr << " (reported / " << options_.slowdown << " for --slowdown)";
  std::cerr << "\n";
  signals_.async_wait([this](const beast::error_code& ec, int sig) {
    if (ec) return;
    std::cerr << "corvid-worker " << options_.name << ": signal " << sig << ", releasing work and exiting\n";
    stop();
  });
  compute_ = std::thread([this] { compute_loop(); });
  connect();
  io_.run();
  return 0;
}

void NativeWorker::stop() {
  if (stopping_) return;
  stopping_ = true;
  reconnect_timer_.cancel();
  signals_.cancel();
  const auto groups = held_groups();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
    quit_ = true;
  }
  wake_.notify_all();
  auto link = link_;
  if (!link || link->closed || !link->welcomed) {
    io_.stop();
    return;
  }
  if (!groups.empty()) send(link, protocol::encode(protocol::Release{groups, {}}));
  // write_next closes the connection once the release went out; the close ends run(). A server
  // that does not answer the close gets two seconds.
  if (link->outgoing.empty()) close_and_finish(link);
  reconnect_timer_.expires_after(std::chrono::seconds(2));
  reconnect_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) io_.stop();
  });
}

void NativeWorker::close_and_finish(std::shared_ptr<Link> link) {
  link->closed = true;
  link->heartbeat_timer.cancel();
  link->ws.async_close(websocket::close_code::going_away, [this, link](const beast::error_code&) { io_.stop(); });
}

std::vector<uint64_t> NativeWorker::held_groups() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<uint64_t> ids;
  if (running_group_ && !running_cancelled_) ids.push_back(*running_group_);
  for (const auto& job : queue_)
    if (job.epoch == epoch_) ids.push_back(job.group_id);
  return ids;
}

void NativeWorker::connect() {
  if (stopping_) return;
  auto link = std::make_shared<Link>(io_, ++epoch_);
  link_ = link;
  link->ws.read_message_max(options_.max_frame_bytes);
  link->resolver.async_resolve(
      server().host, server().port,
      [this, link](const beast::error_code& ec, tcp::resolver::results_type results) {
        if (ec) return lost(link, "cannot resolve " + server().host + ": " + ec.message());
        beast::get_lowest_layer(link->ws).expires_after(std::chrono::seconds(10));
        beast::get_lowest_layer(link->ws).async_connect(
            results, [this, link](const beast::error_code& ec, const tcp::endpoint&) {
              if (ec) return lost(link, "cannot connect to " + server().authority() + ": " + ec.message());
              beast::get_lowest_layer(link->ws).socket().set_option(tcp::no_delay(true));
              beast::get_lowest_layer(link->ws).expires_never();
              link->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
              link->ws.binary(true);
              link->ws.async_handshake(
                  link->upgrade_response, server().authority(), "/ws/worker",
                  [this, link](const beast::error_code& ec) {
                    if (!ec) return on_connected(link);
                    const auto& response = link->upgrade_response;
                    // Too many new connections from this address: wait at least as long as the server asks.
                    if (response.result() == beast::http::status::too_many_requests) {
                      const double retry_after_s = std::atof(std::string(response[beast::http::field::retry_after]).c_str());
                      backoff_ms_ = std::clamp(retry_after_s * 1000, backoff_ms_, 60000.0);
                    }
                    lost(link, "WebSocket handshake failed: " + ec.message() +
                                   (response.result_int() ? " (HTTP " + std::to_string(response.result_int()) + ")" : ""));
                  });
            });
      });
}

void NativeWorker::on_connected(std::shared_ptr<Link> link) {
  protocol::WorkerHello hello;
  hello.name = options_.name;
  hello.user_agent = "corvid-worker/0.1 (native)";
  hello.resume_id = worker_id_;
  hello.worker_token = options_.worker_token;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hello.cached = cached_names_;
  }
  send(link, protocol::encode(std::move(hello)));
  read(link);
}

void NativeWorker::read(std::shared_ptr<Link> link) {
  link->ws.async_read(link->buffer, [this, link](const beast::error_code& ec, std::size_t) {
    if (ec) return lost(link, ec == websocket::error::closed ? "server closed the connection" : ec.message());
    Frame frame;
    try {
      const auto data = link->buffer.data();
      frame = decode_frame(static_cast<const uint8_t*>(data.data()), data.size());
    } catch (const std::exception& e) {
      link->buffer.consume(link->buffer.size());
      std::cerr << "corvid-worker " << options_.name << ": bad frame from server: " << e.what() << "\n";
      send(link, protocol::encode(protocol::WorkerError{0, "", std::string("bad frame: ") + e.what(),
                                                        protocol::WorkerErrorKind::malformed}));
      return read(link);
    }
    link->buffer.consume(link->buffer.size());
    on_message(link, std::move(frame));
    if (!link->closed) read(link);
  });
}

void NativeWorker::on_message(std::shared_ptr<Link> link, Frame frame) {
  const std::string type = protocol::type_of(frame);
  try {
    if (type == protocol::WorkerWelcome::kType) {
      const auto welcome = protocol::decode<protocol::WorkerWelcome>(std::move(frame));
      worker_id_ = welcome.worker_id;
      if (welcome.heartbeat_ms > 0) link->heartbeat_ms = std::max(50.0, welcome.heartbeat_ms);
      link->welcomed = true;
      backoff_ms_ = 100;
      std::cerr << "corvid-worker " << options_.name << ": connected to " << server().text() << " as worker "
                << *worker_id_ << "\n";
      for (const auto& url : welcome.servers) learn_server(url);
      DeviceScore score = score_;
      for (double* figure : {&score.matmul_gflops, &score.elementwise_gbs, &score.reduce_gbs}) *figure /= options_.slowdown;
      send(link, protocol::encode(protocol::Benchmark{score}));
      heartbeat(link);
    } else if (type == protocol::Assign::kType) {
      auto assign = protocol::decode<protocol::Assign>(std::move(frame));
      const uint64_t group_id = assign.group_id;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(Job{link->epoch, group_id, std::move(assign), {}});
      }
      wake_.notify_one();
    } else if (type == protocol::Release::kType) {
      // Kept tensors whose values the developer released: dropped by the compute thread, in order
      // with the groups queued before.
      auto names = protocol::decode<protocol::Release>(std::move(frame)).names;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(Job{link->epoch, 0, {}, std::move(names)});
      }
      wake_.notify_one();
    } else if (type == protocol::CancelGroup::kType) {
      const uint64_t group_id = protocol::decode<protocol::CancelGroup>(std::move(frame)).group_id;
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [&](const Job& j) { return j.group_id == group_id; }),
                   queue_.end());
      if (running_group_ == group_id) running_cancelled_ = true;
    } else if (type == protocol::Redirect::kType) {
      // Validated by the decoder; the server closes the connection after it (lost() follows it).
      const auto redirect = protocol::decode<protocol::Redirect>(std::move(frame));
      redirect_to_ = learn_server(redirect.url);
      if (redirect_to_)
        std::cerr << "corvid-worker " << options_.name << ": redirected to " << redirect.url << " (" << redirect.reason
                  << ")\n";
    } else if (type == protocol::ErrorReply::kType) {
      std::cerr << "corvid-worker " << options_.name
                << ": server says: " << protocol::decode<protocol::ErrorReply>(std::move(frame)).error << "\n";
    }
    // heartbeat and unknown types need no answer.
  } catch (const protocol::ProtocolError& e) {
    // A malformed assign is answered like the executor answers one; other bad messages are logged.
    std::cerr << "corvid-worker " << options_.name << ": bad '" << type << "' from server: " << e.what() << "\n";
    if (type == protocol::Assign::kType)
      send(link, protocol::encode(protocol::WorkerError{0, "", e.what(), protocol::WorkerErrorKind::malformed}));
    if (type == protocol::WorkerWelcome::kType) lost(link, std::string("a welcome that does not decode: ") + e.what());
  }
}

std::optional<std::size_t> NativeWorker::learn_server(const std::string& url) {
  try {
    const auto index = add_server(options_.servers, parse_server_url(url));
    if (!index) std::cerr << "corvid-worker " << options_.name << ": not keeping server " << url << ": the list is full\n";
    return index;
  } catch (const std::invalid_argument& e) {  // wss://: this worker speaks ws:// only
    std::cerr << "corvid-worker " << options_.name << ": cannot use server " << url << ": " << e.what() << "\n";
    return std::nullopt;
  }
}

void NativeWorker::send(const std::shared_ptr<Link>& link, Frame frame) {
  if (link->closed) return;
  link->outgoing.push_back(encode_frame(frame));
  if (link->outgoing.size() == 1) write_next(link);
}

void NativeWorker::write_next(std::shared_ptr<Link> link) {
  link->ws.async_write(net::buffer(link->outgoing.front()), [this, link](const beast::error_code& ec, std::size_t) {
    if (ec) return lost(link, "write failed: " + ec.message());
    link->outgoing.pop_front();
    if (!link->outgoing.empty()) return write_next(link);
    if (stopping_ && !link->closed) close_and_finish(link);
  });
}

void NativeWorker::heartbeat(std::shared_ptr<Link> link) {
  link->heartbeat_timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(link->heartbeat_ms)));
  link->heartbeat_timer.async_wait([this, link](const beast::error_code& ec) {
    if (ec || link->closed) return;
    send(link, protocol::encode(protocol::Heartbeat{now_ms()}));
    heartbeat(link);
  });
}

void NativeWorker::lost(std::shared_ptr<Link> link, const std::string& why) {
  if (link->closed && link != link_) return;
  const bool was_current = link == link_;
  if (!link->closed) {
    link->closed = true;
    link->heartbeat_timer.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(link->ws).socket().close(ignored);
  }
  if (!was_current) return;
  if (stopping_) {
    io_.stop();
    return;
  }
  link_.reset();
  {
    // Groups of a lost connection belong to the server again; it reassigns them.
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
  }
  // A redirect goes where it said at once; any other loss moves on to the next server.
  if (redirect_to_) {
    current_ = *redirect_to_;
    redirect_to_.reset();
    backoff_ms_ = 100;
  } else {
    current_ = (current_ + 1) % options_.servers.size();
  }
  schedule_reconnect(why + (options_.servers.size() > 1 ? "; next: " + server().text() : ""));
}

void NativeWorker::schedule_reconnect(const std::string& why) {
  // Spread over 1x to 1.5x the backoff (never sooner than a 429 asked), so that workers that lost the same server do not all
  // come back in the same millisecond.
  static thread_local std::mt19937 random{std::random_device{}()};
  const double delay_ms = backoff_ms_ * std::uniform_real_distribution<double>(1.0, 1.5)(random);
  std::cerr << "corvid-worker " << options_.name << ": " << why << "; retrying in " << static_cast<int>(delay_ms)
            << " ms\n";
  reconnect_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(delay_ms)));
  backoff_ms_ = std::min(backoff_ms_ * 2, 5000.0);
  reconnect_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) connect();
  });
}

void NativeWorker::compute_loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return quit_ || !queue_.empty(); });
      if (quit_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      if (job.group_id == 0) {
        executor_.forget(job.forget);
        cached_names_ = executor_.cached_names();
        continue;
      }
      running_group_ = job.group_id;
      running_cancelled_ = false;
    }
    const auto start = std::chrono::steady_clock::now();
    Frame reply = executor_.execute(std::move(job.assign));
    liar_.maybe_lie(reply);  // --lie, for tests only: off (p = 0) by default
    const double compute_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const double f = options_.slowdown;
    if (f > 1) {
      // Look f× slower: wait (f - 1) × the compute time, unless told to quit.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::duration<double, std::milli>((f - 1) * compute_ms), [&] { return quit_; });
      if (protocol::type_of(reply) == protocol::Result::kType) {
        auto result = protocol::decode<protocol::Result>(std::move(reply));
        result.compute_ms = result.compute_ms.value_or(0) * f;
        for (auto& [id, ms] : result.op_ms.items()) ms = ms.get<double>() * f;
        reply = protocol::encode(std::move(result));
      }
    }
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled = running_cancelled_ || quit_;
      running_group_.reset();
      cached_names_ = executor_.cached_names();
    }
    if (cancelled) continue;
    net::post(io_, [this, epoch = job.epoch, reply = std::move(reply)]() mutable {
      if (link_ && link_->epoch == epoch && !stopping_) send(link_, std::move(reply));
    });
  }
}

}  // namespace corvid
