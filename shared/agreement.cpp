#include "agreement.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace corvid {

Tolerance agreement_tolerance(const OpDef& op, DType dtype) {
  if (dtype != DType::f32 && dtype != DType::f64) return {};
  if (op.family == OpFamily::source || op.family == OpFamily::movement || op.name == "transpose") return {};
  const bool f32 = dtype == DType::f32;
  Tolerance t{f32 ? 1e-5 : 1e-12, f32 ? 1e-6 : 1e-12, 0};
  if (op.family == OpFamily::reduce || op.family == OpFamily::linalg || op.family == OpFamily::nn) t.scale_rtol = f32 ? 1e-4 : 1e-10;
  return t;
}

std::string Disagreement::describe() const {
  if (!shape_problem.empty()) return shape_problem;
  if (count == 0) return "the values agree";
  std::ostringstream out;
  out.precision(9);
  out << count << (count == 1 ? " value differs" : " values differ") << "; largest difference " << difference
      << " at flat index " << index << " (" << a << " vs " << b << ")";
  return out.str();
}

namespace {

// compare_values over n values of two tensors, read as doubles through `a(i)` and `b(i)`.
template <class A, class B>
Disagreement compare_with(int64_t n, const Tolerance& tolerance, A a, B b) {
  Disagreement d;
  double scale = 0;
  if (tolerance.scale_rtol > 0)
    for (int64_t i = 0; i < n; ++i)
      for (double v : {a(i), b(i)})
        if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  const double slack = tolerance.atol + tolerance.scale_rtol * scale;
  for (int64_t i = 0; i < n; ++i) {
    const double x = a(i), y = b(i);
    double difference = 0;
    bool ok;
    if (std::isnan(x) || std::isnan(y)) {
      ok = std::isnan(x) && std::isnan(y);
      difference = ok ? 0 : INFINITY;
    } else if (std::isinf(x) || std::isinf(y)) {
      ok = x == y;
      difference = ok ? 0 : INFINITY;
    } else {
      difference = std::fabs(x - y);
      ok = difference <= slack + tolerance.rtol * std::max(std::fabs(x), std::fabs(y));
    }
    if (ok) continue;
    ++d.count;
    if (d.index < 0 || difference > d.difference) d.index = i, d.difference = difference, d.a = x, d.b = y;
  }
  return d;
}

}  // namespace

Disagreement compare_values(const Tensor& a, const Tensor& b, const Tolerance& tolerance) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    Disagreement d;
    d.shape_problem = std::string(dtype_name(a.dtype())) + shape_string(a.shape()) + " vs " +
                      std::string(dtype_name(b.dtype())) + shape_string(b.shape());
    return d;
  }
  // Floats are read directly (result verification compares megabytes of them per group).
  const int64_t n = a.size();
  if (a.dtype() == DType::f32) {
    const float *pa = a.data<float>(), *pb = b.data<float>();
    return compare_with(n, tolerance, [pa](int64_t i) { return double(pa[i]); }, [pb](int64_t i) { return double(pb[i]); });
  }
  if (a.dtype() == DType::f64) {
    const double *pa = a.data<double>(), *pb = b.data<double>();
    return compare_with(n, tolerance, [pa](int64_t i) { return pa[i]; }, [pb](int64_t i) { return pb[i]; });
  }
  return compare_with(n, tolerance, [&a](int64_t i) { return a.at_as_double(i); },
                      [&b](int64_t i) { return b.at_as_double(i); });
}

}  // namespace corvid
