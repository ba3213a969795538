"""Consistency cases of the elementwise family (shared/ops/elementwise.cpp), with NumPy as the reference.

Corvid's dtype rule differs from NumPy's, and the expected values follow Corvid's:
- operands are converted to the promoted dtype first (bool < int32 < float, widest float), so
  int32 + float32 is float32 (NumPy: float64); comparisons are made in that dtype too;
- arithmetic on bool (add, sub, mul, pow, neg, pos, abs, sign, square, cube) computes in int32;
- float functions (exp, log, sqrt, cbrt, reciprocal, sin, cos, tanh, sigmoid, div, softmax,
  log_softmax) of int32/bool give float32; the reference is NumPy's float64 value cast to float32;
- maximum, minimum, relu and clip keep the dtype (bool included, clip refuses bool);
- comparisons and logical ops give bool; logical ops take any dtype, nonzero is true.
"""
import numpy as np

from common import BOOL, F32, F64, FLOATS, I32, SPECIAL_VALUES, CaseList, float_result


def promote(a, b):
    """Corvid's promotion of two dtypes."""
    kind = {BOOL: 0, I32: 1, F32: 2, F64: 2}
    a, b = np.dtype(a).type, np.dtype(b).type
    if kind[a] != kind[b]:
        return a if kind[a] > kind[b] else b
    if kind[a] == 2:
        return F64 if F64 in (a, b) else F32
    return a


def arith_result(d):
    return I32 if np.dtype(d).type is BOOL else np.dtype(d).type


def cases():
    case_list = CaseList(20261121)
    rng, out, add = case_list.rng, case_list.cases, case_list.add

    def data(dtype, shape, scale=3.0, positive=False):
        if dtype is BOOL:
            return np.asarray(rng.random(shape) < 0.5)
        if dtype is I32:
            low = 0 if positive else -20
            return np.asarray(rng.integers(low, 21, size=shape, dtype=np.int32))
        x = rng.standard_normal(shape) * scale
        if positive:
            x = np.abs(x) + 0.05
        return np.asarray(x, dtype=dtype)

    def as_(x, dtype):
        return np.asarray(x).astype(dtype)

    shapes = {"0d": (), "empty": (0, 3), "vec7": (7,), "3x5": (3, 5), "2x3x4": (2, 3, 4), "large": (4099,)}

    # ---- unary ops ----
    # name -> (reference on the input converted to the compute dtype, compute dtype of an input dtype,
    #          whether the domain needs positive inputs)
    with np.errstate(all="ignore"):
        unary = {
            "neg": (np.negative, arith_result, False),
            "pos": (np.positive, arith_result, False),
            "abs": (np.abs, arith_result, False),
            "sign": (np.sign, arith_result, False),
            "square": (np.square, arith_result, False),
            "cube": (lambda x: x * x * x, arith_result, False),
            "exp": (np.exp, float_result, False),
            "log": (np.log, float_result, True),
            "sqrt": (np.sqrt, float_result, True),
            "cbrt": (np.cbrt, float_result, False),
            "reciprocal": (lambda x: 1.0 / x, float_result, True),
            "sin": (np.sin, float_result, False),
            "cos": (np.cos, float_result, False),
            "tanh": (np.tanh, float_result, False),
            "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), float_result, False),
            "relu": (lambda x: x if x.dtype == np.bool_ else np.maximum(x, np.zeros((), x.dtype)), lambda d: d, False),
            "logical_not": (np.logical_not, lambda d: BOOL, False),
        }
        for op, (ref, result, positive) in unary.items():
            for dtype in (F32, F64, I32, BOOL):
                for shape_name, shape in shapes.items():
                    if dtype in (I32, BOOL) and shape_name in ("empty", "2x3x4"):
                        continue
                    if op == "reciprocal" and dtype is BOOL:
                        continue  # 1/0 = inf is covered by the special values below
                    x = data(dtype, shape, positive=positive)
                    r = np.dtype(result(dtype)).type
                    if r is F32:
                        expected = as_(ref(x.astype(F64)), r)  # float32: NumPy's float64 value, rounded
                    else:
                        expected = as_(ref(x.astype(r) if r is not BOOL else x), r)
                    add(f"{op}/{np.dtype(dtype).name}_{shape_name}", op, [x], expected=expected)
            # Special values: zeros, infinities and NaN.
            special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, 80.0, -80.0], dtype=F32)
            r = np.dtype(result(F32)).type
            expected = as_(ref(special.astype(F64)) if r is F32 else ref(special), r)
            add(f"{op}/special_values_f32", op, [special], expected=expected)

        # exp over its whole float32 range (overflow to inf, underflow to 0 or tiny values).
        wide = np.linspace(-110, 95, 5001, dtype=F32)
        add("exp/wide_range_f32", "exp", [wide], expected=np.exp(wide.astype(F64)).astype(F32))
        add("sigmoid/wide_range_f32", "sigmoid", [wide],
            expected=(1.0 / (1.0 + np.exp(-wide.astype(F64)))).astype(F32))
        ints = np.array([np.iinfo(np.int32).min, -7, 0, 46341, np.iinfo(np.int32).max], dtype=I32)
        for op in ("neg", "abs", "square", "cube"):
            ref = unary[op][0]
            add(f"{op}/int32_wraps", op, [ints], expected=ref(ints))
        for alias, ref in (("natlog", np.log), ("square_root", np.sqrt), ("cube_root", np.cbrt)):
            x = data(F64, (6,), positive=True)
            add(f"{alias}/alias", alias, [x], expected=ref(x))

    # ---- binary ops ----
    binary = {
        "add": (np.add, arith_result),
        "sub": (np.subtract, arith_result),
        "mul": (np.multiply, arith_result),
        "div": (np.divide, float_result),
        "pow": (np.power, arith_result),
        "maximum": (np.maximum, lambda d: d),
        "minimum": (np.minimum, lambda d: d),
        "greater": (np.greater, lambda d: BOOL),
        "greater_equal": (np.greater_equal, lambda d: BOOL),
        "less": (np.less, lambda d: BOOL),
        "less_equal": (np.less_equal, lambda d: BOOL),
        "equal": (np.equal, lambda d: BOOL),
        "not_equal": (np.not_equal, lambda d: BOOL),
        "logical_and": (np.logical_and, lambda d: BOOL),
        "logical_or": (np.logical_or, lambda d: BOOL),
        "logical_xor": (np.logical_xor, lambda d: BOOL),
    }
    # (label, shape a, shape b): same shape, scalar either side, broadcasting of several kinds.
    pairs = [
        ("same_3x5", (3, 5), (3, 5)),
        ("0d_0d", (), ()),
        ("scalar_right", (4, 6), ()),
        ("scalar_left", (), (9,)),
        ("row", (5, 7), (7,)),
        ("column", (5, 1), (5, 7)),
        ("outer", (6, 1), (1, 4)),
        ("3d_middle", (2, 3, 4), (2, 1, 4)),
        ("3d_leading", (3, 1, 5), (4, 1)),
        ("empty", (0, 4), (4,)),
        ("large", (4099,), (4099,)),
        ("large_bcast", (33, 129), (129,)),
    ]

    def operands(op, dtype, sa, sb):
        if op == "pow":
            if dtype in FLOATS:
                return data(dtype, sa, positive=True), np.asarray(rng.uniform(-3, 3, sb), dtype=dtype)
            base = rng.integers(-5, 6, size=sa).astype(dtype) if dtype is I32 else data(dtype, sa)
            return base, (rng.integers(0, 7, size=sb).astype(dtype) if dtype is I32 else data(dtype, sb))
        a, b = data(dtype, sa), data(dtype, sb)
        if op in ("equal", "not_equal", "greater_equal", "less_equal", "maximum", "minimum") and dtype in FLOATS:
            b = np.where(rng.random(sb) < 0.3, np.broadcast_to(a.ravel()[0] if a.size else 0, sb), b).astype(dtype)
        return a, b

    with np.errstate(all="ignore"):
        for op, (ref, result) in binary.items():
            for dtype in (F32, F64, I32, BOOL):
                chosen = pairs if dtype in (F32, I32) else pairs[:2] + pairs[4:6]
                for label, sa, sb in chosen:
                    a, b = operands(op, dtype, sa, sb)
                    r = np.dtype(result(dtype)).type
                    c = arith_result(dtype) if result is arith_result else (float_result(dtype) if result is float_result else dtype)
                    if r in FLOATS and dtype is F32 and op in ("div", "pow"):
                        expected = as_(ref(a.astype(F64), b.astype(F64)), r)
                    else:
                        expected = as_(ref(as_(a, c), as_(b, c)), r)
                    add(f"{op}/{np.dtype(dtype).name}_{label}", op, [a, b], expected=expected)

            # Mixed dtypes: converted to the promoted dtype first.
            for da, db in ((I32, F32), (F32, F64), (BOOL, I32), (BOOL, F64)):
                a = operands(op, da, (4, 3), (3,))[0]
                b = operands(op, db, (4, 3), (3,))[1]
                p = promote(da, db)
                r = np.dtype(result(p)).type
                c = arith_result(p) if result is arith_result else (float_result(p) if result is float_result else p)
                expected = as_(ref(as_(a, c), as_(b, c)), r)
                add(f"{op}/mixed_{np.dtype(da).name}_{np.dtype(db).name}", op, [a, b], expected=expected)

            add(f"{op}/incompatible_shapes", op, [data(F32, (2, 3)), data(F32, (4,))],
                error="shapes (2, 3) and (4,) cannot be broadcast together")

        # NaN in either operand: maximum/minimum propagate it, comparisons are false (not_equal true).
        a = np.array([np.nan, 1.0, np.nan, -np.inf, 2.0], dtype=F32)
        b = np.array([1.0, np.nan, np.nan, 0.0, np.inf], dtype=F32)
        for op in ("maximum", "minimum", "greater", "less_equal", "equal", "not_equal", "logical_and", "logical_xor"):
            add(f"{op}/nan_and_inf_f32", op, [a, b], expected=binary[op][0](a, b))
        z = np.array([1.0, -1.0, 0.0, 2.5], dtype=F32)
        add("div/by_zero_f32", "div", [z, np.zeros(4, F32)], expected=z / np.zeros(4, F32))
        add("div/int32_by_zero", "div", [np.array([3, -3, 0], I32), np.zeros(3, I32)],
            expected=np.array([np.inf, -np.inf, np.nan], F32))
        big = np.array([2147483647, -2147483648, 65536], dtype=I32)
        add("add/int32_wraps", "add", [big, np.array([1, -1, 65536], I32)],
            expected=(big.astype(np.int64) + [1, -1, 65536]).astype(I32))
        add("mul/int32_wraps", "mul", [big, np.array([2, 3, 65536], I32)],
            expected=(big.astype(np.int64) * [2, 3, 65536]).astype(I32))
        add("pow/int32_wraps", "pow", [np.array([2, 3, -2], I32), np.array([31, 21, 33], I32)],
            expected=np.array([-2147483648, np.int32(np.int64(3**21) % 2**32 - 2**32), 0], I32))
        add("pow/int32_negative_exponent", "pow", [np.array([2, 3], I32), np.array([1, -1], I32)],
            error="integers to negative integer powers are not allowed")
        add("pow/float_negative_base", "pow", [np.array([-8.0, -2.0, 4.0], F64), np.array([1 / 3, 2.0, 0.5], F64)],
            expected=np.power(np.array([-8.0, -2.0, 4.0]), np.array([1 / 3, 2.0, 0.5])))
        x = data(F32, (3, 4))
        add("multiply/alias", "multiply", [x, x[0]], expected=x * x[0])

    # ---- where ----
    for label, sc, sx, sy in [("same", (3, 4), (3, 4), (3, 4)), ("bcast_all", (3, 1), (4,), ()),
                              ("3d", (2, 1, 5), (1, 3, 5), (2, 3, 1)), ("0d", (), (), ()), ("empty", (0,), (0,), (1,)),
                              ("large", (4099,), (4099,), (4099,))]:
        for dx, dy in ((F32, F32), (I32, F64), (BOOL, BOOL), (I32, I32)):
            cond = np.asarray(rng.random(sc) < 0.5)
            xv, yv = data(dx, sx), data(dy, sy)
            p = promote(dx, dy)
            add(f"where/{label}_{np.dtype(dx).name}_{np.dtype(dy).name}", "where", [cond, xv, yv],
                expected=np.where(cond, as_(xv, p), as_(yv, p)).astype(p))
    cond = np.array([0.0, 0.5, np.nan, -2.0], F32)
    add("where/float_condition", "where", [cond, np.arange(4, dtype=I32), np.full(4, -1, I32)],
        expected=np.where(cond != 0, np.arange(4, dtype=I32), -1).astype(I32))
    add("where/incompatible_shapes", "where", [np.ones((2,), bool), data(F32, (3,)), data(F32, ())],
        error="cannot be broadcast together")

    # ---- clip ----
    for dtype in (F32, F64, I32):
        for shape_name, shape in (("0d", ()), ("3x5", (3, 5)), ("empty", (0,)), ("large", (4099,))):
            x = data(dtype, shape, scale=5.0)
            for label, params in (("both", {"min": -2, "max": 3}), ("min_only", {"min": 1}),
                                  ("max_only", {"max": -1}), ("none", {})):
                lo = params.get("min", None)
                hi = params.get("max", None)
                e = x.copy()
                if lo is not None:
                    e = np.maximum(e, np.asarray(lo, dtype=dtype))
                if hi is not None:
                    e = np.minimum(e, np.asarray(hi, dtype=dtype))
                add(f"clip/{np.dtype(dtype).name}_{shape_name}_{label}", "clip", [x], params, expected=e.astype(dtype))
    x = np.array([-np.inf, -1.0, 0.25, np.nan, np.inf], F32)
    add("clip/float_bounds_nan_inf", "clip", [x], {"min": -0.5, "max": 0.1},
        expected=np.minimum(np.maximum(x, F32(-0.5)), F32(0.1)))
    add("clip/min_above_max", "clip", [np.array([0.0, 9.0], F32)], {"min": 5, "max": 1},
        expected=np.array([1.0, 1.0], F32))
    add("clip/bool_input", "clip", [np.array([True, False])], {"min": 0}, error="input must be numeric, got bool")
    add("clip/non_integer_bound_for_int32", "clip", [np.array([1, 2], I32)], {"max": 1.5},
        error="param 'max' must be an integer for an int32 input")
    add("clip/non_number_bound", "clip", [np.array([1.0], F32)], {"min": "low"}, error="param 'min' must be a number")

    # ---- cast: NumPy's astype; float to int32 truncates, and NaN, infinities and values outside
    # int32 give INT32_MIN on every build (NumPy's result on x86) ----
    for src in (F32, F64, I32, BOOL):
        for dst in (F32, F64, I32, BOOL):
            for shape_name in ("0d", "empty", "3x5"):
                x = data(src, shapes[shape_name])
                add(f"cast/{np.dtype(src).name}_to_{np.dtype(dst).name}_{shape_name}", "cast", [x],
                    {"dtype": np.dtype(dst).name}, expected=as_(x, dst))
    for src in FLOATS:
        x = np.concatenate([case_list.specials(src, 24), np.array([3e9, -3e9, 2147483647.5, -2147483648.5], src)])
        with np.errstate(invalid="ignore"):
            fits = np.isfinite(x) & (x > -2147483649.0) & (x < 2147483648.0)
            expected = np.where(fits, np.trunc(np.where(fits, x, 0)), np.iinfo(np.int32).min).astype(I32)
        add(f"cast/special_{np.dtype(src).name}_to_int32", "cast", [x], {"dtype": "int32"}, expected=expected)
        add(f"cast/special_{np.dtype(src).name}_to_bool", "cast", [x], {"dtype": "bool"}, expected=x != 0)
        other = F64 if src is F32 else F32
        with np.errstate(over="ignore"):
            add(f"cast/special_{np.dtype(src).name}_to_{np.dtype(other).name}", "cast", [x],
                {"dtype": np.dtype(other).name}, expected=x.astype(other))
    add("cast/no_dtype", "cast", [np.array([1.0], F32)], error="param 'dtype' is required")

    # ---- softmax, log_softmax ----
    def softmax_ref(x, axis, log):
        x64 = x.astype(F64)
        if x.shape[axis] == 0:
            return x64
        shifted = x64 - np.max(x64, axis=axis, keepdims=True)
        if log:
            return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        e = np.exp(shifted)
        return e / np.sum(e, axis=axis, keepdims=True)

    for op, log in (("softmax", False), ("log_softmax", True)):
        for label, shape, axis in [("vec", (7,), None), ("rows", (5, 9), None), ("axis0", (5, 9), 0),
                                   ("neg_axis", (3, 4, 6), -2), ("middle", (3, 4, 6), 1), ("empty_rows", (0, 4), None),
                                   ("empty_axis", (3, 0), None), ("long_rows", (3, 4099), None),
                                   ("wide_inner", (17, 300), 0)]:
            for dtype in (F32, F64, I32):
                x = data(dtype, shape, scale=4.0)
                params = {} if axis is None else {"axis": axis}
                r = float_result(dtype)
                expected = softmax_ref(x, -1 if axis is None else axis, log).astype(r)
                add(f"{op}/{np.dtype(dtype).name}_{label}", op, [x], params, expected=expected)
        big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1e4]], F32)
        add(f"{op}/large_values_no_overflow", op, [big], expected=softmax_ref(big, -1, log).astype(F32))
        add(f"{op}/axis_out_of_range", op, [data(F32, (2, 3))], {"axis": 2}, error="axis 2 is out of range for 2-d input")
        add(f"{op}/0d_input", op, [np.array(1.0, F32)], error="out of range for 0-d input")

    # ---- arity ----
    add("add/one_input", "add", [data(F32, (2,))], error="expects 2 input(s), got 1")
    add("exp/two_inputs", "exp", [data(F32, (2,)), data(F32, (2,))], error="expects 1 input(s), got 2")
    add("where/two_inputs", "where", [data(F32, (2,)), data(F32, (2,))], error="expects 3 input(s), got 2")

    # ---- NaN, infinities and signed zeros (common.SPECIAL_VALUES) in every op ----
    # Each op on every pair of special values (a grid, by broadcasting) and on long arrays of them
    # (the vectorised loops and their tails), for both float dtypes.
    specials = case_list.specials
    column = np.asarray(SPECIAL_VALUES)
    with np.errstate(all="ignore"):
        for op, (ref, result, _) in unary.items():
            for dtype in FLOATS:
                x = specials(dtype, 4099)
                r = np.dtype(result(dtype)).type
                expected = as_(ref(x.astype(F64)) if r in FLOATS else ref(x), r)
                add(f"{op}/special_long_{np.dtype(dtype).name}", op, [x], expected=expected)
        for op, (ref, result) in binary.items():
            for dtype in FLOATS:
                r = np.dtype(result(dtype)).type
                for label, a, b in (("grid", column.astype(dtype)[:, None], column.astype(dtype)[None, :]),
                                    ("long", specials(dtype, 4099), specials(dtype, 4099))):
                    if r in FLOATS:
                        expected = as_(ref(a.astype(F64), b.astype(F64)), r)
                    else:
                        expected = as_(ref(a, b), r)
                    add(f"{op}/special_{label}_{np.dtype(dtype).name}", op, [a, b], expected=expected)
            a, b = data(I32, (12, 1)), column.astype(F32)
            r = np.dtype(result(F32)).type
            add(f"{op}/special_mixed_int32_float32", op, [a, b],
                expected=as_(ref(a.astype(F64), b.astype(F64)), r) if r in FLOATS else as_(ref(a.astype(F32), b), r))
        cond = specials(F32, 4099)
        xv, yv = specials(F32, 4099), specials(F64, 4099)
        add("where/special_values", "where", [cond, xv, yv], expected=np.where(cond != 0, xv.astype(F64), yv))
        for dtype in FLOATS:
            x = specials(dtype, 4099)
            for label, params in (("both", {"min": -2, "max": 3}), ("min_only", {"min": 1}), ("max_only", {"max": -1})):
                e = x.copy()
                if "min" in params:
                    e = np.maximum(e, np.asarray(params["min"], dtype=dtype))
                if "max" in params:
                    e = np.minimum(e, np.asarray(params["max"], dtype=dtype))
                add(f"clip/special_{np.dtype(dtype).name}_{label}", "clip", [x], params, expected=e.astype(dtype))
        # softmax along rows and columns holding NaN, infinities of both signs, all -inf, all inf.
        rows = specials(F64, 12, 7)
        rows = np.concatenate([rows, [[-np.inf] * 7, [np.inf] * 7, [np.inf, 1, 2, 3, -np.inf, 0, 1],
                                      [-np.inf, -np.inf, 1, 2, 3, 0, -0.0], [np.nan] + [1.0] * 6]])
        for op, log in (("softmax", False), ("log_softmax", True)):
            for dtype in FLOATS:
                x = rows.astype(dtype)
                for axis in (-1, 0):
                    add(f"{op}/special_{np.dtype(dtype).name}_axis{axis}", op, [x], {"axis": axis},
                        expected=softmax_ref(x, axis, log).astype(dtype))
            x = specials(F32, 3, 4099)
            add(f"{op}/special_long_rows_f32", op, [x], expected=softmax_ref(x, -1, log).astype(F32))
    return out
