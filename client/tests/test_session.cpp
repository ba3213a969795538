// corvid::Session against a real corvid-server (the fixtures of tests/net) and, where ops must be
// computed, a real corvid-worker child process: submit, wait, stream, end and cancel, and a Graph
// that talks through its Session.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "corvid/corvid.hpp"
#include "server_process.hpp"

using namespace corvid;
using namespace corvid::test;

namespace {

// A corvid-worker child serving the server on `port`; SIGTERM (it releases its work) and reaped
// when destroyed.
class WorkerProcess {
 public:
  explicit WorkerProcess(uint16_t port) {
    const std::string server = "ws://127.0.0.1:" + std::to_string(port);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::execl(CORVID_WORKER_BIN, CORVID_WORKER_BIN, "--server", server.c_str(), "--name", "session-test",
              "--benchmark-ms", "20", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~WorkerProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

ConnectionOptions options_for(const ServerProcess& server, const TestSite& site) {
  ConnectionOptions options;
  options.servers = {parse_server_url("ws://127.0.0.1:" + std::to_string(server.port()))};
  options.token = site.token();
  options.name = "session-test";
  return options;
}

// A validated graph file (README, "The graph file").
GraphSpec graph_file(const std::string& text) {
  GraphSpec spec = parse_graph_file(text);
  validate_graph(spec);
  return spec;
}

std::vector<double> flat(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.size(); ++i) out.push_back(t.astype(DType::f64).data<double>()[i]);
  return out;
}

}  // namespace

TEST_CASE("a Session submits, waits, streams and ends a graph" * doctest::timeout(120)) {
  TestSite site;
  ServerProcess server(site);
  WorkerProcess worker(server.port());
  Session session(options_for(server, site));
  CHECK(session.graph_id() == 0);
  CHECK(session.end().status == "computed");  // no graph yet: nothing to wait for, nothing sent
  CHECK(session.cancel() == 0);

  const Submitted first = session.submit(graph_file(R"({"name": "session", "ops": [
      {"id": "a", "op": "tensor", "value": [[1, 2], [3, 4]], "dtype": "float32"},
      {"id": "b", "op": "tensor", "value": [[5, 6], [7, 8]], "dtype": "float32"},
      {"id": "c", "op": "add", "inputs": ["a", "b"]},
      {"id": "m", "op": "matmul", "inputs": ["a", "b"]}], "outputs": ["c", "m"]})"));
  CHECK(first.graph_id > 0);
  CHECK(first.added == 4);
  CHECK_FALSE(first.repeated);
  CHECK(session.graph_id() == first.graph_id);

  SUBCASE("wait returns every value, end the report") {
    int progress_frames = 0;
    session.set_progress_handler([&](const Progress& p) {
      ++progress_frames;
      CHECK(p.total >= 4);
    });
    const WaitResult got = session.wait({"c", "m"});
    CHECK(got.failed.empty());
    REQUIRE(got.values.count("c") == 1);
    REQUIRE(got.values.count("m") == 1);
    CHECK(flat(got.values.at("c")) == std::vector<double>{6, 8, 10, 12});
    CHECK(flat(got.values.at("m")) == std::vector<double>{19, 22, 43, 50});
    const Report report = session.end();
    CHECK(report.ok());
    CHECK(report.graph_id == first.graph_id);
    CHECK(report.total == 4);
    CHECK(report.count("computed") == 4);
    CHECK(report.count("failed") == 0);
    CHECK(progress_frames >= 0);  // progress is rate-limited: a fast graph may report none
  }

  SUBCASE("a later submit adds ops that use earlier ones; a failure is named in wait, stream and end") {
    const Submitted second = session.submit(graph_file(R"({"ops": [
        {"id": "s", "op": "tensor", "value": [[1, 2], [2, 4]], "dtype": "float64"},
        {"id": "bad", "op": "inv", "inputs": ["s"]}], "outputs": ["bad"]})"));
    CHECK(second.graph_id == first.graph_id);
    CHECK(second.added == 2);
    // Ops of an earlier batch are referred to by id (the spec is not validated locally here,
    // since "c" is not in it; the server checks it).
    GraphSpec third;
    OpSpec sum;
    sum.id = "total";
    sum.def = find_op("sum");
    sum.inputs = {"c"};
    sum.params = Params::object();
    third.ops.push_back(sum);
    third.outputs = {"total"};
    CHECK(session.submit(third).added == 1);

    std::map<std::string, std::string> streamed;  // id -> status
    std::map<std::string, std::string> errors;
    session.stream({"total", "bad"}, [&](const std::string& id, const std::string& status, const std::string& error,
                                         const Tensor* value) {
      streamed[id] = status;
      errors[id] = error;
      if (status == "computed") {
        REQUIRE(value != nullptr);
        CHECK(flat(*value) == std::vector<double>{36});
      } else {
        CHECK(value == nullptr);
      }
      return true;
    });
    CHECK(streamed == std::map<std::string, std::string>{{"total", "computed"}, {"bad", "failed"}});
    CHECK(errors["bad"].find("singular") != std::string::npos);

    const WaitResult got = session.wait({"bad", "total"});
    CHECK(got.values.count("total") == 1);
    REQUIRE(got.failed.size() == 1);
    CHECK(got.failed[0].id == "bad");
    CHECK(got.failed[0].op == "inv");

    const Report report = session.end();
    CHECK(report.status == "failed");
    CHECK(report.total == 7);
    REQUIRE(report.failed.size() == 1);
    CHECK(report.failed[0].id == "bad");
    CHECK(report.failed[0].error.find("singular") != std::string::npos);
  }

  SUBCASE("a second Session on the same graph id waits for the same values") {
    Session other(options_for(server, site), first.graph_id);
    const WaitResult got = other.wait({"c"}, /*any=*/true);
    REQUIRE(got.values.count("c") == 1);
    CHECK(flat(got.values.at("c")) == std::vector<double>{6, 8, 10, 12});
  }
}

TEST_CASE("a Session cancels ops that no worker took, and the server's refusal names the op" *
          doctest::timeout(60)) {
  TestSite site;
  ServerProcess server(site);  // no worker: only sources compute
  Session session(options_for(server, site));
  session.submit(graph_file(R"({"ops": [
      {"id": "a", "op": "tensor", "value": [1, 2, 3]},
      {"id": "b", "op": "neg", "inputs": ["a"]},
      {"id": "c", "op": "exp", "inputs": ["b"]}]})"));
  // The tensor is computed on the server at once.
  const WaitResult got = session.wait({"a"});
  CHECK(flat(got.values.at("a")) == std::vector<double>{1, 2, 3});
  CHECK(session.cancel({"c"}) == 1);
  CHECK(session.cancel() == 1);  // b, the rest
  const Report report = session.end();
  CHECK(report.status == "cancelled");
  CHECK(report.count("cancelled") == 2);
  CHECK(report.count("computed") == 1);

  GraphSpec bad;
  OpSpec op;
  op.id = "d";
  op.def = find_op("add");
  op.inputs = {"a", "nowhere"};
  op.params = Params::object();
  bad.ops.push_back(op);
  try {
    session.submit(bad);
    FAIL("the server accepted an op with an unknown input");
  } catch (const ServerError& e) {
    CHECK(e.op_id() == "d");
    CHECK(std::string(e.what()).find("op 'd'") == 0);
  }
}

namespace {

// A server with one worker, and the options of a Graph that talks to them.
struct GraphFixture {
  TestSite site;
  ServerProcess server{site};
  WorkerProcess worker{server.port()};

  GraphOptions options() const {
    GraphOptions o;
    o.server = "ws://127.0.0.1:" + std::to_string(server.port());
    o.token = site.token();
    return o;
  }
};

}  // namespace

TEST_CASE("a Graph talks through its Session and graph.t records on that graph" * doctest::timeout(120)) {
  GraphFixture fixture;
  GraphOptions options = fixture.options();
  int progress_calls = 0;
  options.on_progress = [&](int computed, int total) {
    ++progress_calls;
    CHECK(computed <= total);
  };
  Graph graph{"graph-session", options};
  Graph other{"not-current"};  // the current graph now; graph.t still records on `graph`
  auto a = graph.t({1, 2, 3});
  auto b = graph.t({{10, 20, 30}});
  auto z = graph.zeros({3}, DType::i32);
  auto c = a + b + z;
  CHECK(&c.graph() == &graph);
  CHECK(other.size() == 0);
  CHECK(flat(c()) == std::vector<double>{11, 22, 33});
  CHECK(graph.id() > 0);
  CHECK(graph.session().graph_id() == graph.id());
  // The same graph through its Session: ids are the Values' ids.
  const WaitResult got = graph.session().wait({c.id()});
  CHECK(flat(got.values.at(c.id())) == std::vector<double>{11, 22, 33});
  const Report report = graph.end();
  CHECK(report.ok());
  CHECK(report.count("computed") == 5);
  CHECK(progress_calls >= 0);
}

TEST_CASE("corvid::grad: a gradient built with the library is expanded by the server and computed" *
          doctest::timeout(120)) {
  GraphFixture fixture;
  Graph graph{"grad", fixture.options()};
  auto w = graph.t({1.0, -2.0, 3.0});
  auto b = graph.t({0.5});
  auto loss = sum(w * w + b * w);                 // d/dw = 2w + b, d/db = sum(w)
  const std::vector<Value> grads = grad(loss, {w, b});
  CHECK(grads[0].shape() == w.shape());
  CHECK(flat(grads[0]()) == std::vector<double>{2.5, -3.5, 6.5});
  CHECK(flat(grads[1]()) == std::vector<double>{2.0});
  CHECK_THROWS_AS(grad(w, b), GraphError);  // the loss must be a scalar
  CHECK(graph.end().ok());
}
