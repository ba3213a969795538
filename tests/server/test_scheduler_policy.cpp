// The pure scheduling policy: speed model, group formation and the earliest-finish-time rule.
#include <doctest/doctest.h>

#include "harness.hpp"
#include "server/core/scheduler.hpp"

using namespace corvid;
using namespace corvid::server;

namespace {

// a, b computed; c = f(a, b); d = f(c); e = f(c, d); s = f(b) — with unit costs.
Graph diamond() {
  Graph g;
  g.id = 3;
  auto add = [&](const std::string& id, std::vector<OpIndex> inputs, OpStatus status) {
    return testing::add_test_op(g, id, std::move(inputs), status, {DType::f32, {1000}}, {1000, 8000});
  };
  add("a", {}, OpStatus::computed);
  add("b", {}, OpStatus::computed);
  add("c", {0, 1}, OpStatus::pending);
  add("d", {2}, OpStatus::pending);
  add("e", {2, 3}, OpStatus::pending);
  add("s", {1}, OpStatus::pending);
  for (OpIndex op = 0; op < g.ops.size(); ++op) g.refresh_ready(op);
  return g;
}

const auto never = [](OpIndex) { return false; };

}  // namespace

TEST_CASE("the speed model trusts measurements after a few samples") {
  SpeedModel m;
  m.set_benchmark(10, 10);
  const Cost c{1e7, 1e3};  // 1 ms of flops at 10 GFLOPS
  CHECK(m.estimate_ms(c, 1) == doctest::Approx(1.002));
  m.observe(1, 4);
  m.observe(1, 4);
  CHECK(m.estimate_ms(c, 1) == doctest::Approx(1.002));  // not yet
  m.observe(1, 4);
  CHECK(m.estimate_ms(c, 1) == doctest::Approx(4.008));
  CHECK(m.measured_gflops() == doctest::Approx(2.5));
  m.observe(1, -1);  // nonsense is ignored
  CHECK(m.samples() == 3);
}

TEST_CASE("the speed model weighs samples by their size: tiny groups and bursts of replies do not skew it") {
  // A browser slot: big groups take twice their estimate; tiny groups (a `sum` after its matmul)
  // cost a few ms of overhead whatever their estimate; and replies that left the slot together
  // are timed as one long and one near zero on the server's clock.
  SpeedModel m;
  m.set_benchmark(50, 50);
  for (int i = 0; i < 20; ++i) {
    m.observe(10, 20);
    m.observe(0.02, 3);    // overhead-dominated
    m.observe(10, 40);     // two replies in one burst: together 2 x 20 ms...
    m.observe(10, 0);      // ... timed as 40 and 0
  }
  // 63 ms measured per 30.02 ms estimated: about 2.1x, not the hundreds a mean of ratios makes
  // of the tiny group's 150x.
  CHECK(m.correction() == doctest::Approx(63.0 / 30.02).epsilon(0.15));
  m.penalize(3);
  CHECK(m.correction() == doctest::Approx(3 * 63.0 / 30.02).epsilon(0.15));
}

TEST_CASE("a group grows along dependents and returns only what is needed outside") {
  Graph g = diamond();
  SpeedModel fast;
  fast.set_benchmark(100, 100);
  GroupLimits limits;
  GroupPlan plan = grow_group(g, fast, limits, never, never);
  CHECK(plan.ops == std::vector<OpIndex>{2, 3, 4, 5});  // c, d, e, then s seeds a second part
  CHECK(plan.outputs == std::vector<OpIndex>{4, 5});    // d and c stay on the worker
  CHECK(plan.external == std::vector<OpIndex>{0, 1});
  CHECK(plan.input_bytes == 8000);

  g.ops[3].requested = true;  // a developer waits for d
  plan = grow_group(g, fast, limits, never, [](OpIndex op) { return op == 0; });
  CHECK(plan.outputs == std::vector<OpIndex>{3, 4, 5});
  CHECK(plan.input_bytes == 4000);  // a is kept on the worker

  SpeedModel slow;
  slow.set_benchmark(0.0001, 0.0001);  // one op is over the target: groups of one op
  plan = grow_group(g, slow, limits, never, never);
  CHECK(plan.ops == std::vector<OpIndex>{2});
  CHECK(plan.outputs == std::vector<OpIndex>{2});
  plan = grow_group(g, slow, limits, [](OpIndex op) { return op == 2; }, never);
  CHECK(plan.ops == std::vector<OpIndex>{5});
}

TEST_CASE("a cheap reduction of a group's value joins the full group instead of sending the value back") {
  // W computed; p = W @ W (1 MB, over the target alone on this worker); s = sum(p), a scalar;
  // with `copy`, also q = f(p), as big as p.
  const auto graph = [](bool copy) {
    Graph g;
    g.id = 4;
    testing::add_test_op(g, "W", {}, OpStatus::computed, {DType::f32, {512, 512}}, {0, 0});
    testing::add_test_op(g, "p", {0}, OpStatus::pending, {DType::f32, {512, 512}}, {2.7e8, 3e6});
    testing::add_test_op(g, "s", {1}, OpStatus::pending, {DType::f32, {}}, {2.6e5, 1e6});
    if (copy) testing::add_test_op(g, "q", {1}, OpStatus::pending, {DType::f32, {512, 512}}, {2.6e5, 2e6});
    for (OpIndex op = 0; op < g.ops.size(); ++op) g.refresh_ready(op);
    return g;
  };
  SpeedModel speed;
  speed.set_benchmark(5, 5);  // p alone: 54 ms, over the 20 ms target
  GroupPlan plan = grow_group(graph(false), speed, GroupLimits{}, never, never);
  CHECK(plan.ops == std::vector<OpIndex>{1, 2});
  CHECK(plan.outputs == std::vector<OpIndex>{2});  // p stays on the worker
  plan = grow_group(graph(true), speed, GroupLimits{}, never, never);
  CHECK(plan.ops == std::vector<OpIndex>{1, 2});  // s joins; q (no smaller than p) does not
  CHECK(plan.outputs == std::vector<OpIndex>{1, 2});  // p goes back: q needs it
}

TEST_CASE("earliest finish time waits for a busy fast worker rather than starting on a slow one") {
  SpeedModel fast, slow;
  fast.set_benchmark(100, 100);
  slow.set_benchmark(1, 1);
  GroupPlan plan;
  plan.ops = {0};
  plan.cost = {1e8, 0};  // 1 ms on the fast worker, 100 ms on the slow one
  LinkModel link;
  WorkerLoad f{1, &fast, 50, false};
  WorkerLoad s{2, &slow, 0, true};
  const double mine = finish_ms(s, plan, 0, 0, link);
  CHECK(finishes_sooner(f, plan, 0, 0, link, mine));  // fast is done at ~51 ms
  f.busy_until_ms = 200;
  CHECK_FALSE(finishes_sooner(f, plan, 0, 0, link, mine));  // now slow finishes first
  CHECK(finish_ms(s, plan, 5e5, 0, link) == doctest::Approx(100.002 + 1 + link.latency_ms));
}
