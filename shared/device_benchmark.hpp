// Measures this device's speed for the scheduler: the Participate benchmark in the browser
// (through the wasm build) and the native worker's benchmark, with the same code.
#pragma once

#include <cstdint>

#include "tensor.hpp"

namespace corvid {

struct DeviceScore {
  double matmul_gflops = 0;    // f32 matmul throughput
  double elementwise_gbs = 0;  // f32 add throughput, bytes read + written per second / 1e9
  double reduce_gbs = 0;       // f32 sum throughput, bytes read per second / 1e9
  double duration_ms = 0;      // how long the measurement took
};

// Runs small matmul, elementwise and reduction kernels for about budget_ms in total (taking the
// best of a few repetitions of each) and reports their throughput. Deterministic inputs.
DeviceScore run_device_benchmark(double budget_ms = 600);

// Deterministic f32 values in [-1, 1) (a multiplicative hash of index + seed), identical on every
// build: the inputs of the device and kernel benchmarks.
Tensor benchmark_pattern(Shape shape, uint32_t seed);

}  // namespace corvid
