// Linear-algebra building blocks shared by the op kernels (linalg.cpp, reduce.cpp) and the
// benchmarks: the packed GEMM and the axis permutation.
#pragma once

#include <cstdint>
#include <vector>

#include "../tensor.hpp"

namespace corvid::ops {

// C (m x n, row stride ldc) = A (m x k, row stride lda) times B (k x n, row stride ldb), all
// row-major. Overwrites C; k == 0 gives zeros. Register-tiled and cache-blocked for float and
// double; int32 wraps around like NumPy's int32 arithmetic. Not thread-safe (per-thread buffers).
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc);

// Copy of `t` with its axes reordered: output axis i is input axis perm[i]. Requires perm to be a
// permutation of 0..ndim-1 (callers validate).
Tensor permute_axes(const Tensor& t, const std::vector<int64_t>& perm);

}  // namespace corvid::ops
