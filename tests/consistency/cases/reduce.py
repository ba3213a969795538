"""Consistency cases of the reduce family (shared/ops/reduce.cpp), with NumPy as the reference.

Corvid's choices that differ from a plain NumPy call, and how the expected values follow them:
- sum/prod of bool and int32 give int32 (NumPy: int64), wrapping like int32 arithmetic; float32
  sums and products are kept in double, so a float32 product that overflows only on the way
  (80 * 80 * ... * 0) gives 0 rather than NumPy's inf * 0 = NaN;
- mean, var, std, median, percentile and average give float_result (float32 for bool/int32 inputs,
  NumPy float64); Corvid accumulates in double, so the expected value of a float32 input is NumPy's
  result on the float64 copy of the data, cast to float32;
- argmax/argmin give int32; mode is the smallest most frequent value (scipy.stats.mode), with
  all NaNs counted as one value that sorts after every number (np.unique merges NaNs);
- median is np.median (NaN only from a NaN in the line, or -inf and inf as the two middle values);
  percentile is np.percentile except where NumPy's interpolation makes NaN out of infinities
  (0 * inf, numpy/numpy#12282): see percentile_ref below.
"""
import numpy as np

from common import CaseList, float_result


def cases():
    case_list = CaseList(20261122)
    rng, out, add = case_list.rng, case_list.cases, case_list.add
    f32, f64, bools = case_list.f32, case_list.f64, case_list.bools
    i32 = case_list.i32

    def sum_result(dtype):
        return dtype if dtype in (np.float32, np.float64) else np.int32

    def np_axis(params):
        axis = params.get("axis")
        return tuple(axis) if isinstance(axis, list) else axis

    # Ops whose value is computed from float64 data, then cast to Corvid's result dtype.
    def float_ref(fn):
        return lambda x, p: fn(x.astype(np.float64), axis=np_axis(p), keepdims=p.get("keepdims", False))

    def mode_ref(x, p):
        axis = np_axis(p)
        axes = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        axes = tuple(a % x.ndim for a in axes) if x.ndim else ()
        kept = [a for a in range(x.ndim) if a not in axes]
        moved = np.transpose(x, kept + list(axes)) if x.ndim else x
        lines = moved.reshape(int(np.prod([x.shape[a] for a in kept], dtype=np.int64)), -1)
        values = []
        for line in lines:
            u, c = np.unique(line, return_counts=True)
            values.append(u[np.argmax(c)])
        result = np.array(values, dtype=x.dtype).reshape([x.shape[a] for a in kept])
        if p.get("keepdims", False):
            result = result.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)])
        return result

    refs = {
        "sum": (lambda x, p: np.sum(x.astype(np.float64) if x.dtype == np.float32 else x,
                                    axis=np_axis(p), keepdims=p.get("keepdims", False)), sum_result),
        "prod": (lambda x, p: np.prod(x.astype(np.float64) if x.dtype == np.float32 else x,
                                      axis=np_axis(p), keepdims=p.get("keepdims", False)), sum_result),
        "mean": (float_ref(np.mean), float_result),
        "min": (lambda x, p: np.min(x, axis=np_axis(p), keepdims=p.get("keepdims", False)), lambda d: d),
        "max": (lambda x, p: np.max(x, axis=np_axis(p), keepdims=p.get("keepdims", False)), lambda d: d),
        "var": (lambda x, p: np.var(x.astype(np.float64), axis=np_axis(p), keepdims=p.get("keepdims", False),
                                    ddof=p.get("ddof", 0)), float_result),
        "std": (lambda x, p: np.std(x.astype(np.float64), axis=np_axis(p), keepdims=p.get("keepdims", False),
                                    ddof=p.get("ddof", 0)), float_result),
        "median": (float_ref(np.median), float_result),
        "percentile": (lambda x, p: np.percentile(x.astype(np.float64), p["q"], axis=np_axis(p),
                                                  keepdims=p.get("keepdims", False)), float_result),
        "mode": (mode_ref, lambda d: d),
        "average": (lambda x, p: np.average(x.astype(np.float64), axis=np_axis(p),
                                            keepdims=p.get("keepdims", False)), float_result),
        "argmax": (lambda x, p: np.argmax(x, axis=p.get("axis"), keepdims=p.get("keepdims", False)),
                   lambda d: np.int32),
        "argmin": (lambda x, p: np.argmin(x, axis=p.get("axis"), keepdims=p.get("keepdims", False)),
                   lambda d: np.int32),
    }

    def value(name, op, x, params, **tol):
        ref, result = refs[op]
        expected = np.asarray(ref(x, params)).astype(result(x.dtype.type))
        add(name, op, [x], params, expected, **tol)

    # ---- the same battery of shapes and axes for every reduction ----
    # Data: float32 normal values (sums do not cancel to zero often enough to matter at rtol 1e-5,
    # and float32 sums get atol for the near-zero ones), int32 and bool.
    for op in ["sum", "mean", "prod", "min", "max", "var", "std", "median", "mode", "average"]:
        small = (lambda *s: rng.uniform(0.5, 1.5, s).astype(np.float32)) if op == "prod" else f32
        tol = {"atol": 1e-5} if op in ("sum", "mean", "average") else {}
        value(f"{op}/0d_f32", op, np.array(1.75, dtype=np.float32), {})
        value(f"{op}/1d_all_f32", op, small(37), {}, **tol)
        value(f"{op}/2d_axis0_f32", op, small(5, 7), {"axis": 0}, **tol)
        value(f"{op}/2d_axis1_keepdims_f64", op, f64(6, 4) if op != "prod" else small(6, 4).astype(np.float64),
              {"axis": 1, "keepdims": True})
        value(f"{op}/3d_neg_axis_f32", op, small(3, 4, 5), {"axis": -2}, **tol)
        value(f"{op}/3d_axes_0_2_f32", op, small(3, 4, 5), {"axis": [0, 2]}, **tol)
        value(f"{op}/3d_axes_1_2_keepdims_f32", op, small(3, 4, 5), {"axis": [2, 1], "keepdims": True}, **tol)
        value(f"{op}/4d_unit_dims_f32", op, small(2, 1, 3, 1), {"axis": [1, 2]}, **tol)
        value(f"{op}/null_axis_keepdims_f32", op, small(2, 3), {"axis": None, "keepdims": True}, **tol)
        value(f"{op}/int32_axis1", op, i32(4, 6, low=-3, high=4) if op == "prod" else i32(4, 6), {"axis": 1})
        value(f"{op}/int32_all", op, i32(3, 5, low=-2, high=3) if op == "prod" else i32(3, 5), {})
        value(f"{op}/bool_axis0", op, bools(5, 3), {"axis": 0})
        # Wide inner dimension (> 256 columns per block) and long lines (> 4096 elements, lanes + tail).
        if op != "prod":
            value(f"{op}/wide_inner_f32", op, f32(3, 5, 600), {"axis": 1}, **tol)
            value(f"{op}/long_line_f32", op, f32(2, 5003), {"axis": -1}, **tol)
            value(f"{op}/long_all_f64", op, f64(70, 80), {})
        value(f"{op}/int32_axes_0_2", op, i32(4, 3, 5, low=-2, high=3), {"axis": [0, 2]})

    # percentile: the same shapes at several q, including the ends.
    for q in [0.0, 12.5, 50.0, 77.0, 100.0]:
        value(f"percentile/q{q}_2d_axis1_f32", "percentile", f32(5, 9), {"q": q, "axis": 1})
    value("percentile/0d", "percentile", np.array(2.5, dtype=np.float32), {"q": 40})
    value("percentile/3d_axes_0_2_keepdims_f64", "percentile", f64(3, 4, 5), {"q": 33, "axis": [0, 2], "keepdims": True})
    value("percentile/int32_all", "percentile", i32(4, 7), {"q": 90})
    value("percentile/bool_axis0", "percentile", bools(6, 3), {"q": 25, "axis": 0})
    value("percentile/long_line_f32", "percentile", f32(2, 5001), {"q": 66.6, "axis": 1})
    value("percentile/integer_q", "percentile", f32(11), {"q": 25})

    # argmax/argmin: int or null axis only; ties give the first occurrence.
    for op in ["argmax", "argmin"]:
        value(f"{op}/0d", op, np.array(3, dtype=np.int32), {})
        value(f"{op}/flat_2d_f32", op, f32(4, 5), {})
        value(f"{op}/axis0_f32", op, f32(6, 7), {"axis": 0})
        value(f"{op}/neg_axis_keepdims_f64", op, f64(3, 4, 5), {"axis": -1, "keepdims": True})
        value(f"{op}/null_keepdims_f32", op, f32(3, 4), {"axis": None, "keepdims": True})
        value(f"{op}/ties_int32", op, np.array([[1, 3, 3, 0], [2, 2, 1, 1], [0, 0, 0, 0]], dtype=np.int32), {"axis": 1})
        value(f"{op}/ties_axis0_int32", op, i32(9, 5, low=0, high=3), {"axis": 0})
        value(f"{op}/bool", op, bools(4, 6), {"axis": 1})
        value(f"{op}/wide_inner_f32", op, f32(2, 9, 300), {"axis": 1})
        value(f"{op}/long_f32", op, f32(6000), {})
        add(f"{op}/list_axis", op, [f32(2, 3)], {"axis": [0, 1]}, error="must be an integer or null")
        add(f"{op}/axis_out_of_range", op, [f32(2, 3)], {"axis": -3}, error="axis -3 is out of range for 2-d input")
        add(f"{op}/empty", op, [np.zeros((0, 3), np.float32)], {"axis": 0},
            error="zero-size array has no " + op)
    value("argmax/nan_first", "argmax", np.array([1, np.nan, 5, np.nan], dtype=np.float32), {})
    value("argmin/nan_first", "argmin", np.array([1, -2, np.nan], dtype=np.float64), {})
    value("argmax/empty_output", "argmax", np.zeros((0, 4), np.float32), {"axis": 1})
    x = np.zeros(1000, np.int32)
    x[[300, 700]] = 5
    value("argmax/long_line_ties", "argmax", x, {})
    value("argmin/long_line_ties", "argmin", -x, {})
    x = f32(2, 2000)
    x[1, [1500, 1700]] = np.nan
    value("argmin/nan_in_long_line", "argmin", x, {"axis": 1})
    value("argmax/nan_in_long_line_f64", "argmax", x.astype(np.float64), {"axis": 1})

    # NaN propagation in min/max, var with ddof.
    x = np.array([[1, np.nan, 3], [4, 5, 6]], dtype=np.float32)
    value("max/nan_propagates", "max", x, {"axis": 1})
    value("min/nan_propagates", "min", x, {})
    x = f32(3, 1000)
    x[1, 517] = np.nan  # inside the vectorised part of a line
    value("max/nan_in_long_line", "max", x, {"axis": 1})
    value("min/nan_in_long_line_f64", "min", x.astype(np.float64), {"axis": -1})
    for op in ["min", "max"]:
        value(f"{op}/long_line_int32", op, i32(2, 1001, low=-10**6, high=10**6), {"axis": 1})
        value(f"{op}/long_line_bool", op, np.arange(700) != 0 if op == "min" else np.arange(700) == 650, {})
        value(f"{op}/long_line_f64", op, f64(2, 333), {"axis": 1})
    value("median/nan_propagates", "median", x, {"axis": 1})
    value("var/ddof1_f32", "var", f32(4, 9), {"axis": 1, "ddof": 1})
    value("std/ddof1_f64", "std", f64(30), {"ddof": 1})
    x = f32(3, 4)
    add("variance/alias", "variance", [x], {"axis": 0}, np.var(x.astype(np.float64), axis=0).astype(np.float32))
    value("median/even_count_int32", "median", i32(4, 6), {"axis": 1})
    value("mode/ties_smallest", "mode", np.array([[3, 1, 3, 1, 2], [5, 5, 4, 4, 4]], dtype=np.int32), {"axis": 1})
    value("mode/f64_repeats", "mode", np.round(f64(40) * 2) / 2, {})
    value("sum/int32_wraps", "sum", np.full(4, 2**30, dtype=np.int32), {})
    value("prod/int32_wraps", "prod", np.full(3, 100000, dtype=np.int32), {})

    # Empty inputs: sum/prod give the identity, mean/var NaN, ops without identity refuse.
    empty = np.zeros((0, 3), dtype=np.float32)
    value("sum/empty_axis0", "sum", empty, {"axis": 0})
    value("prod/empty_axis0", "prod", empty, {"axis": 0})
    value("sum/empty_all_int32", "sum", np.zeros((2, 0), np.int32), {})
    value("sum/empty_output", "sum", empty, {"axis": 1})
    value("max/empty_output", "max", empty, {"axis": 1})
    add("mean/empty_axis0", "mean", [empty], {"axis": 0}, expected=np.full(3, np.nan, np.float32))
    add("var/empty_all", "var", [empty], {}, expected=np.array(np.nan, np.float32))
    add("median/empty_all", "median", [empty], {}, expected=np.array(np.nan, np.float32))
    add("max/empty", "max", [empty], {"axis": 0}, error="zero-size array has no maximum")
    add("min/empty_all", "min", [empty], {}, error="zero-size array has no minimum")
    add("mode/empty", "mode", [empty], {}, error="zero-size array has no mode")
    add("percentile/empty", "percentile", [empty], {"q": 50, "axis": 0}, error="zero-size array has no percentile")

    # average with weights: same shape, or 1-d along one axis.
    x, w = f32(4, 5), rng.uniform(0.1, 2.0, (4, 5)).astype(np.float32)
    add("average/weights_same_shape_axis1", "average", [x, w], {"axis": 1},
        np.average(x.astype(np.float64), axis=1, weights=w.astype(np.float64)).astype(np.float32), atol=1e-5)
    add("average/weights_same_shape_all", "average", [x, w], {},
        np.average(x.astype(np.float64), weights=w.astype(np.float64)).astype(np.float32), atol=1e-5)
    w1 = rng.uniform(0.1, 2.0, 4)
    add("average/weights_1d_axis0_f64", "average", [x.astype(np.float64), w1], {"axis": 0},
        np.average(x.astype(np.float64), axis=0, weights=w1))
    x3, w3 = f32(3, 6, 4), rng.uniform(0.1, 2.0, 6).astype(np.float32)
    add("average/weights_1d_middle_keepdims", "average", [x3, w3], {"axis": -2, "keepdims": True},
        np.average(x3.astype(np.float64), axis=-2, weights=w3.astype(np.float64), keepdims=True).astype(np.float32),
        atol=1e-5)
    xi, wi = i32(3, 4), rng.integers(1, 5, (3, 4), dtype=np.int32)
    add("average/int32_weights", "average", [xi, wi], {"axis": 0},
        np.average(xi, axis=0, weights=wi).astype(np.float32))
    add("average/zero_weights", "average", [f32(2, 3), np.zeros((2, 3), np.float32)], {"axis": 1},
        error="weights sum to zero")
    add("average/weights_shape", "average", [f32(2, 3), f32(3, 2)], {"axis": 1}, error="differs from input shape")
    add("average/1d_weights_no_axis", "average", [f32(2, 3), f32(3)], {}, error="need a single integer axis")
    add("average/1d_weights_length", "average", [f32(2, 3), f32(2)], {"axis": 1},
        error="length of weights 2 does not match axis 1 of length 3")

    # Bad params and arity, for one op each (the axis parsing is shared by all).
    add("sum/axis_out_of_range", "sum", [f32(2, 3)], {"axis": 2}, error="axis 2 is out of range for 2-d input")
    add("mean/neg_axis_out_of_range", "mean", [f32(2, 3)], {"axis": [-3]}, error="axis -3 is out of range")
    add("max/repeated_axis", "max", [f32(2, 3)], {"axis": [1, -1]}, error="repeated axis")
    add("sum/0d_axis", "sum", [np.array(1.0, np.float32)], {"axis": 0}, error="out of range for 0-d input")
    add("var/axis_not_integer", "var", [f32(2, 3)], {"axis": "rows"}, error="param 'axis' must be")
    add("std/keepdims_not_bool", "std", [f32(2, 3)], {"keepdims": 1}, error="param 'keepdims' must be true or false")
    add("var/ddof_not_number", "var", [f32(2, 3)], {"ddof": "one"}, error="param 'ddof' must be a number")
    add("percentile/missing_q", "percentile", [f32(4)], {}, error="param 'q' is required")
    add("percentile/q_above_100", "percentile", [f32(4)], {"q": 120}, error="between 0 and 100")
    add("percentile/q_list", "percentile", [f32(4)], {"q": [10, 20]}, error="param 'q' must be a number")
    add("sum/two_inputs", "sum", [f32(2), f32(2)], {}, error="expects 1 input(s), got 2")
    add("average/three_inputs", "average", [f32(2), f32(2), f32(2)], {}, error="expects 1 to 2 input(s), got 3")

    # ---- NaN, infinities and signed zeros (common.SPECIAL_VALUES) in every reduction ----
    # Lines chosen for what each op must get right: a NaN anywhere, infinities of both signs in
    # the middle of a sort (median), inf - inf in a sum, 0 * inf in a product, ties with NaN (mode).
    lines = np.array([
        [1, 2, np.nan, 4, 5, 6],
        [np.inf, -3, 1, -np.inf, np.inf, 2],
        [1, np.inf, np.inf, np.inf, 2, np.inf],
        [-np.inf, -np.inf, -np.inf, 1, np.inf, 0],
        [np.inf] * 6,
        [-np.inf] * 6,
        [0.0, -0.0, 0.0, -0.0, 1, -1],
        [np.nan] * 6,
        [3, np.nan, 1, np.nan, 2, 5],
        [np.nan, 1, np.nan, 1, 2, 2],
        [np.inf, -np.inf, 0, 0, 7, -7],
        [0, np.inf, 2, 3, 4, 5],
    ])
    special_ops = ["sum", "mean", "prod", "min", "max", "var", "std", "median", "mode", "average", "argmax", "argmin"]
    with np.errstate(all="ignore"):  # NumPy warns about the NaNs it makes here
        for op in special_ops:
            for dtype in (np.float32, np.float64):
                x = lines.astype(dtype)
                suffix = np.dtype(dtype).name
                value(f"{op}/special_rows_{suffix}", op, x, {"axis": 1})
                value(f"{op}/special_columns_{suffix}", op, np.ascontiguousarray(x.T), {"axis": 0})
            value(f"{op}/special_all_f64", op, case_list.specials(np.float64, 7, 5), {})
            x = case_list.specials(np.float32, 3, 5000)  # long lines: the vectorised loops see every special value
            tol = {"atol": 1e-5} if op in ("sum", "mean", "average") else {}
            value(f"{op}/special_long_lines_f32", op, x, {"axis": 1}, **tol)
            value(f"{op}/special_long_lines_f64", op, case_list.specials(np.float64, 2, 3001), {"axis": -1})
            value(f"{op}/special_wide_inner_f32", op, case_list.specials(np.float32, 3, 7, 300), {"axis": 1})
        # The lines of issue 9's finding 10, as they were reported.
        value("median/infinities_around_middle", "median", np.array([np.inf, -3, 1, -np.inf, np.inf]), {})
        value("median/two_infinite_middles", "median", np.array([1, np.inf, np.inf, np.inf]), {})
        value("mode/nans_counted_together", "mode", np.array([3, np.nan, 1, np.nan, 2]), {})
        x = lines.astype(np.float64)
        for q in [0.0, 25.0, 50.0, 77.0, 100.0]:
            add(f"percentile/special_rows_q{q}", "percentile", [x], {"q": q, "axis": 1},
                np.array([percentile_ref(line, q) for line in x]))
        x = case_list.specials(np.float32, 2, 5000)
        add("percentile/special_long_lines_f32", "percentile", [x], {"q": 33, "axis": 1},
            np.array([percentile_ref(line.astype(np.float64), 33) for line in x]).astype(np.float32))
        w = rng.uniform(0.1, 2.0, lines.shape)
        add("average/special_weights", "average", [lines, w], {"axis": 1}, np.average(lines, axis=1, weights=w))
        special_w = np.where(np.isfinite(lines), np.abs(lines) + 0.5, lines)  # no row sums to zero
        add("average/special_in_weights", "average", [w, special_w], {"axis": 1},
            np.average(w, axis=1, weights=special_w))
    return out


def percentile_ref(line, q):
    """np.percentile's linear interpolation of one float64 line, except that it never makes NaN
    out of infinities (NumPy gives NaN for 0 * inf in its interpolation, numpy/numpy#12282):
    NaN only when the line holds a NaN or the value lies strictly between -inf and inf; at an
    exact position, or between equal values, the value itself; NumPy's formula otherwise."""
    if np.isnan(line).any():
        return np.nan
    s = np.sort(line)
    index = q / 100.0 * (len(s) - 1)
    lo = int(np.floor(index))
    hi = min(lo + 1, len(s) - 1)
    a, b, t = s[lo], s[hi], index - lo
    if t == 0 or a == b:
        return a
    if np.isinf(a) or np.isinf(b):
        return np.nan if (a == -np.inf and b == np.inf) else (a if np.isinf(a) else b)
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
