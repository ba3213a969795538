// Linear-algebra rows of the op table: matmul, dot, transpose, inv. The float GEMM is packed and
// register-tiled with GCC/clang vector extensions, so one source compiles to AVX/AVX-512 natively
// and to simd128 with Emscripten (Debian's xsimd has no wasm backend), with relaxed_madd in the
// relaxed-SIMD kernel build.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__FMA__) && !defined(__wasm__)
#include <immintrin.h>
#endif

#include "families.hpp"
#include "linalg_kernels.hpp"

namespace corvid::ops {

namespace {

// ---------------------------------------------------------------- GEMM
// Width of one SIMD register in bytes, and the micro-tile (MR rows x NV vectors) that keeps the
// accumulators in registers: 16 registers on SSE/AVX2 and wasm (V8 maps v128 to xmm0-15), 32 on
// AVX-512.
#if defined(__wasm_relaxed_simd__)
constexpr int kVecBytes = 16;
constexpr int kTileRows = 4, kTileVecs = 2;
#elif defined(__wasm_simd128__)
constexpr int kVecBytes = 16;
constexpr int kTileRows = 4, kTileVecs = 3;
#elif defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kTileRows = 12, kTileVecs = 2;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kTileRows = 6, kTileVecs = 2;
#else
constexpr int kVecBytes = 16;
constexpr int kTileRows = 4, kTileVecs = 2;
#endif

template <class T>
struct Simd {
  typedef T V __attribute__((vector_size(kVecBytes)));
  static constexpr int width = kVecBytes / static_cast<int>(sizeof(T));
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  // a * b + c with a broadcast to every lane, fused where the target has FMA (ISO C++ mode does
  // not contract a*b+c on its own). The vector-scalar product is the portable way to splat.
  static V madd(T a, V b, V c) {
#if defined(__FMA__) && !defined(__wasm__)
    if constexpr (kVecBytes == 64 && sizeof(T) == 4) return _mm512_fmadd_ps(_mm512_set1_ps(a), b, c);
    else if constexpr (kVecBytes == 64 && sizeof(T) == 8) return _mm512_fmadd_pd(_mm512_set1_pd(a), b, c);
    else if constexpr (kVecBytes == 32 && sizeof(T) == 4) return _mm256_fmadd_ps(_mm256_set1_ps(a), b, c);
    else if constexpr (kVecBytes == 32 && sizeof(T) == 8) return _mm256_fmadd_pd(_mm256_set1_pd(a), b, c);
    else return b * a + c;
#elif defined(__wasm_relaxed_simd__)
    // The relaxed-SIMD kernel build (clang-19): f32x4/f64x2.relaxed_madd, fused where the CPU has
    // FMA (V8 emits vfmadd on x86 with FMA, a multiply and an add elsewhere).
    if constexpr (std::is_same_v<T, float>) return __builtin_wasm_relaxed_madd_f32x4(b, V{} + a, c);
    else if constexpr (std::is_same_v<T, double>) return __builtin_wasm_relaxed_madd_f64x2(b, V{} + a, c);
    else return b * a + c;
#else
    return b * a + c;
#endif
  }
};

// BLIS-style blocked GEMM for one float type: B is packed into kc x NR panels, A into kc x MR
// panels, and the micro-kernel accumulates an MR x NR tile of C in registers.
template <class T>
struct PackedGemm {
  using S = Simd<T>;
  using V = typename S::V;
  static constexpr int MR = kTileRows;
  static constexpr int NV = kTileVecs;
  static constexpr int NR = NV * S::width;
  static constexpr int64_t KC = 256;       // depth of one packed panel (A and B panels stay in L1/L2)
  static constexpr int64_t MC = MR * 16;   // rows of A packed at once (L2)
  static constexpr int64_t NC = NR * 64;   // columns of B packed at once (L2/L3)

  // Packs rows [0, mc) x depth [0, kc) of A into MR-row panels, zero-padding the last panel.
  static void pack_a(int64_t mc, int64_t kc, const T* a, int64_t lda, T* out) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
      const int64_t rows = std::min<int64_t>(MR, mc - i0);
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < rows; ++i) out[i] = a[(i0 + i) * lda + p];
        for (int64_t i = rows; i < MR; ++i) out[i] = T(0);
        out += MR;
      }
    }
  }

  // Packs depth [0, kc) x columns [0, nc) of B into NR-column panels, zero-padding the last panel.
  static void pack_b(int64_t kc, int64_t nc, const T* b, int64_t ldb, T* out) {
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
      const int64_t cols = std::min<int64_t>(NR, nc - j0);
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + p * ldb + j0;
        for (int64_t j = 0; j < cols; ++j) out[j] = src[j];
        for (int64_t j = cols; j < NR; ++j) out[j] = T(0);
        out += NR;
      }
    }
  }

  // C tile (MR x NR, row stride ldc) = (accumulate ? C : 0) + packed A panel x packed B panel.
  static void micro_kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, bool accumulate) {
    V acc[MR][NV];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    for (int64_t p = 0; p < kc; ++p) {
      V bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * S::width);
      for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = S::madd(a[i], bv[v], acc[i][v]);
      a += MR;
      b += NR;
    }
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) {
        T* dst = c + i * ldc + v * S::width;
        S::store(dst, accumulate ? S::load(dst) + acc[i][v] : acc[i][v]);
      }
  }

  static void run(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                  int64_t ldc) {
    thread_local std::vector<T> packed_a, packed_b;
    alignas(64) T tile[MR * NR];
    for (int64_t jc = 0; jc < n; jc += NC) {
      const int64_t nc = std::min(NC, n - jc);
      for (int64_t pc = 0; pc < k; pc += KC) {
        const int64_t kc = std::min(KC, k - pc);
        const bool accumulate = pc > 0;
        packed_b.resize(static_cast<std::size_t>((nc + NR - 1) / NR * NR * kc));
        pack_b(kc, nc, b + pc * ldb + jc, ldb, packed_b.data());
        for (int64_t ic = 0; ic < m; ic += MC) {
          const int64_t mc = std::min(MC, m - ic);
          packed_a.resize(static_cast<std::size_t>((mc + MR - 1) / MR * MR * kc));
          pack_a(mc, kc, a + ic * lda + pc, lda, packed_a.data());
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t cols = std::min<int64_t>(NR, nc - jr);
            const T* bp = packed_b.data() + jr * kc;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int64_t rows = std::min<int64_t>(MR, mc - ir);
              const T* ap = packed_a.data() + ir * kc;
              T* cp = c + (ic + ir) * ldc + jc + jr;
              if (rows == MR && cols == NR) {
                micro_kernel(kc, ap, bp, cp, ldc, accumulate);
                continue;
              }
              micro_kernel(kc, ap, bp, tile, NR, false);
              for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j)
                  cp[i * ldc + j] = (accumulate ? cp[i * ldc + j] : T(0)) + tile[i * NR + j];
            }
          }
        }
      }
    }
  }
};

// Plain i-p-j loops: small products (where packing costs more than it saves) and integers.
// U is the arithmetic type (uint32_t for int32, so overflow wraps as in NumPy).
template <class T, class U>
void gemm_simple(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                 int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    U* row = reinterpret_cast<U*>(c + i * ldc);
    for (int64_t j = 0; j < n; ++j) row[j] = U(0);
    for (int64_t p = 0; p < k; ++p) {
      const U aip = static_cast<U>(a[i * lda + p]);
      const U* brow = reinterpret_cast<const U*>(b + p * ldb);
      for (int64_t j = 0; j < n; ++j) row[j] += aip * brow[j];
    }
  }
}

// Below this many multiply-adds the plain loop wins (packing and tile padding dominate).
constexpr int64_t kPackedGemmMinWork = 16 * 1024;

}  // namespace

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if constexpr (std::is_floating_point_v<T>) {
    if (k > 0 && m * n * k >= kPackedGemmMinWork) {
      PackedGemm<T>::run(m, n, k, a, lda, b, ldb, c, ldc);
      return;
    }
    gemm_simple<T, T>(m, n, k, a, lda, b, ldb, c, ldc);
  } else {
    static_assert(std::is_same_v<T, int32_t>, "gemm: float, double or int32");
    gemm_simple<T, uint32_t>(m, n, k, a, lda, b, ldb, c, ldc);
  }
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*,
                           int64_t);
template void gemm<int32_t>(int64_t, int64_t, int64_t, const int32_t*, int64_t, const int32_t*, int64_t, int32_t*,
                            int64_t);

// ---------------------------------------------------------------- permutation
namespace {

// Copies elements of byte size sizeof(E) from `in` to `out` in the order of the permuted shape
// (in_strides: the input stride of each output axis). When the input's contiguous axis is not the
// output's last axis, the copy goes in square tiles of those two axes so that both the reads and
// the writes stay in cache lines.
template <class E>
void permute_copy(const E* in, E* out, const Shape& out_shape, const std::vector<int64_t>& in_strides) {
  const int64_t nd = static_cast<int64_t>(out_shape.size());
  if (num_elements(out_shape) == 0) return;
  if (nd == 0) {
    out[0] = in[0];
    return;
  }
  const int64_t b = nd - 1;  // the output's contiguous axis
  int64_t a = -1;            // the output axis that is contiguous in the input
  for (int64_t d = 0; d < nd; ++d)
    if (in_strides[d] == 1 && out_shape[d] > 1) a = d;
  const bool tiled = a >= 0 && a != b && out_shape[b] > 1;
  const auto out_strides = strides_of(out_shape);
  // Odometer over every axis except b (and a when tiled); each step copies one line or one tile.
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < b; ++d)
    if (!(tiled && d == a)) axes.push_back(d);
  std::vector<int64_t> index(axes.size(), 0);
  int64_t in_offset = 0, out_offset = 0;
  constexpr int64_t kTile = 32;
  while (true) {
    if (!tiled) {
      const E* src = in + in_offset;
      E* dst = out + out_offset;
      const int64_t stride = in_strides[b];
      for (int64_t j = 0; j < out_shape[b]; ++j) dst[j] = src[j * stride];
    } else {
      const int64_t rows = out_shape[a], cols = out_shape[b], in_col = in_strides[b], out_row = out_strides[a];
      for (int64_t i0 = 0; i0 < rows; i0 += kTile)
        for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
          const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) out[out_offset + i * out_row + j] = in[in_offset + i + j * in_col];
        }
    }
    int64_t k = static_cast<int64_t>(axes.size()) - 1;
    for (; k >= 0; --k) {
      const int64_t d = axes[k];
      in_offset += in_strides[d];
      out_offset += out_strides[d];
      if (++index[k] < out_shape[d]) break;
      in_offset -= in_strides[d] * out_shape[d];
      out_offset -= out_strides[d] * out_shape[d];
      index[k] = 0;
    }
    if (k < 0) return;
  }
}

}  // namespace

Tensor permute_axes(const Tensor& t, const std::vector<int64_t>& perm) {
  const Shape& in_shape = t.shape();
  const auto in_strides = strides_of(in_shape);
  Shape out_shape(perm.size());
  std::vector<int64_t> strides(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    out_shape[i] = in_shape[perm[i]];
    strides[i] = in_strides[perm[i]];
  }
  Tensor out(t.dtype(), out_shape);
  switch (dtype_size(t.dtype())) {
    case 1: permute_copy(t.raw(), out.raw(), out_shape, strides); break;
    case 4:
      permute_copy(reinterpret_cast<const uint32_t*>(t.raw()), reinterpret_cast<uint32_t*>(out.raw()), out_shape,
                   strides);
      break;
    default:
      permute_copy(reinterpret_cast<const uint64_t*>(t.raw()), reinterpret_cast<uint64_t*>(out.raw()), out_shape,
                   strides);
  }
  return out;
}

namespace {

// ---------------------------------------------------------------- matmul

// The operands of a (batched) matrix product after NumPy's rules: 1-D operands promoted to
// matrices, batch dimensions broadcast.
struct MatmulShapes {
  Shape batch;       // broadcast batch shape
  int64_t m = 0, k = 0, n = 0;
  Shape out;         // result shape (promoted 1-D dimensions removed)
};

MatmulShapes matmul_shapes(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    throw std::invalid_argument("input " + std::string(a.empty() ? "0" : "1") +
                                " is 0-d; matmul needs at least 1-d inputs (use mul for scalars)");
  Shape a2 = a, b2 = b;
  if (a.size() == 1) a2.insert(a2.begin(), 1);
  if (b.size() == 1) b2.push_back(1);
  const int64_t ka = a2[a2.size() - 1], kb = b2[b2.size() - 2];
  if (ka != kb && ka != -1 && kb != -1)
    throw std::invalid_argument("shapes " + shape_string(a) + " and " + shape_string(b) + " are not aligned: " +
                                std::to_string(ka) + " (last dim of input 0) != " + std::to_string(kb) +
                                " (" + (b.size() == 1 ? "dim 0" : "second-to-last dim") + " of input 1)");
  MatmulShapes s;
  s.m = a2[a2.size() - 2];
  s.k = ka == -1 ? kb : ka;
  s.n = b2[b2.size() - 1];
  s.batch = broadcast_shapes(Shape(a2.begin(), a2.end() - 2), Shape(b2.begin(), b2.end() - 2));
  s.out = s.batch;
  if (a.size() > 1) s.out.push_back(s.m);
  if (b.size() > 1) s.out.push_back(s.n);
  return s;
}

TensorSpec matmul_infer(const std::vector<TensorSpec>& in, const Params&) {
  return {promote(in[0].dtype, in[1].dtype), matmul_shapes(in[0].shape, in[1].shape).out};
}

Cost matmul_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params&) {
  const int64_t ka = in[0].shape.back();
  Cost c;
  c.flops = 2.0 * static_cast<double>(spec_elements(out)) * static_cast<double>(ka < 0 ? 1 : ka);
  c.bytes = spec_bytes(in[0]) + spec_bytes(in[1]) + spec_bytes(out);
  return c;
}

// gemm for the compute type C of a result dtype (bool is computed as int32 counts, then != 0).
template <class C>
void batched_gemm(const C* a, const Shape& a_batch, const C* b, const Shape& b_batch, C* out, const MatmulShapes& s) {
  const int64_t m = s.m, n = s.n, k = s.k;
  const int64_t batches = num_elements(s.batch);
  if (b_batch.empty() || num_elements(b_batch) == 1) {
    // One B for every batch: the batches of A are one tall contiguous matrix.
    gemm<C>(batches * m, n, k, a, k, b, n, out, n);
    return;
  }
  // Batch offsets with broadcasting: a dimension of size 1 has stride 0.
  const int64_t nd = static_cast<int64_t>(s.batch.size());
  auto batch_strides = [&](const Shape& own, int64_t matrix) {
    std::vector<int64_t> st(nd, 0);
    int64_t stride = matrix;
    for (int64_t d = static_cast<int64_t>(own.size()) - 1, o = nd - 1; d >= 0; --d, --o) {
      st[o] = own[d] == 1 ? 0 : stride;
      stride *= own[d];
    }
    return st;
  };
  const auto sa = batch_strides(a_batch, m * k), sb = batch_strides(b_batch, k * n);
  std::vector<int64_t> index(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t bi = 0; bi < batches; ++bi) {
    gemm<C>(m, n, k, a + oa, k, b + ob, n, out + bi * m * n, n);
    for (int64_t d = nd - 1; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++index[d] < s.batch[d]) break;
      oa -= sa[d] * s.batch[d];
      ob -= sb[d] * s.batch[d];
      index[d] = 0;
    }
  }
}

// Compute type of a result dtype: bool products are counted in int32.
DType compute_dtype(DType result) { return result == DType::boolean ? DType::i32 : result; }

Tensor finish_compute(Tensor computed, DType result) {
  return result == DType::boolean ? computed.astype(DType::boolean) : computed;
}

Tensor matmul_kernel(const std::vector<const Tensor*>& in, const Params&) {
  const DType result = promote(in[0]->dtype(), in[1]->dtype());
  const DType cd = compute_dtype(result);
  const Tensor a = in[0]->astype(cd), b = in[1]->astype(cd);
  const MatmulShapes s = matmul_shapes(a.shape(), b.shape());
  const Shape a_batch(a.shape().begin(), a.shape().end() - std::min<int64_t>(2, a.ndim()));
  const Shape b_batch(b.shape().begin(), b.shape().end() - std::min<int64_t>(2, b.ndim()));
  Tensor out(cd, s.out);
  visit_dtype(cd, [&](auto zero) {
    using C = decltype(zero);
    if constexpr (std::is_same_v<C, uint8_t>) {
      throw std::logic_error("bool is computed as int32");
    } else {
      batched_gemm<C>(a.data<C>(), a_batch, b.data<C>(), b_batch, out.data<C>(), s);
    }
  });
  return finish_compute(std::move(out), result);
}

// ---------------------------------------------------------------- dot

// np.dot: 0-d operands multiply elementwise; otherwise the sum product over the last axis of a
// and the second-to-last axis of b (the only axis if b is 1-d).
Shape dot_shape(const Shape& a, const Shape& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  const int64_t ka = a.back();
  const int64_t kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  if (ka != kb && ka != -1 && kb != -1)
    throw std::invalid_argument("shapes " + shape_string(a) + " and " + shape_string(b) + " are not aligned: " +
                                std::to_string(ka) + " (last dim of input 0) != " + std::to_string(kb) +
                                " (" + (b.size() == 1 ? "dim 0" : "second-to-last dim") + " of input 1)");
  Shape out(a.begin(), a.end() - 1);
  if (b.size() >= 2) {
    out.insert(out.end(), b.begin(), b.end() - 2);
    out.push_back(b.back());
  }
  return out;
}

TensorSpec dot_infer(const std::vector<TensorSpec>& in, const Params&) {
  return {promote(in[0].dtype, in[1].dtype), dot_shape(in[0].shape, in[1].shape)};
}

Cost dot_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params&) {
  const int64_t k = in[0].shape.empty() || in[1].shape.empty() ? 1 : in[0].shape.back();
  Cost c;
  c.flops = 2.0 * static_cast<double>(spec_elements(out)) * static_cast<double>(k < 0 ? 1 : k);
  c.bytes = spec_bytes(in[0]) + spec_bytes(in[1]) + spec_bytes(out);
  return c;
}

Tensor dot_kernel(const std::vector<const Tensor*>& in, const Params&) {
  const DType result = promote(in[0]->dtype(), in[1]->dtype());
  const DType cd = compute_dtype(result);
  const Tensor a = in[0]->astype(cd), b = in[1]->astype(cd);
  Tensor out(cd, dot_shape(a.shape(), b.shape()));
  visit_dtype(cd, [&](auto zero) {
    using C = decltype(zero);
    if constexpr (std::is_same_v<C, uint8_t>) {
      throw std::logic_error("bool is computed as int32");
    } else {
      using U = std::conditional_t<std::is_same_v<C, int32_t>, uint32_t, C>;  // int32 wraps
      const C* pa = a.data<C>();
      const C* pb = b.data<C>();
      C* po = out.data<C>();
      if (a.ndim() == 0 || b.ndim() == 0) {  // scalar times tensor
        const bool a_scalar = a.ndim() == 0;
        const U s = static_cast<U>(a_scalar ? pa[0] : pb[0]);
        const C* t = a_scalar ? pb : pa;
        for (int64_t i = 0; i < out.size(); ++i) po[i] = static_cast<C>(s * static_cast<U>(t[i]));
        return;
      }
      const int64_t k = a.shape().back();
      const int64_t p = k == 0 ? num_elements(Shape(a.shape().begin(), a.shape().end() - 1)) : a.size() / k;
      if (b.ndim() == 1) {  // (p, k) x (k) -> (p)
        gemm<C>(p, 1, k, pa, k, pb, 1, po, 1);
        return;
      }
      // (p, k) x (batches, k, n) -> (p, batches, n): one product per batch of b, written with
      // row stride batches * n into the interleaved output.
      const int64_t n = b.shape().back();
      const int64_t batches = num_elements(Shape(b.shape().begin(), b.shape().end() - 2));
      for (int64_t bi = 0; bi < batches; ++bi) gemm<C>(p, n, k, pa, k, pb + bi * k * n, n, po + bi * n, batches * n);
    }
  });
  return finish_compute(std::move(out), result);
}

// ---------------------------------------------------------------- transpose

std::vector<int64_t> transpose_perm(const Params& params, int64_t ndim) {
  std::vector<int64_t> perm;
  if (!has_param(params, "axes")) {
    for (int64_t i = ndim - 1; i >= 0; --i) perm.push_back(i);
    return perm;
  }
  perm = int_list_param(params, "axes");
  if (static_cast<int64_t>(perm.size()) != ndim)
    throw std::invalid_argument("axes " + params.at("axes").dump() + " do not match a " + std::to_string(ndim) +
                                "-d input (need a permutation of " + std::to_string(ndim) + " axes)");
  std::vector<bool> seen(ndim, false);
  for (auto& axis : perm) {
    axis = normalize_axis(axis, ndim);
    if (seen[axis]) throw std::invalid_argument("repeated axis in axes " + params.at("axes").dump());
    seen[axis] = true;
  }
  return perm;
}

TensorSpec transpose_infer(const std::vector<TensorSpec>& in, const Params& params) {
  const auto perm = transpose_perm(params, static_cast<int64_t>(in[0].shape.size()));
  Shape out(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) out[i] = in[0].shape[perm[i]];
  return {in[0].dtype, out};
}

Cost transpose_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params&) {
  return {0.0, spec_bytes(in[0]) + spec_bytes(out)};
}

Tensor transpose_kernel(const std::vector<const Tensor*>& in, const Params& params) {
  return permute_axes(*in[0], transpose_perm(params, in[0]->ndim()));
}

// ---------------------------------------------------------------- inv

TensorSpec inv_infer(const std::vector<TensorSpec>& in, const Params&) {
  const Shape& s = in[0].shape;
  if (s.size() < 2)
    throw std::invalid_argument("input is " + std::to_string(s.size()) + "-d; inv needs square matrices (..., n, n)");
  const int64_t r = s[s.size() - 2], c = s[s.size() - 1];
  if (r != c && r != -1 && c != -1)
    throw std::invalid_argument("last two dimensions of " + shape_string(s) + " are not square");
  return {float_result(in[0].dtype), s};
}

Cost inv_cost(const std::vector<TensorSpec>& in, const TensorSpec& out, const Params&) {
  const int64_t n = std::max<int64_t>(1, in[0].shape.back());
  Cost c;
  c.flops = 2.0 * static_cast<double>(spec_elements(out)) * static_cast<double>(n);
  c.bytes = spec_bytes(in[0]) + spec_bytes(out);
  return c;
}

// Inverts the n x n matrix `m` (row-major, destroyed) into `inverse` by Gauss-Jordan elimination
// with partial pivoting. Throws when a pivot is negligible relative to the matrix's largest entry.
void invert(std::vector<double>& m, std::vector<double>& inverse, int64_t n) {
  double scale = 0;
  for (double x : m) {
    // Refused rather than inverted into NaNs and zeros as LAPACK would (README, "Ops").
    if (!std::isfinite(x)) throw std::invalid_argument("matrix has non-finite entries (NaN or infinity)");
    scale = std::max(scale, std::fabs(x));
  }
  const double tiny = scale * static_cast<double>(n) * 8 * std::numeric_limits<double>::epsilon();
  std::fill(inverse.begin(), inverse.end(), 0.0);
  for (int64_t i = 0; i < n; ++i) inverse[i * n + i] = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(m[r * n + col]) > std::fabs(m[pivot * n + col])) pivot = r;
    if (!(std::fabs(m[pivot * n + col]) > tiny)) throw std::invalid_argument("matrix is singular");
    if (pivot != col)
      for (int64_t j = 0; j < n; ++j) {
        std::swap(m[pivot * n + j], m[col * n + j]);
        std::swap(inverse[pivot * n + j], inverse[col * n + j]);
      }
    const double d = 1.0 / m[col * n + col];
    for (int64_t j = 0; j < n; ++j) {
      m[col * n + j] *= d;
      inverse[col * n + j] *= d;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = m[r * n + col];
      if (f == 0.0) continue;
      for (int64_t j = 0; j < n; ++j) {
        m[r * n + j] -= f * m[col * n + j];
        inverse[r * n + j] -= f * inverse[col * n + j];
      }
    }
  }
}

Tensor inv_kernel(const std::vector<const Tensor*>& in, const Params&) {
  const Tensor& a = *in[0];
  const int64_t n = a.shape().back();
  const int64_t matrices = n == 0 ? 0 : a.size() / (n * n);
  Tensor out(float_result(a.dtype()), a.shape());
  std::vector<double> m(n * n), inverse(n * n);
  for (int64_t b = 0; b < matrices; ++b) {
    for (int64_t i = 0; i < n * n; ++i) m[i] = a.at_as_double(b * n * n + i);
    invert(m, inverse, n);
    visit_dtype(out.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* dst = out.data<T>() + b * n * n;
      for (int64_t i = 0; i < n * n; ++i) dst[i] = static_cast<T>(inverse[i]);
    });
  }
  return out;
}

}  // namespace

std::vector<OpDef> linalg_rows() {
  return {
      {"matmul", {}, 2, 2, OpFamily::linalg, matmul_infer, matmul_cost, matmul_kernel, {}},
      {"dot", {}, 2, 2, OpFamily::linalg, dot_infer, dot_cost, dot_kernel, {}},
      {"transpose", {}, 1, 1, OpFamily::linalg, transpose_infer, transpose_cost, transpose_kernel,
       {{"axes", ParamType::int_list}}},
      {"inv", {}, 1, 1, OpFamily::linalg, inv_infer, inv_cost, inv_kernel, {}},
  };
}

}  // namespace corvid::ops
