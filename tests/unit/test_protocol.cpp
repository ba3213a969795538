// shared/protocol: every message survives encode -> frame bytes -> decode, and decoders refuse
// bad fields with a message naming the type and the field.
#include <doctest/doctest.h>

#include "shared/protocol.hpp"

using namespace corvid;
using namespace corvid::protocol;
using nlohmann::json;

namespace {

// The message after a trip through the binary frame codec, as a peer receives it.
template <class M>
M round_trip(M m) {
  const std::vector<uint8_t> bytes = encode_frame(encode(std::move(m)));
  Frame frame = decode_frame(bytes.data(), bytes.size());
  CHECK(type_of(frame) == M::kType);
  return decode<M>(std::move(frame));
}

Frame frame_with(json header) {
  Frame f;
  f.header = std::move(header);
  return f;
}

template <class M>
std::string error_of(json header) {
  try {
    decode<M>(frame_with(std::move(header)));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

Tensor f32(Shape shape, std::vector<float> values) { return Tensor::from_vector<float>(std::move(shape), values); }

}  // namespace

TEST_CASE("protocol: worker messages round-trip") {
  WorkerHello hello;
  hello.name = "tab";
  hello.user_agent = "Chromium";
  hello.resume_id = 7;
  hello.cached = {"1:a", "1:b"};
  WorkerHello h = round_trip(hello);
  CHECK(h.version == kProtocolVersion);
  CHECK(h.name == "tab");
  CHECK(h.user_agent == "Chromium");
  CHECK(h.resume_id == std::optional<uint64_t>(7));
  CHECK(h.cached == hello.cached);
  CHECK(h.worker_token.empty());
  hello.worker_token = "0123abcd";
  CHECK(round_trip(hello).worker_token == "0123abcd");
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"version", 1}, {"worker_token", 5}}) ==
        "hello: 'worker_token' must be a string");
  CHECK(h.device.empty());
  CHECK(!h.slot);
  hello.device = "a1B2-c_3";
  hello.slot = 255;
  h = round_trip(hello);
  CHECK(h.device == "a1B2-c_3");
  CHECK(h.slot == std::optional<uint64_t>(255));

  WorkerWelcome w = round_trip(WorkerWelcome{42, 5000, {}});
  CHECK(w.worker_id == 42);
  CHECK(w.heartbeat_ms == 5000);

  Benchmark b = round_trip(Benchmark{{12.5, 3.25, 4, 600}});
  CHECK(b.score.matmul_gflops == 12.5);
  CHECK(b.score.elementwise_gbs == 3.25);
  CHECK(b.score.reduce_gbs == 4);
  CHECK(b.score.duration_ms == 600);

  Assign assign;
  assign.group_id = 9;
  OpSpec add;
  add.id = "1:c";
  add.def = find_op("add");
  add.inputs = {"1:a", "1:b"};
  assign.ops.push_back(add);
  assign.outputs = {"1:c"};
  assign.keep = {"1:a"};
  assign.inputs.push_back({"1:a", f32({2}, {1, 2})});
  Assign a = round_trip(assign);
  CHECK(a.group_id == 9);
  REQUIRE(a.ops.size() == 1);
  CHECK(a.ops[0].def == find_op("add"));
  CHECK(a.ops[0].inputs == add.inputs);
  CHECK(a.outputs == assign.outputs);
  CHECK(a.keep == assign.keep);
  REQUIRE(a.inputs.size() == 1);
  CHECK(a.inputs[0].tensor.data<float>()[1] == 2);

  Result r = round_trip(Result{9, 1.5, {{"1:c", 1.5}}, {{"1:c", f32({1}, {3})}}});
  CHECK(r.group_id == 9);
  CHECK(r.compute_ms == std::optional<double>(1.5));
  CHECK(r.op_ms["1:c"] == 1.5);
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.outputs[0].name == "1:c");

  WorkerError e = round_trip(WorkerError{9, "1:c", "add: bad", WorkerErrorKind::kernel});
  CHECK(e.group_id == 9);
  CHECK(e.op_id == "1:c");
  CHECK(e.error == "add: bad");
  CHECK(e.kind == WorkerErrorKind::kernel);

  CHECK(round_trip(Release{{3, 4}, {}}).group_ids == std::vector<uint64_t>{3, 4});
  const Release forget = round_trip(Release{{}, {"1:w", "1:m"}});
  CHECK(forget.group_ids.empty());
  CHECK(forget.names == std::vector<std::string>{"1:w", "1:m"});
  Submit submit;
  submit.graph_id = 4;
  submit.release = {"w0", "m0"};
  CHECK(round_trip(submit).release == std::vector<std::string>{"w0", "m0"});
  CHECK(round_trip(CancelGroup{5}).group_id == 5);
  CHECK(round_trip(Heartbeat{123.5}).t == 123.5);
  ErrorReply err = round_trip(ErrorReply{17, "x", "bad"});
  CHECK(err.request_id == 17);
  CHECK(err.op_id == "x");
  CHECK(err.error == "bad");
}

TEST_CASE("protocol: developer messages round-trip") {
  ClientHello hello = round_trip(ClientHello{kProtocolVersion, "secret", "ana"});
  CHECK(hello.token == "secret");
  CHECK(hello.name == "ana");
  CHECK(round_trip(ClientWelcome{3}).client_id == 3);

  Submit submit;
  submit.request_id = 1;
  submit.name = "g";
  OpSpec a;
  a.id = "a";
  a.def = find_op("tensor");
  a.value = f32({2}, {1, 2});
  OpSpec n;
  n.id = "n";
  n.def = find_op("neg");
  n.inputs = {"a"};
  submit.ops = {a, n};
  submit.outputs = std::vector<std::string>{"n"};
  submit.submit_key = "k1";
  Submit s = round_trip(submit);
  CHECK(s.request_id == 1);
  CHECK(!s.graph_id);
  CHECK(s.name == "g");
  REQUIRE(s.ops.size() == 2);
  REQUIRE(s.ops[0].value);
  CHECK(s.ops[0].value->data<float>()[1] == 2);
  CHECK(s.ops[1].inputs == std::vector<std::string>{"a"});
  CHECK(s.outputs == std::optional<std::vector<std::string>>(std::vector<std::string>{"n"}));
  CHECK(s.submit_key == "k1");
  submit.graph_id = 4;
  CHECK(round_trip(submit).graph_id == std::optional<uint64_t>(4));

  Submitted ok = round_trip(Submitted{1, 4, 2, true});
  CHECK((ok.graph_id == 4 && ok.added == 2 && ok.repeated));

  Wait wait = round_trip(Wait{2, 4, std::vector<std::string>{"n"}, false, true, std::vector<std::string>{"a"}});
  CHECK(wait.graph_id == 4);
  CHECK(wait.ids == std::optional<std::vector<std::string>>(std::vector<std::string>{"n"}));
  CHECK(wait.any);
  CHECK(wait.track == std::optional<std::vector<std::string>>(std::vector<std::string>{"a"}));
  CHECK(!round_trip(Wait{2, 4, std::nullopt, true, false, std::nullopt}).ids);

  CHECK(round_trip(End{3, 4}).graph_id == 4);
  CHECK(!round_trip(CancelOps{3, 4, std::nullopt}).ids);

  Progress progress = round_trip(Progress{2, 4, {1, 2, 3, 4, 5}, 15, true, 2, 7});
  CHECK((progress.counts.pending == 1 && progress.counts.cancelled == 5 && progress.total == 15));
  CHECK((progress.has_tracked && progress.tracked_running == 2 && progress.tracked_final == 7));
  CHECK(progress.no_workers_s == 0);
  CHECK(round_trip(Progress{2, 4, {}, 0, false, 0, 0, 4.5}).no_workers_s == 4.5);

  ValueUpdate value = round_trip(ValueUpdate{2, 4, "n", "computed", "", f32({1}, {5})});
  REQUIRE(value.value);
  CHECK(value.value->data<float>()[0] == 5);
  ValueUpdate failed = round_trip(ValueUpdate{2, 4, "n", "failed", "neg: no", std::nullopt});
  CHECK((failed.status == "failed" && failed.error == "neg: no" && !failed.value));

  Values values = round_trip(Values{2, 4, "failed", {{"m", "inv", "singular"}}, {{"n", f32({1}, {5})}}});
  CHECK(values.status == "failed");
  REQUIRE(values.failed.size() == 1);
  CHECK(values.failed[0].error == "singular");
  REQUIRE(values.values.size() == 1);

  Report report = round_trip(Report{3, 4, "computed", {0, 0, 2, 0, 0}, 2, {}, std::nullopt});
  CHECK((report.status == "computed" && report.counts.computed == 2 && report.total == 2 && report.failed.empty()));
  CHECK_FALSE(report.verification);
  report = round_trip(Report{3, 4, "computed", {0, 0, 2, 0, 0}, 2, {}, VerificationSummary{"adaptive", 5, 2, 1, 1, 0}});
  REQUIRE(report.verification);
  CHECK(report.verification->policy == "adaptive");
  CHECK((report.verification->replicated == 5 && report.verification->spot_checked == 2 &&
         report.verification->disagreements == 1 && report.verification->wrong == 1 && report.verification->quarantines == 0));
  CHECK(round_trip(Cancelled{5, 4, 3}).count == 3);
}

TEST_CASE("protocol: decoders name the type and the field that is wrong") {
  const std::string device_rule = "hello: 'device' must be at most 64 characters of A-Z, a-z, 0-9, '_' and '-'";
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"device", std::string(65, 'd')}}) == device_rule);
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"device", "a b"}}) == device_rule);
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"device", 7}}) == "hello: 'device' must be a string");
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"slot", 256}}) == "hello: 'slot' must be below 256");
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"slot", -1}}) == "hello: 'slot' must be a non-negative integer");
  CHECK(error_of<WorkerHello>({{"type", "hello"}, {"device", std::string(64, 'd')}, {"slot", 0}}).empty());
  CHECK(error_of<Result>({{"type", "result"}, {"group_id", -1}}) == "result: 'group_id' must be a non-negative integer");
  CHECK(error_of<WorkerError>({{"type", "error"}}) == "error: 'group_id' must be a non-negative integer");
  CHECK(error_of<Benchmark>({{"type", "benchmark"}, {"matmul_gflops", 0}, {"elementwise_gbs", 1}}) ==
        "benchmark: 'matmul_gflops' and 'elementwise_gbs' must be positive numbers");
  CHECK(error_of<Release>({{"type", "release"}, {"group_ids", 3}}) == "release: 'group_ids' must be a list of group ids");
  CHECK(error_of<Wait>({{"type", "wait"}}) == "'graph_id' is required (a graph id from `submitted`)");
  CHECK(error_of<Wait>({{"type", "wait"}, {"graph_id", "12x"}}) ==
        "'graph_id' is required (a graph id from `submitted`)");
  CHECK(error_of<Wait>({{"type", "wait"}, {"graph_id", 1}, {"ids", "a"}}) == "'ids' must be a list of op ids");
  CHECK(error_of<Submit>({{"type", "submit"}, {"ops", 1}}) == "submit: \"ops\" must be a list");
  CHECK(error_of<Submit>({{"type", "submit"}, {"submit_key", std::string(129, 'k')}}) ==
        "'submit_key' is longer than 128 characters");
  CHECK(error_of<Submit>({{"type", "submit"}, {"ops", {{{"id", "a"}, {"op", "nope"}}}}}) == "op 'a': unknown op 'nope'");
  CHECK(error_of<Assign>({{"type", "assign"}, {"group_id", 1}, {"ops", json::array()}}) ==
        "assign: 'ops' must be a non-empty list");
  CHECK(error_of<Assign>({{"type", "result"}}) == "expected a 'assign' message, got 'result'");
  CHECK(error_of<Submitted>({{"type", "submitted"}, {"graph_id", "x"}}) ==
        "submitted: 'graph_id' must be a non-negative integer");
  CHECK(error_of<Values>({{"type", "values"}, {"failed", {1}}}) == "values: 'failed' must be a list of {id, op, error}");
}

TEST_CASE("protocol: lenient fields of hostile messages read as defaults, not errors") {
  WorkerHello h = decode<WorkerHello>(frame_with({{"type", "hello"}, {"name", 5}, {"cached", {"1:a", 7, "1:b"}}}));
  CHECK(h.name.empty());
  CHECK(h.cached == std::vector<std::string>{"1:a", "1:b"});
  Result r = decode<Result>(frame_with({{"type", "result"}, {"group_id", 2}, {"compute_ms", -3}}));
  CHECK(!r.compute_ms);
  WorkerError e = decode<WorkerError>(frame_with({{"type", "error"}, {"group_id", 2}, {"kind", "odd"}}));
  CHECK(e.kind == WorkerErrorKind::unknown);
  CHECK(e.error == "no message");
  CHECK(decode<Release>(frame_with({{"type", "release"}, {"group_ids", {1, -2, "x", 3}}})).group_ids ==
        std::vector<uint64_t>{1, 3});
  CHECK(hello_version_problem(frame_with({{"type", "hello"}, {"version", 2}})) ==
        "protocol version 2 is not supported: this server speaks protocol version 1");
  CHECK(hello_version_problem(frame_with({{"type", "hello"}, {"version", kProtocolVersion}})).empty());
}

TEST_CASE("protocol: redirect carries a server address and refuses anything else") {
  Redirect r = round_trip(Redirect{"ws://other.example:9999", "drain"});
  CHECK(r.url == "ws://other.example:9999");
  CHECK(r.reason == "drain");
  for (const char* ok : {"ws://h", "wss://h.example:443/", "ws://10.0.0.2:1", "ws://[::1]:9999", "ws://my_host-2:65535"})
    CHECK_MESSAGE(server_address_problem(ok).empty(), ok);
  auto url_error = [](json url) { return error_of<Redirect>({{"type", "redirect"}, {"url", std::move(url)}}); };
  CHECK(error_of<Redirect>({{"type", "redirect"}}) == "redirect: 'url' must start with ws:// or wss:// and name a host");
  CHECK(url_error(7) == "redirect: 'url' must be a string");
  CHECK(url_error("http://h:1") == "redirect: 'url' must start with ws:// or wss:// and name a host");
  CHECK(url_error("javascript:alert(1)") == "redirect: 'url' must start with ws:// or wss:// and name a host");
  CHECK(url_error("ws://") == "redirect: 'url' must start with ws:// or wss:// and name a host");
  CHECK(url_error("ws://:80") == "redirect: 'url' has no host");
  CHECK(url_error("ws://h:") == "redirect: 'url' has an empty port");
  CHECK(url_error("ws://h:0") == "redirect: 'url' has a port outside 1..65535");
  CHECK(url_error("ws://h:65536") == "redirect: 'url' has a port outside 1..65535");
  CHECK(url_error("ws://h:9x") == "redirect: 'url' has a port that is not a number");
  CHECK(url_error("ws://h/ws/worker") == "redirect: 'url' must be ws://host:port with no path");
  CHECK(url_error("ws://h:1/x") == "redirect: 'url' must be ws://host:port with no path");
  CHECK(url_error("ws://user@h") == "redirect: 'url' has a character that is not allowed in a host name");
  CHECK(url_error("ws://h h") == "redirect: 'url' has a character that is not allowed in a host name");
  CHECK(url_error("ws://[::1") == "redirect: 'url' has an unclosed or empty '[' host");
  CHECK(url_error("ws://[zz]") == "redirect: 'url' has a bad IPv6 host");
  CHECK(url_error("ws://" + std::string(kMaxServerAddressLength, 'h')) == "redirect: 'url' is longer than 300 bytes");
  CHECK(server_address_problem("ws://" + std::string(kMaxServerAddressLength - 5, 'h')).empty());
  Redirect long_reason = decode<Redirect>(frame_with({{"type", "redirect"}, {"url", "ws://h"}, {"reason", std::string(999, 'r')}}));
  CHECK(long_reason.reason.size() == Redirect::kMaxReasonLength);
  // Cut before a UTF-8 sequence, never inside one: the reason encodes again.
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xc3\xa9";  // é, two bytes
  Redirect cut = decode<Redirect>(frame_with({{"type", "redirect"}, {"url", "ws://h"}, {"reason", accents}}));
  CHECK(cut.reason == accents.substr(0, Redirect::kMaxReasonLength));
  CHECK(round_trip(cut).reason == cut.reason);
  Redirect odd = decode<Redirect>(frame_with({{"type", "redirect"}, {"url", "ws://h"}, {"reason", "x" + accents}}));
  CHECK(odd.reason.size() == Redirect::kMaxReasonLength - 1);
  CHECK(round_trip(odd).reason == odd.reason);
}

TEST_CASE("protocol: welcome's servers are valid server addresses, a bounded list") {
  WorkerWelcome w = round_trip(WorkerWelcome{1, 5000, {"ws://a:1", "wss://b.example"}});
  CHECK(w.servers == std::vector<std::string>{"ws://a:1", "wss://b.example"});
  CHECK(round_trip(WorkerWelcome{1, 5000, {}}).servers.empty());
  auto welcome_error = [](json servers) {
    return error_of<WorkerWelcome>({{"type", "welcome"}, {"worker_id", 1}, {"servers", std::move(servers)}});
  };
  CHECK(welcome_error("ws://a:1") == "welcome: 'servers' must be a list of at most 32 server addresses");
  CHECK(welcome_error(json(std::vector<std::string>(33, "ws://a:1"))) ==
        "welcome: 'servers' must be a list of at most 32 server addresses");
  CHECK(welcome_error(json(std::vector<std::string>(32, "ws://a:1"))).empty());
  CHECK(welcome_error({"ws://a:1", 5}) == "welcome: 'servers' must be a list of strings");
  CHECK(welcome_error({"ws://a:1", "ws://b/path"}) ==
        "welcome: server address 'ws://b/path' in 'servers' must be ws://host:port with no path");
}
