"""Consistency cases of the linalg family (shared/ops/linalg.cpp), with NumPy as the reference.

Corvid's choices that differ from a plain NumPy call, and how the expected values follow them:
- matmul/dot promote with Corvid's rule (int32 with float32 gives float32, NumPy's float64); bool
  products stay bool (any of ands) as in NumPy;
- inv of int32/bool gives float32 (NumPy float64); a matrix whose pivot is negligible (relative to
  its largest entry) is refused as singular, where LAPACK may return huge values, and a matrix
  holding NaN or an infinity is refused, where LAPACK returns NaNs (or zeros for some infinities);
- float32 products accumulate in float32 in a different order than OpenBLAS: cases with long
  inner dimensions get an atol scaled to sqrt(k).
"""
import numpy as np

from common import CaseList


def cases():
    case_list = CaseList(20261123)
    rng, out, add = case_list.rng, case_list.cases, case_list.add
    f32, f64, bools = case_list.f32, case_list.f64, case_list.bools

    def i32(*shape, low=-9, high=10):
        return case_list.i32(*shape, low=low, high=high)

    def f32_tol(k):
        return {"rtol": 1e-5, "atol": 2e-6 * max(1.0, np.sqrt(k)) * 4}

    def product(name, op, a, b):
        """A value case for matmul or dot; float32 reference computed in float64 then cast."""
        fn = np.matmul if op == "matmul" else np.dot
        dtype = np.result_type(a.dtype, b.dtype)
        if np.float32 in (a.dtype, b.dtype) and dtype == np.float64 and np.float64 not in (a.dtype, b.dtype):
            dtype = np.float32  # Corvid: int32 with float32 -> float32
        if dtype == np.float32:
            expected = fn(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
            k = a.shape[-1] if a.ndim else 1
            add(name, op, [a, b], {}, expected, **f32_tol(k))
        else:
            add(name, op, [a, b], {}, np.asarray(fn(a, b)).astype(dtype))

    # ---- matmul: tile edges (micro-tiles of 4..12 rows x 12..32 columns, 256-deep panels) ----
    for m, k, n in [(1, 1, 1), (3, 5, 2), (12, 16, 32), (13, 17, 33), (67, 131, 45), (100, 300, 70),
                    (49, 257, 97), (129, 64, 200), (300, 20, 513)]:
        product(f"matmul/{m}x{k}_{k}x{n}_f32", "matmul", f32(m, k), f32(k, n))
    product("matmul/67x131_131x45_f64", "matmul", f64(67, 131), f64(131, 45))
    product("matmul/7x300_300x9_f64", "matmul", f64(7, 300), f64(300, 9))
    product("matmul/int32", "matmul", i32(13, 29), i32(29, 11))
    product("matmul/int32_large", "matmul", i32(40, 70), i32(70, 50))
    product("matmul/bool", "matmul", bools(5, 6), bools(6, 4))
    product("matmul/int32_f32_promotes", "matmul", i32(6, 5), f32(5, 3))
    product("matmul/f32_f64_promotes", "matmul", f32(4, 6), f64(6, 5))
    # 1-d operands: promoted to a row / column, then the added dimension is removed.
    product("matmul/1d_1d", "matmul", f32(50), f32(50))
    product("matmul/1d_2d", "matmul", f32(40), f32(40, 30))
    product("matmul/2d_1d", "matmul", f32(30, 40), f32(40))
    product("matmul/1d_3d_batched", "matmul", f32(8), f32(3, 8, 5))
    product("matmul/3d_1d_batched", "matmul", f64(3, 4, 8), f64(8))
    # Batches: equal, broadcast on either side, broadcast on both.
    product("matmul/batched_equal", "matmul", f32(4, 20, 30), f32(4, 30, 10))
    product("matmul/batched_shared_b", "matmul", f32(3, 2, 40, 50), f32(50, 20))
    product("matmul/batched_shared_a", "matmul", f32(30, 24), f32(5, 24, 33))
    product("matmul/batched_broadcast_both", "matmul", f32(2, 1, 9, 7), f32(1, 3, 7, 6))
    product("matmul/batched_size1_b", "matmul", f32(3, 16, 20), f32(1, 20, 8))
    product("matmul/batched_int32", "matmul", i32(2, 3, 4), i32(2, 4, 5))
    # Empty dimensions.
    product("matmul/empty_m", "matmul", f32(0, 5), f32(5, 3))
    product("matmul/empty_k", "matmul", f32(4, 0), f32(0, 3))
    product("matmul/empty_batch", "matmul", f32(0, 2, 3), f32(3, 4))
    # Errors.
    add("matmul/not_aligned", "matmul", [f32(2, 3), f32(4, 5)], error="not aligned: 3 (last dim of input 0) != 4")
    add("matmul/1d_not_aligned", "matmul", [f32(3), f32(4)], error="not aligned")
    add("matmul/0d", "matmul", [np.array(2.0, np.float32), f32(3)], error="input 0 is 0-d")
    add("matmul/batch_not_broadcastable", "matmul", [f32(2, 3, 4), f32(3, 4, 5)],
        error="cannot be broadcast together")
    add("matmul/one_input", "matmul", [f32(2, 2)], error="expects 2 input(s), got 1")

    # ---- dot: np.dot semantics for every rank ----
    product("dot/1d_1d", "dot", f32(100), f32(100))
    product("dot/2d_2d", "dot", f32(33, 70), f32(70, 21))
    product("dot/2d_1d", "dot", f32(9, 12), f32(12))
    product("dot/1d_2d", "dot", f32(12), f32(12, 9))
    product("dot/3d_1d", "dot", f64(2, 3, 4), f64(4))
    product("dot/3d_3d", "dot", f32(2, 3, 4), f32(5, 4, 6))
    product("dot/2d_3d", "dot", f64(3, 7), f64(2, 7, 5))
    product("dot/1d_4d", "dot", f32(6), f32(2, 3, 6, 4))
    product("dot/scalar_left", "dot", np.array(2.5, np.float32), f32(3, 4))
    product("dot/scalar_right_int32", "dot", i32(5), np.array(3, np.int32))
    product("dot/scalars", "dot", np.array(2.0), np.array(-4.0))
    product("dot/int32", "dot", i32(6, 7), i32(7, 3))
    product("dot/bool", "dot", bools(4, 5), bools(5, 2))
    product("dot/large_f32", "dot", f32(70, 140), f32(140, 50))
    product("dot/empty_k", "dot", f32(3, 0), f32(0, 2))
    add("dot/not_aligned", "dot", [f32(2, 3), f32(2, 3)], error="not aligned: 3 (last dim of input 0) != 2")
    add("dot/nd_not_aligned", "dot", [f32(2, 3, 4), f32(5, 3, 6)], error="not aligned")

    # ---- transpose ----
    x = f32(3, 5)
    add("transpose/2d_default", "transpose", [x], {}, x.T)
    x = f64(2, 3, 4)
    add("transpose/3d_default", "transpose", [x], {}, np.transpose(x))
    add("transpose/3d_axes", "transpose", [x], {"axes": [1, 0, 2]}, np.transpose(x, (1, 0, 2)))
    add("transpose/3d_negative_axes", "transpose", [x], {"axes": [-1, 0, -2]}, np.transpose(x, (2, 0, 1)))
    x = i32(2, 3, 4, 5)
    add("transpose/4d_int32", "transpose", [x], {"axes": [3, 1, 0, 2]}, np.transpose(x, (3, 1, 0, 2)))
    x = f32(5, 40, 37)  # tiled copies: the input's contiguous axis is not the output's last
    add("transpose/tiled_swap_last_two", "transpose", [x], {"axes": [0, 2, 1]}, np.transpose(x, (0, 2, 1)))
    add("transpose/tiled_last_to_first", "transpose", [x], {"axes": [2, 0, 1]}, np.transpose(x, (2, 0, 1)))
    x = f64(1, 33, 1, 40)
    add("transpose/unit_dims", "transpose", [x], {}, np.transpose(x))
    x = bools(4, 7)
    add("transpose/bool", "transpose", [x], {}, x.T)
    x = np.array(1.5, np.float32)
    add("transpose/0d", "transpose", [x], {}, x)
    x = f32(7)
    add("transpose/1d", "transpose", [x], {}, x)
    x = np.zeros((0, 3), np.float32)
    add("transpose/empty", "transpose", [x], {}, x.T)
    x = f32(300, 257)
    add("transpose/large", "transpose", [x], {}, x.T)
    x = f32(2, 3)
    add("transpose/null_axes_reverses", "transpose", [x], {"axes": None}, x.T)
    add("transpose/wrong_length", "transpose", [f32(2, 3)], {"axes": [0]}, error="do not match a 2-d input")
    add("transpose/repeated", "transpose", [f32(2, 3)], {"axes": [1, 1]}, error="repeated axis")
    add("transpose/out_of_range", "transpose", [f32(2, 3)], {"axes": [0, 2]}, error="axis 2 is out of range")
    add("transpose/not_list", "transpose", [f32(2, 3)], {"axes": "reverse"}, error="param 'axes' must be a list")

    # ---- inv: well-conditioned matrices (a random matrix plus n on the diagonal) ----
    def well(n, *batch, dtype=np.float64):
        a = rng.standard_normal(batch + (n, n)) + n * np.eye(n)
        return a.astype(dtype)

    a = well(1)
    add("inv/1x1_f64", "inv", [a], {}, np.linalg.inv(a))
    a = well(4, dtype=np.float32)
    add("inv/4x4_f32", "inv", [a], {}, np.linalg.inv(a.astype(np.float64)).astype(np.float32), rtol=1e-4, atol=1e-5)
    a = well(33)
    add("inv/33x33_f64", "inv", [a], {}, np.linalg.inv(a), rtol=1e-10, atol=1e-12)
    a = well(5, 3, 2)
    add("inv/batched_f64", "inv", [a], {}, np.linalg.inv(a), rtol=1e-10, atol=1e-12)
    a = np.array([[2, 1], [7, 4]], np.int32)
    add("inv/int32_gives_f32", "inv", [a], {}, np.linalg.inv(a).astype(np.float32))
    a = np.array([[0, 1], [1, 0]], np.float64)
    add("inv/needs_pivoting", "inv", [a], {}, np.linalg.inv(a))
    a = np.zeros((2, 0, 0), np.float32)
    add("inv/empty", "inv", [a], {}, a)
    add("inv/singular", "inv", [np.array([[1, 2], [2, 4]], np.float32)], error="inv: matrix is singular")
    add("inv/singular_rank2_3x3", "inv", [np.arange(9, dtype=np.float64).reshape(3, 3)], error="matrix is singular")
    add("inv/zero_matrix", "inv", [np.zeros((3, 3), np.float64)], error="matrix is singular")
    add("inv/singular_in_batch", "inv", [np.stack([np.eye(2), np.ones((2, 2))])], error="matrix is singular")
    add("inv/not_square", "inv", [f32(2, 3)], error="are not square")
    add("inv/1d", "inv", [f32(4)], error="needs square matrices")

    # ---- NaN, infinities and signed zeros (common.SPECIAL_VALUES) ----
    # IEEE products: 0 * inf is NaN, inf - inf is NaN, a NaN anywhere in a dot product spreads.
    specials = case_list.specials
    with np.errstate(all="ignore"):
        for dtype in (np.float32, np.float64):
            suffix = np.dtype(dtype).name
            product(f"matmul/special_{suffix}", "matmul", specials(dtype, 12, 12), specials(dtype, 12, 12))
            product(f"matmul/special_tiles_{suffix}", "matmul", specials(dtype, 37, 300), specials(dtype, 300, 45))
            product(f"matmul/special_one_inf_{suffix}", "matmul", np.where(np.eye(13, 40, 3) > 0, np.inf, f32(13, 40)).astype(dtype),
                    f32(40, 17).astype(dtype))
            product(f"dot/special_1d_{suffix}", "dot", specials(dtype, 24), specials(dtype, 24))
            product(f"dot/special_2d_1d_{suffix}", "dot", specials(dtype, 24, 30), specials(dtype, 30))
            x = specials(dtype, 5, 40, 37)
            add(f"transpose/special_{suffix}", "transpose", [x], {"axes": [0, 2, 1]}, np.transpose(x, (0, 2, 1)))
        # inv refuses a matrix with NaN or infinity (NumPy's LAPACK returns NaNs, or zeros for
        # some infinities, depending on the elimination order).
        for label, special in (("nan", np.nan), ("inf", np.inf), ("minus_inf", -np.inf)):
            a = well(3)
            a[1, 2] = special
            add(f"inv/special_{label}", "inv", [a], {}, error="matrix has non-finite entries (NaN or infinity)")
    return out
