"""Consistency cases of the source family (shared/ops/source.cpp).

tensor, zeros and ones are checked against NumPy. random_uniform and random_normal have no NumPy
reference (Corvid's generator is its own counter-based SplitMix64, see source.cpp): their cases
have "expected": None, so each build must repeat its values and native and wasm must agree bit
for bit. The distributions themselves are checked by the unit tests.
"""
import numpy as np

from common import F32, F64, I32, SPECIAL_VALUES


def cases():
    rng = np.random.default_rng(20261123)
    out = []

    def add(name, op, params, inputs=None, expected=None, error=None, random=False):
        case = {"name": name, "op": op, "params": params, "inputs": inputs or []}
        if error is not None:
            case["error"] = error
        elif random:
            case["expected"] = None
        else:
            case["expected"] = np.asarray(expected)
        out.append(case)

    # ---- tensor: the value as JSON ----
    add("tensor/int_list", "tensor", {"value": [[1, 2, 3], [4, 5, 6]]}, expected=np.array([[1, 2, 3], [4, 5, 6]], I32))
    add("tensor/float_list", "tensor", {"value": [1.5, -2.25, 3]}, expected=np.array([1.5, -2.25, 3], F32))
    add("tensor/bool_list", "tensor", {"value": [[True, False]]}, expected=np.array([[True, False]]))
    add("tensor/scalar", "tensor", {"value": 7}, expected=np.array(7, I32))
    add("tensor/scalar_float64", "tensor", {"value": 0.1, "dtype": "float64"}, expected=np.array(0.1, F64))
    add("tensor/ints_as_float32", "tensor", {"value": [[1], [2]], "dtype": "float32"}, expected=np.array([[1], [2]], F32))
    add("tensor/numbers_as_bool", "tensor", {"value": [0, 2, -1], "dtype": "bool"}, expected=np.array([0, 2, -1]) != 0)
    add("tensor/empty_list", "tensor", {"value": []}, expected=np.zeros((0,), F32))
    nested = rng.standard_normal((3, 4, 5))
    add("tensor/nested_3d_float64", "tensor", {"value": nested.tolist(), "dtype": "float64"}, expected=nested)
    add("lin/alias", "lin", {"value": [1, 2]}, expected=np.array([1, 2], I32))

    # ---- tensor: the value as a binary input, optionally converted ----
    x = rng.standard_normal((4, 3)).astype(F32) * 4
    add("tensor/input_kept", "tensor", {}, [x], expected=x)
    add("tensor/input_as_int32", "tensor", {"dtype": "int32"}, [x], expected=x.astype(I32))
    add("tensor/input_as_bool", "tensor", {"dtype": "bool"}, [x], expected=x != 0)
    add("tensor/input_0d_as_float64", "tensor", {"dtype": "float64"}, [np.array(3, I32)], expected=np.array(3.0))
    add("tensor/input_empty", "tensor", {}, [np.zeros((0, 2), F64)], expected=np.zeros((0, 2), F64))

    # ---- tensor errors ----
    add("tensor/no_value", "tensor", {}, error="param 'value' is required")
    add("tensor/ragged", "tensor", {"value": [[1, 2], [3]]}, error="tensor:")
    add("tensor/unknown_dtype", "tensor", {"value": [1], "dtype": "int64"},
        error="param 'dtype' must be one of float32, float64, int32, bool")
    add("tensor/value_and_input", "tensor", {"value": [1]}, [x], error="value given both")
    add("tensor/float_as_int32", "tensor", {"value": [1.5], "dtype": "int32"}, error="non-integer value")

    # ---- zeros, ones ----
    for op, fill in (("zeros", 0), ("ones", 1)):
        for label, shape in (("0d", []), ("vec", [5]), ("2d", [3, 4]), ("empty", [0, 3]), ("3d", [2, 1, 3])):
            for dtype in ("float32", "float64", "int32", "bool"):
                add(f"{op}/{dtype}_{label}", op, {"shape": shape, "dtype": dtype},
                    expected=np.full(shape, fill, dtype=np.dtype(dtype)))
        add(f"{op}/default_float32", op, {"shape": [2, 2]}, expected=np.full((2, 2), fill, F32))
        add(f"{op}/int_shape", op, {"shape": 3}, expected=np.full((3,), fill, F32))
        add(f"{op}/negative_dim", op, {"shape": [2, -1]}, error="param 'shape' must not have negative dimensions")
        add(f"{op}/no_shape", op, {}, error="param 'shape' is required")
        add(f"{op}/bad_shape", op, {"shape": "3x3"}, error="param 'shape' must be a list of integers")
        add(f"{op}/too_large", op, {"shape": [100000, 100000]}, error="has more than 2^31 elements")
        add(f"{op}/with_input", op, {"shape": [1]}, [x], error="expects 0 input(s), got 1")

    # ---- random_uniform, random_normal: same values on every build ----
    for op, extra in (("random_uniform", {"low": -2.5, "high": 7}), ("random_normal", {"mean": 1, "std": 3})):
        for label, shape in (("0d", []), ("odd_vec", [7]), ("2d", [33, 65]), ("empty", [0, 5]), ("large", [4099])):
            for dtype in ("float32", "float64"):
                add(f"{op}/{dtype}_{label}", op, {"shape": shape, "dtype": dtype, "seed": 11}, random=True)
        add(f"{op}/params", op, dict(extra, shape=[257], seed=123456789), random=True)
        add(f"{op}/default_seed", op, {"shape": [64]}, random=True)
        add(f"{op}/negative_seed", op, {"shape": [64], "seed": -5}, random=True)
        add(f"{op}/large_seed", op, {"shape": [64], "seed": 9007199254740993}, random=True)
        add(f"{op}/int_dtype", op, {"shape": [2], "dtype": "int32"}, error="param 'dtype' must be float32 or float64")
        add(f"{op}/fractional_seed", op, {"shape": [2], "seed": 1.5}, error="param 'seed' must be an integer")
        add(f"{op}/negative_dim", op, {"shape": [-3]}, error="must not have negative dimensions")
    add("random_uniform/non_number_low", "random_uniform", {"shape": [2], "low": "a"},
        error="param 'low' must be a number")
    add("random_normal/negative_std", "random_normal", {"shape": [2], "std": -1}, error="param 'std' must be >= 0")

    # ---- NaN, infinities and signed zeros (common.SPECIAL_VALUES) through tensor ----
    # Kept as they are, converted between floats, and to bool (NaN is true). To int32, NumPy
    # (on x86) gives INT32_MIN for NaN, infinities and values out of range, with a warning.
    specials = np.array(SPECIAL_VALUES + [3e9, -3e9, 2.75, -2.75])
    with np.errstate(all="ignore"):
        for dtype in (F32, F64):
            x = specials.astype(dtype)
            name = np.dtype(dtype).name
            add(f"tensor/special_kept_{name}", "tensor", {}, [x], expected=x)
            add(f"tensor/special_{name}_as_{'float64' if dtype is F32 else 'float32'}", "tensor",
                {"dtype": "float64" if dtype is F32 else "float32"}, [x], expected=x.astype(F64 if dtype is F32 else F32))
            add(f"tensor/special_{name}_as_bool", "tensor", {"dtype": "bool"}, [x], expected=x.astype(np.bool_))
            add(f"tensor/special_{name}_as_int32", "tensor", {"dtype": "int32"}, [x], expected=x.astype(I32))
    return out
