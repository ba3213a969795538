"""Consistency cases of the movement family (shared/ops/movement.cpp), with NumPy as the reference.

Corvid's choices that differ from a plain NumPy call, and how the expected values follow them:
- concat/stack promote with Corvid's rule (int32 with float32 gives float32, NumPy's float64);
- one_hot is np.eye(depth, dtype=float32)[idx] but also refuses negative indices;
- bincount with weights returns float_result(weights dtype), NumPy always float64;
- find_indices is np.flatnonzero(np.isin(x, values)) as int32.
"""
import numpy as np

from common import CaseList


def cases():
    case_list = CaseList(20261121)
    rng, out, add = case_list.rng, case_list.cases, case_list.add
    f32, f64, bools = case_list.f32, case_list.f64, case_list.bools
    i32 = case_list.i32

    # ---- reshape, flatten, expand_dims, squeeze ----
    x = f32(2, 3)
    add("reshape/2x3_to_3x2", "reshape", [x], {"shape": [3, 2]}, x.reshape(3, 2))
    x = f64(4, 5, 6)
    add("reshape/infer_minus_one", "reshape", [x], {"shape": [-1, 6]}, x.reshape(-1, 6))
    add("reshape/negative_one_first", "reshape", [x], {"shape": [5, -1, 2]}, x.reshape(5, -1, 2))
    x = np.array(3.5, dtype=np.float32)
    add("reshape/0d_to_1x1", "reshape", [x], {"shape": [1, 1]}, x.reshape(1, 1))
    x = np.array([7], dtype=np.int32)
    add("reshape/1_to_0d", "reshape", [x], {"shape": []}, x.reshape(()))
    x = np.zeros((0, 3), dtype=np.float32)
    add("reshape/empty", "reshape", [x], {"shape": [3, 0, 5]}, x.reshape(3, 0, 5))
    x = bools(6, 4)
    add("reshape/bool", "reshape", [x], {"shape": [2, 12]}, x.reshape(2, 12))
    x = f32(300, 400)
    add("reshape/large", "reshape", [x], {"shape": [-1, 1000]}, x.reshape(-1, 1000))
    add("reshape/size_mismatch", "reshape", [f32(2, 3)], {"shape": [4, 2]},
        error="cannot reshape (2, 3) into (4, 2)")
    add("reshape/two_unknowns", "reshape", [f32(2, 3)], {"shape": [-1, -1]}, error="one unknown dimension")
    add("reshape/not_divisible", "reshape", [f32(2, 3)], {"shape": [4, -1]}, error="cannot reshape (2, 3) into (4, -1)")
    add("reshape/missing_shape", "reshape", [f32(2, 3)], {}, error="'shape' is required")

    x = f64(3, 4, 5)
    add("flatten/3d_f64", "flatten", [x], {}, x.ravel())
    x = i32()
    add("flatten/0d", "flatten", [x], {}, x.ravel())
    x = np.zeros((2, 0), dtype=np.float32)
    add("flatten/empty", "flatten", [x], {}, x.ravel())
    x = f32(7, 3).T.copy()
    add("ravel/alias", "ravel", [x], {}, x.ravel())

    x = f32(2, 3)
    add("expand_dims/last", "expand_dims", [x], {"axis": -1}, np.expand_dims(x, -1))
    add("expand_dims/first", "expand_dims", [x], {"axis": 0}, np.expand_dims(x, 0))
    add("expand_dims/middle_neg", "expand_dims", [x], {"axis": -2}, np.expand_dims(x, -2))
    add("expand_dims/list", "expand_dims", [x], {"axis": [0, 3]}, np.expand_dims(x, (0, 3)))
    x = np.array(2, dtype=np.int32)
    add("expand_dims/0d", "expand_dims", [x], {"axis": 0}, np.expand_dims(x, 0))
    add("expand_dims/axis_out_of_range", "expand_dims", [f32(2, 3)], {"axis": 3},
        error="axis 3 is out of range for 3-d input")
    add("expand_dims/repeated_axis", "expand_dims", [f32(2, 3)], {"axis": [1, 1]}, error="repeated axis")

    x = f32(1, 3, 1, 2)
    add("squeeze/all", "squeeze", [x], {}, np.squeeze(x))
    add("squeeze/neg_axis", "squeeze", [x], {"axis": -2}, np.squeeze(x, -2))
    add("squeeze/list", "squeeze", [x], {"axis": [0, 2]}, np.squeeze(x, (0, 2)))
    x = i32(1, 1)
    add("squeeze/to_0d", "squeeze", [x], {}, np.squeeze(x))
    x = np.array(1.5)
    add("squeeze/0d", "squeeze", [x], {}, np.squeeze(x))
    x = np.zeros((0, 1), dtype=np.float32)
    add("squeeze/empty", "squeeze", [x], {}, np.squeeze(x))
    add("squeeze/not_size_one", "squeeze", [f32(1, 3)], {"axis": 1}, error="cannot squeeze axis 1 of size 3")
    add("squeeze/axis_out_of_range", "squeeze", [f32(1, 3)], {"axis": -3}, error="axis -3 is out of range for 2-d input")

    # ---- concat, stack ----
    a, b = f32(2, 3), f32(4, 3)
    add("concat/axis0", "concat", [a, b], {"axis": 0}, np.concatenate([a, b], 0))
    a, b, c = f64(3, 2, 4), f64(3, 2, 1), f64(3, 2, 5)
    add("concat/three_neg_axis", "concat", [a, b, c], {"axis": -1}, np.concatenate([a, b, c], -1))
    add("concat/middle_axis", "concat", [a, a], {"axis": 1}, np.concatenate([a, a], 1))
    a, b = i32(2, 3), f32(2, 2)
    add("concat/promote_int_float", "concat", [a, b], {"axis": 1},
        np.concatenate([a.astype(np.float32), b], 1))
    a, b = bools(3), i32(4)
    add("concat/promote_bool_int", "concat", [a, b], {}, np.concatenate([a.astype(np.int32), b]))
    a, b = f32(2, 2), f64(1, 2)
    add("concat/promote_f32_f64", "concat", [a, b], {}, np.concatenate([a.astype(np.float64), b]))
    a, b = np.zeros((2, 0), dtype=np.float32), f32(2, 3)
    add("concat/empty_piece", "concat", [a, b, a], {"axis": 1}, np.concatenate([a, b, a], 1))
    a = f32(5)
    add("concat/single_input", "concat", [a], {}, a)
    a, b = f32(200, 300), f32(200, 517)
    add("concat/large", "concat", [a, b], {"axis": 1}, np.concatenate([a, b], 1))
    add("concat/0d", "concat", [np.array(1.0, dtype=np.float32)], {}, error="0-d inputs cannot be concatenated")
    add("concat/shape_mismatch", "concat", [f32(2, 3), f32(2, 4)], {"axis": 0},
        error="does not match input 0's shape (2, 3) outside axis 0")
    add("concat/rank_mismatch", "concat", [f32(2, 3), f32(3)], {}, error="input 1 is 1-d, input 0 is 2-d")
    add("concat/axis_out_of_range", "concat", [f32(2, 3), f32(2, 3)], {"axis": 2},
        error="axis 2 is out of range for 2-d input")

    a, b, c = f32(2, 3), f32(2, 3), f32(2, 3)
    add("stack/axis0", "stack", [a, b, c], {}, np.stack([a, b, c]))
    add("stack/axis_last", "stack", [a, b], {"axis": -1}, np.stack([a, b], -1))
    add("stack/axis_middle", "stack", [a, b, c], {"axis": 1}, np.stack([a, b, c], 1))
    a, b = np.array(1, dtype=np.int32), np.array(2.5, dtype=np.float32)
    add("stack/0d_promote", "stack", [a, b], {}, np.stack([a.astype(np.float32), b]))
    a = np.zeros((0, 2), dtype=np.float64)
    add("stack/empty", "stack", [a, a], {"axis": 2}, np.stack([a, a], 2))
    parts = [f64(64, 65) for _ in range(5)]
    add("stack/large", "stack", parts, {"axis": 1}, np.stack(parts, 1))
    add("stack/shape_mismatch", "stack", [f32(2, 3), f32(3, 2)], {}, error="same shape")
    add("stack/axis_out_of_range", "stack", [f32(2, 3)], {"axis": -4}, error="axis -4 is out of range for 3-d input")

    # ---- split, slice ----
    x = f32(6, 4)
    add("split/axis0_first", "split", [x], {"sections": 3, "index": 0}, np.split(x, 3, 0)[0])
    add("split/axis1_last", "split", [x], {"axis": 1, "sections": 2, "index": 1}, np.split(x, 2, 1)[1])
    x = i32(3, 10, 4)
    add("split/3d_neg_axis", "split", [x], {"axis": -2, "sections": 5, "index": 3}, np.split(x, 5, -2)[3])
    add("split/one_section", "split", [x], {"axis": 2, "sections": 1, "index": 0}, x)
    x = np.zeros((0, 6), dtype=np.float32)
    add("split/empty", "split", [x], {"axis": 1, "sections": 3, "index": 2}, np.split(x, 3, 1)[2])
    x = f64(120, 300)
    add("split/large", "split", [x], {"axis": 1, "sections": 4, "index": 2}, np.split(x, 4, 1)[2])
    add("split/not_divisible", "split", [f32(7, 2)], {"sections": 2, "index": 0},
        error="axis 0 of size 7 cannot be split into 2 equal sections")
    add("split/index_out_of_range", "split", [f32(6)], {"sections": 3, "index": 3},
        error="index 3 is out of range for 3 sections")
    add("split/0d", "split", [np.array(1.0, dtype=np.float32)], {"sections": 1, "index": 0},
        error="axis 0 is out of range for 0-d input")

    x = f32(5, 6)
    add("slice/block", "slice", [x], {"begin": [1, 2], "size": [3, 2]}, x[1:4, 2:4])
    add("slice/to_end", "slice", [x], {"begin": [2, 0], "size": [-1, -1]}, x[2:, :])
    add("slice/negative_begin", "slice", [x], {"begin": [-2, -3], "size": [2, 1]}, x[-2:, -3:-2])
    add("slice/empty_result", "slice", [x], {"begin": [5, 1], "size": [-1, 3]}, x[5:, 1:4])
    x = f64(4, 7, 9)
    add("slice/3d_inner", "slice", [x], {"begin": [1, 0, 3], "size": [2, -1, 4]}, x[1:3, :, 3:7])
    x = np.array(4, dtype=np.int32)
    add("slice/0d", "slice", [x], {"begin": [], "size": []}, x)
    x = bools(10)
    add("slice/bool", "slice", [x], {"begin": [3], "size": [5]}, x[3:8])
    x = f32(300, 400)
    add("slice/large", "slice", [x], {"begin": [17, 33], "size": [250, 301]}, x[17:267, 33:334])
    add("slice/begin_out_of_range", "slice", [f32(3, 4)], {"begin": [0, 5], "size": [1, 1]},
        error="begin 5 is out of range for axis 1 of size 4")
    add("slice/size_too_large", "slice", [f32(3, 4)], {"begin": [1, 0], "size": [3, 1]},
        error="begin 1 + size 3 exceeds axis 0 of size 3")
    add("slice/wrong_length", "slice", [f32(3, 4)], {"begin": [0], "size": [1, 1]},
        error="'begin' has 1 entries for a 2-d input")

    # ---- gather ----
    x = f32(5, 4)
    idx = np.array([4, 0, -1, 2], dtype=np.int32)
    add("gather/axis0_rows", "gather", [x, idx], {}, np.take(x, idx, 0))
    idx = np.array([[3, 1], [0, -4]], dtype=np.int32)
    add("gather/axis1_2d_indices", "gather", [x, idx], {"axis": 1}, np.take(x, idx, 1))
    x = i32(3, 4, 5)
    idx = np.array(2, dtype=np.int32)
    add("gather/0d_index_neg_axis", "gather", [x, idx], {"axis": -1}, np.take(x, idx, -1))
    idx = np.zeros(0, dtype=np.int32)
    add("gather/empty_indices", "gather", [x, idx], {"axis": 1}, np.take(x, idx, 1))
    x = bools(6)
    idx = np.array([5, 5, 0], dtype=np.int32)
    add("gather/bool", "gather", [x, idx], {}, np.take(x, idx))
    x = f64(1000, 64)
    idx = rng.integers(-1000, 1000, size=500, dtype=np.int32)
    add("gather/large_rows", "gather", [x, idx], {}, np.take(x, idx, 0))
    x = f32(64, 1000)
    idx = rng.integers(0, 1000, size=(3, 100), dtype=np.int32)
    add("gather/large_columns", "gather", [x, idx], {"axis": 1}, np.take(x, idx, 1))
    add("gather/index_out_of_range", "gather", [f32(3, 2), np.array([0, 3], dtype=np.int32)], {},
        error="index 3 is out of range for axis 0 of size 3")
    add("gather/negative_out_of_range", "gather", [f32(3, 2), np.array([-3], dtype=np.int32)], {"axis": 1},
        error="index -3 is out of range for axis 1 of size 2")
    add("gather/float_indices", "gather", [f32(3, 2), np.array([0.0], dtype=np.float32)], {},
        error="indices must be int32, got float32")
    add("gather/axis_out_of_range", "gather", [f32(3, 2), np.array([0], dtype=np.int32)], {"axis": 2},
        error="axis 2 is out of range for 2-d input")

    # ---- scatter_add: np.add.at into zeros along one axis, the adjoint of gather ----
    def scatter_ref(idx, updates, axis, size):
        out_shape = updates.shape[:axis] + (size,) + updates.shape[axis + idx.ndim:]
        out = np.zeros(out_shape, dtype=updates.dtype)
        flat = updates.reshape(updates.shape[:axis] + (idx.size,) + updates.shape[axis + idx.ndim:])
        for j, i in enumerate(idx.ravel()):
            out[(slice(None),) * axis + (i,)] += flat[(slice(None),) * axis + (j,)]
        return out

    idx = np.array([4, 0, -1, 2, 0], dtype=np.int32)
    x = f32(5, 4)
    add("scatter_add/axis0_repeated", "scatter_add", [idx, x], {"size": 5}, scatter_ref(idx, x, 0, 5))
    idx = np.array([[3, 1], [0, -4]], dtype=np.int32)
    x = f64(5, 2, 2, 3)
    add("scatter_add/axis1_2d_indices", "scatter_add", [idx, x], {"axis": 1, "size": 4}, scatter_ref(idx, x, 1, 4))
    add("scatter_add/negative_axis", "scatter_add", [idx, x], {"axis": -2, "size": 4}, scatter_ref(idx, x, 1, 4))
    idx = np.array(2, dtype=np.int32)
    x = i32(3, 4)
    add("scatter_add/0d_index_int32", "scatter_add", [idx, x], {"axis": 2, "size": 3}, scatter_ref(idx, x, 2, 3))
    idx = np.zeros(0, dtype=np.int32)
    x = f32(3, 0)
    add("scatter_add/empty_indices", "scatter_add", [idx, x], {"axis": 1, "size": 6}, scatter_ref(idx, x, 1, 6))
    idx = rng.integers(-1000, 1000, size=500, dtype=np.int32)
    x = f64(500, 64)
    add("scatter_add/large_rows", "scatter_add", [idx, x], {"size": 1000}, scatter_ref(idx, x, 0, 1000))
    add("scatter_add/index_out_of_range", "scatter_add", [np.array([0, 3], dtype=np.int32), f32(2, 2)], {"size": 3},
        error="index 3 is out of range for axis 0 of size 3")
    add("scatter_add/shape_mismatch", "scatter_add", [np.array([0, 1], dtype=np.int32), f32(3, 2)], {"size": 3},
        error="do not hold indices of shape (2,)")
    add("scatter_add/bool_updates", "scatter_add", [np.array([0], dtype=np.int32), bools(1)], {"size": 1},
        error="updates must be numeric, got bool")
    add("scatter_add/no_size", "scatter_add", [np.array([0], dtype=np.int32), f32(1)], {},
        error="param 'size' is required")

    # ---- reverse, tile ----
    x = f32(3, 4, 5)
    add("reverse/all_axes", "reverse", [x], {}, np.flip(x))
    add("reverse/last_axis", "reverse", [x], {"axis": -1}, np.flip(x, -1))
    add("reverse/first_axis", "reverse", [x], {"axis": 0}, np.flip(x, 0))
    add("reverse/two_axes", "reverse", [x], {"axis": [0, 2]}, np.flip(x, (0, 2)))
    x = np.array(1.25)
    add("reverse/0d", "reverse", [x], {}, np.flip(x))
    x = np.zeros((3, 0), dtype=np.int32)
    add("reverse/empty", "reverse", [x], {"axis": 0}, np.flip(x, 0))
    x = bools(4, 3)
    add("reverse/bool", "reverse", [x], {"axis": 1}, np.flip(x, 1))
    x = f32(40, 50, 60)
    add("reverse/large", "reverse", [x], {"axis": [1, 2]}, np.flip(x, (1, 2)))
    add("reverse/axis_out_of_range", "reverse", [f32(2, 2)], {"axis": 2}, error="axis 2 is out of range for 2-d input")

    x = i32(2, 3)
    add("tile/2d", "tile", [x], {"reps": [2, 3]}, np.tile(x, (2, 3)))
    add("tile/short_reps", "tile", [x], {"reps": 3}, np.tile(x, 3))
    add("tile/long_reps", "tile", [x], {"reps": [2, 1, 2]}, np.tile(x, (2, 1, 2)))
    add("tile/zero_reps", "tile", [x], {"reps": [0, 2]}, np.tile(x, (0, 2)))
    x = np.array(1.5, dtype=np.float32)
    add("tile/0d", "tile", [x], {"reps": [2, 3]}, np.tile(x, (2, 3)))
    x = np.zeros((0, 2), dtype=np.float32)
    add("tile/empty", "tile", [x], {"reps": [3, 2]}, np.tile(x, (3, 2)))
    x = bools(3, 1)
    add("tile/bool", "tile", [x], {"reps": [1, 4]}, np.tile(x, (1, 4)))
    x = f32(33, 47)
    add("tile/large", "tile", [x], {"reps": [7, 9]}, np.tile(x, (7, 9)))
    add("tile/negative_reps", "tile", [f32(2)], {"reps": [-1]}, error="reps must be non-negative")

    # ---- sort, unique ----
    x = f32(4, 6)
    x[1, 2] = np.nan
    x[3, 0] = np.nan
    add("sort/last_axis_nan_last", "sort", [x], {}, np.sort(x, -1))
    add("sort/axis0_nan_last", "sort", [x], {"axis": 0}, np.sort(x, 0))
    x = i32(3, 5, 4)
    add("sort/3d_middle_axis", "sort", [x], {"axis": 1}, np.sort(x, 1))
    add("sort/3d_neg_axis", "sort", [x], {"axis": -3}, np.sort(x, -3))
    x = bools(9)
    add("sort/bool", "sort", [x], {}, np.sort(x))
    x = np.zeros((0, 4), dtype=np.float64)
    add("sort/empty", "sort", [x], {"axis": 0}, np.sort(x, 0))
    x = f32(64, 4099)
    add("sort/large_rows", "sort", [x], {}, np.sort(x, -1))
    x = f64(3000, 17)
    add("sort/large_columns", "sort", [x], {"axis": 0}, np.sort(x, 0))
    add("sort/0d", "sort", [np.array(1.0, dtype=np.float32)], {}, error="axis -1 is out of range for 0-d input")
    # argsort is stable (np.argsort(kind="stable")): ties and NaNs keep their order.
    x = f32(4, 6)
    x[1, 2] = x[2, 0] = np.nan
    x[0, 1] = x[0, 4]
    for axis in (-1, 0):
        add(f"argsort/nan_and_ties_axis{axis}", "argsort", [x], {"axis": axis},
            np.argsort(x, axis, kind="stable").astype(np.int32))
    x = i32(3, 5, 4, low=0, high=4)
    add("argsort/3d_middle_axis_ties", "argsort", [x], {"axis": 1}, np.argsort(x, 1, kind="stable").astype(np.int32))
    x = bools(9)
    add("argsort/bool", "argsort", [x], {}, np.argsort(x, kind="stable").astype(np.int32))
    x = np.zeros((0, 4), dtype=np.float64)
    add("argsort/empty", "argsort", [x], {"axis": 0}, np.argsort(x, 0, kind="stable").astype(np.int32))
    x = f64(300, 17)
    add("argsort/large_columns", "argsort", [x], {"axis": 0}, np.argsort(x, 0, kind="stable").astype(np.int32))
    add("argsort/0d", "argsort", [np.array(1.0, dtype=np.float32)], {}, error="axis -1 is out of range for 0-d input")

    x = i32(4, 5, low=0, high=6)
    add("unique/int_2d", "unique", [x], {}, np.unique(x))
    x = np.array([2.5, np.nan, -1.0, 2.5, np.nan, 0.0], dtype=np.float32)
    add("unique/float_nan_once", "unique", [x], {}, np.unique(x))
    x = bools(10)
    add("unique/bool", "unique", [x], {}, np.unique(x))
    x = np.array(3.0)
    add("unique/0d", "unique", [x], {}, np.unique(x))
    x = np.zeros((2, 0), dtype=np.int32)
    add("unique/empty", "unique", [x], {}, np.unique(x))
    x = i32(100000, low=0, high=5000)
    add("unique/large", "unique", [x], {}, np.unique(x))

    # ---- one_hot, find_indices, bincount ----
    idx = np.array([2, 0, 4, 1], dtype=np.int32)
    add("one_hot/1d", "one_hot", [idx], {"depth": 5}, np.eye(5, dtype=np.float32)[idx])
    idx = np.array([[1, 0], [2, 2], [0, 1]], dtype=np.int32)
    add("one_hot/2d_alias", "one_hot_encoding", [idx], {"depth": 3}, np.eye(3, dtype=np.float32)[idx])
    idx = np.array(1, dtype=np.int32)
    add("one_hot/0d", "one_hot", [idx], {"depth": 4}, np.eye(4, dtype=np.float32)[idx])
    idx = np.zeros(0, dtype=np.int32)
    add("one_hot/empty", "one_hot", [idx], {"depth": 3}, np.eye(3, dtype=np.float32)[idx])
    idx = rng.integers(0, 100, size=5000, dtype=np.int32)
    add("one_hot/large", "one_hot", [idx], {"depth": 100}, np.eye(100, dtype=np.float32)[idx])
    add("one_hot/index_too_large", "one_hot", [np.array([0, 3], dtype=np.int32)], {"depth": 3},
        error="index 3 at position 1 is out of range for depth 3")
    add("one_hot/negative_index", "one_hot", [np.array([-1], dtype=np.int32)], {"depth": 3},
        error="index -1 at position 0 is out of range for depth 3")
    add("one_hot/float_input", "one_hot", [f32(2)], {"depth": 3}, error="indices must be int32, got float32")
    add("one_hot/negative_depth", "one_hot", [np.array([0], dtype=np.int32)], {"depth": -1},
        error="depth must be >= 0")

    def find(x, values):
        return np.flatnonzero(np.isin(x, values)).astype(np.int32)

    x = (rng.integers(-4, 4, size=(5, 6)) / 2).astype(np.float32)
    add("find_indices/float_values", "find_indices", [x], {"values": [0.5, -1.5]}, find(x, [0.5, -1.5]))
    x = i32(4, 4, low=0, high=5)
    add("find_indices/int_single_value", "find_indices", [x], {"values": 3}, find(x, [3]))
    add("find_indices/no_match", "find_indices", [x], {"values": [2.5, 99]}, find(x, [2.5, 99]))
    x = bools(12)
    add("find_indices/bool", "find_indices", [x], {"values": [1]}, find(x, [True]))
    x = np.array(7.0)
    add("find_indices/0d", "find_indices", [x], {"values": [7]}, find(x, [7.0]))
    x = np.zeros(0, dtype=np.float32)
    add("find_indices/empty", "find_indices", [x], {"values": [0]}, find(x, [0.0]))
    x = i32(300, 300, low=0, high=100)
    add("find_indices/large", "find_indices", [x], {"values": [5, 17, 99]}, find(x, [5, 17, 99]))
    add("find_indices/bad_values", "find_indices", [f32(3)], {"values": "a"}, error="must be a list of numbers")

    x = rng.integers(0, 8, size=50, dtype=np.int32)
    add("bincount/counts", "bincount", [x], {}, np.bincount(x).astype(np.int32))
    add("bincount/minlength", "bincount", [x], {"minlength": 20}, np.bincount(x, minlength=20).astype(np.int32))
    w32 = f32(50)
    add("bincount/weights_f32", "bincount", [x, w32], {},
        np.bincount(x, w32.astype(np.float64)).astype(np.float32))
    w64 = f64(50)
    add("bincount/weights_f64", "bincount", [x, w64], {"minlength": 3}, np.bincount(x, w64, minlength=3))
    wi = i32(50)
    add("bincount/weights_int", "bincount", [x, wi], {}, np.bincount(x, wi).astype(np.float32))
    x = np.zeros(0, dtype=np.int32)
    add("bincount/empty", "bincount", [x], {"minlength": 4}, np.bincount(x, minlength=4).astype(np.int32))
    x = rng.integers(0, 1000, size=200000, dtype=np.int32)
    add("bincount/large", "bincount", [x], {}, np.bincount(x).astype(np.int32))
    add("bincount/negative_value", "bincount", [np.array([1, -2], dtype=np.int32)], {},
        error="input contains negative value -2 at index 1")
    add("bincount/2d", "bincount", [i32(2, 2, low=0, high=3)], {}, error="input must be 1-d")
    add("bincount/float_input", "bincount", [f32(3)], {}, error="input must be int32, got float32")
    add("bincount/weights_mismatch", "bincount", [np.array([0, 1], dtype=np.int32), f32(3)], {},
        error="weights shape (3,) does not match input shape (2,)")

    # ---- shape, set_value ----
    x = f32(2, 0, 3)
    add("shape/3d_empty", "shape", [x], {}, np.array(x.shape, dtype=np.int32))
    x = np.array(True)
    add("shape/0d", "shape", [x], {}, np.array(x.shape, dtype=np.int32))
    x = i32(17)
    add("shape/1d", "shape", [x], {}, np.array(x.shape, dtype=np.int32))

    def set_value(x, index, value):
        y = x.copy()
        y[tuple(index)] = value
        return y

    x = f32(3, 4)
    add("set_value/negative_index", "set_value", [x], {"index": [-1, 1], "value": 9.5}, set_value(x, [-1, 1], 9.5))
    x = i32(5)
    add("set_value/int_truncates", "set_value", [x], {"index": [2], "value": -3.75}, set_value(x, [2], -3))
    x = bools(2, 2)
    add("set_value/bool", "set_value", [x], {"index": [0, 1], "value": 1}, set_value(x, [0, 1], True))
    x = np.array(1.0)
    add("set_value/0d", "set_value", [x], {"index": [], "value": -2}, set_value(x, [], -2.0))
    x = f64(100, 100)
    add("set_value/large", "set_value", [x], {"index": [99, -100], "value": 1e300}, set_value(x, [99, -100], 1e300))
    add("set_value/index_out_of_range", "set_value", [f32(3, 4)], {"index": [0, 4], "value": 1},
        error="index 4 is out of range for axis 1 of size 4")
    add("set_value/wrong_length", "set_value", [f32(3, 4)], {"index": [0], "value": 1},
        error="index has 1 entries for a 2-d input")
    add("set_value/int_overflow", "set_value", [i32(2)], {"index": [0], "value": 3e9},
        error="does not fit in int32")

    # ---- NaN, infinities and signed zeros (common.SPECIAL_VALUES) in every op with float data ----
    # Moved values must arrive unchanged; sort and unique order NaN last (and unique keeps one);
    # find_indices never matches a NaN (np.isin compares with ==); bincount sums weights as IEEE.
    specials = case_list.specials
    with np.errstate(all="ignore"):
        for dtype in (np.float32, np.float64):
            suffix = np.dtype(dtype).name
            x = specials(dtype, 4, 6)
            add(f"reshape/special_{suffix}", "reshape", [x], {"shape": [3, 8]}, x.reshape(3, 8))
            add(f"flatten/special_{suffix}", "flatten", [x], {}, x.ravel())
            add(f"expand_dims/special_{suffix}", "expand_dims", [x], {"axis": 1}, np.expand_dims(x, 1))
            add(f"squeeze/special_{suffix}", "squeeze", [x[:, None]], {}, x)
            y = specials(dtype, 4, 6)
            add(f"concat/special_{suffix}", "concat", [x, y], {"axis": 1}, np.concatenate([x, y], 1))
            add(f"stack/special_{suffix}", "stack", [x, y], {"axis": 1}, np.stack([x, y], 1))
            add(f"split/special_{suffix}", "split", [x], {"axis": 1, "sections": 3, "index": 1}, np.split(x, 3, 1)[1])
            add(f"slice/special_{suffix}", "slice", [x], {"begin": [1, 2], "size": [3, 3]}, x[1:4, 2:5])
            idx = np.array([3, 0, -1, 2, 2], dtype=np.int32)
            add(f"gather/special_{suffix}", "gather", [x, idx], {"axis": 1}, np.take(x, idx, 1))
            add(f"reverse/special_{suffix}", "reverse", [x], {}, np.flip(x))
            add(f"tile/special_{suffix}", "tile", [x], {"reps": [2, 3]}, np.tile(x, (2, 3)))
            add(f"shape/special_{suffix}", "shape", [x], {}, np.array(x.shape, dtype=np.int32))
            add(f"set_value/special_{suffix}", "set_value", [x], {"index": [1, 1], "value": -7.5},
                set_value(x, [1, 1], -7.5))
            for label, x in (("rows", specials(dtype, 6, 48)), ("long", specials(dtype, 3, 5000))):
                add(f"sort/special_{label}_{suffix}", "sort", [x], {}, np.sort(x, -1))
                add(f"sort/special_{label}_axis0_{suffix}", "sort", [x], {"axis": 0}, np.sort(x, 0))
                add(f"argsort/special_{label}_{suffix}", "argsort", [x], {},
                    np.argsort(x, -1, kind="stable").astype(np.int32))
                add(f"unique/special_{label}_{suffix}", "unique", [x], {}, np.unique(x))
                add(f"find_indices/special_{label}_{suffix}", "find_indices", [x], {"values": [0, 1, -3, 80]},
                    find(x, [0.0, 1.0, -3.0, 80.0]))
            x = np.array([0.5, 1.5, 2, np.nan, 0.5], dtype=dtype)
            add(f"find_indices/nan_matches_nothing_{suffix}", "find_indices", [x], {"values": [0.5, 2]},
                find(x, [0.5, 2.0]))
            bins = rng.integers(0, 5, size=60, dtype=np.int32)
            w = specials(dtype, 60)
            expected = np.bincount(bins, w.astype(np.float64)).astype(dtype)
            add(f"bincount/special_weights_{suffix}", "bincount", [bins, w], {}, expected)
    return out
