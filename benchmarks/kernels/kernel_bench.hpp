// The kernel benchmark's measurements, built natively and to WebAssembly so that both sides time
// exactly the same kernels (through the op table, as a worker runs them).
#pragma once

#include <string>
#include <vector>

namespace corvid::bench {

// One measured figure: the median throughput of several repetitions.
struct Figure {
  std::string name;   // e.g. "matmul 512x512 f32"
  std::string unit;   // "GFLOPS" or "GB/s"
  double value = 0;   // NaN when the op is not in the op table yet
};

// Sizes of one run: the full sizes of the README table, or tiny ones for the smoke test.
struct BenchSizes {
  int matmul_small = 256, matmul_large = 512;
  int vector_length = 1 << 20;          // add, exp, sum
  int softmax_rows = 1000, softmax_cols = 1000;
  // conv2d: x (batch, channels, size, size) with out_channels 3x3 kernels, padding 1 (a CNN layer).
  int conv_batch = 8, conv_channels = 32, conv_out_channels = 64, conv_size = 32;
  int repetitions = 7;
  double min_rep_ms = 20;               // each repetition loops the op for at least this long
  // Time with the process's CPU time instead of the wall clock: on a machine shared with other
  // busy processes this measures the kernels rather than the scheduler's share of the CPU.
  bool cpu_clock = false;
};
BenchSizes full_sizes();
BenchSizes smoke_sizes();

// Runs every figure of the table with the op kernels (matmul, add, exp, sum, softmax, conv2d).
// Checks each result against a simple reference computation and throws std::runtime_error
// naming the op if it is wrong, so a fast but broken kernel cannot produce a figure.
std::vector<Figure> run_kernel_figures(const BenchSizes& sizes);

// Seconds on the clock chosen by sizes.cpu_clock (process CPU time, or a steady wall clock).
double now_seconds(bool cpu_clock);

// Median of the samples (which must not be empty).
double median(std::vector<double> samples);

}  // namespace corvid::bench
