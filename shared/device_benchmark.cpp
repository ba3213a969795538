// The device benchmark: times the op kernels that dominate real groups (matmul, elementwise add,
// sum) through the op table, so the score reflects exactly what a worker will run.
#include "device_benchmark.hpp"

#include <algorithm>
#include <chrono>

#include "ops/op.hpp"

namespace corvid {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Best milliseconds per run of `op` on `inputs` over calls made for about budget_ms (at least
// three timings, so that the first, cold call never decides the figure). 0 if the op is not in
// the table. Each timing covers a batch of calls lasting at least kMinTimingMs: browsers coarsen
// performance.now() (100 us without cross-origin isolation), which would quantise a single
// fast call to 0 or one tick.
double best_ms(const char* op_name, const std::vector<const Tensor*>& inputs, double budget_ms) {
  constexpr double kMinTimingMs = 2.0;
  const OpDef* op = find_op(op_name);
  if (!op) return 0;
  const auto start = Clock::now();
  double best = 0;
  int batch = 1;
  for (int timings = 0; timings < 3 || ms_since(start) < budget_ms;) {
    const auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) Tensor out = run_op(*op, inputs, Params::object());
    const double ms = ms_since(t0);
    if (ms < kMinTimingMs && batch < (1 << 20)) {
      batch *= 2;  // too short to time reliably: grow the batch and time again
      continue;
    }
    best = timings++ == 0 ? ms / batch : std::min(best, ms / batch);
  }
  return best;
}

}  // namespace

Tensor benchmark_pattern(Shape shape, uint32_t seed) {
  Tensor t(DType::f32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.size(); ++i) {
    const uint32_t h = (static_cast<uint32_t>(i) + seed) * 2654435761u;
    p[i] = static_cast<float>(h >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return t;
}

DeviceScore run_device_benchmark(double budget_ms) {
  const auto start = Clock::now();
  DeviceScore score;
  const double budget = std::max(budget_ms, 30.0);

  constexpr int64_t kMatrix = 256;  // big enough for the packed GEMM path, ~1-3 ms per product
  const Tensor a = benchmark_pattern({kMatrix, kMatrix}, 1), b = benchmark_pattern({kMatrix, kMatrix}, 2);
  const double matmul_ms = best_ms("matmul", {&a, &b}, budget * 0.5);
  if (matmul_ms > 0) score.matmul_gflops = 2.0 * kMatrix * kMatrix * kMatrix / (matmul_ms * 1e6);

  constexpr int64_t kVector = 1 << 18;  // 1 MB per operand
  const Tensor x = benchmark_pattern({kVector}, 3), y = benchmark_pattern({kVector}, 4);
  const double add_ms = best_ms("add", {&x, &y}, budget * 0.25);
  if (add_ms > 0) score.elementwise_gbs = 3.0 * kVector * sizeof(float) / (add_ms * 1e6);
  const double sum_ms = best_ms("sum", {&x}, budget * 0.25);
  if (sum_ms > 0) score.reduce_gbs = 1.0 * kVector * sizeof(float) / (sum_ms * 1e6);

  score.duration_ms = ms_since(start);
  return score;
}

}  // namespace corvid
