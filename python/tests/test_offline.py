"""What needs no server: the op table's functions, arrays through the buffer protocol, ops
checked at once (GraphError naming the op)."""

import numpy as np
import pytest

import corvid as R
from corvid import _corvid


def test_every_op_of_the_table_is_a_function_under_its_name_and_aliases():
    table = R.op_table()
    assert len(table) > 50
    for row in table:
        for name in [row["name"], *row["aliases"]]:
            assert callable(getattr(R, name)), name
            assert name in R.__all__
    assert R.multiply is R.mul and R.natlog is R.log and R.variance is R.var


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
def test_arrays_round_trip_through_a_tensor_for_every_dtype(dtype):
    a = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    back = _corvid.array_roundtrip(a)
    assert back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)
    # Non-contiguous input and 0-d values.
    np.testing.assert_array_equal(_corvid.array_roundtrip(a[:, ::2, 1:]), a[:, ::2, 1:])
    assert _corvid.array_roundtrip(np.array(dtype(1))).shape == ()


def test_an_unsupported_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="unsupported"):
        _corvid.array_roundtrip(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError, match="unsupported"):
        R.t(np.zeros(3, dtype=np.complex64), graph=R.Graph("offline", progress=False))


def test_python_values_follow_the_graph_file_rules():
    g = R.Graph("offline", progress=False)
    assert R.t([1, 2, 3]).dtype == "int32"
    assert R.t([1.5, 2.0]).dtype == "float32"
    assert R.t([True, False]).dtype == "bool"
    assert R.t(np.array([1.5])).dtype == "float64"
    assert R.t(np.array([1, 2], dtype=np.int64)).dtype == "int32"
    assert R.t([1, 2], dtype=np.float64).dtype == "float64"
    assert g.t([[1, 2], [3, 4]]).shape == (2, 2)
    with pytest.raises(OverflowError):
        R.t(np.array([2**40]))


def test_scalars_take_the_dtype_of_the_value_next_to_them():
    g = R.Graph("offline", progress=False)  # noqa: F841 (the current graph while referenced)
    f, i = R.t([1.0, 2.0]), R.t([1, 2])
    assert (f + 2).dtype == "float32"
    assert (i + 2).dtype == "int32"
    assert (i * 2.5).dtype == "float32"
    assert (2 - i).dtype == "int32"
    assert (np.array([1, 2], dtype=np.int32) + i).dtype == "int32"  # Value.__radd__, not a NumPy loop
    assert (i < 2).dtype == "bool"


def test_a_bad_op_raises_graph_error_naming_the_op_at_once():
    g = R.Graph("offline", progress=False)  # noqa: F841 (the current graph while referenced)
    a, b = R.t([[1.0, 2.0], [3.0, 4.0]]), R.t([1.0, 2.0, 3.0])
    with pytest.raises(R.GraphError, match=r"op 'o\d+': add: shapes \(2, 2\) and \(3,\) cannot be broadcast") as e:
        a + b
    assert e.value.op_id.startswith("o") and "add" in e.value.reason
    with pytest.raises(R.GraphError, match="sum"):
        R.sum(a, bogus=1)
    with pytest.raises(R.GraphError, match="matmul"):
        R.matmul(a, R.t([[1.0, 2.0, 3.0]]))


def test_params_positionally_or_by_name():
    g = R.Graph("offline", progress=False)  # noqa: F841 (the current graph while referenced)
    a = R.t(np.ones((2, 3, 4), dtype=np.float32))
    assert R.sum(a, 1).shape == (2, 4)
    assert R.sum(a, axis=[0, 2], keepdims=True).shape == (1, 3, 1)
    assert R.concat([a, a], 2).shape == (2, 3, 8)
    assert R.cast(a, np.int32).dtype == "int32"
    assert R.transpose(a).shape == (4, 3, 2)
    with pytest.raises(TypeError):
        R.exp(a, 1)


def test_values_are_handles_comparable_and_hashable():
    g = R.Graph("offline", progress=False)  # noqa: F841 (the current graph while referenced)
    a = R.t([1])
    b = a + 1
    assert a == a and a != b and len({a, b, a}) == 2
    assert repr(a).startswith("<o") and "int32" in repr(a)


def test_only_the_distributed_approach():
    with pytest.raises(ValueError, match="approach"):
        R.Graph(name="x", approach="federated")


def test_tqdm_progress_bars_draw_and_close(capsys):
    bar = R._TqdmProgress("g")
    bar(1, 4)
    bar(4, 4)
    assert bar.bar is None  # closed once every op is final
    slices = R._TqdmSlices("job")
    slices({"slices": 3, "computed": 2, "failed": 0, "distributed": 3})
    slices.close()
    assert "job" in capsys.readouterr().err


def test_generated_functions_say_their_inputs_and_params():
    assert R.sum.__name__ == "sum" and "1 input," in R.sum.__doc__ and "keepdims: bool" in R.sum.__doc__
    assert "a list of inputs" in R.concat.__doc__
