// Times the op kernels through the op table (find_op/run_op), as a worker runs them.
#include "kernel_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "shared/device_benchmark.hpp"
#include "shared/ops/op.hpp"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
// CPU seconds of the Node process (the wasm benchmark only runs under Node).
EM_JS(double, node_cpu_seconds, (), {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
});
#else
#include <ctime>
#endif

namespace corvid::bench {

double now_seconds(bool cpu_clock) {
  if (!cpu_clock)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#ifdef __EMSCRIPTEN__
  return node_cpu_seconds();
#else
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
#endif
}

namespace {

// Median seconds per call of fn over sizes.repetitions repetitions; each repetition loops fn for
// at least sizes.min_rep_ms so that the clock's resolution does not matter.
template <class Fn>
double seconds_per_call(const BenchSizes& sizes, Fn&& fn) {
  // Warm-up for one repetition's time (page faults, packing buffers, and under V8 the tier-up
  // from the baseline compiler to the optimising one), which also calibrates the loop.
  const bool cpu = sizes.cpu_clock;
  double start = now_seconds(cpu);
  int warm_calls = 0;
  do {
    fn();
    ++warm_calls;
  } while (now_seconds(cpu) - start < sizes.min_rep_ms / 1000.0);
  const double once = std::max((now_seconds(cpu) - start) / warm_calls, 1e-7);
  const int calls = std::max(1, static_cast<int>(std::ceil(sizes.min_rep_ms / 1000.0 / once)));
  std::vector<double> samples;
  for (int r = 0; r < sizes.repetitions; ++r) {
    start = now_seconds(cpu);
    for (int c = 0; c < calls; ++c) fn();
    samples.push_back((now_seconds(cpu) - start) / calls);
  }
  return median(samples);
}

void require(bool ok, const std::string& op, const std::string& what) {
  if (!ok) throw std::runtime_error("kernel benchmark: " + op + " computed a wrong value: " + what);
}

bool close(double got, double want, double rtol) {
  return std::fabs(got - want) <= rtol * std::max(1.0, std::fabs(want));
}

constexpr double kUnavailable = std::numeric_limits<double>::quiet_NaN();

Figure matmul_figure(const BenchSizes& sizes, int n) {
  Figure f{"matmul " + std::to_string(n) + "x" + std::to_string(n) + " f32", "GFLOPS", kUnavailable};
  const OpDef* op = find_op("matmul");
  if (!op) return f;
  const Tensor a = benchmark_pattern({n, n}, 1), b = benchmark_pattern({n, n}, 2);
  Tensor c = run_op(*op, {&a, &b}, {});
  for (int i : {0, n / 2, n - 1}) {
    double want = 0;
    for (int p = 0; p < n; ++p) want += double(a.data<float>()[i * n + p]) * b.data<float>()[p * n + (n - 1 - i)];
    require(close(c.data<float>()[i * n + (n - 1 - i)], want, 1e-4), "matmul", "row " + std::to_string(i));
  }
  const double s = seconds_per_call(sizes, [&] { c = run_op(*op, {&a, &b}, {}); });
  f.value = 2.0 * n * n * n / s / 1e9;
  return f;
}

std::string million(int64_t n) {
  return n % (1 << 20) == 0 ? std::to_string(n >> 20) + "M" : std::to_string(n);
}

Figure add_figure(const BenchSizes& sizes) {
  const int64_t n = sizes.vector_length;
  Figure f{"add " + million(n) + " f32", "GB/s", kUnavailable};
  const OpDef* op = find_op("add");
  if (!op) return f;
  const Tensor a = benchmark_pattern({n}, 3), b = benchmark_pattern({n}, 4);
  Tensor c = run_op(*op, {&a, &b}, {});
  for (int64_t i : {int64_t(0), n / 3, n - 1})
    require(c.data<float>()[i] == a.data<float>()[i] + b.data<float>()[i], "add", "element " + std::to_string(i));
  const double s = seconds_per_call(sizes, [&] { c = run_op(*op, {&a, &b}, {}); });
  f.value = 3.0 * n * sizeof(float) / s / 1e9;
  return f;
}

Figure exp_figure(const BenchSizes& sizes) {
  const int64_t n = sizes.vector_length;
  Figure f{"exp " + million(n) + " f32", "GB/s", kUnavailable};
  const OpDef* op = find_op("exp");
  if (!op) return f;
  const Tensor a = benchmark_pattern({n}, 5);
  Tensor c = run_op(*op, {&a}, {});
  for (int64_t i : {int64_t(0), n / 3, n - 1})
    require(close(c.data<float>()[i], std::exp(double(a.data<float>()[i])), 1e-5), "exp", "element " + std::to_string(i));
  const double s = seconds_per_call(sizes, [&] { c = run_op(*op, {&a}, {}); });
  f.value = 2.0 * n * sizeof(float) / s / 1e9;
  return f;
}

Figure sum_figure(const BenchSizes& sizes) {
  const int64_t n = sizes.vector_length;
  Figure f{"sum " + million(n) + " f32", "GB/s", kUnavailable};
  const OpDef* op = find_op("sum");
  if (!op) return f;
  const Tensor a = benchmark_pattern({n}, 6);
  Tensor c = run_op(*op, {&a}, {});
  double want = 0;
  for (int64_t i = 0; i < n; ++i) want += a.data<float>()[i];
  require(close(c.data<float>()[0], want, 1e-5), "sum", "total");
  const double s = seconds_per_call(sizes, [&] { c = run_op(*op, {&a}, {}); });
  f.value = 1.0 * n * sizeof(float) / s / 1e9;
  return f;
}

Figure softmax_figure(const BenchSizes& sizes) {
  const int64_t rows = sizes.softmax_rows, cols = sizes.softmax_cols;
  Figure f{"softmax " + std::to_string(rows) + "x" + std::to_string(cols) + " f32", "GB/s", kUnavailable};
  const OpDef* op = find_op("softmax");
  if (!op) return f;
  const Tensor a = benchmark_pattern({rows, cols}, 7);
  Tensor c = run_op(*op, {&a}, {});
  for (int64_t r : {int64_t(0), rows - 1}) {
    double total = 0;
    for (int64_t j = 0; j < cols; ++j) total += c.data<float>()[r * cols + j];
    require(close(total, 1.0, 1e-4), "softmax", "row " + std::to_string(r) + " sums to " + std::to_string(total));
  }
  const double s = seconds_per_call(sizes, [&] { c = run_op(*op, {&a}, {}); });
  f.value = 2.0 * rows * cols * sizeof(float) / s / 1e9;
  return f;
}

// conv2d 3x3, padding 1, f32: GFLOPS of its 2 N O H W C 9 multiply-adds (im2col and GEMM included).
Figure conv2d_figure(const BenchSizes& sizes) {
  const int64_t n = sizes.conv_batch, c = sizes.conv_channels, o = sizes.conv_out_channels, hw = sizes.conv_size;
  Figure f{"conv2d " + std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(hw) + "x" +
               std::to_string(hw) + " 3x3x" + std::to_string(o) + " f32",
           "GFLOPS", kUnavailable};
  const OpDef* op = find_op("conv2d");
  if (!op) return f;
  const Tensor x = benchmark_pattern({n, c, hw, hw}, 8), w = benchmark_pattern({o, c, 3, 3}, 9);
  const Params params = {{"padding", {1, 1}}};
  Tensor y = run_op(*op, {&x, &w}, params);
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  for (int64_t at : {int64_t(0), (n * o * hw * hw) / 2 + hw / 2, n * o * hw * hw - 1}) {  // a corner, a middle, a corner
    const int64_t j = at % hw, i = at / hw % hw, oc = at / (hw * hw) % o, b = at / (o * hw * hw);
    double want = 0;
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ki = 0; ki < 3; ++ki)
        for (int64_t kj = 0; kj < 3; ++kj) {
          const int64_t ih = i - 1 + ki, iw = j - 1 + kj;
          if (ih >= 0 && ih < hw && iw >= 0 && iw < hw)
            want += double(px[((b * c + ci) * hw + ih) * hw + iw]) * pw[((oc * c + ci) * 3 + ki) * 3 + kj];
        }
    require(close(y.data<float>()[at], want, 1e-4), "conv2d", "element " + std::to_string(at));
  }
  const double s = seconds_per_call(sizes, [&] { y = run_op(*op, {&x, &w}, params); });
  f.value = 2.0 * double(n * o * hw * hw) * double(c * 9) / s / 1e9;
  return f;
}

}  // namespace

BenchSizes full_sizes() { return {}; }

BenchSizes smoke_sizes() {
  BenchSizes s;
  s.matmul_small = 24;
  s.matmul_large = 70;  // crosses the micro-tile and panel edges
  s.vector_length = 1000;
  s.softmax_rows = 7;
  s.softmax_cols = 13;
  s.conv_batch = 2;
  s.conv_channels = 3;
  s.conv_out_channels = 5;
  s.conv_size = 7;
  s.repetitions = 2;
  s.min_rep_ms = 1;
  return s;
}

double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  return n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

std::vector<Figure> run_kernel_figures(const BenchSizes& sizes) {
  return {matmul_figure(sizes, sizes.matmul_small), matmul_figure(sizes, sizes.matmul_large), add_figure(sizes),
          exp_figure(sizes), sum_figure(sizes), softmax_figure(sizes), conv2d_figure(sizes)};
}

}  // namespace corvid::bench
