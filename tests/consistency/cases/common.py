"""Helpers shared by the case files: Corvid's dtype names, its float result rule, and a case list
with the seeded input generators the families draw from. Not a family: generate.py only loads the
files named in its FAMILIES list."""
import numpy as np

F32, F64, I32, BOOL = np.float32, np.float64, np.int32, np.bool_
FLOATS = (F32, F64)


def float_result(dtype):
    """Corvid's result dtype of a float function (exp, mean, ...): float inputs keep theirs, others
    give float32."""
    return dtype if np.dtype(dtype).type in FLOATS else F32


class CaseList:
    """A family's cases in the order they are added, and the seeded generator its random inputs
    come from (the draw order fixes the values, so keep it when editing a family)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.cases = []

    def add(self, name, op, inputs, params=None, expected=None, error=None, **tol):
        """Appends an error case when error is given, else a value case expecting `expected`;
        tol may set "rtol"/"atol"."""
        case = {"name": name, "op": op, "params": params or {}, "inputs": inputs}
        if error is not None:
            case["error"] = error
        else:
            case["expected"] = np.asarray(expected)
        case.update(tol)
        self.cases.append(case)

    def f32(self, *shape):
        return self.rng.standard_normal(shape).astype(np.float32)

    def f64(self, *shape):
        return self.rng.standard_normal(shape)

    def i32(self, *shape, low=-50, high=50):
        """Integers in [low, high)."""
        return self.rng.integers(low, high, size=shape, dtype=np.int32)

    def bools(self, *shape):
        return self.rng.random(shape) < 0.5

    def specials(self, dtype, *shape):
        """Floats of the given shape drawn from SPECIAL_VALUES (NaN, both infinities, both zeros
        and ordinary numbers), every one of them present when the shape holds enough elements."""
        n = int(np.prod(shape, dtype=np.int64))
        picks = np.resize(np.arange(len(SPECIAL_VALUES)), n)
        self.rng.shuffle(picks)
        return np.asarray(SPECIAL_VALUES, dtype=dtype)[picks].reshape(shape)


# The values every family feeds its ops as special-value inputs: NaN, both infinities, both
# zeros, ordinary numbers of both signs, a tiny and a large magnitude (exp(80) overflows float32).
SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-30, 80.0, -80.0]
