"""Corvid's binary frame format in Python (NumPy): a twin of the encoders in shared/wire.cpp and
web/wire.js, used to write the consistency cases.

Layout: u32 little-endian header length | JSON header | zero padding to 8 | tensor buffers, where
the header's "tensors" list gives each tensor's name, dtype, shape, offset (from the first buffer
byte, a multiple of 8) and length in bytes.
"""
import json
import struct

import numpy as np

# NumPy dtype -> wire dtype name; the only dtypes Corvid tensors have.
WIRE_DTYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.bool_): "bool",
}


def _pad8(n):
    return (n + 7) & ~7


def _json_default(value):
    """Lets params hold NumPy scalars and arrays (converted to plain numbers and lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode_frame(header, tensors):
    """Encodes `header` (a dict with a string "type") and `tensors` [(name, np.ndarray)] as bytes.

    Raises ValueError for a dtype Corvid does not have or a header JSON cannot hold (NaN, inf)."""
    header = dict(header)
    entries, buffers, offset = [], [], 0
    for name, array in tensors:
        array = np.asarray(array)
        if array.dtype not in WIRE_DTYPES:
            raise ValueError(f"tensor '{name}' has dtype {array.dtype}; Corvid has float32, float64, int32, bool")
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        entries.append({"name": name, "dtype": WIRE_DTYPES[array.dtype], "shape": list(array.shape),
                        "offset": offset, "length": len(data)})
        buffers.append(data + b"\0" * (_pad8(len(data)) - len(data)))
        offset += _pad8(len(data))
    header.pop("tensors", None)
    if entries:
        header["tensors"] = entries
    text = json.dumps(header, separators=(",", ":"), allow_nan=False, default=_json_default).encode()
    head = struct.pack("<I", len(text)) + text
    return head + b"\0" * (_pad8(len(head)) - len(head)) + b"".join(buffers)

