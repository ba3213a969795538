// The WebAssembly side of the kernel benchmark: runs the same figures as the native binary under
// Node and prints them as one JSON object on stdout for corvid_kernel_bench to merge.
#include <cmath>
#include <cstring>
#include <iostream>

#include <nlohmann/json.hpp>

#include "../kernel_bench.hpp"

int main(int argc, char** argv) {
  bool smoke = false, cpu_clock = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;
    } else if (std::strcmp(argv[i], "--cpu-time") == 0) {
      cpu_clock = true;
    } else {
      std::cerr << "usage: node corvid_kernel_bench_wasm.js [--smoke] [--cpu-time]\n";
      return 2;
    }
  }
  try {
    auto sizes = smoke ? corvid::bench::smoke_sizes() : corvid::bench::full_sizes();
    sizes.cpu_clock = cpu_clock;
    nlohmann::json figures = nlohmann::json::array();
    for (const auto& f : corvid::bench::run_kernel_figures(sizes))
      figures.push_back({{"name", f.name}, {"unit", f.unit}, {"value", std::isnan(f.value) ? nlohmann::json() : nlohmann::json(f.value)}});
    std::cout << nlohmann::json{{"figures", figures}}.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
