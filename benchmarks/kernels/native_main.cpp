// corvid_kernel_bench: times the op kernels natively, runs the WebAssembly build of the same
// benchmark under Node, times OpenBLAS's sgemm as the native reference for matmul, and prints
// one table with the ratios.
//   corvid_kernel_bench [--smoke] [--cpu-time] [--wasm path/to/corvid_kernel_bench_wasm.js] [--wasm-build dir]
//                       [--node node]
// --cpu-time times with process CPU time on both sides (for a machine busy with other work).
// Without the wasm .js the wasm column is skipped, unless --wasm-build names a directory that
// exists (a wasm build that should have produced it): then it is an error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_bench.hpp"

#if CORVID_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using corvid::bench::Figure;

// OpenBLAS single-threaded sgemm GFLOPS for n x n, or NaN without OpenBLAS.
double openblas_gflops(const corvid::bench::BenchSizes& sizes, int n) {
#if CORVID_HAVE_OPENBLAS
  openblas_set_num_threads(1);
  std::vector<float> a(static_cast<std::size_t>(n) * n), b(a.size()), c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
    b[i] = static_cast<float>(i % 13) / 13.0f - 0.5f;
  }
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  };
  call();
  const int calls = std::max(1, static_cast<int>(sizes.min_rep_ms * 1e6 / (2.0 * n * n * n)));  // ~1 GFLOP/ms guess
  std::vector<double> samples;
  for (int r = 0; r < sizes.repetitions; ++r) {
    const double start = corvid::bench::now_seconds(sizes.cpu_clock);
    for (int i = 0; i < calls; ++i) call();
    samples.push_back((corvid::bench::now_seconds(sizes.cpu_clock) - start) / calls);
  }
  return 2.0 * n * n * n / corvid::bench::median(samples) / 1e9;
#else
  (void)sizes;
  (void)n;
  return std::nan("");
#endif
}

// Runs the wasm benchmark under Node and returns its figures by name; throws if Node fails.
// --no-liftoff: V8 compiles with its optimising tier up front, so every figure is the steady
// state a long-running worker reaches (with dynamic tiering, a busy machine can leave the first
// figures running baseline code for seconds).
std::map<std::string, double> wasm_figures(const std::string& node, const std::string& js, bool smoke, bool cpu_clock) {
  const std::string cmd =
      node + " --no-experimental-fetch --no-liftoff '" + js + "'" + (smoke ? " --smoke" : "") + (cpu_clock ? " --cpu-time" : "");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("wasm benchmark failed (exit status " + std::to_string(status) + "): " + cmd);
  const auto json = nlohmann::json::parse(out);
  std::map<std::string, double> figures;
  for (const auto& f : json.at("figures"))
    figures[f.at("name").get<std::string>()] = f.at("value").is_null() ? std::nan("") : f.at("value").get<double>();
  return figures;
}

std::string cell(double v, int precision = 2) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

int usage() {
  std::cerr << "usage: corvid_kernel_bench [--smoke] [--cpu-time] [--wasm corvid_kernel_bench_wasm.js] [--wasm-build dir] "
               "[--node node]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false, cpu_clock = false;
  std::string wasm_js, wasm_build, node = "node";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--smoke") smoke = true;
    else if (arg == "--cpu-time") cpu_clock = true;
    else if (arg == "--wasm" && i + 1 < argc) wasm_js = argv[++i];
    else if (arg == "--wasm-build" && i + 1 < argc) wasm_build = argv[++i];
    else if (arg == "--node" && i + 1 < argc) node = argv[++i];
    else return usage();
  }
  try {
    auto sizes = smoke ? corvid::bench::smoke_sizes() : corvid::bench::full_sizes();
    sizes.cpu_clock = cpu_clock;
    const std::vector<Figure> native = corvid::bench::run_kernel_figures(sizes);

    std::map<std::string, double> wasm;
    std::string wasm_note;
    if (wasm_js.empty()) wasm_note = "wasm: not run (no --wasm given)";
    else if (!std::ifstream(wasm_js) && !wasm_build.empty() && std::ifstream(wasm_build + "/CMakeCache.txt"))
      throw std::runtime_error("the wasm build " + wasm_build + " exists but has no " + wasm_js +
                               " (build its corvid_kernel_bench_wasm target)");
    else if (!std::ifstream(wasm_js)) wasm_note = "wasm: skipped, " + wasm_js + " not found (build the wasm preset first)";
    else wasm = wasm_figures(node, wasm_js, smoke, cpu_clock);

    std::map<std::string, double> blas;
    for (int n : {sizes.matmul_small, sizes.matmul_large})
      blas[native[n == sizes.matmul_small ? 0 : 1].name] = openblas_gflops(sizes, n);

    std::printf("%-30s %-7s %9s %9s %13s %9s %16s\n", "kernel", "unit", "native", "wasm", "wasm/native", "OpenBLAS",
                "native/OpenBLAS");
    for (const auto& f : native) {
      const double w = wasm.count(f.name) ? wasm[f.name] : std::nan("");
      const double b = blas.count(f.name) ? blas[f.name] : std::nan("");
      std::printf("%-30s %-7s %9s %9s %13s %9s %16s\n", f.name.c_str(), f.unit.c_str(), cell(f.value).c_str(),
                  cell(w).c_str(), cell(f.value / w).c_str(), cell(b).c_str(), cell(b / f.value).c_str());
    }
    std::printf("ratios are time ratios (how many times slower): wasm/native = native / wasm throughput, "
                "native/OpenBLAS = OpenBLAS / native throughput; medians of %d repetitions, timed with %s\n",
                sizes.repetitions, cpu_clock ? "process CPU time" : "the wall clock");
    if (!wasm_note.empty()) std::printf("%s\n", wasm_note.c_str());
#if CORVID_HAVE_OPENBLAS
    // Debian's OpenBLAS 0.3.21 does not recognise every newer CPU and then falls back to its
    // SSE3 (Prescott) kernels; run.sh sets OPENBLAS_CORETYPE from the CPU's flags.
    std::printf("OpenBLAS kernels: %s%s\n", openblas_get_corename(),
                std::getenv("OPENBLAS_CORETYPE") ? " (chosen with OPENBLAS_CORETYPE)" : " (detected)");
#else
    std::printf("OpenBLAS: not found at configure time (apt-get install libopenblas-dev)\n");
#endif
  } catch (const std::exception& e) {
    std::cerr << "corvid_kernel_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
